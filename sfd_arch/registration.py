"""The SFD classes in BasicSR's registries, put there when BasicSR is imported, never earlier (docs/design.md §2).

``import sfd_arch`` costs next to nothing: it imports neither torch nor BasicSR. What makes BasicSR find ``FeatD``,
``SFDModel``, ``calculate_sfd_iqa``... is :func:`on_basicsr_import`, which runs once per process, right after the
``basicsr`` package has finished importing: the start-up hook (``_sfd_arch_hook``, ``AFTER_IMPORT``) calls it, and
so does ``import sfd_arch`` where the hook is absent or turned off (:func:`watch_basicsr`). It

1. applies BasicSR's patches, in this order, so they hold in every process that imports BasicSR: the safe loading
   of :mod:`sfd_arch.utils.basicsr_safety` (option files and ``--force_yml`` values read as data, weights-only
   checkpoint loads; docs/security.md), then the compatibility patches of :mod:`sfd_arch.compat` (``--launcher
   pytorch`` without CUDA, ``filter2D`` on CPU, and :mod:`sfd_arch.exact_resume`, which wraps the weights-only
   resume-state loader the first put in place), then NIQE's cached gamma table;
2. makes BasicSR's ``Registry`` lookups (``get``, ``in``, iteration, ``keys``) complete the registration first,
   should it still be pending;
3. registers every name of :data:`SFD_NAMES` (:func:`register`), unless a module of the package is being imported
   at that moment (BasicSR was imported by ``sfd_arch.models.sfd_model``, say): registering then would import the
   half-initialised module's siblings, so registration waits for the first lookup instead. Either way a name is
   in the registry before BasicSR (or anyone) looks for it.

The modules that define the classes do not register them themselves, so the SFD-IQA scorer, ``FeatD``,
``PromptLearner`` and ``KAIRRRDBNet`` import without BasicSR (``sfd-iqa score`` needs torch and open_clip only).
"""
from __future__ import annotations

import importlib
import sys

import _sfd_arch_hook

# BasicSR registry -> {registered name: module that defines it}
SFD_NAMES: dict[str, dict[str, str]] = {
    'ARCH_REGISTRY': {
        'FeatD': 'sfd_arch.archs.featd_arch',
        'PromptLearner': 'sfd_arch.archs.prompt_learner_arch',
        'KAIRRRDBNet': 'sfd_arch.archs.kair_rrdbnet_arch',
        'SpandrelNet': 'sfd_arch.archs.spandrel_arch',
    },
    'DATASET_REGISTRY': {
        'SuffixPairedImageDataset': 'sfd_arch.data.suffix_paired_dataset',
    },
    'LOSS_REGISTRY': {
        'FeatureGANLoss': 'sfd_arch.losses.sfd_loss',
        'TextGuidedGANLoss': 'sfd_arch.losses.sfd_loss',
    },
    'MODEL_REGISTRY': {
        'SFDModel': 'sfd_arch.models.sfd_model',
        'RealSFDModel': 'sfd_arch.models.realsfd_model',
    },
    'METRIC_REGISTRY': {
        'calculate_sfd_iqa': 'sfd_arch.iqa.metric',
        'calculate_lpips': 'sfd_arch.metrics.lpips_metric',
        'calculate_dists': 'sfd_arch.metrics.dists_metric',
        'calculate_fid': 'sfd_arch.metrics.fid_metric',
        'calculate_kid': 'sfd_arch.metrics.fid_metric',
        'calculate_pyiqa': 'sfd_arch.metrics.pyiqa_metric',
        'calculate_psnr_pyiqa': 'sfd_arch.metrics.pyiqa_conventions',
        'calculate_ssim_pyiqa': 'sfd_arch.metrics.pyiqa_conventions',
        'calculate_piqe': 'sfd_arch.metrics.piqe_metric',
    },
}
_LOOKUPS = ('get', '__contains__', '__iter__', 'keys')


class _State:
    seen_basicsr = False  # on_basicsr_import has run
    registered = False  # every name of SFD_NAMES is in its registry
    registering = False  # register() is running (a lookup from inside it must not start it again)


def register() -> None:
    """Put every class and function of :data:`SFD_NAMES` in its BasicSR registry (imports BasicSR and them).

    Idempotent. A name already registered for another object (another plugin's ``FeatD``) is an error, as
    BasicSR's own ``register`` makes it.
    """
    if _State.registered or _State.registering:
        return
    _State.registering = True
    try:
        from basicsr.utils import registry as basicsr_registry

        for registry_name, names in SFD_NAMES.items():
            registry = getattr(basicsr_registry, registry_name)
            for name, module in names.items():
                obj = getattr(importlib.import_module(module), name)
                # _obj_map, not `in`: these lookups would come back here
                if registry._obj_map.get(name) is not obj:
                    registry._do_register(name, obj)
        _State.registered = True
    finally:
        _State.registering = False


def _registering_first(lookup):
    def method(self, *args, **kwargs):
        if not _State.registered:
            register()
        return lookup(self, *args, **kwargs)

    method.__name__, method.__doc__, method.__wrapped__ = lookup.__name__, lookup.__doc__, lookup
    method._sfd_registering_first = True
    return method


def _complete_registration_on_lookup() -> None:
    from basicsr.utils.registry import Registry

    for name in _LOOKUPS:
        lookup = getattr(Registry, name)
        if not getattr(lookup, '_sfd_registering_first', False):
            setattr(Registry, name, _registering_first(lookup))


def _package_mid_import() -> bool:
    """True while a module of this package (other than the package itself and this module) is executing."""
    for name, module in list(sys.modules.items()):
        if name.startswith('sfd_arch.') and name != __name__:
            # the import system marks a module's spec while its code runs (what makes "partially initialized")
            if getattr(getattr(module, '__spec__', None), '_initializing', False):
                return True
    return False


def on_basicsr_import() -> None:
    """Run once ``basicsr`` has finished importing: compatibility patches, then the SFD names (module docstring)."""
    if _State.seen_basicsr:
        return
    _State.seen_basicsr = True
    from .compat import cache_niqe_gamma_table, ensure_basicsr_importable, patch_basicsr_for_cpu
    from .utils.basicsr_safety import patch_basicsr_loading

    ensure_basicsr_importable()
    # first: the exact resume that patch_basicsr_for_cpu installs wraps the weights-only resume-state loader
    patch_basicsr_loading()
    patch_basicsr_for_cpu()
    cache_niqe_gamma_table()
    _complete_registration_on_lookup()
    if not _package_mid_import():
        register()


def watch_basicsr() -> None:
    """What ``import sfd_arch`` does: :func:`on_basicsr_import` now if BasicSR is loaded, else once it is.

    The finder is the start-up hook's (``_sfd_arch_hook.install``, a no-op where the ``.pth`` file already put it
    in place); it also serves the ``torchvision.transforms.functional_tensor`` alias BasicSR 1.4.2 needs, and adds
    SFD-IQA to pyiqa once pyiqa is imported. Its ``basicsr`` entry is pointed at this module's function, which is
    what a current hook names anyway; an older hook installed in site-packages (beside a newer checkout on
    ``PYTHONPATH``) named the package instead, whose import no longer registers anything.
    """
    _sfd_arch_hook.AFTER_IMPORT['basicsr'] = on_basicsr_import
    from .compat import ensure_basicsr_importable

    ensure_basicsr_importable()
    _sfd_arch_hook.install()
    if 'pyiqa' in sys.modules:
        _sfd_arch_hook.register_pyiqa()
    if 'basicsr' in sys.modules:  # loaded, or (from the hook's own call) run to its end
        on_basicsr_import()
