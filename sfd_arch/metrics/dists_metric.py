"""DISTS (Ding et al., TPAMI 2020, "Image Quality Assessment: Unifying Structure and Texture Similarity").

Equal to ``DISTS_pytorch.DISTS`` on the same weights and images: VGG-16 with its max pools replaced by
L2 pooling (a 3x3 Hann window, stride 2), ImageNet-normalised input, six stages (the image itself and five
ReLU taps); per channel, a structure term (means) and a texture term (variances, covariance) weighted by the
learnt alpha/beta. The score is ``1 - sum``; lower is better.

Weights: torchvision's ``vgg16-397923af.pth`` and the alpha/beta DISTS publishes (``dists_alpha_beta.pt``; the
``dists-pytorch`` package ships it as ``DISTS_pytorch/weights.pt``). See ``weights.py`` for the lookup.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import load_features, vgg16_features
from .base import cached_network, check_keys, finite, paired_images, resolve_device, to_rgb_tensor
from .weights import DISTS_ALPHA_BETA, VGG16, require_weight

_CHANNELS = (3, 64, 128, 256, 512, 512)
# VGG-16 feature indices of the five stages; the max pool in front of stages 2-5 becomes an L2 pool
_STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
_C1 = _C2 = 1e-6


class L2Pool(nn.Module):
    """L2 pooling: sqrt of a Hann-weighted local mean of squares, stride 2. ``(B, C, H, W) -> (B, C, H', W')``."""

    def __init__(self, channels: int):
        super().__init__()
        window = torch.from_numpy(np.hanning(5)[1:-1]).float()  # 3 taps: [0.5, 1, 0.5]
        kernel = window[:, None] * window[None, :]
        self.register_buffer('kernel', (kernel / kernel.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x.pow(2), self.kernel, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTSNet(nn.Module):
    """DISTS distance: ``(B, 3, H, W)`` RGB in [0, 1] twice -> ``(B,)``."""

    def __init__(self, backbone_path: str, alpha_beta_path: str):
        super().__init__()
        features = load_features(vgg16_features(), backbone_path)
        stages = []
        for k, (start, end) in enumerate(_STAGES):
            layers = [L2Pool(_CHANNELS[k])] if k else []
            stages.append(nn.Sequential(*layers, *[features[i] for i in range(start, end)]))
        self.stages = nn.ModuleList(stages)
        weights = torch.load(alpha_beta_path, map_location='cpu', weights_only=True)
        if not isinstance(weights, dict) or not {'alpha', 'beta'} <= set(weights):
            raise RuntimeError(f'{alpha_beta_path} is not a DISTS weight file: expected the keys alpha and beta')
        total = sum(_CHANNELS)
        for key in ('alpha', 'beta'):
            if tuple(weights[key].shape) != (1, total, 1, 1):
                raise RuntimeError(f'{alpha_beta_path}: {key} has shape {tuple(weights[key].shape)}, '
                                   f'expected (1, {total}, 1, 1)')
        self.register_buffer('alpha', weights['alpha'].float())
        self.register_buffer('beta', weights['beta'].float())
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [x]  # DISTS compares the raw image too (stage 0, 3 channels)
        h = (x - self.mean) / self.std
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, _CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, _CHANNELS, dim=1)
        structure = texture = 0
        for fx, fy, alpha, beta in zip(self._features(x), self._features(y), alphas, betas):
            mx, my = fx.mean((2, 3), keepdim=True), fy.mean((2, 3), keepdim=True)
            vx, vy = (fx - mx).pow(2).mean((2, 3), keepdim=True), (fy - my).pow(2).mean((2, 3), keepdim=True)
            cov = (fx * fy).mean((2, 3), keepdim=True) - mx * my
            structure = structure + (alpha * (2 * mx * my + _C1) / (mx.pow(2) + my.pow(2) + _C1)).sum(1)
            texture = texture + (beta * (2 * cov + _C2) / (vx + vy + _C2)).sum(1)
        return 1 - (structure + texture).flatten(1).squeeze(1)


def dists_network(backbone_path: Optional[str] = None, alpha_beta_path: Optional[str] = None,
                  device: Optional[str] = None) -> DISTSNet:
    """The cached DISTS network for these weight files (built on first use, on ``device``)."""
    backbone = require_weight(VGG16, backbone_path, 'calculate_dists')
    alpha_beta = require_weight(DISTS_ALPHA_BETA, alpha_beta_path, 'calculate_dists')
    dev = resolve_device(device)
    return cached_network(('dists', backbone, alpha_beta, str(dev)), lambda: DISTSNet(backbone, alpha_beta).to(dev))


def calculate_dists(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                    backbone_path: Optional[str] = None, alpha_beta_path: Optional[str] = None,
                    device: Optional[str] = None, **kwargs: Any) -> float:
    """DISTS between SR ``img`` and HR ``img2`` (uint8 BGR, ``(H, W, 3)``), at full resolution; lower is better.

    Unlike ``DISTS_pytorch.prepare_image(resize=True)``, nothing is resized: the score is that of the pixels
    BasicSR hands over (resize before if you want the 256-pixel protocol).
    """
    check_keys('calculate_dists', kwargs, ())
    sr, hr = paired_images(img, img2, crop_border, input_order, 'calculate_dists')
    model = dists_network(backbone_path, alpha_beta_path, device)
    dev = model.mean.device
    with torch.inference_mode():
        value = model(to_rgb_tensor(sr, dev), to_rgb_tensor(hr, dev))
    return finite('calculate_dists', value.item())
