"""The SFD training step, shared by ``SFDModel`` (paired data) and ``RealSFDModel`` (Real-ESRGAN data).

Per iteration (docs/design.md, "1 The method" and "3 One training step"):

1. ``sr = net_g(lq)``; CLIP runs on ``sr`` once, with grad (``feats_fake``, ``emb_fake``), and on the HR
   target once, without grad (``feats_real``, ``emb_real``). Text features of the prompt pair are
   computed once.
2. Generator step: pixel + perceptual losses, Feat-D says "real" at every position of every tapped layer
   (``l_g_featd``), TG-D prefers the positive prompt (``l_g_tgd``), and the image-level D if the option
   file keeps one (hybrid setting).
3. Discriminator step, reusing the detached SR features: Feat-D learns HR=real / SR=fake, LPP learns
   HR -> positive / SR -> negative (and the image D its usual game).

Ablations (docs/ablations.md) are option lines: ``train.featd_opt: ~`` or ``network_featd: ~`` trains without
Feat-D, ``train.tgd_opt: ~`` or ``network_lpp: ~`` without TG-D/LPP (no network, optimiser, scheduler or
checkpoint for what is off); with both off CLIP is neither built nor run, which only makes sense beside the
image D (``keep_image_d: true``). ``network_lpp: {learnable: false, pos: ..., neg: ...}`` uses fixed prompts.

Mixed precision (``train.amp: bf16 | fp16``): autocast around the CLIP passes, Feat-D and LPP (and the image D),
and around the generator and its perceptual loss unless ``train.amp_g: false``; the pixel loss and every GAN loss
are computed in fp32 from fp32 casts of the outputs. fp16 uses two GradScalers, one for the generator step and
one for the discriminator step (Feat-D, LPP and the image D share one backward pass, so they share a scale): the
two losses differ by orders of magnitude (GAN weights of 5e-3 on the G side), and with a single scaler an
overflow in one step would halve the scale of the other. Both scalers are saved in the training state.

Feat-D is wrapped like BasicSR's ``net_d`` (DDP / DataParallel). The prompt learner is not: its text
features are computed once and used by both steps, a pattern DDP's one-forward-per-backward contract does
not allow, so its (tiny) gradients are averaged across processes by hand.
"""
from __future__ import annotations

import contextlib
import copy
import glob
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Optional

import torch
import torch.distributed as dist
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from torch.nn.parallel import DataParallel, DistributedDataParallel

from .. import exact_resume
from ..archs.clip_arch import build_clip, normalize_clip_opt
from ..utils.checkpoints import load_checkpoint
from ..utils.discriminators import DISCRIMINATORS, DiscriminatorSpec
from ..utils.files import atomic_path
from ..utils.results import RANDOM_CLIP, STAND_IN_WEIGHTS, marked_metric_log
from ..utils.switches import SFDSwitches, sfd_switches  # noqa: F401  (re-exported: the one reading of the switches)

# what applies when an option file leaves the SFD blocks out (docs/design.md, "1 The method"), from the specs
SFD_DEFAULTS = {key: default for spec in DISCRIMINATORS for key, default in (
    (spec.network_key, spec.network_default), (spec.optimizer_key, spec.optimizer_default),
    (spec.loss_key, spec.loss_default))}
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def amp_options(train_opt: dict[str, Any], device: Optional[torch.device] = None,
                source: str = 'option file') -> tuple[Optional[torch.dtype], bool]:
    """``(autocast dtype or None, autocast the generator)`` from ``train.amp`` and ``train.amp_g``."""
    amp = train_opt.get('amp')
    if amp in (None, False, 'fp32'):
        dtype = None
    elif amp in AMP_DTYPES:
        dtype = AMP_DTYPES[amp]
    else:
        raise ValueError(f"{source}: train.amp must be bf16, fp16 or absent (fp32), got {amp!r}")
    amp_g = train_opt.get('amp_g', True)
    if not isinstance(amp_g, bool):
        raise ValueError(f'{source}: train.amp_g must be true or false, got {amp_g!r}')
    if (dtype is torch.bfloat16 and device is not None and device.type == 'cuda'
            and not torch.cuda.is_bf16_supported()):
        raise ValueError(f'{source}: train.amp: bf16 is not supported by this GPU; use train.amp: fp16')
    return dtype, amp_g


def atomic_torch_save(obj, path: str) -> None:
    """Write to ``<path>.tmp`` then rename: a process killed mid-save never leaves a half-written ``path``.

    The temporary name does not end in ``.pth`` / ``.state``, so BasicSR's auto-resume never picks it up.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _mean(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([v.detach().float().mean() for v in values]).mean()


def _share(maps: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Share of positions a Feat-D calls real (``real``) or fake, mean over tapped layers (as ``q_feat``)."""
    return torch.stack([((m.detach() > 0) if real else (m.detach() < 0)).float().mean() for m in maps]).mean()


