"""Cost of SFD next to BasicSR's ESRGAN, and of SFD-IQA next to a bare CLIP pass and NIQE, in one process.

Training: BasicSR's ``ESRGANModel`` (train_ESRGAN_x4.yml: L1 1e-2, VGG19 conv5_4 perceptual, vanilla
relativistic GAN 5e-3 with a VGGStyleDiscriminator of input_size = GT size) and ``SFDModel`` (the same file
switched: ``model_type: SFDModel``, ``keep_image_d: false``, a ``clip:`` block; same G, same pixel and
perceptual losses), both built through ``basicsr.models.build_model`` and stepped with
``optimize_parameters`` on the same batch held in memory. Reported per model: median iteration time after
warm-up and peak memory; then the SFD / ESRGAN ratios.

With ``--amp bf16|fp16`` the same SFDModel is also timed with ``train.amp`` set (mixed precision; CPU: bf16),
beside fp32, and on CUDA the IQA part is autocast too.

IQA: SFD-IQA (``SFDIQA`` over live random-weight networks; batch 1 and 8), a bare forward pass of its CLIP
image encoder, and BasicSR's ``calculate_niqe``, on the same images (512x384 and the GT sizes); with
``--compile`` also SFD-IQA through ``torch.compile``.

Files: ``sfd-iqa score`` end to end (the command's ``main`` in this process: weights file, decoding in
``--workers`` DataLoader workers, tiling, batching, CSV) on a folder of 512x384 JPEG files, beside
``SFDIQA.score_tensor`` on the same images already decoded and held on the device.

    python scripts/benchmark.py --preset small                         # quick: tiny RRDB, tiny CLIP (< 3 min)
    python scripts/benchmark.py --preset paper --json bench.json       # RRDBNet 64x23, CLIP RN50, GT 128 and 256
    python scripts/benchmark.py --preset paper --device cuda --amp bf16 --compile --json bench_cuda.json
    python scripts/benchmark.py --preset small --skip-train --skip-iqa --files 64 --workers 0 2   # decoding only

Markdown tables go to stdout, progress to stderr. Random weights throughout (no download): the cost of a
network does not depend on its weights. See docs/benchmarks.md for how to read the numbers.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import datetime
import functools
import gc
import json
import logging
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Optional

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('SFD_OFFLINE', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sfd_arch  # noqa: E402  (compatibility shims, then registration of SFDModel & co.)
from sfd_arch import FeatD, PromptLearner, build_clip  # noqa: E402
from sfd_arch.archs import clip_arch  # noqa: E402

T0 = time.perf_counter()
MIB = 2.0 ** 20
VGG_FILE = osp.join('experiments', 'pretrained_models', 'vgg19-dcbb9e9d.pth')  # where BasicSR looks (cwd)

# An open_clip config small enough for a quick run (the shape of tests/conftest.py's tiny RN, a bit wider).
TINY_TEXT_CFG = {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}
TINY_RN_CFG = {'embed_dim': 64, 'vision_cfg': {'image_size': 64, 'layers': [1, 1, 1, 1], 'width': 16,
                                               'patch_size': None}, 'text_cfg': TINY_TEXT_CFG}

PRESETS: dict[str, dict[str, Any]] = {
    'paper': {
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 23,
                      'num_grow_ch': 32},
        'd_num_feat': 64,
        'clip': {'model': 'RN50', 'pretrained': None},
        'batch': {'cpu': 4, 'cuda': 16},
        'sizes': [128, 256],
        'iters': {'cpu': 3, 'cuda': 20},
        'warmup': {'cpu': 1, 'cuda': 5},
        'iqa_iters': {'cpu': 3, 'cuda': 20},
        'iqa_batches': {'cpu': [1, 8], 'cuda': [1, 8, 64]},
        'files': {'cpu': 16, 'cuda': 2048},
        'file_batch': {'cpu': 8, 'cuda': 64},
    },
    'small': {
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2,
                      'num_grow_ch': 8},
        'd_num_feat': 16,
        'clip': {'model': 'tiny-RN', 'model_cfg': TINY_RN_CFG, 'pretrained': None},
        'batch': {'cpu': 2, 'cuda': 4},
        'sizes': [128],  # VGGStyleDiscriminator takes 128 or 256 only: 128 is the smallest patch; no growth
        'iters': {'cpu': 3, 'cuda': 10},
        'warmup': {'cpu': 1, 'cuda': 3},
        'iqa_iters': {'cpu': 3, 'cuda': 10},
        'iqa_batches': {'cpu': [1, 8], 'cuda': [1, 8, 64]},
        'files': {'cpu': 64, 'cuda': 1024},
        'file_batch': {'cpu': 8, 'cuda': 64},
    },
}
IQA_SIZE = (512, 384)  # W x H of the SFD-IQA targets
IQA_IMAGES = 8
TARGET_TIME, TARGET_MEMORY, TARGET_IQA, TARGET_IPS = 1.10, 1.25, 1.15, 1000.0
TARGET_AMP_TIME = 0.60  # CUDA: SFD with train.amp at most this times ESRGAN's fp32 iteration
TARGET_FILES_RATIO, TARGET_FILES_PER_S = 0.90, 1500.0  # CUDA: end to end vs in memory; files/s with bf16
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def log(msg: str) -> None:
    print(f'[{time.perf_counter() - T0:7.1f}s] {msg}', file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------------
# Machine and memory
# ------------------------------------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, Any]:
    import basicsr
    import open_clip

    info = {
        'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'host': platform.node(),
        'cpu': _cpu_model(),
        'cpu_count': os.cpu_count(),
        'cpus_usable': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
        'torch_threads': torch.get_num_threads(),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'basicsr': getattr(basicsr, '__version__', '?'),
        'open_clip': getattr(open_clip, '__version__', '?'),
        'sfd_arch': sfd_arch.__version__,
        'device': str(device),
        'device_name': _cpu_model(),
        'loadavg_start': list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
    }
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, device_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def rss_bytes() -> int:
    """Resident set size of this process (psutil when installed, else /proc/self/statm)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter VmHWM (Linux >= 4.0); False where not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _hwm_bytes() -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def release_memory(device: torch.device) -> None:
    """Give freed memory back: Python's garbage, glibc's heap (malloc_trim) and CUDA's cache."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


class PeakRSS:
    """Samples RSS in a background thread (every ``interval`` s) and, where allowed, reads VmHWM too."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.hwm_ok = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> 'PeakRSS':
        self.hwm_ok = _reset_hwm()
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.hwm = _hwm_bytes() if self.hwm_ok else None


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------

