"""Start-up hook that lets stock BasicSR and pyiqa find the SFD classes without an import by the caller.

Installed as ``sfd_arch_hook.pth`` in site-packages, so every Python process of the environment runs
``import _sfd_arch_hook`` at start-up. It must cost next to nothing there: at module level it imports nothing
(``sys`` and ``os`` are loaded before ``site`` reads ``.pth`` files) and only puts one finder on
``sys.meta_path``. The finder needs no ``importlib.abc`` base class (that import alone pulls in pathlib,
tempfile, typing, ...): the import system only calls its ``find_spec``. ``importlib.util`` and
``importlib.machinery`` are imported inside ``find_spec``, and only for the three names it acts on:

* ``torchvision.transforms.functional_tensor`` (removed in torchvision 0.17, still imported by
  basicsr 1.4.2): when the real module is missing, a small alias of ``torchvision.transforms.functional``
  is served instead, so ``import basicsr`` works without patching installed files.
* ``basicsr``: once the real package has finished loading, ``sfd_arch.registration.on_basicsr_import`` runs:
  BasicSR's compatibility patches, then FeatD, PromptLearner, the losses, the models and the metrics in
  BasicSR's registries. That is what makes a BasicSR clone's ``basicsr/train.py`` and ``basicsr/test.py``
  resolve ``SFDModel``. ``import sfd_arch`` itself registers nothing and imports neither torch nor BasicSR.
* ``pyiqa`` (optional): once it has loaded, :func:`register_pyiqa` adds SFD-IQA's configuration entry to
  ``pyiqa.DEFAULT_CONFIGS`` and a lazy reference to its network, so ``pyiqa.create_metric('sfd_iqa')`` works
  in any process while ``import pyiqa`` imports nothing of ours (no ``sfd_arch``, no open_clip).

Set ``SFD_ARCH_NO_HOOK=1`` to turn it off (the compatibility alias included): the variable is read first and
nothing else runs.
"""
import os
import sys

# read before anything else is set up; the module still defines install() for sfd_arch.compat
_TURNED_OFF = os.environ.get('SFD_ARCH_NO_HOOK', '').strip() not in ('', '0')
_ALIAS = 'torchvision.transforms.functional_tensor'

# pyiqa metric name, network name, where the network class lives, and its DEFAULT_CONFIGS entry
PYIQA_METRIC = 'sfd_iqa'
PYIQA_ARCH = 'SFDIQANet'
REGISTER = 'sfd_arch.registration:on_basicsr_import'  # called once basicsr has loaded: registers the SFD classes
PYIQA_ARCH_PATH = 'sfd_arch.iqa.pyiqa_plugin:SFDIQANet'
PYIQA_CONFIG = {
    'metric_opts': {'type': PYIQA_ARCH},
    'metric_mode': 'NR',
    'lower_better': False,
    'score_range': '0, 1',
}


def _by_name(reference):
    """The object ``'module:attribute'`` names, imported now. The hook refers to the package only by such names,
    never by an import statement: it sits below everything in the package's layers (docs/design.md, "2 Layers")."""
    import importlib

    module, _, attribute = reference.partition(':')
    return getattr(importlib.import_module(module), attribute) if attribute else importlib.import_module(module)


def _build_sfd_iqa_net(**opts):
    """Stand-in for ``SFDIQANet`` in a pyiqa without ``register_lazy``: imports the class when pyiqa builds it."""
    return _by_name(PYIQA_ARCH_PATH)(**opts)


_build_sfd_iqa_net.__name__ = PYIQA_ARCH  # older pyiqa registers an object under its __name__


