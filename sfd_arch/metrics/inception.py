"""The Inception-v3 of FID (TensorFlow's 2015-12-05 graph as ported by pytorch-fid), pool features only.

pytorch-fid's ``InceptionV3([3])`` with its defaults (``resize_input=True``, ``normalize_input=True``): the
input, RGB in [0, 1], is resized to 299x299 (bilinear, ``align_corners=False``), scaled to [-1, 1] and run to
the final average pool: ``(B, 3, H, W) -> (B, 2048)``. ``dims`` 64, 192 or 768 stop at pytorch-fid's earlier
blocks (first/second max pool, pre-aux) and average their maps, as pytorch-fid's ``--dims`` does.
The FID variant differs from torchvision's Inception-v3 in its pooling: average pools that ignore padding in the
A, C and first E blocks, a max pool in the last E block. Module names equal torchvision's, so
``pt_inception-2015-12-05-6726825d.pth`` loads strictly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv_inception


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool does not count the zero padding
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class FIDInceptionA(tv_inception.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b1, b5, b3, self.branch_pool(_avg_pool(x))], 1)


class FIDInceptionC(tv_inception.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7d = layer(b7d)
        return torch.cat([b1, b7, b7d, self.branch_pool(_avg_pool(x))], 1)


class FIDInceptionE(tv_inception.InceptionE):
    """InceptionE with the pooling of its branch chosen: average (``Mixed_7b``) or max (``Mixed_7c``)."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.pool = _max_pool if max_pool else _avg_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        return torch.cat([b1, b3, b3d, self.branch_pool(self.pool(x))], 1)


# pytorch-fid's feature sizes -> how many modules of `FIDInception.layers` produce them
BLOCK_END = {64: 4, 192: 7, 768: 15, 2048: 19}


class FIDInception(nn.Module):
    """FID's Inception-v3 up to the pool: ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, dims)``."""

    def __init__(self, weight_path: str):
        super().__init__()
        net = tv_inception.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        try:
            state = torch.load(weight_path, map_location='cpu', weights_only=True)
            net.load_state_dict(state)
        except Exception as err:
            raise RuntimeError(f'cannot load the FID Inception weights from {weight_path}: {err}') from err
        self.layers = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
            net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, dims: int = 2048) -> torch.Tensor:
        if dims not in BLOCK_END:
            raise ValueError(f'FID dims must be one of {sorted(BLOCK_END)}, got {dims}')
        x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
        x = 2 * x - 1
        for layer in self.layers[:BLOCK_END[dims]]:
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
