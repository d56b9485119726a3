"""ImageNet backbones of LPIPS and DISTS, built as feature stacks and filled from torchvision's published files.

Only ``features`` is built (the classifiers are never used: VGG-16's alone holds 120 M parameters). Layer indices
follow torchvision's ``AlexNet.features`` / ``VGG.features``, so the published state dicts
(``features.<i>.weight``) load strictly.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers


def alexnet_features() -> nn.Sequential:
    """torchvision's AlexNet ``features`` (13 modules; conv at 0, 3, 6, 8, 10): ``(B, 3, H, W) -> (B, 256, h, w)``."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def vgg16_features() -> nn.Sequential:
    """torchvision's VGG-16 ``features`` (31 modules, no batch norm): ``(B, 3, H, W) -> (B, 512, h/32, w/32)``."""
    return make_layers(cfgs['D'], batch_norm=False)


def load_features(features: nn.Sequential, path: str) -> nn.Sequential:
    """Fill ``features`` from a torchvision classification checkpoint (keys ``features.*``; others ignored)."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # a truncated download or a wrong file: say which file
        raise RuntimeError(f'cannot read weight file {path}: {err}') from err
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    wanted = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
    expected = set(features.state_dict())
    if set(wanted) != expected:
        raise RuntimeError(f'{path} does not hold the expected backbone: missing {sorted(expected - set(wanted))[:4]}, '
                           f'unexpected {sorted(set(wanted) - expected)[:4]}')
    try:
        features.load_state_dict(wanted)
    except RuntimeError as err:
        raise RuntimeError(f'{path}: {err}') from err
    return features