def smooth_images(n: int, height: int, width: int, seed: int) -> torch.Tensor:
    """(n, 3, H, W) in [0, 1]: bicubic-upsampled noise plus mild grain, a stand-in for natural patches."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(height // 16, 2), max(width // 16, 2), generator=gen)
    img = F.interpolate(low, size=(height, width), mode='bicubic', align_corners=False)
    img = img + 0.02 * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1)


def paired_batch(batch: int, gt_size: int, scale: int, device: torch.device) -> dict[str, torch.Tensor]:
    gt = smooth_images(batch, gt_size, gt_size, seed=gt_size)
    lq = F.interpolate(gt, scale_factor=1 / scale, mode='bicubic', align_corners=False, antialias=True).clamp(0, 1)
    return {'lq': lq.to(device), 'gt': gt.to(device)}


def write_random_vgg19(path: str = VGG_FILE) -> None:
    """BasicSR's PerceptualLoss loads this file when it exists (relative to the cwd) instead of downloading."""
    import torchvision

    if osp.isfile(path):
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.manual_seed(0)
    torch.save({k: v.half() for k, v in torchvision.models.vgg19().state_dict().items()}, path)


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


# ------------------------------------------------------------------------------------------------------------
# SFD-IQA vs a bare CLIP pass vs NIQE
# ------------------------------------------------------------------------------------------------------------

def make_scorer(clip_opt: dict, device: torch.device, tile: Optional[int]):
    """SFD-IQA from live networks: the one place this script touches SFDIQA's constructor."""
    from sfd_arch.iqa import SFDIQA

    torch.manual_seed(0)
    clip = build_clip(clip_opt).to(device)
    featd = FeatD(clip=clip).to(device).eval()
    lpp = PromptLearner(clip=clip).to(device).eval()
    return SFDIQA(clip, featd, lpp, tile=tile, device=device)


def iqa_scores(scorer, images: torch.Tensor, crops_per_image: int = 1) -> torch.Tensor:
    """(B, 3, H, W) -> (B,) scores; every crop of the call in one CLIP batch (so batch B means one pass)."""
    scorer.batch_size = max(1, images.shape[0] * crops_per_image)
    return scorer.score_tensor(images)[0]


def tile_crops(images: torch.Tensor, tile: int) -> tuple[torch.Tensor, int]:
    """The crops SFD-IQA cuts, stacked: (B * n, 3, th, tw), n."""
    from sfd_arch.iqa import tile_boxes

    boxes = tile_boxes(images.shape[-2], images.shape[-1], tile)
    crops = torch.stack([img[:, t:t + h, left:left + w] for img in images for t, left, h, w in boxes])
    return crops, len(boxes)


