"""Start-up hook that lets stock BasicSR (and pyiqa) find the SFD classes without an import by the caller.

Installed as ``sfd_arch_hook.pth`` in site-packages, so Python runs ``import _sfd_arch_hook`` at start-up.
It must stay cheap: it imports nothing heavy and only puts one finder on ``sys.meta_path``. The finder
acts on three imports:

* ``torchvision.transforms.functional_tensor`` (removed in torchvision 0.17, still imported by
  basicsr 1.4.2): when the real module is missing, a small alias of ``torchvision.transforms.functional``
  is served instead, so ``import basicsr`` works without patching installed files.
* ``basicsr``: once the real package has finished loading, ``sfd_arch`` is imported, which registers
  FeatD, PromptLearner, the losses, the models and the metric in BasicSR's registries. That is what
  makes a BasicSR clone's ``basicsr/train.py`` and ``basicsr/test.py`` resolve ``SFDModel``.
* ``pyiqa`` (optional): once it has loaded, SFD-IQA is added to its metric table, so the first
  ``pyiqa.create_metric('sfd_iqa')`` of a process finds it.

Set ``SFD_ARCH_NO_HOOK=1`` to turn it off (the compatibility alias included).
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_ALIAS = 'torchvision.transforms.functional_tensor'
# top-level package -> (module to import once it has loaded, function of that module to call or None)
AFTER_IMPORT = {
    'basicsr': ('sfd_arch', None),
    'pyiqa': ('sfd_arch.iqa.pyiqa_plugin', 'register'),
}


class _AliasLoader(importlib.abc.Loader):
    """Serves the removed ``functional_tensor`` module from torchvision's current functional API."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from torchvision.transforms import functional

        module.__dict__.update({k: v for k, v in vars(functional).items() if not k.startswith('__')})


class _RunAfterLoader(importlib.abc.Loader):
    """Runs the real loader of a package, then what ``AFTER_IMPORT`` asks for it."""

    def __init__(self, real_loader, name):
        self.real_loader, self.name = real_loader, name

    def create_module(self, spec):
        return self.real_loader.create_module(spec)

    def exec_module(self, module):
        self.real_loader.exec_module(module)
        module_name, function = AFTER_IMPORT[self.name]
        after = importlib.import_module(module_name)
        if function:
            getattr(after, function)()

    def __getattr__(self, name):  # is_package, get_code, get_source... for runpy and tracebacks
        return getattr(self.real_loader, name)


class SFDFinder(importlib.abc.MetaPathFinder):
    """The alias, plus running ``AFTER_IMPORT`` for the packages in ``targets``."""

    def __init__(self, targets=tuple(AFTER_IMPORT)):
        self.targets = frozenset(targets)

    def find_spec(self, fullname, path, target=None):
        if fullname == _ALIAS:
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None  # an old torchvision that still has the real module
            return importlib.util.spec_from_loader(fullname, _AliasLoader())
        if fullname in self.targets:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
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


if os.environ.get('SFD_ARCH_NO_HOOK', '').strip() in ('', '0'):
    install()
