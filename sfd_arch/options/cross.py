"""Values that are each fine alone but cannot run together: the file's ``scale`` and its generator's, scheduler
milestones beyond the run, a warm-up as long as the run, a Real-ESRGAN queue the batch does not divide.

Each would fail inside BasicSR after it has made the experiment folder (``Scale mismatches`` from a data-loader
worker, ``assert self.queue_size % b == 0`` in the first iteration, ``TypeError`` once the iteration passes the
cosine periods), or quietly do something else (a milestone after the last iteration never lowers the rate).
"""
from __future__ import annotations

import inspect
from typing import Any, Optional

# the argument that sets a generator's upscaling factor, in the architectures of BasicSR and its plugins
_SCALE_ARGUMENTS = ('scale', 'upscale', 'upscale_factor', 'sf')
# RealESRGANDataset pads or crops every GT image to 400 px; the model's gt_size crop is taken from that
REALESRGAN_CROP_PAD = 400


def generator_scale(network_opt: dict[str, Any]) -> Optional[tuple[int, str]]:
    """``(scale, argument)`` of the generator a ``network_g`` block builds: its scale argument as given, else that
    argument's default; None when the architecture has no such argument (or is not registered)."""
    from basicsr.utils.registry import ARCH_REGISTRY

    from .keys import registered

    arch = registered(ARCH_REGISTRY, network_opt.get('type'))
    if arch is None:
        return None
    try:
        params = inspect.signature(arch).parameters
    except (TypeError, ValueError):
        return None
    for name in _SCALE_ARGUMENTS:
        if name in network_opt:
            return int(network_opt[name]), name
        if name in params and isinstance(params[name].default, int):
            return params[name].default, name
    return None


def cross_field_problems(opt: dict[str, Any], is_train: bool = True) -> list[str]:
    """One line per pair of values that cannot run together (the values themselves are already checked)."""
    problems = []
    scale = opt.get('scale')
    network = opt.get('network_g')
    if isinstance(network, dict) and scale is not None:
        found = generator_scale(network)
        if found and found[0] != scale:
            problems.append(f'scale: {scale}, but network_g ({network.get("type")}) upscales x{found[0]} '
                            f'(network_g.{found[1]}{"" if found[1] in network else ", its default"}): make them '
                            'equal')
    train = opt.get('train') if is_train else None
    if isinstance(train, dict):
        problems += _schedule_problems(train)
    if is_train:
        problems += _realesrgan_problems(opt)
    for phase, block in (opt.get('datasets') or {}).items():
        if isinstance(block, dict):
            for suffix in ('', '2'):
                kernels, probs = block.get(f'kernel_list{suffix}'), block.get(f'kernel_prob{suffix}')
                if isinstance(kernels, list) and isinstance(probs, list) and len(kernels) != len(probs):
                    problems.append(f'datasets.{phase}.kernel_prob{suffix}: {len(probs)} probabilities for the '
                                    f'{len(kernels)} kernels of kernel_list{suffix}')
    return problems


def _schedule_problems(train: dict[str, Any]) -> list[str]:
    problems = []
    total = train.get('total_iter')
    if total is None:
        return ['train.total_iter: missing (the number of iterations to train)']
    warmup = train.get('warmup_iter', -1)
    if warmup is not None and warmup >= total:
        problems.append(f'train.warmup_iter: {warmup:g} is not shorter than the run (total_iter {total:g}): the '
                        'learning rate would never reach its value')
    scheduler = train.get('scheduler') or {}
    kind = scheduler.get('type')
    if kind in ('MultiStepLR', 'MultiStepRestartLR'):
        late = [m for m in scheduler.get('milestones') or [] if m > total]
        if late:
            problems.append(f'train.scheduler.milestones: {late} after the last iteration (total_iter {total:g}): '
                            'the rate never drops there')
        restarts, weights = scheduler.get('restarts') or [0], scheduler.get('restart_weights') or [1]
        if len(restarts) != len(weights):
            problems.append(f'train.scheduler.restart_weights: {len(weights)} weights for {len(restarts)} restarts')
    elif kind == 'CosineAnnealingRestartLR':
        periods, weights = scheduler.get('periods') or [], scheduler.get('restart_weights') or [1]
        if len(periods) != len(weights):
            problems.append(f'train.scheduler.restart_weights: {len(weights)} weights for the {len(periods)} '
                            'periods')
        elif sum(periods) < total:
            problems.append(f'train.scheduler.periods: they add up to {sum(periods)}, fewer than total_iter '
                            f'{total:g} (BasicSR fails at the first iteration past them)')
    return problems


def _realesrgan_problems(opt: dict[str, Any]) -> list[str]:
    problems = []
    train_set = (opt.get('datasets') or {}).get('train')
    if not isinstance(train_set, dict):
        return problems
    queue, batch = opt.get('queue_size'), train_set.get('batch_size_per_gpu')
    if queue is not None and batch and queue % batch:
        problems.append(f'queue_size: {queue} is not a multiple of datasets.train.batch_size_per_gpu {batch} '
                        '(Real-ESRGAN\'s training pair queue asserts it at the first iteration)')
    if train_set.get('type') == 'RealESRGANDataset' and (opt.get('gt_size') or 0) > REALESRGAN_CROP_PAD:
        problems.append(f'gt_size: {opt["gt_size"]} is larger than the {REALESRGAN_CROP_PAD} px that '
                        'RealESRGANDataset pads or crops every image to')
    return problems