def call_batches(images: torch.Tensor, batch: int, calls: int) -> list[torch.Tensor]:
    """``calls`` batches of ``batch`` images taken in turn from ``images`` (repeated when it holds fewer)."""
    n = images.shape[0]
    if batch >= n:
        big = images.repeat((batch + n - 1) // n, 1, 1, 1)[:batch]
        return [big] * calls
    starts = [(i * batch) % n for i in range(calls)]
    return [images[s:s + batch] if s + batch <= n else images[[(s + j) % n for j in range(batch)]] for s in starts]


def _unique(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [tensors[0]] if all(t is tensors[0] for t in tensors) else tensors


def time_round_robin(variants: list[tuple[Callable[[torch.Tensor], Any], list[torch.Tensor]]],
                     device: torch.device, amp: Optional[torch.dtype]) -> list[list[float]]:
    """Seconds per call of each ``(fn, batches)``, calls taken in turn (call i of every variant, then call i + 1),
    so a change in machine load during the measurement hits every variant alike. Round 0 is a warm-up."""
    times: list[list[float]] = [[] for _ in variants]
    autocast = torch.autocast('cuda', dtype=amp) if amp is not None else contextlib.nullcontext()
    with autocast, torch.inference_mode():
        for i in range(len(variants[0][1])):
            for k, (fn, batches) in enumerate(variants):
                sync(device)
                t = time.perf_counter()
                fn(batches[i])
                sync(device)
                if i > 0:
                    times[k].append(time.perf_counter() - t)
    return times


def run_iqa(preset: dict, sizes: list[tuple[int, int]], batches: list[int], device: torch.device, iters: int,
            amp: Optional[torch.dtype], skip_niqe: bool, compile_: bool = False) -> tuple[list[dict], dict]:
    from basicsr.metrics.niqe import calculate_niqe

    from sfd_arch.iqa import DEFAULT_TILE

    clip_opt = copy.deepcopy(preset['clip'])
    scorer = make_scorer(clip_opt, device, DEFAULT_TILE)
    whole = make_scorer(clip_opt, device, 0)  # same networks (build_clip cache, same seed), no tiling
    compiled = make_scorer(clip_opt, device, DEFAULT_TILE).compile() if compile_ else None
    clip = scorer.clip
    rows: list[dict] = []
    extra: dict[str, Any] = {'tile': DEFAULT_TILE}
    precisions = [('fp32', None)] + ([(str(amp).replace('torch.', ''), amp)] if amp is not None else [])
    for width, height in sizes:
        images = smooth_images(IQA_IMAGES, height, width, seed=width * 7 + height).to(device)
        crops_all, n_crops = tile_crops(images, DEFAULT_TILE)
        label = f'{width}x{height}'
        log(f'IQA {label}: {n_crops} crop(s) of tile {DEFAULT_TILE} per image')
        for prec_name, prec in precisions:
            for b in batches:
                calls = 1 + (iters if b > 1 else max(iters, IQA_IMAGES - 1))  # batch 1: every image at least once
                groups = call_batches(images, b, calls)
                crop_groups = [tile_crops(g, DEFAULT_TILE)[0] for g in _unique(groups)]
                crop_groups = [crop_groups[0]] * calls if len(crop_groups) == 1 else crop_groups
                variants = [
                    (f'SFD-IQA (tile {DEFAULT_TILE}, default)', functools.partial(iqa_scores, scorer,
                                                                                 crops_per_image=n_crops),
                     groups, n_crops),
                    ('SFD-IQA (tile 0: whole image)', functools.partial(iqa_scores, whole, crops_per_image=1), groups,
                     1),
                    ('CLIP image encoder, whole image', clip, groups, 1),
                    (f'CLIP image encoder, the {n_crops} tile(s)', clip, crop_groups, n_crops),
                ]
                if n_crops == 1:  # one crop is the whole image: the tile-0 and tile rows would repeat the work
                    variants = [variants[0], variants[2]]
                if compiled is not None:
                    fast = functools.partial(iqa_scores, compiled, crops_per_image=n_crops)
                    variants.insert(1, ('SFD-IQA --compile', fast, groups, n_crops))
                all_times = time_round_robin([(fn, inputs) for _, fn, inputs, _ in variants], device, prec)
                for (name, _, _, crops), times in zip(variants, all_times):
                    per_image = statistics.median(times) / b
                    rows.append({'size': label, 'what': name, 'precision': prec_name, 'batch': b,
                                 'crops_per_image': crops, 's_per_image': per_image, 'images_per_s': 1 / per_image,
                                 'calls': len(times)})
                done = {r['what']: r['s_per_image'] for r in rows[-len(variants):]}
                log(f'  {prec_name} batch {b}: SFD-IQA {done[variants[0][0]] * 1e3:.1f} ms/img, '
                    f"CLIP {done['CLIP image encoder, whole image'] * 1e3:.1f} ms/img")
        if compiled is not None and (width, height) == IQA_SIZE:
            with torch.inference_mode():
                gap = (iqa_scores(scorer, images, n_crops) - iqa_scores(compiled, images, n_crops)).abs().max()
            extra['compile_max_abs_score_diff'] = float(gap)
            extra['compile_fallback'] = compiled._forward.fallback_reason
        if amp is not None and (width, height) == IQA_SIZE:
            with torch.inference_mode():
                ref = iqa_scores(scorer, images, n_crops)
                with torch.autocast('cuda', dtype=amp):
                    low = iqa_scores(scorer, images, n_crops)
            extra['amp_max_abs_score_diff'] = float((ref - low).abs().max())
            extra['amp'] = str(amp).replace('torch.', '')
        if not skip_niqe:
            arrays = [np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy() * 255.0) for x in images]
            times, error = [], None
            for i, arr in enumerate(arrays):
                t = time.perf_counter()
                try:
                    calculate_niqe(arr, crop_border=0)
                except Exception as err:  # noqa: BLE001 - NIQE's failure on small images is a LinAlgError
                    error = f'{type(err).__name__}: {err} (NIQE needs room for 96x96 blocks at two scales)'
                    break
                if i > 0:
                    times.append(time.perf_counter() - t)
            row = {'size': label, 'what': 'BasicSR calculate_niqe (CPU, NumPy)', 'precision': 'fp64', 'batch': 1,
                   'crops_per_image': 1, 'calls': len(times)}
            if error:
                row.update(s_per_image=None, images_per_s=None, error=error)
                log(f'  NIQE: {error}')
            else:
                per_image = statistics.median(times)
                row.update(s_per_image=per_image, images_per_s=1 / per_image)
                log(f'  NIQE: {per_image * 1e3:.1f} ms/img')
            rows.append(row)
        del images, crops_all
    del scorer, whole, clip, compiled
    forget_clip()
    release_memory(device)
    return rows, extra


# ------------------------------------------------------------------------------------------------------------
# sfd-iqa score on JPEG files vs score_tensor on decoded images
# ------------------------------------------------------------------------------------------------------------

def write_jpegs(folder: str, n: int, width: int, height: int, quality: int = 95) -> list[str]:
    """``n`` different smooth-plus-grain JPEG files of ``width`` x ``height`` (cv2, 4:2:0, ``quality``)."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    paths = []
    for start in range(0, n, 16):
        images = smooth_images(min(16, n - start), height, width, seed=1000 + start)
        for k, img in enumerate(images):
            path = osp.join(folder, f'{start + k:06d}.jpg')
            bgr = (img.flip(0).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            paths.append(path)
    return paths


def run_files(preset: dict, device: torch.device, n_files: int, batch: int, workers_list: list[int],
              amp: Optional[str], reps: int, root: str, input_only: bool = False) -> list[dict]:
    """Files/s of ``sfd-iqa score DIR`` (in this process, after a warm-up call) for each ``--workers``, and
    images/s of ``score_tensor`` on the same images decoded beforehand and held on the device."""
    import cv2

    from sfd_arch.iqa import DEFAULT_TILE
    from sfd_arch.iqa.cli import main as sfd_iqa

    folder = osp.join(root, 'jpegs')
    width, height = IQA_SIZE
    paths = write_jpegs(folder, n_files, width, height)
    size_mib = sum(osp.getsize(p) for p in paths) / MIB
    log(f'files: {n_files} JPEGs of {width}x{height} ({size_mib:.1f} MiB) in {folder}')
    scorer = make_scorer(copy.deepcopy(preset['clip']), device, DEFAULT_TILE)
    weights = scorer.save(osp.join(root, 'sfd_iqa_bench.pth'), overwrite=True)
    scorer.batch_size = batch
    scorer.amp = AMP_DTYPES.get(amp or '')
    decoded = None if input_only else torch.stack([torch.from_numpy(cv2.imread(p)[:, :, ::-1].copy()).permute(2, 0, 1)
                                                   for p in paths])
    decoded = None if decoded is None else (decoded.float() / 255.0).to(device)
    precision = amp or 'fp32'

    def in_memory() -> None:
        with torch.inference_mode():
            for start in range(0, n_files, batch):
                scorer.score_tensor(decoded[start:start + batch])
        sync(device)

    def command(workers: int) -> Callable[[], None]:
        argv = ['score', folder, '-w', weights, '--csv', osp.join(root, f'scores_w{workers}.csv'), '--overwrite',
                '--workers', str(workers), '--batch-size', str(batch), '--device', str(device), '--no-progress']
        if amp:
            argv += ['--amp', amp]

        def call() -> None:
            with contextlib.redirect_stderr(open(os.devnull, 'w')):
                code = sfd_iqa(argv)
            if code != 0:
                raise RuntimeError(f'sfd-iqa {" ".join(argv)} exited with {code}')
            sync(device)
        return call

    def pipeline(workers: int) -> Callable[[], None]:
        """The input pipeline alone: decode, tile, pin and copy to the device, convert to [0, 1]; no network."""
        from sfd_arch.iqa.loader import decoded_images

        def call() -> None:
            for _, image in decoded_images(paths, DEFAULT_TILE, device, workers):
                if isinstance(image, str):
                    raise RuntimeError(image)
            sync(device)
        return call

    variants = [] if input_only else [('score_tensor, decoded images on the device', None, in_memory)]
    variants += [] if input_only else [(f'sfd-iqa score DIR --workers {w}', w, command(w)) for w in workers_list]
    variants += [(f'input pipeline only (decode, tile, to device), --workers {w}', -1 - w, pipeline(w))
                 for w in workers_list]
    times: list[list[float]] = [[] for _ in variants]
    for round_ in range(reps + 1):  # round 0 warms up (workers' first fork, kernels, allocator)
        for k, (_, _, fn) in enumerate(variants):
            t = time.perf_counter()
            fn()
            if round_ > 0:
                times[k].append(time.perf_counter() - t)
    rows = []
    for (what, workers, _), ts in zip(variants, times):
        median = statistics.median(ts)
        kind = 'memory' if workers is None else 'command' if workers >= 0 else 'input'
        workers = workers if workers is None or workers >= 0 else -1 - workers
        rows.append({'what': what, 'kind': kind, 'workers': workers if kind != 'input' else None,
                     'input_workers': workers if kind == 'input' else None, 'precision': precision, 'batch': batch,
                     'files': n_files,
                     'size': f'{width}x{height}', 'times_s': ts, 'median_s': median, 'per_s': n_files / median})
        log(f'  {what}: {n_files / median:.1f} images/s')
    forget_clip()
    release_memory(device)
    return rows


# ------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------

def _verdict(ok: bool) -> str:
    return 'met' if ok else 'NOT met'


def _ms(s: Optional[float]) -> str:
    return 'n/a' if s is None else f'{s * 1e3:.1f}'


def targets(train: list[dict], iqa: list[dict], extra: dict, device: torch.device,
            files: Optional[list[dict]] = None) -> list[dict]:
    out = []
    for size in sorted({r['gt_size'] for r in train}):
        e = next(r for r in train if r['gt_size'] == size and r['model'] == 'ESRGANModel')
        s = next(r for r in train if r['gt_size'] == size and r['model'] == 'SFDModel')
        ratio = s['median_s'] / e['median_s']
        out.append({'target': f'SFD iteration time <= {TARGET_TIME:.2f}x ESRGAN (GT {size})', 'ratio': ratio,
                    'limit': TARGET_TIME, 'met': ratio <= TARGET_TIME})
        ratio = s['peak_mib'] / e['peak_mib']
        out.append({'target': f'SFD peak memory <= {TARGET_MEMORY:.2f}x ESRGAN (GT {size})', 'ratio': ratio,
                    'limit': TARGET_MEMORY, 'met': ratio <= TARGET_MEMORY})
        mixed = next((r for r in train if r['gt_size'] == size and r.get('amp')), None)
        if mixed is not None:
            ratio = mixed['median_s'] / e['median_s']
            if device.type == 'cuda':
                out.append({'target': f'SFD with train.amp: {mixed["amp"]} <= {TARGET_AMP_TIME:.2f}x ESRGAN fp32 '
                                      f'iteration time (GT {size})', 'ratio': ratio, 'limit': TARGET_AMP_TIME,
                            'met': ratio <= TARGET_AMP_TIME})
            else:
                out.append({'target': f'SFD with train.amp: {mixed["amp"]} / ESRGAN fp32 iteration time (GT {size}; '
                                      'CPU, reported)', 'ratio': ratio, 'met': None})
            out.append({'target': f'SFD with train.amp: {mixed["amp"]} / SFD fp32 iteration time (GT {size}; '
                                  'reported)', 'ratio': mixed['median_s'] / s['median_s'], 'met': None})
    label = f'{IQA_SIZE[0]}x{IQA_SIZE[1]}'
    at_size = [r for r in iqa if r['size'] == label]
    for prec in sorted({r['precision'] for r in at_size if r['what'].startswith('SFD-IQA')}):
        for b in sorted({r['batch'] for r in at_size if r['precision'] == prec}):
            rows = {r['what']: r for r in at_size if r['precision'] == prec and r['batch'] == b}
            sfd = next(r for w, r in rows.items() if w.endswith('default)'))
            bare = rows['CLIP image encoder, whole image']
            ratio = sfd['s_per_image'] / bare['s_per_image']
            out.append({'target': f'SFD-IQA per {label} image <= {TARGET_IQA:.2f}x bare CLIP forward '
                                  f'({prec}, batch {b})', 'ratio': ratio, 'limit': TARGET_IQA,
                        'met': ratio <= TARGET_IQA})
    sfd_rows = [r for r in at_size if r['what'].endswith('default)')]
    if device.type == 'cuda' and sfd_rows:
        best = max(sfd_rows, key=lambda r: r['images_per_s'])
        out.append({'target': f'SFD-IQA >= {TARGET_IPS:.0f} images/s at {label} (CUDA; best: {best["precision"]}, '
                              f'batch {best["batch"]})', 'ratio': best['images_per_s'] / TARGET_IPS,
                    'value': best['images_per_s'], 'limit': 1.0, 'met': best['images_per_s'] >= TARGET_IPS})
    for prec in sorted({r['precision'] for r in at_size if r['what'] == 'SFD-IQA --compile'}):
        for b in sorted({r['batch'] for r in at_size if r['what'] == 'SFD-IQA --compile' and r['precision'] == prec}):
            rows = {r['what']: r for r in at_size if r['precision'] == prec and r['batch'] == b}
            ratio = rows['SFD-IQA --compile']['s_per_image'] / rows['CLIP image encoder, whole image']['s_per_image']
            out.append({'target': f'SFD-IQA --compile per {label} image <= {TARGET_IQA:.2f}x bare CLIP forward '
                                  f'({prec}, batch {b})', 'ratio': ratio, 'limit': TARGET_IQA,
                        'met': ratio <= TARGET_IQA})
    if 'compile_max_abs_score_diff' in extra:
        out.append({'target': '--compile: max abs(score - eager fp32 score) <= 1e-3', 'ratio': None, 'limit': 1e-3,
                    'value': extra['compile_max_abs_score_diff'], 'met': extra['compile_max_abs_score_diff'] <= 1e-3})
    out += file_targets(files or [], device)
    if 'amp_max_abs_score_diff' in extra:
        out.append({'target': f'{extra["amp"]} autocast: max abs(score - fp32 score) (informational)',
                    'value': extra['amp_max_abs_score_diff'], 'ratio': None, 'limit': None, 'met': None})
    return out


def file_targets(files: list[dict], device: torch.device) -> list[dict]:
    out: list[dict] = []
    memory = next((r for r in files if r.get('kind', 'memory') == 'memory' and r['workers'] is None), None)
    command = {r['workers']: r for r in files if r['workers'] is not None}
    if memory is None or not command:
        return out
    label = f"{memory['size']} JPEG"
    if device.type == 'cpu' and 0 in command:
        for w, row in sorted(command.items()):
            if w > 0:
                ratio = row['median_s'] / command[0]['median_s']
                out.append({'target': f'sfd-iqa score --workers {w} not slower than --workers 0 ({label}; time ratio)',
                            'ratio': ratio, 'limit': 1.0, 'met': ratio <= 1.0})
    best = max(command.values(), key=lambda r: r['per_s'])
    ratio = best['per_s'] / memory['per_s']
    out.append({'target': f"sfd-iqa score end to end >= {TARGET_FILES_RATIO:.2f}x in-memory images/s ({label}, "
                          f"{best['precision']}, best: --workers {best['workers']})", 'ratio': ratio,
                'limit': TARGET_FILES_RATIO, 'met': ratio >= TARGET_FILES_RATIO if device.type == 'cuda' else None})
    if device.type == 'cuda':
        out.append({'target': f"sfd-iqa score >= {TARGET_FILES_PER_S:.0f} files/s ({label}, {best['precision']})",
                    'value': best['per_s'], 'ratio': best['per_s'] / TARGET_FILES_PER_S, 'limit': 1.0,
                    'met': best['per_s'] >= TARGET_FILES_PER_S and best['precision'] == 'bf16'})
    return out


def growth(train: list[dict], iqa: list[dict], sizes: list[int]) -> list[dict]:
    if len(sizes) < 2:
        return []
    lo, hi = sizes[0], sizes[-1]
    pixel_ratio = (hi / lo) ** 2
    out = []
    for model in ('ESRGANModel', 'SFDModel') if train else ():
        a = next(r for r in train if r['gt_size'] == lo and r['model'] == model)
        b = next(r for r in train if r['gt_size'] == hi and r['model'] == model)
        out.append({'cost': f'{model} iteration time (s)', 'lo': a['median_s'], 'hi': b['median_s']})
        out.append({'cost': f'{model} peak memory (MiB)', 'lo': a['peak_mib'], 'hi': b['peak_mib']})
    for what in sorted({r['what'] for r in iqa}, key=lambda w: (not w.startswith('SFD'), w)):
        for prec in sorted({r['precision'] for r in iqa if r['what'] == what}):
            for b in sorted({r['batch'] for r in iqa if r['what'] == what and r['precision'] == prec}):
                pick = {r['size']: r for r in iqa if r['what'] == what and r['precision'] == prec and r['batch'] == b}
                a, c = pick.get(f'{lo}x{lo}'), pick.get(f'{hi}x{hi}')
                if a is None or c is None:
                    continue
                out.append({'cost': f'{what}, {prec}, batch {b} (s/image)', 'lo': a['s_per_image'],
                            'hi': c['s_per_image']})
    for row in out:
        row['growth'] = row['hi'] / row['lo'] if row['lo'] and row['hi'] else None
        row['pixel_ratio'] = pixel_ratio
    return out


def markdown(result: dict) -> str:
    m, cfg = result['machine'], result['config']
    lines = [f"## SFD benchmark: preset `{cfg['preset']}` on {m['device']} ({m['device_name']})", '',
             f"{m['date']}; CPU {m['cpu']}, {m['cpus_usable']} usable cores, {m['torch_threads']} torch threads; "
             f"torch {m['torch']}, basicsr {m['basicsr']}, open_clip {m['open_clip']}, Python {m['python']}; "
             f"load average {_load(m.get('loadavg_start'))} at start, {_load(m.get('loadavg_end'))} at end.", '',
             f"Generator {_net(cfg['network_g'])}; CLIP {cfg['clip'].get('model')} (random weights); batch "
             f"{cfg['batch']}; {cfg['warmup']} warm-up + {cfg['iters']} timed iterations per model.", '']
    if result['train']:
        lines += ['### Training iteration (same G, batch and patch; data in memory)', '',
                  '| GT | model | median s/iter | min s/iter | images/s | peak memory MiB | resident MiB | build s |',
                  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
        for r in result['train']:
            lines.append(f"| {r['gt_size']} | {r['model']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
                         f"{r['images_per_s']:.2f} | {r['peak_mib']:.0f} | {r['resident_mib']:.0f} | "
                         f"{r['build_s']:.1f} |")
        lines += ['', _memory_note(result), '']
    if result['iqa']:
        lines += ['### SFD-IQA, bare CLIP image encoder, NIQE (per image, same images)', '',
                  '| image WxH | what | precision | batch | crops/image | ms/image | images/s |',
                  '| --- | --- | --- | ---: | ---: | ---: | ---: |']
        for r in result['iqa']:
            ips = 'n/a' if r.get('images_per_s') is None else f"{r['images_per_s']:.1f}"
            ms = _ms(r.get('s_per_image')) if not r.get('error') else 'n/a (too small)'
            lines.append(f"| {r['size']} | {r['what']} | {r['precision']} | {r['batch']} | {r['crops_per_image']} | "
                         f'{ms} | {ips} |')
        tile = result['extra'].get('tile')
        lines += ['', f'SFD-IQA as built by default cuts an image larger than its tile ({tile} px) into equal crops '
                  '(crops/image; more crops than the image\'s area needs when they overlap); "tile 0" always scores '
                  'the whole image in one pass. "CLIP image encoder" is the bare `build_clip` extractor (taps and '
                  'embedding, no Feat-D/LPP) on the whole image or on the same crops. NIQE runs on the CPU whatever '
                  'the device; "too small": NIQE needs room for 96x96 blocks at two scales.', '']
    if result.get('files'):
        files = result['files']
        memory = next((r for r in files if r.get('kind') == 'memory'), None)
        lines += [f"### sfd-iqa score on {files[0]['files']} JPEG files of {files[0]['size']} vs in-memory tensors", '',
                  '| what | precision | batch | median s | min-max s | images/s | vs in memory |',
                  '| --- | --- | ---: | ---: | ---: | ---: | ---: |']
        for r in files:
            rel = f"{r['per_s'] / memory['per_s']:.2f}x" if memory and r.get('kind') != 'input' else '-'
            lines.append(f"| {r['what']} | {r['precision']} | {r['batch']} | {r['median_s']:.2f} | "
                         f"{min(r['times_s']):.2f}-{max(r['times_s']):.2f} | {r['per_s']:.1f} | {rel} |")
        lines += ['', 'The command runs in this process (`sfd_arch.iqa.cli.main`: weights file, CLIP from the '
                  'process cache, decoding and tiling in `--workers` DataLoader workers, batching, CSV rows), after '
                  'one untimed warm-up call; Python start-up and imports (seconds) are not included. "in memory": '
                  '`SFDIQA.score_tensor` on the same images decoded beforehand and held on the device. "input '
                  'pipeline only": `sfd_arch.iqa.loader.decoded_images` alone (read, tile, pin, copy, convert to '
                  '[0, 1]), no network: the most files/s the input side can feed. Variants run round-robin, one '
                  'call each per round, after one warm-up round.', '']
    if result['growth']:
        g = result['growth']
        lines += [f"### Growth from GT {result['config']['sizes'][0]} to {result['config']['sizes'][-1]} "
                  f"({g[0]['pixel_ratio']:.0f}x the pixels)", '',
                  '| cost | small | large | growth |', '| --- | ---: | ---: | ---: |']
        for r in g:
            fmt = '{:.1f}' if 'MiB' in r['cost'] else '{:.4f}'
            grow = 'n/a' if r['growth'] is None else f"{r['growth']:.2f}x"
            lines.append(f"| {r['cost']} | {fmt.format(r['lo']) if r['lo'] else 'n/a'} | "
                         f"{fmt.format(r['hi']) if r['hi'] else 'n/a'} | {grow} |")
        lines.append('')
    if result['targets']:
        lines += ['### Targets', '']
        if result['config']['preset'] != 'paper':
            lines += ['The targets are set for the paper preset. With the small preset\'s tiny CLIP, Feat-D\'s heads '
                      '(64 channels) cost as much as the backbone, so the SFD-IQA ratio here says little.', '']
        lines += ['| target | ratio / value | verdict |', '| --- | ---: | --- |']
        for t in result['targets']:
            if t['met'] is None and t.get('value') is not None:
                lines.append(f"| {t['target']} | {t['value']:.2e} | - |")
            elif t['met'] is None:
                lines.append(f"| {t['target']} | {t['ratio']:.2f}x | reported |")
            elif t.get('value') is not None and t.get('ratio') is None:
                lines.append(f"| {t['target']} | {t['value']:.2e} | {_verdict(t['met'])} |")
            elif 'value' in t:
                lines.append(f"| {t['target']} | {t['value']:.0f} images/s | {_verdict(t['met'])} |")
            else:
                lines.append(f"| {t['target']} | {t['ratio']:.2f}x | {_verdict(t['met'])} |")
        lines.append('')
    for err in result.get('errors', []):
        lines.append(f'**FAILED** {err}')
    lines.append(f"Wall time {result['wall_s']:.0f} s (after imports).")
    return '\n'.join(lines)


def _load(values: Optional[list]) -> str:
    return 'n/a' if not values else ' / '.join(f'{v:.2f}' for v in values)


def _net(opt: dict) -> str:
    return f"{opt['type']} (num_feat {opt['num_feat']}, num_block {opt['num_block']}, num_grow_ch {opt['num_grow_ch']})"


def _memory_note(result: dict) -> str:
    if result['machine']['device'].startswith('cuda'):
        return ('Peak memory: `torch.cuda.max_memory_allocated` over the timed iterations (peak stats reset after '
                'warm-up) minus the memory allocated just before the model was built (the shared batch), so it '
                'counts weights, optimiser states, EMA copy, frozen CLIP/VGG and activations of one iteration. '
                'Resident: allocated after warm-up, same base. The caching allocator\'s reserve is not counted.')
    hwm = [r for r in result['train'] if r.get('peak_hwm_mib') is not None]
    extra = ''
    if hwm:
        extra = (' Cross-check (kernel VmHWM, reset before the timed iterations, same base): '
                 + ', '.join(f"{r['model']} GT {r['gt_size']} {r['peak_hwm_mib']:.0f}" for r in hwm) + ' MiB.')
    return ('Peak memory (CPU): the process RSS sampled every 2 ms by a background thread during the timed '
            'iterations, minus the RSS just before the model was built (after `gc.collect()` and glibc '
            '`malloc_trim(0)`, with the previous model deleted and build_clip\'s process-wide CLIP cache cleared). '
            'Caveats: RSS counts pages, not tensors (freed memory the allocator keeps, library arenas and '
            'one-time lazy initialisation land on whichever model runs first: ESRGAN here); a peak shorter than '
            'the sampling interval can be missed; resident = RSS after warm-up minus the same base.' + extra)


# ------------------------------------------------------------------------------------------------------------

def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', choices=sorted(PRESETS), default='small')
    p.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (cuda when present, else cpu)')
    p.add_argument('--iters', type=int, help='timed training iterations per model (preset default by device)')
    p.add_argument('--warmup', type=int, help='untimed training iterations first (preset default by device)')
    p.add_argument('--iqa-iters', type=int, help='timed calls per IQA measurement (preset default by device)')
    p.add_argument('--batch', type=int, help='training batch (paper: 4 on CPU, 16 on CUDA)')
    p.add_argument('--iqa-batches', type=int, nargs='+', help='images per SFD-IQA call (default 1 8; CUDA 1 8 64)')
    p.add_argument('--sizes', type=int, nargs='+',
                   help='GT patch sizes, 128 and/or 256 (paper: 128 256, small: 128); two sizes give the growth table')
    p.add_argument('--no-growth', action='store_true', help='only the first size: skip the 128 -> 256 growth')
    p.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='mixed precision: SFDModel with train.amp beside fp32 (CPU: bf16 only); on CUDA also the '
                        'IQA part and `sfd-iqa score --amp`')
    p.add_argument('--compile', action='store_true',
                   help='also time SFD-IQA with --compile (torch.compile; CUDA graphs on CUDA) and its score gap')
    p.add_argument('--files', type=int, help='JPEG files for the sfd-iqa score part (paper: 16 on CPU, 2048 on '
                                             'CUDA; small: 64 / 1024)')
    p.add_argument('--file-batch', type=int, help='--batch-size of that part (default 8 on CPU, 64 on CUDA)')
    p.add_argument('--workers', type=int, nargs='+', help='--workers values to time (default: 0 2 on CPU, 0 4 8 '
                                                          'on CUDA)')
    p.add_argument('--file-reps', type=int, default=2, help='timed runs of each file variant (default %(default)s)')
    p.add_argument('--files-input-only', action='store_true',
                   help='files part: time only the input pipeline (decode, tile, copy), no network')
    p.add_argument('--skip-train', action='store_true')
    p.add_argument('--skip-iqa', action='store_true')
    p.add_argument('--skip-files', action='store_true', help='skip the sfd-iqa score on JPEG files part')
    p.add_argument('--skip-niqe', action='store_true')
    p.add_argument('--json', metavar='PATH', help='also write the results as JSON')
    p.add_argument('--workdir', help='where the temporary experiments/ folder goes (default: a temp dir)')
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available() else
                          'cpu' if args.device == 'auto' else args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available here')
    if args.amp == 'fp16' and device.type != 'cuda':
        raise SystemExit('--amp fp16 needs CUDA (on the CPU use --amp bf16)')
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True  # as basicsr.train does
    dev = device.type
    preset = copy.deepcopy(PRESETS[args.preset])
    sizes = args.sizes or preset['sizes']
    if args.no_growth:
        sizes = sizes[:1]
    bad = [s for s in sizes if s not in (128, 256)]
    if bad:
        raise SystemExit(f'--sizes {bad}: the ESRGAN baseline\'s VGGStyleDiscriminator takes 128 or 256 only')
    batch = args.batch or preset['batch'][dev]
    iters = args.iters or preset['iters'][dev]
    warmup = preset['warmup'][dev] if args.warmup is None else args.warmup
    iqa_iters = args.iqa_iters or preset['iqa_iters'][dev]
    iqa_batches = args.iqa_batches or preset['iqa_batches'][dev]
    amp = AMP_DTYPES.get(args.amp or '') if device.type == 'cuda' else None  # the IQA part: autocast on CUDA
    n_files = args.files or preset['files'][dev]
    file_batch = args.file_batch or preset['file_batch'][dev]
    workers_list = args.workers or ([0, 2] if dev == 'cpu' else [0, 4, 8])
    logging.getLogger('basicsr').setLevel(logging.WARNING)

    machine = machine_info(device)
    log(f"preset {args.preset} on {device} ({machine['device_name']}), {torch.get_num_threads()} threads, "
        f"load {_load(machine['loadavg_start'])}")
    config = {'preset': args.preset, 'sizes': sizes, 'batch': batch, 'iters': iters, 'warmup': warmup,
              'iqa_iters': iqa_iters, 'iqa_batches': iqa_batches, 'iqa_images': IQA_IMAGES,
              'iqa_size': list(IQA_SIZE), 'amp': args.amp, 'network_g': preset['network_g'],
              'compile': args.compile, 'files': n_files, 'file_batch': file_batch, 'workers': workers_list,
              'clip': {k: v for k, v in preset['clip'].items() if k != 'model_cfg'},
              'clip_model_cfg': preset['clip'].get('model_cfg'), 'argv': sys.argv[1:] if argv is None else argv}

    # one-time lazy initialisation (thread pool, allocator, kernels) before anything is measured
    x = torch.randn(2, 8, 32, 32, device=device, requires_grad=True)
    torch.nn.functional.conv2d(x, torch.randn(8, 8, 3, 3, device=device)).sum().backward()
    del x

    if not args.skip_iqa:
        import sfd_arch.iqa  # noqa: F401  (fail now, not after the training part)

    cwd = os.getcwd()
    workdir = args.workdir or tempfile.mkdtemp(prefix='sfd_bench_')
    result: dict[str, Any] = {'machine': machine, 'config': config, 'train': [], 'iqa': [], 'files': [], 'extra': {},
                              'growth': [], 'targets': [], 'errors': []}

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        """Run one part; a failure is reported (and the other parts still run) instead of losing everything."""
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - reported in the output and the exit status
            log(f'{name} FAILED: {type(err).__name__}: {err}')
            result['errors'].append(f'{name}: {type(err).__name__}: {err}')
            return None
        finally:
            _finish(result, sizes, device)
            if args.json:
                _write_json(args.json, result)

    try:
        os.chdir(workdir)
        if not args.skip_train:
            log(f'random VGG19 weights for the perceptual loss in {osp.join(workdir, VGG_FILE)}')
            write_random_vgg19()
            result['train'] = phase('training', lambda: run_training(
                preset, sizes, batch, device, warmup, iters, workdir, args.amp)) or []
        if not args.skip_iqa:
            iqa_sizes = [IQA_SIZE] + [(s, s) for s in sizes]
            out = phase('IQA', lambda: run_iqa(preset, iqa_sizes, iqa_batches, device, iqa_iters, amp, args.skip_niqe,
                                               args.compile))
            if out is not None:
                result['iqa'], result['extra'] = out
                _finish(result, sizes, device)
        if not args.skip_files:
            result['files'] = phase('files', lambda: run_files(
                preset, device, n_files, file_batch, workers_list, args.amp if dev == 'cuda' else None,
                args.file_reps, workdir, args.files_input_only)) or []
    finally:
        os.chdir(cwd)
        if not args.workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    _finish(result, sizes, device)
    print(markdown(result))
    if args.json:
        _write_json(args.json, result)
        log(f'wrote {args.json}')
    if result['errors']:
        raise SystemExit(1)
    return result


def _finish(result: dict, sizes: list[int], device: torch.device) -> None:
    result['machine']['loadavg_end'] = list(os.getloadavg()) if hasattr(os, 'getloadavg') else None
    result['growth'] = growth(result['train'], result['iqa'], sizes)
    result['targets'] = targets(result['train'], result['iqa'], result['extra'], device, result.get('files'))
    result['wall_s'] = time.perf_counter() - T0


def _write_json(path: str, result: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
