"""PSNR and SSIM as pyiqa computes them, without pyiqa (the ``pyiqa`` protocol of :mod:`.protocols`).

pyiqa (IQA-PyTorch) and BasicSR differ in small ways that move the fourth decimal of a table:

- PSNR (``pyiqa/archs/psnr_arch.py``): RGB tensors in [0, 1], ``10 log10(1 / (mse + 1e-8))`` in float32; its
  ``psnry`` takes Y of YIQ (0.299 R + 0.587 G + 0.114 B), not BasicSR's BT.601 Y with the 16 offset.
- SSIM (``pyiqa/archs/ssim_arch.py``): Y of YIQ times 255, **rounded**, in float64; an 11x11 Gaussian window
  (sigma 1.5, MATLAB's ``fspecial``) over the valid region; the contrast-structure term clamped at 0; no
  downsampling by default.

Both take BasicSR's calling convention (uint8 BGR ``(H, W, 3)``, ``crop_border``) and are registered in BasicSR's
METRIC registry, so a protocol can put them in an option file. ``tests/test_pyiqa.py`` compares them with pyiqa
itself (``make test-pyiqa``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .base import check_keys, finite, paired_images, to_rgb_tensor

# the full 3x3 matrices, multiplied as pyiqa multiplies them (the same float32 sums, so the same values to round)
_RGB2YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))
# ITU-R BT.601 as pyiqa's rgb2ycbcr writes it (RGB in [0, 1] -> YCbCr in [16, 235] before the division by 255)
_RGB2YCBCR = ((65.481, -37.797, 112.0), (128.553, -74.203, -93.786), (24.966, 112.0, -18.214))


def _y_channel(x: torch.Tensor, color_space: str) -> torch.Tensor:
    """``(1, 3, H, W)`` RGB in [0, 1] -> ``(1, 1, H, W)`` luma in [0, 1], with pyiqa's operations and their order."""
    if color_space == 'yiq':
        weights = torch.tensor(_RGB2YIQ).t().to(x)
        return torch.matmul(x.permute(0, 2, 3, 1), weights).permute(0, 3, 1, 2)[:, [0]]
    if color_space == 'ycbcr':
        weights = torch.tensor(_RGB2YCBCR).to(x)
        bias = torch.tensor([16, 128, 128]).view(1, 3, 1, 1).to(x)
        return ((torch.matmul(x.permute(0, 2, 3, 1), weights).permute(0, 3, 1, 2) + bias) / 255.0)[:, [0]]
    raise ValueError(f"color_space must be 'yiq' or 'ycbcr', got {color_space!r}")


def _pair(img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str,
          metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    sr, hr = paired_images(img, img2, crop_border, input_order, metric)
    cpu = torch.device('cpu')
    return to_rgb_tensor(sr, cpu), to_rgb_tensor(hr, cpu)


def calculate_psnr_pyiqa(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                         test_y_channel: bool = False, color_space: str = 'yiq', **kwargs: Any) -> float:
    """PSNR of SR ``img`` against HR ``img2`` (uint8 BGR) as pyiqa's ``psnr`` (``test_y_channel=False``) or
    ``psnry`` (``True``) computes it; higher is better."""
    check_keys('calculate_psnr_pyiqa', kwargs, ())
    x, y = _pair(img, img2, crop_border, input_order, 'calculate_psnr_pyiqa')
    if test_y_channel:
        x, y = _y_channel(x, color_space), _y_channel(y, color_space)
    mse = torch.mean((x - y) ** 2, dim=[1, 2, 3])
    return finite('calculate_psnr_pyiqa', (10 * torch.log10(1.0 / (mse + 1e-8))).item())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """MATLAB's ``fspecial('gaussian', size, sigma)`` as pyiqa builds it (float64 maths, stored as float32)."""
    half = (size - 1) / 2.0
    y, x = np.ogrid[-half:half + 1, -half:half + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    h /= h.sum()
    return torch.from_numpy(h).float()[None, None]


def calculate_ssim_pyiqa(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                         test_y_channel: bool = True, color_space: str = 'yiq', **kwargs: Any) -> float:
    """SSIM of SR ``img`` against HR ``img2`` (uint8 BGR) as pyiqa's ``ssim`` (``test_y_channel=True``) or
    ``ssimc`` (``False``: the three RGB channels) computes it; higher is better."""
    check_keys('calculate_ssim_pyiqa', kwargs, ())
    x, y = _pair(img, img2, crop_border, input_order, 'calculate_ssim_pyiqa')
    data_range = 255.0
    if test_y_channel:
        x, y = _y_channel(x, color_space) * data_range, _y_channel(y, color_space) * data_range
    else:
        x, y = x * data_range, y * data_range
    # pyiqa rounds to integers "to make the input image same as MATLAB", then works in float64
    x, y = x.round().double(), y.round().double()
    if min(x.shape[-2:]) < 11:
        raise ValueError(f'calculate_ssim_pyiqa: the 11x11 window needs images of at least 11x11 px, got '
                         f'{x.shape[-1]}x{x.shape[-2]}')
    channels = x.shape[1]
    window = _gaussian_window().repeat(channels, 1, 1, 1).to(x)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, stride=1, padding=0, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu1, mu2 = blur(x), blur(y)
    sigma1 = blur(x * x) - mu1.pow(2)
    sigma2 = blur(y * y) - mu2.pow(2)
    sigma12 = blur(x * y) - mu1 * mu2
    cs_map = F.relu((2 * sigma12 + c2) / (sigma1 + sigma2 + c2))
    ssim_map = ((2 * mu1 * mu2 + c1) / (mu1.pow(2) + mu2.pow(2) + c1)) * cs_map
    return finite('calculate_ssim_pyiqa', ssim_map.mean([1, 2, 3]).item())
