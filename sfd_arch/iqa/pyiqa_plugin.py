"""SFD-IQA in pyiqa (IQA-PyTorch), which stays an optional dependency: nothing here imports it at module level.

    import pyiqa
    metric = pyiqa.create_metric('sfd_iqa', weights='sfd_iqa.pth', device='cpu')   # + clip_weights, alpha, tile
    score = metric('image.png')                                                     # (1, 1), higher is better

How pyiqa finds it (one way in). ``pyiqa.create_metric`` first checks the metric name against its
``DEFAULT_CONFIGS`` dict, then builds ``metric_opts['type']`` from its ARCH registry. pyiqa's entry-point groups
(``pyiqa.archs``, ...) are read only when a registry misses a name, which never happens before that first check,
so an entry point cannot add a metric. Instead the start-up hook (``_sfd_arch_hook``, installed with the package)
calls :func:`_sfd_arch_hook.register_pyiqa` right after pyiqa finishes importing: it adds the ``sfd_iqa``
configuration entry and a lazy reference ``SFDIQANet -> sfd_arch.iqa.pyiqa_plugin:SFDIQANet``, and imports
nothing of ours. This module (and with it ``sfd_arch``, open_clip) is imported only when ``create_metric('sfd_iqa')``
builds the network. Where the ``.pth`` file is absent (editable installs, a checkout on ``PYTHONPATH``),
``import sfd_arch`` puts the same finder in place (:func:`install_import_hook`).
"""
from __future__ import annotations

import sys
from typing import Any, Optional

import torch
from torch import nn

import _sfd_arch_hook

from .scorer import DEFAULT_ALPHA

if not hasattr(_sfd_arch_hook, 'register_pyiqa'):  # a checkout put on sys.path after start-up, older install
    raise ImportError(f'the start-up hook {_sfd_arch_hook.__file__} is older than {__file__}: '
                      'reinstall the package (`make setup` or `pip install --no-build-isolation .`)')

METRIC_NAME = _sfd_arch_hook.PYIQA_METRIC
ARCH_NAME = _sfd_arch_hook.PYIQA_ARCH
METRIC_CONFIG: dict[str, Any] = _sfd_arch_hook.PYIQA_CONFIG


class SFDIQANet(nn.Module):
    """pyiqa network wrapping :class:`sfd_arch.iqa.SFDIQA`: ``(B, 3 or 1, H, W)`` in [0, 1] -> ``(B, 1)``.

    Args:
        weights: SFD-IQA weights file (``sfd-iqa export``); ``pretrained_model_path`` is accepted as pyiqa's name.
        clip_weights, alpha, tile, batch_size: as for ``SFDIQA.from_file``.

    Not differentiable (scores are computed under ``torch.inference_mode``): do not use with ``as_loss=True``.
    """

    def __init__(self, weights: Optional[str] = None, clip_weights: Optional[str] = None, alpha: float = DEFAULT_ALPHA,
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


def register() -> bool:
    """Add ``sfd_iqa`` to pyiqa now (see :func:`_sfd_arch_hook.register_pyiqa`); False when pyiqa is not installed.

    Safe to call any number of times. Not needed where the start-up hook or :func:`install_import_hook` ran
    before pyiqa was imported.
    """
    return _sfd_arch_hook.register_pyiqa()


def install_import_hook() -> None:
    """Register now if pyiqa is imported, else as soon as it is (never imports pyiqa itself).

    Uses the start-up hook's finder, which the ``.pth`` file normally installs already; this covers installs
    without it.
    """
    if 'pyiqa' in sys.modules:
        register()
    else:
        _sfd_arch_hook.install(targets=('pyiqa',))
