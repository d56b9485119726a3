"""RealSFDModel: Real-ESRGAN's on-the-fly second-order degradations with the SFD step, on CPU or GPU."""
from __future__ import annotations

from typing import Any

import torch
from basicsr.models.realesrgan_model import RealESRGANModel
from basicsr.models.sr_model import SRModel
from basicsr.utils.diffjpeg import DiffJPEG
from basicsr.utils.img_process_util import USMSharp

from .. import exact_resume
from .sfd_model import SFDMixin


class RealSFDModel(SFDMixin, RealESRGANModel):
    """Real-world SISR with SFD. Data synthesis (blur, resize, noise, JPEG twice, sinc; the training pair
    queue; USM-sharpened targets) is basicsr's ``RealESRGANModel``; the adversarial step is SFD's.

    ``l1_gt_usm``, ``percep_gt_usm`` and ``gan_gt_usm`` (default true, as in Real-ESRGAN) choose whether
    the pixel loss, the perceptual loss and the discriminators see the sharpened target.
    """

    def __init__(self, opt):
        # RealESRGANModel.__init__ puts its JPEG and USM helpers on .cuda(); build them on our device instead.
        SRModel.__init__(self, opt)
        self.jpeger = DiffJPEG(differentiable=False).to(self.device)
        self.usm_sharpener = USMSharp().to(self.device)
        self.queue_size = opt.get('queue_size', 180)

    @torch.no_grad()
    def _dequeue_and_enqueue(self):
        if not hasattr(self, 'queue_lr'):  # allocate the pool on our device; the parent then only fills it
            b, c, h, w = self.lq.size()
            if self.queue_size % b != 0:
                raise ValueError(f'queue_size {self.queue_size} must be divisible by the batch size {b}')
            self.queue_lr = torch.zeros(self.queue_size, c, h, w, device=self.device)
            self.queue_gt = torch.zeros(self.queue_size, *self.gt.shape[1:], device=self.device)
            self.queue_ptr = 0
        super()._dequeue_and_enqueue()

    def init_training_settings(self) -> None:
        self.init_sfd_training()

    def resume_extras(self) -> dict[str, Any]:
        """The training-pair queue: the pairs it holds decide later batches. 8-bit data is stored as uint8 (lossless,
        checked): at Real-ESRGAN's settings (queue_size 180, gt_size 256, x4) about 37.6 MB per process."""
        if not hasattr(self, 'queue_lr'):
            return {'queue': None}
        return {'queue': {'lr': exact_resume.pack_images(self.queue_lr), 'gt': exact_resume.pack_images(self.queue_gt),
                          'ptr': int(self.queue_ptr)}}

    def load_resume_extras(self, extras: dict[str, Any], where: str) -> list[str]:
        queue = extras.get('queue')
        if queue is None:
            return []
        queue_lr = exact_resume.unpack_images(queue['lr'], self.device)
        if queue_lr.shape[0] != self.queue_size:
            return [f'its training-pair queue holds {queue_lr.shape[0]} pairs, queue_size is now {self.queue_size}']
        self.queue_lr, self.queue_gt = queue_lr, exact_resume.unpack_images(queue['gt'], self.device)
        self.queue_ptr = int(queue['ptr'])
        return []

    def sfd_targets(self) -> dict:
        usm = self.gt_usm
        return {'pix': usm if self.opt.get('l1_gt_usm', True) else self.gt,
                'percep': usm if self.opt.get('percep_gt_usm', True) else self.gt,
                'gan': usm if self.opt.get('gan_gt_usm', True) else self.gt}
