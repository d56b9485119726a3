"""Random stand-in weight files under the published names, for tests and the demo (no download possible).

The layouts are the published ones for every key the metrics read: torchvision's ``features.<i>.*`` for AlexNet
and VGG-16 (the classifier keys, unused by LPIPS/DISTS, are left out to keep the files small), pytorch-fid's full
Inception state dict, LPIPS's ``lin<k>.model.1.weight`` heads and DISTS's ``alpha``/``beta``. Their SHA-256 does
not match the published hashes, so ``weight_report`` marks them ``stand-in``.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterable

import torch

from ..utils.files import atomic_path
from .backbones import alexnet_features, vgg16_features
from .weights import ALEXNET, DISTS_ALPHA_BETA, FID_INCEPTION, LPIPS_HEADS, VGG16

STAND_IN_SETS = ('lpips', 'lpips_vgg', 'dists', 'fid')


def _randomize(module: torch.nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in module.state_dict().items():
        if not value.is_floating_point():
            state[key] = value.clone()
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        elif value.dim() == 1 and key.endswith('weight'):  # batch-norm scale: near 1, or depth multiplies it
            state[key] = 1 + 0.1 * torch.randn(value.shape, generator=generator)
        elif key.endswith('running_mean') or key.endswith('bias'):
            state[key] = 0.1 * torch.randn(value.shape, generator=generator)
        else:  # He-scaled, so activations neither vanish nor explode through the depth of the network
            fan_in = value[0].numel() if value.dim() > 1 else 1
            state[key] = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
    return state


def _save(state: dict, folder: str, name: str) -> str:
    path = osp.join(folder, name)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def write_stand_in_weights(folder: str, sets: Iterable[str] = STAND_IN_SETS, seed: int = 0) -> list[str]:
    """Write random weights for ``sets`` (``lpips``, ``lpips_vgg``, ``dists``, ``fid``) into ``folder``.

    Returns the paths written (existing files are overwritten); the same seed gives the same files.
    """
    sets = list(sets)
    unknown = sorted(set(sets) - set(STAND_IN_SETS))
    if unknown:
        raise ValueError(f'unknown stand-in set(s) {unknown}; known: {list(STAND_IN_SETS)}')
    os.makedirs(folder, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    written = []
    if 'lpips' in sets:
        features = _randomize(alexnet_features(), generator)
        written.append(_save({f'features.{k}': v for k, v in features.items()}, folder, ALEXNET.name))
    if 'lpips_vgg' in sets or 'dists' in sets:
        features = _randomize(vgg16_features(), generator)
        written.append(_save({f'features.{k}': v for k, v in features.items()}, folder, VGG16.name))
    for net, channels in (('alex', (64, 192, 384, 256, 256)), ('vgg', (64, 128, 256, 512, 512))):
        if ('lpips' if net == 'alex' else 'lpips_vgg') in sets:
            heads = {f'lin{k}.model.1.weight': torch.rand((1, c, 1, 1), generator=generator)
                     for k, c in enumerate(channels)}
            written.append(_save(heads, folder, LPIPS_HEADS[net].name))
    if 'dists' in sets:
        total = 3 + 64 + 128 + 256 + 512 + 512
        alpha_beta = {'alpha': 0.1 + 0.01 * torch.randn((1, total, 1, 1), generator=generator),
                      'beta': 0.1 + 0.01 * torch.randn((1, total, 1, 1), generator=generator)}
        written.append(_save(alpha_beta, folder, DISTS_ALPHA_BETA.name))
    if 'fid' in sets:
        from torchvision.models.inception import Inception3

        from .inception import FIDInceptionA, FIDInceptionC, FIDInceptionE

        net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = (FIDInceptionA(192, 32), FIDInceptionA(256, 64),
                                                    FIDInceptionA(288, 64))
        net.Mixed_6b, net.Mixed_6c = FIDInceptionC(768, 128), FIDInceptionC(768, 160)
        net.Mixed_6d, net.Mixed_6e = FIDInceptionC(768, 160), FIDInceptionC(768, 192)
        net.Mixed_7b, net.Mixed_7c = FIDInceptionE(1280, max_pool=False), FIDInceptionE(2048, max_pool=True)
        written.append(_save(_randomize(net, generator), folder, FID_INCEPTION.name))
    return written
