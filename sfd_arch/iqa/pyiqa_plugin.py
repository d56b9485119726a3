"""SFD-IQA in pyiqa (IQA-PyTorch), which stays an optional dependency: nothing here imports it at module level.

    import pyiqa
    metric = pyiqa.create_metric('sfd_iqa', weights='sfd_iqa.pth', device='cpu')   # + clip_weights, alpha, tile
    score = metric('image.png')                                                     # (1, 1), higher is better

How pyiqa finds it. pyiqa (0.1.16 checked) loads plugins from the entry-point groups ``pyiqa.archs``,
``pyiqa.models``, ... the first time one of its registries is asked for a name it lacks, and calls each loaded
object. Its ``create_metric`` however looks the metric name up in ``DEFAULT_CONFIGS`` (a plain dict) before any
registry is asked, so an entry point alone is not seen by the very first ``create_metric`` of a process.
Hence three routes, all ending in :func:`register` (idempotent):

1. the entry point ``[pyiqa.archs] sfd_iqa = sfd_arch.iqa.pyiqa_plugin:register`` (declared in setup.py), run
   whenever pyiqa's ARCH registry is queried (``build_network``, ``'X' in ARCH_REGISTRY``);
2. the start-up hook (``_sfd_arch_hook``, installed with the package) registers right after pyiqa finishes
   importing; ``import sfd_arch.iqa`` installs the same hook where the ``.pth`` file is absent;
3. calling :func:`register` yourself.
"""
from __future__ import annotations

import sys
from typing import Any, Optional

import torch
from torch import nn

METRIC_NAME = 'sfd_iqa'
ARCH_NAME = 'SFDIQANet'
METRIC_CONFIG: dict[str, Any] = {
    'metric_opts': {'type': ARCH_NAME},
    'metric_mode': 'NR',
    'lower_better': False,
    'score_range': '0, 1',
}


class SFDIQANet(nn.Module):
    """pyiqa network wrapping :class:`sfd_arch.iqa.SFDIQA`: ``(B, 3 or 1, H, W)`` in [0, 1] -> ``(B, 1)``.

    Args:
        weights: SFD-IQA weights file (``sfd-iqa export``); ``pretrained_model_path`` is accepted as pyiqa's name.
        clip_weights, alpha, tile, batch_size: as for ``SFDIQA.from_file``.

    Not differentiable (scores are computed under ``torch.inference_mode``): do not use with ``as_loss=True``.
    """

    def __init__(self, weights: Optional[str] = None, clip_weights: Optional[str] = None, alpha: float = 0.5,
                 tile: Optional[int] = 512, batch_size: int = 16, pretrained_model_path: Optional[str] = None):
        super().__init__()
        from .scorer import SFDIQA

        weights = weights or pretrained_model_path
        if not weights:
            raise ValueError("pyiqa metric 'sfd_iqa' needs weights=<SFD-IQA weights file> "
                             "(e.g. pyiqa.create_metric('sfd_iqa', weights='sfd_iqa.pth'))")
        # loaded on the CPU; forward moves it to wherever pyiqa sends the images
        self.scorer = SFDIQA.from_file(weights, clip_weights=clip_weights, device='cpu', alpha=alpha, tile=tile,
                                       batch_size=batch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scorer.device != x.device:
            self.scorer.to(x.device)
        score = self.scorer.score_tensor(x)[0]
        return score.to(device=x.device, dtype=torch.float32).reshape(-1, 1)


_REGISTERED = False


def register() -> bool:
    """Add ``sfd_iqa`` to pyiqa's ``DEFAULT_CONFIGS`` and ``SFDIQANet`` to its ARCH registry.

    Returns False when pyiqa is not installed. Safe to call any number of times, from any route.
    """
    global _REGISTERED
    if _REGISTERED:
        return True
    try:
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
        from pyiqa.utils.registry import ARCH_REGISTRY
    except ImportError:
        return False
    _REGISTERED = True  # before touching the registry: querying it may load entry points, which call us again
    if getattr(ARCH_REGISTRY, '_obj_map', {}).get(ARCH_NAME) is not SFDIQANet:
        try:
            ARCH_REGISTRY.register(SFDIQANet)
        except AssertionError:  # a name clash with another SFDIQANet: keep theirs, say so on use
            pass
    DEFAULT_CONFIGS.setdefault(METRIC_NAME, dict(METRIC_CONFIG))
    return True


def install_import_hook() -> None:
    """Register now if pyiqa is imported, else as soon as it is (never imports pyiqa itself).

    Uses the start-up hook's finder (``_sfd_arch_hook``), which the ``.pth`` file normally installs already.
    """
    if 'pyiqa' in sys.modules:
        register()
    else:
        import _sfd_arch_hook

        _sfd_arch_hook.install(targets=('pyiqa',))