def register_pyiqa() -> bool:
    """Make ``pyiqa.create_metric('sfd_iqa', weights=...)`` work, importing nothing but pyiqa's own two modules.

    Adds ``sfd_iqa`` to ``pyiqa.default_model_configs.DEFAULT_CONFIGS`` (``create_metric`` checks that dict before
    anything else) and ``SFDIQANet`` to its ARCH registry as a lazy reference, so ``sfd_arch`` and the network are
    imported only when ``create_metric('sfd_iqa')`` builds the network. Returns False when pyiqa is not
    installed. Idempotent; entries already there (ours or a user's) are left as they are.
    """
    try:
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
        from pyiqa.utils.registry import ARCH_REGISTRY
    except ImportError:
        return False
    if PYIQA_METRIC not in DEFAULT_CONFIGS:
        DEFAULT_CONFIGS[PYIQA_METRIC] = {**PYIQA_CONFIG, 'metric_opts': dict(PYIQA_CONFIG['metric_opts'])}
    # the private maps, not `name in ARCH_REGISTRY`: a miss there loads every package's pyiqa entry points
    known = {**getattr(ARCH_REGISTRY, '_obj_map', {}), **getattr(ARCH_REGISTRY, '_lazy_map', {})}
    if PYIQA_ARCH not in known:
        if hasattr(ARCH_REGISTRY, 'register_lazy'):  # pyiqa >= 0.1.16
            ARCH_REGISTRY.register_lazy(PYIQA_ARCH, PYIQA_ARCH_PATH)
        else:
            ARCH_REGISTRY.register(_build_sfd_iqa_net)
    return True


def _register_sfd_arch() -> None:
    _by_name(REGISTER)()


def _register_pyiqa_or_warn() -> None:
    # a later pyiqa that reorganised its internals must not make `import pyiqa` fail for everyone
    try:
        register_pyiqa()
    except Exception as err:
        import warnings

        warnings.warn(f"sfd_arch: could not add 'sfd_iqa' to pyiqa ({type(err).__name__}: {err}); "
                      'pyiqa works without it', RuntimeWarning, stacklevel=2)


# top-level package -> what runs once that package has finished importing
AFTER_IMPORT = {
    'basicsr': _register_sfd_arch,
    'pyiqa': _register_pyiqa_or_warn,
}


class _AliasLoader:
    """Serves the removed ``functional_tensor`` module from torchvision's current functional API."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from torchvision.transforms import functional

        module.__dict__.update({k: v for k, v in vars(functional).items() if not k.startswith('__')})


class _RunAfterLoader:
    """Runs the real loader of a package, hands the module back to that loader, then runs ``AFTER_IMPORT``."""

    def __init__(self, real_loader, name):
        self.real_loader, self.name = real_loader, name

    def create_module(self, spec):
        return self.real_loader.create_module(spec)

    def exec_module(self, module):
        self.real_loader.exec_module(module)
        # what importlib.resources, pkgutil and tracebacks see from here on is the package's own loader
        module.__loader__ = self.real_loader
        if getattr(module, '__spec__', None) is not None:
            module.__spec__.loader = self.real_loader
        AFTER_IMPORT[self.name]()

    def __getattr__(self, name):  # is_package, get_code, get_source... for runpy and tracebacks during exec
        return getattr(self.real_loader, name)


class SFDFinder:
    """The alias, plus running ``AFTER_IMPORT`` for the packages in ``targets``.

    Only ``find_spec`` is needed on ``sys.meta_path``. It is asked about every module not yet imported, so
    anything but a string comparison waits until one of our names comes up.
    """

    def __init__(self, targets=tuple(AFTER_IMPORT)):
        self.targets = frozenset(targets)

    def find_spec(self, fullname, path, target=None):
        if fullname == _ALIAS:
            from importlib.machinery import PathFinder
            from importlib.util import spec_from_loader

            if PathFinder.find_spec(fullname, path) is not None:
                return None  # an old torchvision that still has the real module
            return spec_from_loader(fullname, _AliasLoader())
        if fullname in self.targets:
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(fullname, path)
            if spec is None or spec.loader is None:
                return None
            spec.loader = _RunAfterLoader(spec.loader, fullname)
            return spec
        return None


def install(targets=tuple(AFTER_IMPORT)) -> None:
    """Put a finder for ``targets`` first on ``sys.meta_path``, unless one that covers them is there already.

    ``targets=()`` installs only the torchvision alias; ``sfd_arch.compat`` uses it so that the package
    imports even where this hook is turned off or the ``.pth`` file is not installed.
    """
    wanted = frozenset(targets)
    if not any(isinstance(f, SFDFinder) and wanted <= f.targets for f in sys.meta_path):
        sys.meta_path.insert(0, SFDFinder(wanted))


if not _TURNED_OFF:
    install()