class SFDMixin:
    """Feat-D + TG-D on a frozen CLIP, for any BasicSR SR model with ``net_g``, ``lq`` and a target."""

    # ------------------------------------------------------------------ set-up
    def init_sfd_training(self) -> None:
        """Everything BasicSR's ``init_training_settings`` does for a GAN, with SFD's discriminators: mixed
        precision, EMA, CLIP, Feat-D and LPP, the optional image discriminator, losses, optimisers, schedulers."""
        self.sfd = sfd_switches(self.opt)
        self._init_exact_resume()
        self._init_amp()
        self._init_ema()
        self._init_clip()
        self._init_sfd_discriminators()
        self._init_image_d()
        self.net_g.train()
        for net in self._discriminators():
            net.train()

        train_opt = self.opt['train']
        self.cri_pix = build_loss(train_opt['pixel_opt']).to(self.device) if train_opt.get('pixel_opt') else None
        self.cri_perceptual = (build_loss(train_opt['perceptual_opt']).to(self.device)
                               if train_opt.get('perceptual_opt') else None)
        for spec in DISCRIMINATORS:
            loss = build_loss(spec.loss_opt(train_opt)).to(self.device) if self.sfd.trains(spec) else None
            setattr(self, spec.loss_attr, loss)

        self.net_d_iters = train_opt.get('net_d_iters', 1)
        self.net_d_init_iters = train_opt.get('net_d_init_iters', 0)
        self.setup_optimizers()
        self.setup_schedulers()

    def _init_amp(self) -> None:
        """Autocast dtype and GradScalers (disabled scalers pass through: one code path for all)."""
        train_opt = self.opt['train']
        logger = get_root_logger()
        self.amp_dtype, self.amp_g = amp_options(train_opt, self.device)
        # Disabled scalers are pass-throughs (scale() returns the loss, step() steps): one code path for all.
        fp16 = self.amp_dtype is torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        if self.amp_dtype is not None:
            logger.info(f"SFD: mixed precision {train_opt['amp']} (autocast on CLIP, Feat-D, LPP"
                        f"{', generator' if self.amp_g else ''}){'; GradScalers for G and D' if fp16 else ''}")


    def _init_exact_resume(self) -> None:
        """Where this process is in the epoch (from the keys of its batches) and the random states a resume
        restores before its first batch (docs/design.md, "Exact resume")."""
        self.data_progress = exact_resume.DataProgress()
        self._resumed_rng = None

    def _init_ema(self) -> None:
        """The generator's exponential moving average, as BasicSR's GAN models keep it."""
        opt = self.opt
        train_opt = self.opt['train']
        logger = get_root_logger()
        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            logger.info(f'Use Exponential Moving Average with decay: {self.ema_decay}')
            self.net_g_ema = build_network(opt['network_g']).to(self.device)
            load_path = opt['path'].get('pretrain_network_g')
            if load_path is not None:
                self.load_network(self.net_g_ema, load_path, opt['path'].get('strict_load_g', True), 'params_ema')
            else:
                self.model_ema(0)
            self.net_g_ema.eval()


    def _init_clip(self) -> None:
        """The frozen CLIP, built only when Feat-D or TG-D runs; a resumed state is checked against its block first."""
        opt = self.opt
        logger = get_root_logger()
        self.clip_opt = normalize_clip_opt(opt.get('clip'))
        resume_path = opt['path'].get('resume_state')
        self._clip_checked = bool(resume_path and osp.isfile(resume_path))
        if self._clip_checked:
            # before any network is built: a changed `clip.layers` would otherwise surface as a shape mismatch
            # while loading Feat-D, not as what it is
            self._check_resumed_clip(load_checkpoint(resume_path, 'training state', mmap=True), resume_path)
        self.clip = None
        if self.sfd.uses_clip:
            self.clip = build_clip(self.clip_opt).to(self.device)
            logger.info(f"SFD: CLIP {self.clip_opt['model']} (pretrained: {self.clip_opt['pretrained']}), taps "
                        f'{self.clip.layers} with channels {self.clip.channels}')
        else:
            logger.info('SFD: Feat-D and TG-D are both off: CLIP is not built and never runs (image-D-only run)')
        logger.info(f'SFD: training with {self.sfd.describe()}')
        for spec in DISCRIMINATORS:
            if spec.switch in self.sfd.reasons:
                logger.info(f"SFD ablation: {spec.ablation_label} off ({', '.join(self.sfd.reasons[spec.switch])}): "
                            'no network, optimiser, scheduler or checkpoint for it')


    def _init_sfd_discriminators(self) -> None:
        """Feat-D and LPP (every spec of utils/discriminators.py) as the ablation switches ask, with their
        pretrained weights."""
        path_opt = self.opt['path']
        for spec in DISCRIMINATORS:
            net = None
            if self.sfd.trains(spec):
                net = build_network(self._sfd_net_opt(spec))
                net = self.model_to_device(net) if spec.wrapped else net.to(self.device)
                self.print_network(net)
                load_path = self._pretrain_path(spec)
                if load_path is not None:
                    _, param_key, strict_key = spec.path_keys
                    self.load_network(net, load_path, path_opt.get(strict_key, True),
                                      path_opt.get(param_key, 'params'))
            setattr(self, spec.net_attr, net)
        if self.net_lpp is not None and self.sfd.fixed_prompts:
            get_root_logger().info(f'SFD ablation: fixed prompts {self.net_lpp.pos!r} / {self.net_lpp.neg!r} (no '
                                   'trainable tensor; text features computed once)')
        self._broadcast_lpp()


    def _init_image_d(self) -> None:
        """The optional image-level discriminator: SFD replaces it by default, keeping it is the hybrid setting."""
        opt = self.opt
        train_opt = self.opt['train']
        logger = get_root_logger()
        # the optional image-level discriminator: SFD replaces it by default, keeping it is the hybrid setting
        self.net_d = None
        keep_image_d = opt.get('keep_image_d', False)
        if keep_image_d and opt.get('network_d') is None:
            raise KeyError('keep_image_d: true needs a network_d block (the image-level discriminator to keep)')
        if opt.get('network_d') is not None and not keep_image_d:
            logger.info('SFD replaces the image discriminator: network_d, train.optim_d and train.gan_opt are not '
                        'used. Set `keep_image_d: true` to train the hybrid (image D + Feat-D + TG-D).')
        if keep_image_d:
            self.net_d = self.model_to_device(build_network(opt['network_d']))
            self.print_network(self.net_d)
            load_path = opt['path'].get('pretrain_network_d')
            if load_path is not None:
                self.load_network(self.net_d, load_path, opt['path'].get('strict_load_d', True),
                                  opt['path'].get('param_key_d', 'params'))
            if not train_opt.get('gan_opt'):
                raise KeyError('network_d is kept but train.gan_opt is missing: add a gan_opt block or drop network_d')
            self.cri_gan = build_loss(train_opt['gan_opt']).to(self.device)
            self.relativistic_d = train_opt.get('relativistic_d', True)
            self.net_d.train()

    def _sfd_net_opt(self, spec: DiscriminatorSpec) -> dict:
        net_opt = spec.network_opt(self.opt)
        key = spec.network_key
        if 'clip' in net_opt:
            raise KeyError(f'{key}.clip: the CLIP backbone is set by the top-level `clip:` block, not inside {key}')
        net_opt['clip'] = self.clip_opt  # FeatD reads the taps' channels, PromptLearner the text encoder
        return net_opt

    def _pretrain_path(self, spec: DiscriminatorSpec) -> Optional[str]:
        path_opt = self.opt['path']
        load_path = path_opt.get(spec.pretrain_key)
        resume_state = path_opt.get('resume_state')
        if load_path is None and resume_state and self.opt.get(spec.network_key) is None:
            # BasicSR's check_resume only sets paths for `network_*` blocks present in the file; SFD's blocks
            # are optional, so derive the checkpoint of the resumed iteration the same way.
            resume_iter = osp.basename(resume_state).split('.state')[0]
            load_path = osp.join(path_opt['models'], spec.checkpoint_file(resume_iter))
        if load_path is not None and not osp.isfile(load_path):
            raise FileNotFoundError(f'path.{spec.pretrain_key}: checkpoint not found: {load_path}')
        return load_path

    def optimizer_names(self) -> list[str]:
        """Names of ``self.optimizers`` in order (recorded in the training state to explain a resume mismatch)."""
        attrs = ['optimizer_g', 'optimizer_d'] + [spec.optimizer_attr for spec in DISCRIMINATORS]
        return [attr for attr in attrs if getattr(self, attr, None) is not None]

    def setup_optimizers(self) -> None:
        train_opt = self.opt['train']
        groups = [('optimizer_g', 'optim_g', self.net_g), ('optimizer_d', 'optim_d', self.net_d)] + [
            (spec.optimizer_attr, spec.optimizer_key, getattr(self, spec.net_attr)) for spec in DISCRIMINATORS]
        for attr, key, net in groups:
            params = [p for p in net.parameters() if p.requires_grad] if net is not None else []
            if not params:  # network off, or nothing to train (fixed prompts): no optimiser and no scheduler
                setattr(self, attr, None)
                continue
            optim_opt = copy.deepcopy(train_opt.get(key) or SFD_DEFAULTS.get(key))
            if optim_opt is None:
                raise KeyError(f'train.{key} is missing')
            optim_type = optim_opt.pop('type')
            optimizer = self.get_optimizer(optim_type, params, **optim_opt)
            setattr(self, attr, optimizer)
            self.optimizers.append(optimizer)

    def model_to_device(self, net):
        """BasicSR's version, plus DDP on CPU (gloo), where ``device_ids`` must not be given."""
        net = net.to(self.device)
        if self.opt['dist'] and self.device.type == 'cpu':
            return DistributedDataParallel(net, find_unused_parameters=self.opt.get('find_unused_parameters', False))
        return super().model_to_device(net)

    # ------------------------------------------------------------------ the step
    def feed_data(self, data: dict) -> None:
        """The parent's ``feed_data``; a training batch from the keyed loader (``sfd_arch.exact_resume``) is counted
        into the epoch's position, and its own draws (Real-ESRGAN's degradations, the pair queue's shuffle) are
        keyed by the batch's samples, so they are the same in a resumed run and leave training's stream alone."""
        keys = data.get(exact_resume.SAMPLE_KEY) if isinstance(data, dict) else None
        if keys is None or not hasattr(self, 'data_progress'):
            return super().feed_data(data)
        if self._resumed_rng is not None:
            # the training's random states as they were after the saved iteration, restored now that set-up
            # (networks built from the seed, data iterators) is over
            problems = [f'{what} could not be restored' for what in exact_resume.set_rng_state(self._resumed_rng)]
            self._resumed_rng = None
            saved = self.data_progress.batch_size()
            if saved is not None and saved != keys.shape[0]:
                problems.append(f'the run was trained with batches of {saved} per process, it resumes with '
                                f'{keys.shape[0]}')
            if problems:
                get_root_logger().warning(f'resume: {"; ".join(problems)}: the continuation will not be bit-exact')
        self.data_progress.observe(keys)
        with exact_resume.keyed_rng(exact_resume.batch_words(self.opt['manual_seed'], keys), self.device):
            super().feed_data(data)

    def validation(self, dataloader, current_iter, tb_logger, save_img=False) -> None:
        """BasicSR's validation, leaving the training's random states as they were (a resumed run, which skips the
        validation of its starting iteration, continues from the states saved before it)."""
        with exact_resume.kept_rng(self.device):
            super().validation(dataloader, current_iter, tb_logger, save_img)

    def sfd_targets(self) -> dict[str, torch.Tensor]:
        """The HR tensors each loss compares with (Real-ESRGAN swaps in the USM-sharpened GT)."""
        return {'pix': self.gt, 'percep': self.gt, 'gan': self.gt}

    def _autocast(self, enabled: bool = True):
        """Autocast to ``train.amp`` on this model's device (a no-op context in fp32)."""
        if self.amp_dtype is None or not enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def optimize_parameters(self, current_iter: int) -> None:
        """One SFD iteration (docs/design.md, "3 One training step"): the CLIP passes, the generator step, the
        discriminators' step on the detached SR features, then logging and EMA."""
        targets = self.sfd_targets()
        update_g = current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters
        loss_dict = OrderedDict()
        passes = self._clip_passes(targets, update_g)
        self._generator_step(passes, targets, update_g, loss_dict, current_iter)
        self._discriminator_step(passes, targets, loss_dict, current_iter)
        self.log_dict = self.reduce_loss_dict(OrderedDict((k, v.detach().float()) for k, v in loss_dict.items()))
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _clip_passes(self, targets: dict, update_g: bool) -> tuple:
        """SR output, then (CLIP features and embedding of SR, the same of the target, LPP's text features);
        None for what this run does not compute."""
        feats_fake = emb_fake = feats_real = emb_real = None
        # The two CLIP passes of the iteration (none when Feat-D and TG-D are both off).
        with torch.set_grad_enabled(update_g):
            with self._autocast(self.amp_g):
                self.output = self.net_g(self.lq).float()
            if self.clip is not None:
                with self._autocast():
                    feats_fake, emb_fake = self.clip(self.output)
        if self.clip is not None:
            with torch.no_grad(), self._autocast():
                feats_real, emb_real = self.clip(targets['gan'])
        text = None
        if self.net_lpp is not None:
            with self._autocast():
                text = self.net_lpp.text_features()  # with grad to the context vectors, used detached by G
        return feats_fake, emb_fake, feats_real, emb_real, text

    def _generator_step(self, passes: tuple, targets: dict, update_g: bool, loss_dict: dict,
                        current_iter: int) -> None:
        """G's losses (pixel, perceptual, Feat-D, TG-D, image D) and its optimiser step, on its update iterations."""
        feats_fake, emb_fake, _, _, text = passes
        # ---- generator
        self._set_requires_grad(False)
        self.optimizer_g.zero_grad()
        if update_g:
            l_g_total = torch.zeros((), device=self.device)
            if self.cri_pix:
                loss_dict['l_g_pix'] = self.cri_pix(self.output, targets['pix'])
                l_g_total = l_g_total + loss_dict['l_g_pix']
            if self.cri_perceptual:
                with self._autocast(self.amp_g):  # VGG is a frozen feature network like CLIP
                    l_percep, l_style = self.cri_perceptual(self.output, targets['percep'])
                if l_percep is not None:
                    loss_dict['l_g_percep'] = l_percep.float()
                    l_g_total = l_g_total + loss_dict['l_g_percep']
                if l_style is not None:
                    loss_dict['l_g_style'] = l_style.float()
                    l_g_total = l_g_total + loss_dict['l_g_style']
            if self.net_featd is not None:
                with self._autocast():
                    logits_g = self.net_featd(feats_fake)
                loss_dict['l_g_featd'] = self.cri_featd(logits_g, True, is_disc=False)
                l_g_total = l_g_total + loss_dict['l_g_featd']
            if self.net_lpp is not None:
                with self._autocast():
                    tgd_logits_g = self.net_lpp(emb_fake, text.detach())
                loss_dict['l_g_tgd'] = self.cri_tgd(tgd_logits_g, True, is_disc=False)
                l_g_total = l_g_total + loss_dict['l_g_tgd']
            if self.net_d is not None:
                loss_dict['l_g_gan'] = self._image_d_generator_loss(targets['gan'])
                l_g_total = l_g_total + loss_dict['l_g_gan']
            loss_dict['l_g_total'] = l_g_total
            self._check_finite('l_g_total', l_g_total, current_iter)
            self.scaler_g.scale(l_g_total).backward()
            self.scaler_g.step(self.optimizer_g)
            self.scaler_g.update()


    def _discriminator_step(self, passes: tuple, targets: dict, loss_dict: dict, current_iter: int) -> None:
        """Feat-D, LPP (TG-D) and the optional image D on real and detached SR features, and their optimisers."""
        feats_fake, emb_fake, feats_real, emb_real, text = passes
        # ---- discriminators (Feat-D, LPP, optional image D), on the detached SR features
        self._set_requires_grad(True)
        d_optimizers = self._d_optimizers()
        for optimizer in d_optimizers:
            optimizer.zero_grad()
        l_d_total = torch.zeros((), device=self.device)
        if self.net_featd is not None:
            n_real = feats_real[0].shape[0]
            with self._autocast():
                logits = self.net_featd([torch.cat([r, f.detach()]) for r, f in zip(feats_real, feats_fake)])
            logits_real, logits_fake = [m[:n_real] for m in logits], [m[n_real:] for m in logits]
            l_d_featd_real = self.cri_featd(logits_real, True, is_disc=True)
            l_d_featd_fake = self.cri_featd(logits_fake, False, is_disc=True)
            l_d_total = l_d_total + l_d_featd_real + l_d_featd_fake
            loss_dict.update(
                l_d_featd_real=l_d_featd_real, l_d_featd_fake=l_d_featd_fake,
                out_featd_real=_mean(logits_real), out_featd_fake=_mean(logits_fake),
                acc_featd_real=_share(logits_real, real=True), acc_featd_fake=_share(logits_fake, real=False))
        if self.net_lpp is not None:
            n_real = emb_real.shape[0]
            with self._autocast():
                tgd_logits = self.net_lpp(torch.cat([emb_real, emb_fake.detach()]), text)
            l_d_tgd = (self.cri_tgd(tgd_logits[:n_real], True, is_disc=True)
                       + self.cri_tgd(tgd_logits[n_real:], False, is_disc=True)) / 2
            if self.optimizer_lpp is not None:  # fixed prompts: TG-D has nothing to learn, l_d_tgd is only logged
                l_d_total = l_d_total + l_d_tgd
            p_pos = tgd_logits.detach().float().softmax(dim=1)[:, 0]
            right = torch.cat([p_pos[:n_real] > 0.5, p_pos[n_real:] < 0.5]).float()
            loss_dict.update(l_d_tgd=l_d_tgd, p_pos_real=p_pos[:n_real].mean(), p_pos_fake=p_pos[n_real:].mean(),
                             acc_tgd=right.mean())
        if self.net_d is not None:
            with self._autocast():
                l_d_real, l_d_fake, out_real, out_fake = self._image_d_losses(targets['gan'])
            l_d_total = l_d_total + l_d_real + l_d_fake
            loss_dict.update(l_d_real=l_d_real, l_d_fake=l_d_fake, out_d_real=out_real, out_d_fake=out_fake)
        if d_optimizers:
            self._check_finite('l_d_total', l_d_total, current_iter)
            self.scaler_d.scale(l_d_total).backward()
            self._all_reduce_lpp_grads()
            for optimizer in d_optimizers:
                self.scaler_d.step(optimizer)
            self.scaler_d.update()

    def _discriminators(self) -> list:
        nets = [getattr(self, spec.net_attr) for spec in DISCRIMINATORS] + [self.net_d]
        return [n for n in nets if n is not None]

    def _d_optimizers(self) -> list:
        optimizers = [getattr(self, spec.optimizer_attr) for spec in DISCRIMINATORS] + [self.optimizer_d]
        return [o for o in optimizers if o is not None]

    def _set_requires_grad(self, flag: bool) -> None:
        for net in self._discriminators():  # LPP's parameters are its context vectors only (none: fixed prompts)
            for p in net.parameters():
                p.requires_grad = flag

    def _image_d_generator_loss(self, real: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            fake_pred = self.net_d(self.output).float()
            real_pred = self.net_d(real).detach().float() if self.relativistic_d else None
        if not self.relativistic_d:
            return self.cri_gan(fake_pred, True, is_disc=False)
        l_real = self.cri_gan(real_pred - fake_pred.mean(), False, is_disc=False)
        l_fake = self.cri_gan(fake_pred - real_pred.mean(), True, is_disc=False)
        return (l_real + l_fake) / 2

    def _image_d_losses(self, real: torch.Tensor):
        fake = self.output.detach()
        real_pred, fake_pred = self.net_d(real).float(), self.net_d(fake).float()
        if self.relativistic_d:  # ESRGAN's relativistic average GAN
            l_real = self.cri_gan(real_pred - fake_pred.detach().mean(), True, is_disc=True) * 0.5
            l_fake = self.cri_gan(fake_pred - real_pred.detach().mean(), False, is_disc=True) * 0.5
        else:
            l_real = self.cri_gan(real_pred, True, is_disc=True)
            l_fake = self.cri_gan(fake_pred, False, is_disc=True)
        return l_real, l_fake, real_pred.detach().mean(), fake_pred.detach().mean()

    # ------------------------------------------------------------------ distributed
    def _broadcast_lpp(self) -> None:
        if self.net_lpp is not None and self.opt['dist'] and dist.is_initialized():
            for tensor in list(self.net_lpp.parameters()) + list(self.net_lpp.buffers()):
                dist.broadcast(tensor.data, src=0)

    def _all_reduce_lpp_grads(self) -> None:
        if self.net_lpp is not None and self.opt['dist'] and dist.is_initialized():
            world = dist.get_world_size()
            for p in self.net_lpp.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad.div_(world)

    # ------------------------------------------------------------------ validation
    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img) -> None:
        """BasicSR's validation; ``calculate_sfd_iqa`` with ``weights: model`` uses this model's Feat-D and LPP."""
        from ..iqa.metric import live_scorer
        from ..iqa.scorer import SFDIQA
        from ..metrics import dataset_metrics  # FID/KID: one value per dataset, not a mean over images

        if getattr(self, 'clip', None) is None:  # a test run, or an image-D-only ablation: no SFD discriminators
            with dataset_metrics(self):
                return super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
        scorer = SFDIQA(self.clip, self.get_bare_model(self.net_featd), self.get_bare_model(self.net_lpp))
        with live_scorer(scorer), dataset_metrics(self):
            super().nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def _log_validation_metric_values(self, current_iter, dataset_name, tb_logger) -> None:
        """BasicSR's log line, with a metric on stand-in weights or a random CLIP marked (``lpips (stand-in
        weights): 0.2685``), so that a number from random weights is not read as the published metric."""
        from ..metrics import metric_type_of, weight_report

        notes = {}
        for name, block in ((self.opt.get('val') or {}).get('metrics') or {}).items():
            if metric_type_of(block) == 'calculate_sfd_iqa':  # `weights: model` scores with this run's CLIP
                live = str(block.get('weights')).lower() == 'model' and not block.get('clip_weights')
                notes[name] = RANDOM_CLIP if live and getattr(self, 'clip_opt', {}).get('pretrained') is None else ''
            else:
                notes[name] = STAND_IN_WEIGHTS if any(w['status'] == 'stand-in' for w in weight_report(block)) else ''
        with marked_metric_log(notes):
            super()._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    # ------------------------------------------------------------------ failure and saving
    def _check_finite(self, name: str, loss: torch.Tensor, current_iter: int) -> None:
        if torch.isfinite(loss).all():
            return
        raise FloatingPointError(
            f'{name} is {loss.item()} at iteration {current_iter}: training stopped before the optimiser step, so '
            f'no weights were changed or saved. Last good checkpoint: {self.last_checkpoint() or "none yet"}. '
            'Resume from it with --auto_resume after lowering the learning rates or the GAN loss weights.')

    def last_checkpoint(self) -> Optional[str]:
        """The newest training state on disk (what ``--auto_resume`` would load)."""
        state_dir = self.opt['path'].get('training_states')
        if not state_dir or not osp.isdir(state_dir):
            return None
        states = [p for p in glob.glob(osp.join(state_dir, '*.state')) if re.fullmatch(r'\d+\.state', osp.basename(p))]
        return max(states, key=lambda p: int(osp.basename(p).split('.')[0])) if states else None

    def save(self, epoch: int, current_iter: int) -> None:
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)
        if self.net_d is not None:
            self.save_network(self.net_d, 'net_d', current_iter)
        for spec in DISCRIMINATORS:
            net = getattr(self, spec.net_attr)
            if net is not None:  # an ablation that turned it off has no checkpoint for it
                self.save_network(net, spec.net_attr, current_iter)
        # every process takes part (its random states and queue go to rank 0), then rank 0 writes the state
        extras = self.exact_resume_state() if current_iter != -1 else None
        self.save_training_state(epoch, current_iter, extras)  # last: a state on disk means its networks are too

    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params') -> None:
        """BasicSR's ``save_network``, written atomically."""
        label = 'latest' if current_iter == -1 else current_iter
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        save_dict = {}
        for net_, key in zip(nets, keys):
            state = self.get_bare_model(net_).state_dict()
            save_dict[key] = OrderedDict((k[7:] if k.startswith('module.') else k, v.cpu()) for k, v in state.items())
        atomic_torch_save(save_dict, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def exact_resume_state(self, gather: bool = True) -> dict[str, Any]:
        """What a resumed run needs to be this run (docs/design.md, "Exact resume"): the seed, the position in the
        epoch and, per process in rank order, the random states and the model's own extras (RealSFDModel: the
        training-pair queue). With ``gather`` every process must call it (it gathers to rank 0); without, it holds
        this process's part only."""
        local = {'rng': exact_resume.rng_state(), **self.resume_extras()}
        ranks = exact_resume.gather_to_rank0(local) if gather else [local]
        world = len(ranks) if ranks is not None else None
        return {'format': exact_resume.STATE_FORMAT, 'manual_seed': self.opt['manual_seed'], 'world_size': world,
                'data': self.data_progress.state(), 'ranks': ranks}

    def resume_extras(self) -> dict[str, Any]:
        """This process's model-specific state for an exact resume (none for SFDModel)."""
        return {}

    def load_resume_extras(self, extras: dict[str, Any], where: str) -> list[str]:
        """Restore what ``resume_extras`` saved; returns what could not be restored."""
        return []

    @master_only
    def save_training_state(self, epoch, current_iter, exact: Optional[dict] = None) -> None:
        """BasicSR's ``save_training_state``, written atomically, with what an exact resume needs (``exact``:
        ``exact_resume_state()``, which ``save`` gathers from every process)."""
        if current_iter == -1:
            return
        if exact is None:  # called on its own (rank 0 only): this process's part
            exact = self.exact_resume_state(gather=False)
        state = {'epoch': epoch, 'iter': current_iter,
                 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers],
                 # SFD additions: what the run was trained with, so a resume can check it is the same run
                 'optimizer_names': self.optimizer_names(),
                 'clip': copy.deepcopy(self.clip_opt) if self.clip is not None else None,
                 'scalers': {'g': self.scaler_g.state_dict(), 'd': self.scaler_d.state_dict()},
                 exact_resume.STATE_KEY: exact}
        atomic_torch_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def resume_training(self, resume_state: dict) -> None:
        """BasicSR's resume (optimisers, schedulers), after checking the state belongs to this configuration;
        then the fp16 GradScalers, so a resumed run takes the same steps as an uninterrupted one."""
        where = self.opt['path'].get('resume_state') or 'the resumed training state'
        if not self._clip_checked:  # BasicSR's pipelines pass the file set-up has already checked
            self._check_resumed_clip(resume_state, where)
        names = resume_state.get('optimizer_names')
        if names is not None and names != self.optimizer_names():
            switch_keys = [s.loss_key for s in DISCRIMINATORS] + [s.network_key for s in DISCRIMINATORS]
            raise ValueError(f'{where} holds optimisers {names} but this option file trains {self.optimizer_names()}: '
                             f'an ablation switch ({", ".join(switch_keys)}, keep_image_d) was changed since the run '
                             'started; resume with the option file of that run')
        super().resume_training(resume_state)
        scalers = resume_state.get('scalers') or {}
        for key, scaler in (('g', self.scaler_g), ('d', self.scaler_d)):
            if scaler.is_enabled() and scalers.get(key):
                scaler.load_state_dict(scalers[key])
            elif scaler.is_enabled():
                get_root_logger().warning(f'{where} has no fp16 GradScaler state for {key.upper()}: starting from the '
                                          'default scale (the run was not trained with train.amp: fp16)')
        self._resume_exactly(resume_state, where)

    def _resume_exactly(self, resume_state: dict, where: str) -> None:
        """The position in the epoch, this process's random states (restored at the first batch) and the model's
        extras; a state without them (an older version) still resumes, with a warning."""
        logger = get_root_logger()
        note = exact_resume.take_seed_note()
        if note:
            logger.warning(note)
        exact = resume_state.get(exact_resume.STATE_KEY)
        if not isinstance(exact, dict):
            queue = ' and no training-pair queue' if hasattr(self, 'queue_size') else ''
            logger.warning(f'{where} was saved by an older version of sfd_arch: it holds no random states and no '
                           f'position in the epoch (the interrupted epoch restarts from its first batch){queue}, so '
                           'the continuation will not be bit-exact')
            return
        data = exact.get('data')
        if data:
            self.data_progress = exact_resume.DataProgress(data['epoch'], data['samples'], data['batches'])
        ranks = exact.get('ranks') or []
        rank, world = (dist.get_rank(), dist.get_world_size()) if self.opt['dist'] and dist.is_initialized() else (0, 1)
        problems = []
        if len(ranks) != world:
            problems.append(f'it was saved by {len(ranks)} process(es) and resumes on {world}')
        if rank < len(ranks):
            self._resumed_rng = ranks[rank]['rng']
            problems += self.load_resume_extras(ranks[rank], where)
        if problems:
            logger.warning(f'{where}: {"; ".join(problems)}: the continuation will not be bit-exact')

    def _check_resumed_clip(self, resume_state: dict, where: str) -> None:
        """The option file's normalised `clip:` block must be the one recorded in the state (Feat-D and LPP only
        mean something on the CLIP they were trained on); the error names every differing key."""
        saved_clip = resume_state.get('clip', 'absent')
        uses_clip = self.sfd.uses_clip
        if saved_clip == 'absent':
            get_root_logger().warning(f'{where} records no `clip:` block (saved by an older version): the CLIP of the '
                                      'option file is assumed to be the one the run was trained with')
        elif (saved_clip is None) == uses_clip:
            raise ValueError(f"{where} was trained {'without' if saved_clip is None else 'with'} CLIP (Feat-D / TG-D "
                             f"{'off' if saved_clip is None else 'on'}), the option file now has them "
                             f"{'on' if saved_clip is None else 'off'}: resume with the option file of that run")
        elif saved_clip is not None and saved_clip != self.clip_opt:
            keys = sorted(set(saved_clip) | set(self.clip_opt), key=str)
            old, new = ({k: repr(d[k]) if k in d else 'absent' for k in keys} for d in (saved_clip, self.clip_opt))
            diff = [f'clip.{k} (state: {old[k]}, option file: {new[k]})' for k in keys if old[k] != new[k]]
            raise ValueError(f'the `clip:` block of the option file differs from the one recorded in {where}: '
                             f'{"; ".join(diff)}. Feat-D and LPP were trained on that CLIP; restore those values in '
                             'the option file to resume, or start a new run (another `name`).')

    def get_bare_model(self, net):
        return net.module if isinstance(net, (DataParallel, DistributedDataParallel)) else net


class SFDModel(SFDMixin, SRModel):
    """Classical SISR with SFD: ESRGAN's recipe (paired data) where Feat-D and TG-D judge the SR output.

    Switch an ESRGAN option file with ``model_type: SFDModel`` (and drop ``network_d``; keeping it trains
    the hybrid). See docs/design.md, "1 The method", and docs/training.md, "Option keys"; defaults apply
    where the SFD blocks are absent.
    """

    def init_training_settings(self) -> None:
        self.init_sfd_training()

