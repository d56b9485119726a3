"""Start-up hook that lets stock BasicSR find the SFD classes without an import by the caller.

Installed as ``sfd_arch_hook.pth`` in site-packages, so Python runs ``import _sfd_arch_hook`` at start-up.
It must stay cheap: it imports nothing heavy and only puts one finder on ``sys.meta_path``. The finder
acts on two imports:

* ``torchvision.transforms.functional_tensor`` (removed in torchvision 0.17, still imported by
  basicsr 1.4.2): when the real module is missing, a small alias of ``torchvision.transforms.functional``
  is served instead, so ``import basicsr`` works without patching installed files.
* ``basicsr``: once the real package has finished loading, ``sfd_arch`` is imported, which registers
  FeatD, PromptLearner, the losses, the models and the metric in BasicSR's registries. That is what
  makes ``python -m basicsr.train`` and a BasicSR clone's ``basicsr/train.py`` resolve ``SFDModel``.

Set ``SFD_ARCH_NO_HOOK=1`` to turn it off (the compatibility alias included).
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_ALIAS = 'torchvision.transforms.functional_tensor'


class _AliasLoader(importlib.abc.Loader):
    """Serves the removed ``functional_tensor`` module from torchvision's current functional API."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from torchvision.transforms import functional

        module.__dict__.update({k: v for k, v in vars(functional).items() if not k.startswith('__')})


class _RegisterAfterLoader(importlib.abc.Loader):
    """Runs the real ``basicsr`` loader, then imports ``sfd_arch`` so its classes get registered."""

    def __init__(self, real_loader):
        self.real_loader = real_loader

    def create_module(self, spec):
        return self.real_loader.create_module(spec)

    def exec_module(self, module):
        self.real_loader.exec_module(module)
        importlib.import_module('sfd_arch')

    def __getattr__(self, name):  # is_package, get_code, get_source... for runpy and tracebacks
        return getattr(self.real_loader, name)


class SFDFinder(importlib.abc.MetaPathFinder):
    def __init__(self, register: bool = True):
        self.register = register

    def find_spec(self, fullname, path, target=None):
        if fullname == _ALIAS:
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None  # an old torchvision that still has the real module
            return importlib.util.spec_from_loader(fullname, _AliasLoader())
        if fullname == 'basicsr' and self.register:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.loader is None:
                return None
            spec.loader = _RegisterAfterLoader(spec.loader)
            return spec
        return None


def install(register: bool = True) -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent).

    ``register=False`` installs only the torchvision alias; ``sfd_arch.compat`` uses it so that the
    package imports even where this hook is turned off or the ``.pth`` file is not installed.
    """
    if not any(isinstance(f, SFDFinder) and (f.register or not register) for f in sys.meta_path):
        sys.meta_path.insert(0, SFDFinder(register))


if os.environ.get('SFD_ARCH_NO_HOOK', '').strip() in ('', '0'):
    install()
