"""What every SR metric here shares: BasicSR's image convention, option checks, devices and the network cache.

BasicSR's ``calculate_metric(data, opt)`` calls a registered metric as ``fn(img=SR, img2=HR, **opt_without_type)``
with uint8 BGR ``(H, W, 3)`` arrays in [0, 255] (``input_order='HWC'``) or ``(3, H, W)`` (``'CHW'``). The
metric networks work on RGB float tensors, so each metric converts through ``to_rgb_tensor``.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Any, Callable, Optional

import numpy as np
import torch

# BasicSR reads ``better`` itself (best-metric tracking); every metric accepts and ignores it
BASICSR_KEYS = ('better',)

_NETWORKS: dict[Hashable, Any] = {}
_LOCK = threading.Lock()


class MetricInputError(ValueError):
    """An SR/HR pair a metric cannot compare (sizes, layout, value range)."""


def check_keys(metric: str, given: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """A key in a metric block that the metric does not read is a mistake the user should hear about."""
    unknown = sorted(k for k in given if k not in allowed and k not in BASICSR_KEYS)
    if unknown:
        raise KeyError(f'{metric}: unknown option(s) {unknown}; known: {sorted(allowed + BASICSR_KEYS)}')


def resolve_device(device: Optional[str]) -> torch.device:
    """``None``/``'auto'``: the first CUDA device when there is one, else the CPU."""
    if device in (None, 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def cached_network(key: Hashable, build: Callable[[], torch.nn.Module]) -> Any:
    """The network for ``key`` (metric, settings, weight files, device), built on first use only.

    Metrics are called once per image by BasicSR; building LPIPS/DISTS/Inception each time would cost more
    than scoring. The cache lives for the process; ``clear_metric_cache`` frees it.
    """
    with _LOCK:
        net = _NETWORKS.get(key)
        if net is None:
            net = build()
            _NETWORKS[key] = net
        return net


def clear_metric_cache() -> None:
    """Forget every cached metric network (frees their memory; the next call builds again)."""
    with _LOCK:
        _NETWORKS.clear()


def to_hwc(img: np.ndarray, input_order: str, label: str) -> np.ndarray:
    """A BasicSR metric input (HWC or CHW, ``input_order``) as HWC; ``label`` names it in errors."""
    if input_order not in ('HWC', 'CHW'):
        raise ValueError(f"input_order must be 'HWC' or 'CHW', got {input_order!r}")
    if not isinstance(img, np.ndarray):
        raise MetricInputError(f'{label}: expected a numpy array, got {type(img).__name__}')
    if img.ndim == 2:
        img = img[..., None]
    elif input_order == 'CHW':
        img = img.transpose(1, 2, 0)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise MetricInputError(f'{label}: expected an (H, W, 3) image, got shape {img.shape}')
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img


def paired_images(img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str,
                  metric: str) -> tuple[np.ndarray, np.ndarray]:
    """SR and HR as ``(H, W, 3)`` BGR arrays with ``crop_border`` pixels removed on each side; sizes must match."""
    sr = to_hwc(img, input_order, f'{metric}: SR image')
    hr = to_hwc(img2, input_order, f'{metric}: HR image')
    if sr.shape != hr.shape:
        raise MetricInputError(f'{metric}: SR image is {sr.shape[1]}x{sr.shape[0]} (WxH) but HR image is '
                               f'{hr.shape[1]}x{hr.shape[0]}; the pair must have the same size')
    return crop(sr, crop_border, metric), crop(hr, crop_border, metric)


def crop(img: np.ndarray, crop_border: int, metric: str) -> np.ndarray:
    crop_border = int(crop_border or 0)
    if crop_border < 0:
        raise ValueError(f'{metric}: crop_border must be >= 0, got {crop_border}')
    if crop_border:
        if min(img.shape[:2]) <= 2 * crop_border:
            raise MetricInputError(f'{metric}: crop_border {crop_border} leaves nothing of a '
                                   f'{img.shape[1]}x{img.shape[0]} image')
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    return img


def to_rgb_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(H, W, 3)`` BGR image (uint8 in [0, 255], or float in [0, 1]) -> ``(1, 3, H, W)`` RGB float in [0, 1].

    Integer images are divided by 255, as BasicSR's ``tensor2img`` produced them; float images are taken to be
    in [0, 1] already (``img2tensor`` convention), which a value above 1 contradicts.
    """
    if np.issubdtype(img.dtype, np.integer):
        array = img.astype(np.float32) / 255.0
    else:
        array = img.astype(np.float32)
        if array.size and float(array.max()) > 1.0 + 1e-6:
            raise MetricInputError('float images must be in [0, 1]; pass uint8 images for [0, 255]')
    array = np.ascontiguousarray(array[..., ::-1].transpose(2, 0, 1))  # BGR -> RGB, HWC -> CHW
    return torch.from_numpy(array).unsqueeze(0).to(device)


def finite(metric: str, value: float) -> float:
    """Refuse NaN/inf: a table or a best-checkpoint choice built on one would be silently wrong."""
    value = float(value)
    if not math.isfinite(value):
        raise FloatingPointError(f'{metric} returned {value}: check the images (constant or empty crops) and the '
                                 'metric weights (a corrupt file gives NaN)')
    return value
