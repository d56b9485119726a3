"""LPIPS v0.1 (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric").

Equal to the official ``lpips`` package's ``LPIPS(net=..., version='0.1')`` on the same weights and images:
inputs scaled to [-1, 1], shifted/scaled by LPIPS's ``ScalingLayer``, five ReLU taps of the backbone, each
channel-normalised, squared difference, a 1x1 linear head per tap, spatial mean, sum over taps. Lower is better.

Weights: torchvision's ``alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth`` for the backbone and the linear
heads LPIPS publishes (``lpips_v0.1_alex.pth`` / ``lpips_v0.1_vgg.pth``; the ``lpips`` package ships them as
``lpips/weights/v0.1/<net>.pth``). See ``weights.py`` for where they are looked up.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import alexnet_features, load_features, vgg16_features
from .base import cached_network, check_keys, finite, paired_images, resolve_device, to_rgb_tensor
from .weights import ALEXNET, LPIPS_HEADS, VGG16, require_weight

# per backbone: its weight file, the feature stack, and the end index (exclusive) of each tapped slice
_NETS = {
    'alex': (ALEXNET, alexnet_features, (2, 5, 8, 10, 12), (64, 192, 384, 256, 256)),
    'vgg': (VGG16, vgg16_features, (4, 9, 16, 23, 30), (64, 128, 256, 512, 512)),
}
# LPIPS's ScalingLayer constants (ImageNet statistics expressed for inputs in [-1, 1])
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _check_net(net: str) -> str:
    if net not in _NETS:
        raise ValueError(f"calculate_lpips: net must be one of {sorted(_NETS)}, got {net!r}")
    return net


class LPIPSNet(nn.Module):
    """LPIPS v0.1 distance: ``(B, 3, H, W)`` RGB in [0, 1] twice -> ``(B,)`` distances."""

    def __init__(self, net: str, backbone_path: str, head_path: str):
        super().__init__()
        backbone, build, ends, channels = _NETS[_check_net(net)]
        features = load_features(build(), backbone_path)
        starts = (0, *ends[:-1])
        self.slices = nn.ModuleList(nn.Sequential(*[features[i] for i in range(a, b)]) for a, b in zip(starts, ends))
        heads = torch.load(head_path, map_location='cpu', weights_only=True)
        try:
            weights = [heads[f'lin{k}.model.1.weight'] for k in range(len(ends))]
        except KeyError as err:
            raise RuntimeError(f'{head_path} is not an LPIPS v0.1 head file: no key {err.args[0]}') from None
        for k, (w, c) in enumerate(zip(weights, channels)):
            if tuple(w.shape) != (1, c, 1, 1):
                raise RuntimeError(f'{head_path}: lin{k} has shape {tuple(w.shape)}, expected (1, {c}, 1, 1) '
                                   f'for net {net!r}')
        self.heads = nn.ParameterList(nn.Parameter(w.float(), requires_grad=False) for w in weights)
        self.register_buffer('shift', torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer('scale', torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        hx = ((2 * x - 1) - self.shift) / self.scale
        hy = ((2 * y - 1) - self.shift) / self.scale
        total = x.new_zeros(x.shape[0])
        for layer, head in zip(self.slices, self.heads):
            hx, hy = layer(hx), layer(hy)
            # channel-unit-normalised taps; LPIPS adds its epsilon to the norm, not under the root
            nx = hx / (hx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = hy / (hy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((nx - ny).pow(2), head).mean((1, 2, 3))
        return total


def lpips_network(net: str = 'alex', backbone_path: Optional[str] = None, head_path: Optional[str] = None,
                  device: Optional[str] = None) -> LPIPSNet:
    """The cached LPIPS network for these settings (built on first use, on ``device``)."""
    net = _check_net(net)
    backbone = require_weight(_NETS[net][0], backbone_path, 'calculate_lpips')
    head = require_weight(LPIPS_HEADS[net], head_path, 'calculate_lpips')
    dev = resolve_device(device)
    return cached_network(('lpips', net, backbone, head, str(dev)), lambda: LPIPSNet(net, backbone, head).to(dev))


def calculate_lpips(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                    net: str = 'alex', version: str = '0.1', backbone_path: Optional[str] = None,
                    head_path: Optional[str] = None, device: Optional[str] = None, **kwargs: Any) -> float:
    """LPIPS distance between SR ``img`` and HR ``img2`` (uint8 BGR, ``(H, W, 3)``); lower is better.

    Args:
        crop_border: pixels removed from each side of both images first (BasicSR's convention).
        net: ``alex`` (the LPIPS paper's default) or ``vgg``.
        version: only ``'0.1'`` (the released LPIPS; v0.0 had a normalisation bug).
        backbone_path, head_path: explicit weight files (else looked up by published name).
        device: ``cpu``, ``cuda``, ``cuda:1``...; default: CUDA when available.
    """
    check_keys('calculate_lpips', kwargs, ())
    if str(version) not in ('0.1', 'v0.1'):
        raise ValueError(f"calculate_lpips: only version '0.1' is implemented, got {version!r}")
    sr, hr = paired_images(img, img2, crop_border, input_order, 'calculate_lpips')
    model = lpips_network(net, backbone_path, head_path, device)
    dev = model.shift.device
    with torch.inference_mode():
        value = model(to_rgb_tensor(sr, dev), to_rgb_tensor(hr, dev))
    return finite('calculate_lpips', value.item())
