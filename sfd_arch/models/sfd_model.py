"""The SFD training step, shared by ``SFDModel`` (paired data) and ``RealSFDModel`` (Real-ESRGAN data).

Per iteration (DESIGN §1 and §3):

1. ``sr = net_g(lq)``; CLIP runs on ``sr`` once, with grad (``feats_fake``, ``emb_fake``), and on the HR
   target once, without grad (``feats_real``, ``emb_real``). Text features of the prompt pair are
   computed once.
2. Generator step: pixel + perceptual losses, Feat-D says "real" at every position of every tapped layer
   (``l_g_featd``), TG-D prefers the positive prompt (``l_g_tgd``), and the image-level D if the option
   file keeps one (hybrid setting).
3. Discriminator step, reusing the detached SR features: Feat-D learns HR=real / SR=fake, LPP learns
   HR -> positive / SR -> negative (and the image D its usual game).

Feat-D is wrapped like BasicSR's ``net_d`` (DDP / DataParallel). The prompt learner is not: its text
features are computed once and used by both steps, a pattern DDP's one-forward-per-backward contract does
not allow, so its (tiny) gradients are averaged across processes by hand.
"""
from __future__ import annotations

import copy
import glob
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional

import torch
import torch.distributed as dist
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY
from torch.nn.parallel import DataParallel, DistributedDataParallel

from ..archs.clip_arch import build_clip, normalize_clip_opt

# DESIGN §2: what applies when an option file leaves the SFD blocks out.
SFD_DEFAULTS = {
    'network_featd': {'type': 'FeatD', 'num_feat': 64},
    'network_lpp': {'type': 'PromptLearner', 'n_ctx': 16, 'pos': 'high quality', 'neg': 'low quality'},
    'optim_featd': {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]},
    'optim_lpp': {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]},
    'featd_opt': {'type': 'FeatureGANLoss', 'gan_type': 'vanilla', 'loss_weight': 5e-3},
    'tgd_opt': {'type': 'TextGuidedGANLoss', 'loss_weight': 5e-3},
}


