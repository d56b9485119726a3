"""PIQE as a BasicSR metric: ``piqe: {type: calculate_piqe, crop_border: 4}`` (no reference, lower is better).

PIQE (Venkatanath et al., NCC 2015) needs no weights; ``pypiqe`` is a port of MATLAB's ``piqe``, the reference this
package's IQA bench also uses. It scores one image, so a comparison can apply it to real-world images that have no
ground truth.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .base import check_keys, crop, finite, to_hwc


def calculate_piqe(img: np.ndarray, img2: Optional[np.ndarray] = None, crop_border: int = 0,
                   input_order: str = 'HWC', **kwargs: Any) -> float:
    """PIQE (0..100, lower is better) of the uint8 BGR image ``img``; ``img2`` (an HR image) is not used."""
    check_keys('calculate_piqe', kwargs, ())
    from pypiqe import piqe  # imported here: a BasicSR run that never asks for PIQE does not need it

    sr = crop(to_hwc(img, input_order, 'calculate_piqe: image'), crop_border, 'calculate_piqe')
    if sr.dtype != np.uint8:
        sr = np.clip(np.round(sr), 0, 255).astype(np.uint8)
    return finite('calculate_piqe', float(piqe(np.ascontiguousarray(sr))[0]))
