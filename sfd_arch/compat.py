"""What stock basicsr 1.4.2 needs to import on today's torchvision and Python.

basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor`` (gone since torchvision 0.17) and
``distutils`` (gone from the standard library in 3.12, provided by setuptools). The alias for the first
lives in the start-up hook module ``_sfd_arch_hook`` (installed beside this package); calling it here
makes ``import sfd_arch`` work where the ``.pth`` hook is not installed (editable installs, a checkout on
``PYTHONPATH``) or turned off with ``SFD_ARCH_NO_HOOK=1``.
"""
import sys

import _sfd_arch_hook


def ensure_basicsr_importable() -> None:
    """Make ``import basicsr`` work on torchvision >= 0.17 without editing installed files (imports neither)."""
    _sfd_arch_hook.install(targets=())
    if sys.version_info < (3, 12):
        return  # distutils is still in the standard library (basicsr.utils imports it)
    import importlib.util

    if importlib.util.find_spec('distutils') is None:  # pragma: no cover - depends on the environment
        try:
            import setuptools  # noqa: F401  (its import installs the distutils shim)
        except ImportError as err:
            raise ImportError('basicsr needs distutils: `pip install setuptools`') from err


def patch_basicsr_for_cpu() -> None:
    """Places where basicsr 1.4.2 assumes CUDA although the rest of its pipeline runs on CPU.

    * ``--launcher pytorch`` always picks NCCL and ``torch.cuda.set_device``; without CUDA it now uses gloo.
    * ``filter2D`` (used by the Real-ESRGAN degradations) calls ``.view`` on the JPEG simulator's output,
      which is not contiguous on CPU; the wrapper passes a contiguous tensor (same values, any device).
    * ``sfd_arch.exact_resume.install`` wraps the training sampler, loader and resume-state loader so that
      ``--auto_resume`` continues the interrupted run bit for bit; it wraps whatever loader is in place, so
      ``sfd_arch`` applies the weights-only loads first.
    The first is a no-op for CUDA users. BasicSR's ``load_resume_state``, which maps the state onto
    ``torch.cuda.current_device()``, is replaced with the weights-only loads (``sfd_arch.utils.basicsr_safety``),
    and keeps the tensors on the CPU there.
    """
    import importlib

    import torch
    from basicsr.utils import dist_util

    if getattr(dist_util._init_dist_pytorch, '_sfd_patched', False):
        return

    original_init = dist_util._init_dist_pytorch

    def _init_dist_pytorch(backend, **kwargs):
        if torch.cuda.is_available() and backend != 'gloo':
            return original_init(backend, **kwargs)
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    _init_dist_pytorch._sfd_patched = True
    dist_util._init_dist_pytorch = _init_dist_pytorch

    realesrgan_model = importlib.import_module('basicsr.models.realesrgan_model')
    original_filter2d = realesrgan_model.filter2D

    def filter2D(img, kernel):  # noqa: N802 - basicsr's name
        return original_filter2d(img.contiguous(), kernel)

    realesrgan_model.filter2D = filter2D

    from . import exact_resume  # the same layer: a resumed run continues bit for bit (docs/design.md)

    exact_resume.install()


def cache_niqe_gamma_table() -> None:
    """BasicSR's NIQE, with its constant table computed once instead of at every call: the same numbers, faster.

    ``basicsr.metrics.niqe.estimate_aggd_param`` fits an asymmetric generalised Gaussian by looking up a table of
    ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))`` over 9,801 shapes ``a``, and builds that table again on each of its
    ten calls per 96 px block (about 0.4 s of CPU per 512 px image, most of NIQE's time). The replacement builds it
    once, with the same numpy operations, and does the rest as BasicSR does, in the same order, so every feature,
    and NIQE, is bit for bit what BasicSR computes (``tests/test_metrics.py`` compares the two on random blocks and
    on images). BasicSR's function stays reachable as ``estimate_aggd_param._basicsr``.
    """
    import importlib

    import numpy as np
    from scipy.special import gamma

    niqe = importlib.import_module('basicsr.metrics.niqe')
    if hasattr(niqe.estimate_aggd_param, '_basicsr'):
        return
    shapes = np.arange(0.2, 10.001, 0.001)
    inverse = np.reciprocal(shapes)
    ratio = np.square(gamma(inverse * 2)) / (gamma(inverse) * gamma(inverse * 3))

    def estimate_aggd_param(block):
        block = block.flatten()
        left_std = np.sqrt(np.mean(block[block < 0]**2))
        right_std = np.sqrt(np.mean(block[block > 0]**2))
        gammahat = left_std / right_std
        rhat = (np.mean(np.abs(block)))**2 / np.mean(block**2)
        rhatnorm = (rhat * (gammahat**3 + 1) * (gammahat + 1)) / ((gammahat**2 + 1)**2)
        alpha = shapes[np.argmin((ratio - rhatnorm)**2)]
        scale = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
        return alpha, left_std * scale, right_std * scale

    estimate_aggd_param._basicsr = niqe.estimate_aggd_param
    estimate_aggd_param.__doc__ = niqe.estimate_aggd_param.__doc__
    niqe.estimate_aggd_param = estimate_aggd_param