def atomic_torch_save(obj, path: str) -> None:
    """Write to ``<path>.tmp`` then rename: a process killed mid-save never leaves a half-written ``path``.

    The temporary name does not end in ``.pth`` / ``.state``, so BasicSR's auto-resume never picks it up.
    """
    tmp = f'{path}.tmp'
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _mean(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([v.detach().float().mean() for v in values]).mean()


class SFDMixin:
    """Feat-D + TG-D on a frozen CLIP, for any BasicSR SR model with ``net_g``, ``lq`` and a target."""

    # ------------------------------------------------------------------ set-up
    def init_sfd_training(self) -> None:
        opt, train_opt = self.opt, self.opt['train']
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

        self.clip_opt = normalize_clip_opt(opt.get('clip'))
        self.clip = build_clip(self.clip_opt).to(self.device)
        logger.info(f"SFD: CLIP {self.clip_opt['model']} (pretrained: {self.clip_opt['pretrained']}), taps "
                    f'{self.clip.layers} with channels {self.clip.channels}')

        self.net_featd = self.model_to_device(build_network(self._sfd_net_opt('network_featd')))
        self.net_lpp = build_network(self._sfd_net_opt('network_lpp')).to(self.device)
        self.print_network(self.net_featd)
        self.print_network(self.net_lpp)
        for name, net in (('featd', self.net_featd), ('lpp', self.net_lpp)):
            load_path = self._pretrain_path(name)
            if load_path is not None:
                self.load_network(net, load_path, opt['path'].get(f'strict_load_{name}', True),
                                  opt['path'].get(f'param_key_{name}', 'params'))
        self._broadcast_lpp()

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

        self.net_g.train()
        self.net_featd.train()
        self.net_lpp.train()

        self.cri_pix = build_loss(train_opt['pixel_opt']).to(self.device) if train_opt.get('pixel_opt') else None
        self.cri_perceptual = (build_loss(train_opt['perceptual_opt']).to(self.device)
                               if train_opt.get('perceptual_opt') else None)
        self.cri_featd = build_loss(self._sfd_train_opt('featd_opt')).to(self.device)
        self.cri_tgd = build_loss(self._sfd_train_opt('tgd_opt')).to(self.device)

        self.net_d_iters = train_opt.get('net_d_iters', 1)
        self.net_d_init_iters = train_opt.get('net_d_init_iters', 0)
        self.setup_optimizers()
        self.setup_schedulers()

    def _sfd_net_opt(self, key: str) -> dict:
        net_opt = copy.deepcopy(self.opt.get(key) or SFD_DEFAULTS[key])
        if 'clip' in net_opt:
            raise KeyError(f'{key}.clip: the CLIP backbone is set by the top-level `clip:` block, not inside {key}')
        net_opt['clip'] = self.clip_opt  # FeatD reads the taps' channels, PromptLearner the text encoder
        return net_opt

    def _sfd_train_opt(self, key: str) -> dict:
        return copy.deepcopy(self.opt['train'].get(key) or SFD_DEFAULTS[key])

    def _pretrain_path(self, name: str) -> Optional[str]:
        path_opt = self.opt['path']
        load_path = path_opt.get(f'pretrain_network_{name}')
        resume_state = path_opt.get('resume_state')
        if load_path is None and resume_state and self.opt.get(f'network_{name}') is None:
            # BasicSR's check_resume only sets paths for `network_*` blocks present in the file; SFD's blocks
            # are optional, so derive the checkpoint of the resumed iteration the same way.
            resume_iter = osp.basename(resume_state).split('.state')[0]
            load_path = osp.join(path_opt['models'], f'net_{name}_{resume_iter}.pth')
        if load_path is not None and not osp.isfile(load_path):
            raise FileNotFoundError(f'path.pretrain_network_{name}: checkpoint not found: {load_path}')
        return load_path

    def setup_optimizers(self) -> None:
        train_opt = self.opt['train']
        groups = [('optimizer_g', 'optim_g', self.net_g)]
        if self.net_d is not None:
            groups.append(('optimizer_d', 'optim_d', self.net_d))
        groups += [('optimizer_featd', 'optim_featd', self.net_featd), ('optimizer_lpp', 'optim_lpp', self.net_lpp)]
        for attr, key, net in groups:
            optim_opt = copy.deepcopy(train_opt.get(key) or SFD_DEFAULTS.get(key))
            if optim_opt is None:
                raise KeyError(f'train.{key} is missing')
            optim_type = optim_opt.pop('type')
            params = [p for p in net.parameters() if p.requires_grad]
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
    def sfd_targets(self) -> dict[str, torch.Tensor]:
        """The HR tensors each loss compares with (Real-ESRGAN swaps in the USM-sharpened GT)."""
        return {'pix': self.gt, 'percep': self.gt, 'gan': self.gt}

    def optimize_parameters(self, current_iter: int) -> None:
        targets = self.sfd_targets()
        update_g = current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters
        loss_dict = OrderedDict()

        # The two CLIP passes of the iteration.
        with torch.set_grad_enabled(update_g):
            self.output = self.net_g(self.lq)
            feats_fake, emb_fake = self.clip(self.output)
        with torch.no_grad():
            feats_real, emb_real = self.clip(targets['gan'])
        text = self.net_lpp.text_features()  # with grad to the context vectors, used detached by G

        # ---- generator
        self._set_requires_grad(False)
        self.optimizer_g.zero_grad()
        if update_g:
            l_g_total = 0
            if self.cri_pix:
                loss_dict['l_g_pix'] = self.cri_pix(self.output, targets['pix'])
                l_g_total = l_g_total + loss_dict['l_g_pix']
            if self.cri_perceptual:
                l_percep, l_style = self.cri_perceptual(self.output, targets['percep'])
                if l_percep is not None:
                    loss_dict['l_g_percep'] = l_percep
                    l_g_total = l_g_total + l_percep
                if l_style is not None:
                    loss_dict['l_g_style'] = l_style
                    l_g_total = l_g_total + l_style
            loss_dict['l_g_featd'] = self.cri_featd(self.net_featd(feats_fake), True, is_disc=False)
            loss_dict['l_g_tgd'] = self.cri_tgd(self.net_lpp(emb_fake, text.detach()), True, is_disc=False)
            l_g_total = l_g_total + loss_dict['l_g_featd'] + loss_dict['l_g_tgd']
            if self.net_d is not None:
                loss_dict['l_g_gan'] = self._image_d_generator_loss(targets['gan'])
                l_g_total = l_g_total + loss_dict['l_g_gan']
            loss_dict['l_g_total'] = l_g_total
            self._check_finite('l_g_total', l_g_total, current_iter)
            l_g_total.backward()
            self.optimizer_g.step()

        # ---- discriminators (Feat-D, LPP, optional image D), on the detached SR features
        self._set_requires_grad(True)
        for optimizer in self._d_optimizers():
            optimizer.zero_grad()
        n_real = feats_real[0].shape[0]
        logits = self.net_featd([torch.cat([r, f.detach()]) for r, f in zip(feats_real, feats_fake)])
        logits_real, logits_fake = [m[:n_real] for m in logits], [m[n_real:] for m in logits]
        l_d_featd_real = self.cri_featd(logits_real, True, is_disc=True)
        l_d_featd_fake = self.cri_featd(logits_fake, False, is_disc=True)
        tgd_logits = self.net_lpp(torch.cat([emb_real, emb_fake.detach()]), text)
        l_d_tgd = (self.cri_tgd(tgd_logits[:n_real], True, is_disc=True)
                   + self.cri_tgd(tgd_logits[n_real:], False, is_disc=True)) / 2
        l_d_total = l_d_featd_real + l_d_featd_fake + l_d_tgd
        if self.net_d is not None:
            l_d_real, l_d_fake, out_real, out_fake = self._image_d_losses(targets['gan'])
            l_d_total = l_d_total + l_d_real + l_d_fake
            loss_dict.update(l_d_real=l_d_real, l_d_fake=l_d_fake, out_d_real=out_real, out_d_fake=out_fake)
        self._check_finite('l_d_total', l_d_total, current_iter)
        l_d_total.backward()
        self._all_reduce_lpp_grads()
        for optimizer in self._d_optimizers():
            optimizer.step()

        p_pos = tgd_logits.detach().float().softmax(dim=1)[:, 0]
        loss_dict.update(
            l_d_featd_real=l_d_featd_real, l_d_featd_fake=l_d_featd_fake, l_d_tgd=l_d_tgd,
            out_featd_real=_mean(logits_real), out_featd_fake=_mean(logits_fake),
            p_pos_real=p_pos[:n_real].mean(), p_pos_fake=p_pos[n_real:].mean())
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _d_optimizers(self) -> list:
        extra = [self.optimizer_d] if self.net_d is not None else []
        return [self.optimizer_featd, self.optimizer_lpp] + extra

    def _set_requires_grad(self, flag: bool) -> None:
        nets = [self.net_featd, self.net_lpp] + ([self.net_d] if self.net_d is not None else [])
        for net in nets:
            for p in net.parameters():
                p.requires_grad = flag

    def _image_d_generator_loss(self, real: torch.Tensor) -> torch.Tensor:
        fake_pred = self.net_d(self.output)
        if not self.relativistic_d:
            return self.cri_gan(fake_pred, True, is_disc=False)
        real_pred = self.net_d(real).detach()
        l_real = self.cri_gan(real_pred - fake_pred.mean(), False, is_disc=False)
        l_fake = self.cri_gan(fake_pred - real_pred.mean(), True, is_disc=False)
        return (l_real + l_fake) / 2

    def _image_d_losses(self, real: torch.Tensor):
        fake = self.output.detach()
        real_pred, fake_pred = self.net_d(real), self.net_d(fake)
        if self.relativistic_d:  # ESRGAN's relativistic average GAN
            l_real = self.cri_gan(real_pred - fake_pred.detach().mean(), True, is_disc=True) * 0.5
            l_fake = self.cri_gan(fake_pred - real_pred.detach().mean(), False, is_disc=True) * 0.5
        else:
            l_real = self.cri_gan(real_pred, True, is_disc=True)
            l_fake = self.cri_gan(fake_pred, False, is_disc=True)
        return l_real, l_fake, real_pred.detach().mean(), fake_pred.detach().mean()

    # ------------------------------------------------------------------ distributed
    def _broadcast_lpp(self) -> None:
        if self.opt['dist'] and dist.is_initialized():
            for tensor in list(self.net_lpp.parameters()) + list(self.net_lpp.buffers()):
                dist.broadcast(tensor.data, src=0)

    def _all_reduce_lpp_grads(self) -> None:
        if self.opt['dist'] and dist.is_initialized():
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

        if not hasattr(self, 'net_featd'):  # a test run: no discriminators were built
            with dataset_metrics(self):
                return super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
        scorer = SFDIQA(self.clip, self.get_bare_model(self.net_featd), self.get_bare_model(self.net_lpp))
        with live_scorer(scorer), dataset_metrics(self):
            super().nondist_validation(dataloader, current_iter, tb_logger, save_img)

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
        self.save_network(self.net_featd, 'net_featd', current_iter)
        self.save_network(self.net_lpp, 'net_lpp', current_iter)
        self.save_training_state(epoch, current_iter)  # last: a state on disk means its networks are too

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

    @master_only
    def save_training_state(self, epoch, current_iter) -> None:
        """BasicSR's ``save_training_state``, written atomically."""
        if current_iter == -1:
            return
        state = {'epoch': epoch, 'iter': current_iter,
                 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers]}
        atomic_torch_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def get_bare_model(self, net):
        return net.module if isinstance(net, (DataParallel, DistributedDataParallel)) else net


@MODEL_REGISTRY.register()
class SFDModel(SFDMixin, SRModel):
    """Classical SISR with SFD: ESRGAN's recipe (paired data) where Feat-D and TG-D judge the SR output.

    Switch an ESRGAN option file with ``model_type: SFDModel`` (and drop ``network_d``; keeping it trains
    the hybrid). See DESIGN §2 for the option keys; defaults apply where the SFD blocks are absent.
    """

    def init_training_settings(self) -> None:
        self.init_sfd_training()

