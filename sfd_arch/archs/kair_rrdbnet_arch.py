"""KAIRRRDBNet: ESRGAN's generator in the layout KAIR trains and the SFD authors released (x2 and x4).

The SFD authors publish their generator as KAIR's RRDBNet (repository GuangluDong0728/SFD, ``rrdbnet_arch.py``).
Its weights are named ``conv_first``, ``RRDB_trunk.<n>.RDB<k>.conv<j>``, ``trunk_conv``, ``upconv1``,
``upconv2`` (x4 only), ``HRconv`` and ``conv_last``, and it upsamples by nearest-neighbour steps of two. For x2
it takes one step and has no ``upconv2``; BasicSR's ``RRDBNet`` instead folds an x2 input into channels
(pixel-unshuffle) and keeps two steps, so an x2 KAIR file has no BasicSR ``RRDBNet`` equivalent. This class
keeps the released names, so such a file loads with ``strict=True`` and an option file can test, compare and
fine-tune it (``network_g: {type: KAIRRRDBNet, scale: 2}``)::

    net = KAIRRRDBNet(num_feat=64, num_block=23, num_grow_ch=32, scale=2)   # (B, 3, h, w) -> (B, 3, 2h, 2w)

Arguments follow BasicSR's ``RRDBNet`` (KAIR's ``in_nc, out_nc, nf, nb, gc, sf``);
``kair_rrdb_options`` reads them back from a state dict.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

SCALES = (2, 4)


class _DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the input and every earlier output; residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        for j in range(1, 6):
            in_ch = num_feat + (j - 1) * num_grow_ch
            setattr(self, f'conv{j}', nn.Conv2d(in_ch, num_feat if j == 5 else num_grow_ch, 3, 1, 1))
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for j in range(1, 5):
            feats.append(self.lrelu(getattr(self, f'conv{j}')(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class _RRDB(nn.Module):
    """Three dense blocks (``RDB1``..``RDB3``, KAIR's names) and a residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        self.RDB1 = _DenseBlock(num_feat, num_grow_ch)
        self.RDB2 = _DenseBlock(num_feat, num_grow_ch)
        self.RDB3 = _DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class KAIRRRDBNet(nn.Module):
    """ESRGAN's RRDB generator with KAIR's module names and nearest-neighbour x2 steps (one for x2, two for x4).

    Args:
        num_in_ch: input channels (KAIR's ``in_nc``).
        num_out_ch: output channels (``out_nc``).
        num_feat: feature channels (``nf``).
        num_block: RRDB blocks in the trunk (``nb``).
        num_grow_ch: growth channels of the dense blocks (``gc``).
        scale: 2 or 4 (``sf``).

    ``(B, num_in_ch, h, w) -> (B, num_out_ch, h * scale, w * scale)``; any input size.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32, scale: int = 4):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f'KAIRRRDBNet: scale must be one of {SCALES}, got {scale}')
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*[_RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.trunk_conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upconv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale == 4:  # the released x2 file has no such key: it must not exist here either (strict loading)
            self.upconv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.HRconv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.trunk_conv(self.RRDB_trunk(feat))
        for conv in (self.upconv1, self.upconv2) if self.scale == 4 else (self.upconv1,):
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode='nearest')))
        return self.conv_last(self.lrelu(self.HRconv(feat)))


KEY_PATTERN = re.compile(r'(conv_first|trunk_conv|upconv[12]|HRconv|conv_last|RRDB_trunk\.\d+\.RDB[123]\.conv[1-5])'
                         r'\.(weight|bias)')


def is_kair_rrdb_state(state: Mapping[str, torch.Tensor]) -> bool:
    """True when every key is one of KAIR's RRDBNet names and the trunk and both ends are there."""
    return (bool(state) and all(KEY_PATTERN.fullmatch(k) for k in state)
            and all(k in state for k in ('conv_first.weight', 'RRDB_trunk.0.RDB1.conv1.weight', 'conv_last.weight')))


def kair_rrdb_options(state: Mapping[str, torch.Tensor], source: str = 'state dict') -> dict:
    """``KAIRRRDBNet`` arguments that reproduce the shapes of a KAIR-layout state dict (``upconv2`` -> x4)."""
    if not is_kair_rrdb_state(state):
        odd = [k for k in state if not KEY_PATTERN.fullmatch(k)][:5]
        raise ValueError(f'{source}: not a KAIR RRDBNet state dict (keys conv_first, RRDB_trunk.N.RDBk.convj, '
                         f'trunk_conv, upconv1/2, HRconv, conv_last){"; unexpected keys " + str(odd) if odd else ""}')
    blocks = {int(k.split('.')[1]) for k in state if k.startswith('RRDB_trunk.')}
    return {
        'num_in_ch': state['conv_first.weight'].shape[1],
        'num_out_ch': state['conv_last.weight'].shape[0],
        'num_feat': state['conv_first.weight'].shape[0],
        'num_block': max(blocks) + 1,
        'num_grow_ch': state['RRDB_trunk.0.RDB1.conv1.weight'].shape[0],
        'scale': 4 if 'upconv2.weight' in state else 2,
    }
