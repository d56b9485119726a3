"""SFD-IQA as a BasicSR metric: ``calculate_sfd_iqa`` in ``val.metrics`` of a train or test option file.

    val:
      metrics:
        sfd_iqa: {type: calculate_sfd_iqa, weights: experiments/pretrained_models/sfd_iqa.pth, better: higher}
        # during SFD training, `weights: model` judges the SR outputs with the model's own current Feat-D and LPP
        # optional: clip_weights (tag or file overriding the recorded clip.pretrained), alpha, device, tile, batch_size

BasicSR calls ``calculate_metric(dict(img=sr, img2=gt), opt)``, i.e. this function with ``img`` the SR output as
``tensor2img`` gives it (uint8 HWC **BGR**) and ``img2`` the ground truth, which a no-reference metric ignores.
The scorer is built once per process per (weights file and its mtime, clip_weights, device, tile, batch_size).
"""
from __future__ import annotations

import os.path as osp
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch

from .images import as_rgb
from .scorer import DEFAULT_ALPHA, DEFAULT_BATCH_SIZE, DEFAULT_TILE, SFDIQA, default_device

_SCORERS: dict[tuple, SFDIQA] = {}
LIVE = 'model'  # `weights: model`: the networks of the SFD model being trained (set during its validation)
_LIVE_SCORERS: list[SFDIQA] = []


@contextmanager
def live_scorer(scorer: SFDIQA) -> Iterator[SFDIQA]:
    """Make ``calculate_sfd_iqa(..., weights='model')`` use ``scorer`` (an SFD model's own Feat-D and LPP)."""
    _LIVE_SCORERS.append(scorer)
    try:
        yield scorer
    finally:
        _LIVE_SCORERS.remove(scorer)


def get_scorer(weights: str, clip_weights: Optional[str] = None, device: Union[str, torch.device, None] = None,
               tile: Optional[int] = DEFAULT_TILE, batch_size: int = DEFAULT_BATCH_SIZE) -> SFDIQA:
    """The process-wide scorer for these arguments (rebuilt when the weights file changes on disk)."""
    if weights == LIVE:
        if not _LIVE_SCORERS:
            raise ValueError('calculate_sfd_iqa: `weights: model` scores with the networks of the SFD model being '
                             'trained, so it only works in the val.metrics of an SFDModel/RealSFDModel training run; '
                             'elsewhere give an SFD-IQA weights file (`sfd-iqa export`)')
        return _LIVE_SCORERS[-1]
    if not weights:
        raise ValueError('calculate_sfd_iqa needs `weights: <SFD-IQA weights file>` in its metric options '
                         '(make the file with `sfd-iqa export`)')
    if not osp.isfile(weights):
        raise FileNotFoundError(f'calculate_sfd_iqa: weights file not found: {weights} '
                                '(make it with `sfd-iqa export`)')
    device = torch.device(device) if device is not None else default_device()
    key = (osp.abspath(weights), osp.getmtime(weights), clip_weights, str(device), tile, int(batch_size))
    if key not in _SCORERS:
        _SCORERS[key] = SFDIQA.from_file(weights, clip_weights=clip_weights, device=device, tile=tile,
                                         batch_size=batch_size)
    return _SCORERS[key]


def calculate_sfd_iqa(img: Union[np.ndarray, torch.Tensor], img2: Any = None, weights: Optional[str] = None,
                      clip_weights: Optional[str] = None, alpha: float = DEFAULT_ALPHA,
                      device: Optional[str] = None, tile: Optional[int] = DEFAULT_TILE,
                      batch_size: int = DEFAULT_BATCH_SIZE, input_order: str = 'HWC', **kwargs: Any) -> float:
    """SFD-IQA of one image (higher is better, in [0, 1]); ``img2`` and unknown keys (``crop_border``,
    ``better``...) are ignored.

    Args:
        img: uint8/uint16/float HWC BGR array as BasicSR's validation passes it (``input_order='CHW'`` also
            accepted), or an RGB tensor in [0, 1] of shape (3, H, W) or (B, 3, H, W) (then the batch mean).
        weights: SFD-IQA weights file (``sfd-iqa export``).
        clip_weights: CLIP weights (tag or file) overriding the ``clip.pretrained`` recorded in ``weights``.
        alpha: weight of ``q_feat`` against ``p_pos``.
        device: default CUDA when available.
        tile, batch_size: see :class:`sfd_arch.iqa.SFDIQA`.
    """
    scorer = get_scorer(weights, clip_weights, device, tile, batch_size)
    if isinstance(img, torch.Tensor):
        score, q_feat, p_pos = scorer.score_tensor(img)
        return float(scorer.mix(q_feat, p_pos, alpha).mean())
    img = np.asarray(img)
    if input_order == 'CHW' and img.ndim == 3:
        img = img.transpose(1, 2, 0)
    elif input_order != 'HWC':
        raise ValueError(f"calculate_sfd_iqa: input_order must be 'HWC' or 'CHW', got {input_order!r}")
    result = scorer.score_arrays([as_rgb(img, 'BGR', name='SR image')], names=['SR image'])[0]
    return float(scorer.mix(result.q_feat, result.p_pos, alpha))
