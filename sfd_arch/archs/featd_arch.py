"""Feat-D: the feature discriminator of SFD (Dong et al., CVPR 2025, arXiv 2503.19295).

Instead of judging pixels, Feat-D judges CLIP's pixel-wise middle features: one small fully
convolutional head per tapped layer gives a real/fake logit at every feature position.

    FeatD(in_channels=[256, 512, 1024])   # or clip=<the `clip:` block>, channels read from the backbone
    logits = featd(feats)   # list[(B, C_i, h_i, w_i)] -> list[(B, 1, h_i, w_i)]
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from .clip_arch import CLIPFeatureExtractor, build_clip


def _head(in_ch: int, num_feat: int, depth: int, kernel_size: int) -> nn.Sequential:
    """A 1x1 projection to ``num_feat``, ``depth - 1`` kxk convs, and a kxk conv to a 1-channel logit map.

    Spectral norm on every conv, LeakyReLU(0.2), no batch norm. The 1x1 projection keeps the heads cheap
    next to CLIP (RN50 layer1 has 256 channels at stride 4): a 3x3 conv there would cost a quarter of the
    backbone's forward pass on its own.
    """
    pad = kernel_size // 2
    layers: list[nn.Module] = [spectral_norm(nn.Conv2d(in_ch, num_feat, 1)), nn.LeakyReLU(0.2, inplace=True)]
    for _ in range(depth - 1):
        layers += [spectral_norm(nn.Conv2d(num_feat, num_feat, kernel_size, 1, pad)), nn.LeakyReLU(0.2, inplace=True)]
    layers.append(spectral_norm(nn.Conv2d(num_feat, 1, kernel_size, 1, pad)))
    return nn.Sequential(*layers)


class FeatD(nn.Module):
    """One fully convolutional discriminator head per tapped CLIP layer.

    Args:
        in_channels: channels of each tapped map. When omitted they are read from the CLIP backbone
            described by ``clip`` (the option file's ``clip:`` block, injected by the SFD models).
        num_feat: width of each head.
        depth: hidden convolutions per head (each followed by LeakyReLU 0.2): a 1x1 projection to
            ``num_feat``, then ``depth - 1`` convolutions of ``kernel_size``.
        kernel_size: convolution kernel size.
        clip: the ``clip:`` block (or a built extractor); only used to read the taps' channels.
    """

    def __init__(self, in_channels: Optional[Sequence[int]] = None, num_feat: int = 64, depth: int = 2,
                 kernel_size: int = 3, clip: Optional[dict | CLIPFeatureExtractor] = None):
        super().__init__()
        if depth < 1:
            raise ValueError(f'network_featd.depth must be >= 1, got {depth}')
        self.layer_names: list[str] = [f'map{i}' for i in range(len(in_channels or []))]
        if clip is not None:
            extractor = clip if isinstance(clip, CLIPFeatureExtractor) else build_clip(clip)
            if in_channels is not None and list(in_channels) != list(extractor.channels):
                raise ValueError(
                    f'network_featd.in_channels {list(in_channels)} does not match the CLIP taps '
                    f'{extractor.layers} of {extractor.opt["model"]}, which have channels {extractor.channels}. '
                    'Remove in_channels to take them from the backbone.')
            in_channels = extractor.channels
            self.layer_names = [str(t) for t in extractor.layers]
        if not in_channels:
            raise ValueError('FeatD needs `in_channels` (one per tapped layer) or the `clip:` block to read them from')
        self.in_channels = [int(c) for c in in_channels]
        self.num_feat, self.depth, self.kernel_size = int(num_feat), int(depth), int(kernel_size)
        self.heads = nn.ModuleList(_head(c, num_feat, depth, kernel_size) for c in self.in_channels)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        got = [int(f.shape[1]) for f in feats]
        if got != self.in_channels:
            raise ValueError(f'FeatD was built for {len(self.in_channels)} maps with channels {self.in_channels} '
                             f'(taps {self.layer_names}) but received {len(got)} with channels {got}. '
                             '`clip.layers` and network_featd must describe the same taps.')
        return [head(f) for head, f in zip(self.heads, feats)]
