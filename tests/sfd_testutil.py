"""Helpers for the training tests: a tiny paired dataset and a tiny ESRGAN-style option file."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import yaml
from conftest import tiny_clip_opt

VGG_PATH = os.path.join('experiments', 'pretrained_models', 'vgg19-dcbb9e9d.pth')


@contextmanager
def basicsr_log() -> Iterator[list[logging.LogRecord]]:
    """The records BasicSR's logger emits while the block runs (INFO and above). Its logger does not propagate, so
    a handler listens to it directly; its level and ``disabled`` flag, which other tests may have changed, are set
    for the block and restored after it."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('basicsr')
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)  # setLevel, not the attribute: it also clears isEnabledFor's cache
    logger.disabled = False
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


def make_paired_dataset(root: str, n: int = 4, size: int = 64, scale: int = 4, seed: int = 0) -> tuple[str, str]:
    """Smooth random HR images and their bicubic LR versions in BasicSR's folder layout."""
    rng = np.random.default_rng(seed)
    gt_dir, lq_dir = os.path.join(root, 'gt'), os.path.join(root, 'lq')
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(lq_dir, exist_ok=True)
    for i in range(n):
        base = rng.random((size // 8, size // 8, 3)).astype(np.float32)
        hr = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)
        hr = np.clip(hr * 255, 0, 255).astype(np.uint8)
        lr = cv2.resize(hr, (size // scale, size // scale), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(gt_dir, f'{i:04d}.png'), hr)
        cv2.imwrite(os.path.join(lq_dir, f'{i:04d}.png'), lr)
    return gt_dir, lq_dir


def write_pairs(gt_dir: str, lq_dir: str, n: int = 1, size: int = 128, scale: int = 4, lq_size=None,
                start: int = 0) -> None:
    """``n`` flat GT images of ``size`` px and LQ images of ``size // scale`` px (or ``lq_size``): only their
    names and sizes matter to the option check, which reads headers."""
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(lq_dir, exist_ok=True)
    lq = lq_size or size // scale
    for i in range(start, start + n):
        cv2.imwrite(os.path.join(gt_dir, f'{i:04d}.png'), np.full((size, size, 3), i % 255, np.uint8))
        cv2.imwrite(os.path.join(lq_dir, f'{i:04d}.png'), np.full((lq, lq, 3), i % 255, np.uint8))


def esrgan_style_options(name: str, gt_dir: str, lq_dir: str, perceptual: bool = False, total_iter: int = 2) -> str:
    """A tiny ESRGAN x4 option file (ESRGANModel, image D, EMA), as YAML text in BasicSR's layout."""
    opt = {
        'name': name, 'model_type': 'ESRGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': gt_dir, 'dataroot_lq': lq_dir,
                      'filename_tmpl': '{}', 'io_backend': {'type': 'disk'}, 'gt_size': 64, 'use_hflip': True,
                      'use_rot': True, 'use_shuffle': True, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                      'dataset_enlarge_ratio': 1, 'prefetch_mode': None},
        },
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
                      'num_grow_ch': 4},
        'network_d': {'type': 'VGGStyleDiscriminator', 'num_in_ch': 3, 'num_feat': 8, 'input_size': 128},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.999,
            'optim_g': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'optim_d': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [1], 'gamma': 0.5},
            'total_iter': total_iter, 'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e-2, 'reduction': 'mean'},
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0,
                        'loss_weight': 5e-3},
            'net_d_iters': 1, 'net_d_init_iters': 0,
        },
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False,
                   'wandb': {'project': None, 'resume_id': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }
    if perceptual:
        opt['train']['perceptual_opt'] = {
            'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1}, 'vgg_type': 'vgg19', 'use_input_norm': True,
            'range_norm': False, 'perceptual_weight': 1.0, 'style_weight': 0, 'criterion': 'l1'}
    return yaml.safe_dump(opt, sort_keys=False)


def tiny_clip_line(clip_weights: str) -> str:
    """The README diff's `clip:` line, pointing at a saved tiny CLIP (one line of YAML flow style)."""
    opt = tiny_clip_opt()
    opt['pretrained'] = clip_weights
    return 'clip: ' + yaml.safe_dump(opt, default_flow_style=True, width=10_000).strip()


def save_tiny_clip(path: str) -> str:
    """Random tiny CLIP weights in a file, so separate processes build the same CLIP."""
    from sfd_arch import build_clip

    torch.manual_seed(0)
    opt = tiny_clip_opt()
    model = build_clip(opt).clip_model
    torch.save(model.state_dict(), path)
    return path


def tiny_clip_from_file(folder) -> tuple:
    """``(clip, clip_file)``: the tiny CLIP saved to ``<folder>/tiny_clip.pt`` and rebuilt from that file, as
    another process (a worker, a torchrun rank, an exported weights file) rebuilds it."""
    from sfd_arch import build_clip

    clip_file = save_tiny_clip(os.path.join(str(folder), 'tiny_clip.pt'))
    return build_clip({**tiny_clip_opt(), 'pretrained': clip_file}), clip_file


def write_random_vgg19(path: str = VGG_PATH) -> None:
    """BasicSR's PerceptualLoss loads this file when present (no download); random weights suffice (the toy work
    folder's writer: 40 MB, the unused classifier stored as expanded zeros)."""
    from sfd_arch.tools.toy_data import write_random_vgg19 as write

    write(path)


def train_discriminators(clip, featd, lpp, batches, lr: float = 2e-3) -> None:
    """SFD discriminator steps on ``(real, fake)`` image batches in [0, 1] (CLIP frozen, no generator), so
    Feat-D and LPP are not at their init; leaves both in eval mode."""
    from sfd_arch import FeatureGANLoss, TextGuidedGANLoss

    optim = torch.optim.Adam([*featd.parameters(), *lpp.parameters()], lr=lr)
    featd_loss, tg_loss = FeatureGANLoss(), TextGuidedGANLoss()
    for real, fake in batches:
        with torch.no_grad():
            feats_real, emb_real = clip(real)
            feats_fake, emb_fake = clip(fake)
        loss = (featd_loss(featd(feats_real), True, is_disc=True) + featd_loss(featd(feats_fake), False, is_disc=True)
                + tg_loss(lpp(emb_real), True, is_disc=True) + tg_loss(lpp(emb_fake), False, is_disc=True))
        optim.zero_grad()
        loss.backward()
        optim.step()
    featd.eval()
    lpp.eval()


def write_switched_sfd_run(root, name: str) -> str:
    """A tiny SFD run in ``root``: paired data, the tiny CLIP file, random VGG19 weights, and ``train_sfd.yml``,
    a tiny ESRGAN option file switched to SFD as the README's ``scripts/switch_to_sfd.py`` does
    (``sfd_arch.tools.switch``). Returns its path; run it with ``root`` as the current directory."""
    from sfd_arch.tools.switch import switch_text

    root = str(root)
    gt, lq = make_paired_dataset(os.path.join(root, 'data'))
    clip_file = save_tiny_clip(os.path.join(root, 'tiny_clip.pt'))
    write_random_vgg19(os.path.join(root, VGG_PATH))
    text = switch_text(esrgan_style_options(name, gt, lq, perceptual=True), clip_line=tiny_clip_line(clip_file))
    path = os.path.join(root, 'train_sfd.yml')
    with open(path, 'w') as f:
        f.write(text)
    return path
