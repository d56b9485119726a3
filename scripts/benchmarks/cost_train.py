"""Training cost: ESRGANModel and SFDModel built through BasicSR and stepped on the same batch in memory."""
from __future__ import annotations

import copy
import os.path as osp
import statistics
import time
from typing import Callable, Optional

import torch
from cost_common import MIB, PeakRSS, log, paired_batch, release_memory, rss_bytes, sync

from sfd_arch.archs import clip_arch

# ------------------------------------------------------------------------------------------------------------
# Training step: ESRGANModel vs SFDModel
# ------------------------------------------------------------------------------------------------------------

def esrgan_options(preset: dict, gt_size: int, batch: int, device: torch.device, root: str, name: str) -> dict:
    """BasicSR's train_ESRGAN_x4.yml as parse_options would hand it to build_model (no datasets: data is fed
    from memory). Only the keys the models read."""
    exp = osp.join(root, 'experiments', name)
    return {
        'name': name, 'model_type': 'ESRGANModel', 'scale': 4, 'num_gpu': 1 if device.type == 'cuda' else 0,
        'manual_seed': 0, 'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1, 'auto_resume': False,
        'datasets': {'train': {'name': 'in_memory', 'type': 'PairedImageDataset', 'gt_size': gt_size,
                               'batch_size_per_gpu': batch, 'phase': 'train', 'scale': 4}},
        'network_g': copy.deepcopy(preset['network_g']),
        'network_d': {'type': 'VGGStyleDiscriminator', 'num_in_ch': 3, 'num_feat': preset['d_num_feat'],
                      'input_size': gt_size},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'experiments_root': exp, 'models': osp.join(exp, 'models'),
                 'training_states': osp.join(exp, 'training_states'), 'log': exp,
                 'visualization': osp.join(exp, 'visualization')},
        'train': {
            'ema_decay': 0.999,
            'optim_g': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'optim_d': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [50000, 100000, 200000, 300000], 'gamma': 0.5},
            'total_iter': 400000, 'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e-2, 'reduction': 'mean'},
            'perceptual_opt': {'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1}, 'vgg_type': 'vgg19',
                               'use_input_norm': True, 'range_norm': False, 'perceptual_weight': 1.0,
                               'style_weight': 0, 'criterion': 'l1'},
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0,
                        'loss_weight': 5e-3},
            'net_d_iters': 1, 'net_d_init_iters': 0,
        },
        'logger': {'print_freq': 100, 'save_checkpoint_freq': 5000, 'use_tb_logger': False,
                   'wandb': {'project': None, 'resume_id': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }


def sfd_options(preset: dict, gt_size: int, batch: int, device: torch.device, root: str, name: str) -> dict:
    """The ESRGAN file switched to SFD (what scripts/switch_to_sfd.py does): model_type, keep_image_d, clip."""
    opt = esrgan_options(preset, gt_size, batch, device, root, name)
    opt['model_type'] = 'SFDModel'
    opt['keep_image_d'] = False
    opt['clip'] = copy.deepcopy(preset['clip'])
    return opt


def forget_clip() -> None:
    """build_clip keeps each CLIP for the life of the process; drop it so that the next model's baseline does
    not hold it and each SFD measurement includes its own CLIP weights."""
    clip_arch.clear_clip_cache()


def bench_train(kind: str, opt: dict, data: dict, device: torch.device, warmup: int, iters: int) -> dict:
    from basicsr.models import build_model

    release_memory(device)
    if device.type == 'cuda':
        base = torch.cuda.memory_allocated(device)
    else:
        base = rss_bytes()
    torch.manual_seed(0)
    start = time.perf_counter()
    model = build_model(opt)
    build_s = time.perf_counter() - start
    model.feed_data(data)
    log(f'  {kind}: built in {build_s:.1f}s; {warmup} warm-up + {iters} timed iterations')
    for it in range(1, warmup + 1):
        model.optimize_parameters(it)
    sync(device)

    times: list[float] = []
    hwm = None
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        resident = torch.cuda.memory_allocated(device) - base
        for it in range(warmup + 1, warmup + iters + 1):
            t = time.perf_counter()
            model.optimize_parameters(it)
            sync(device)
            times.append(time.perf_counter() - t)
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        resident = rss_bytes() - base
        with PeakRSS() as sampler:
            for it in range(warmup + 1, warmup + iters + 1):
                t = time.perf_counter()
                model.optimize_parameters(it)
                times.append(time.perf_counter() - t)
        peak = sampler.peak - base
        hwm = sampler.hwm - base if sampler.hwm is not None else None
    losses = {k: round(float(v), 5) for k, v in model.get_current_log().items()}
    del model
    forget_clip()
    release_memory(device)
    median = statistics.median(times)
    log(f'  {kind}: median {median:.3f} s/iter, peak {peak / MIB:.0f} MiB')
    return {'model': kind, 'build_s': build_s, 'times_s': times, 'median_s': median, 'min_s': min(times),
            'images_per_s': data['gt'].shape[0] / median, 'peak_mib': peak / MIB, 'resident_mib': resident / MIB,
            'peak_hwm_mib': None if hwm is None else hwm / MIB, 'last_losses': losses}


def sfd_amp_options(amp: str) -> Callable[..., dict]:
    """The SFD options with ``train.amp`` set (mixed precision of the SFD step and, amp_g default, of G)."""
    def make(preset: dict, gt_size: int, batch: int, device: torch.device, root: str, name: str) -> dict:
        opt = sfd_options(preset, gt_size, batch, device, root, name)
        opt['train']['amp'] = amp
        return opt
    return make


def run_training(preset: dict, sizes: list[int], batch: int, device: torch.device, warmup: int, iters: int,
                 root: str, amp: Optional[str] = None) -> list[dict]:
    rows = []
    kinds: list[tuple[str, Callable[..., dict]]] = [('ESRGANModel', esrgan_options), ('SFDModel', sfd_options)]
    if amp:
        kinds.append((f'SFDModel (train.amp: {amp})', sfd_amp_options(amp)))
    for size in sizes:
        data = paired_batch(batch, size, 4, device)
        for kind, make_opt in kinds:
            log(f'train GT {size}, batch {batch}: {kind}')
            opt = make_opt(preset, size, batch, device, root, f'bench_{kind.split()[0]}_{size}')
            row = bench_train(kind, opt, data, device, warmup, iters)
            row.update(gt_size=size, batch=batch, amp=amp if 'amp' in kind else None)
            rows.append(row)
        del data
        release_memory(device)
    return rows


