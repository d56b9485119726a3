"""The two adversarial losses of SFD: over Feat-D's logit maps and over TG-D's prompt-pair logits."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from basicsr.losses.gan_loss import GANLoss
from torch import nn


class FeatureGANLoss(nn.Module):
    """GAN loss over a list of Feat-D logit maps ``list[(B, 1, h_i, w_i)]``: a decision at every position.

    Each map is scored by BasicSR's ``GANLoss`` (``gan_type``: vanilla, lsgan, wgan, wgan_softplus, hinge;
    averaged over positions) and the maps are combined with ``layer_weights`` (default: equal weights that
    sum to 1, i.e. the mean over tapped layers). As in BasicSR, ``loss_weight`` applies to the generator
    side only (``is_disc=False``).
    """

    def __init__(self, gan_type: str = 'vanilla', real_label_val: float = 1.0, fake_label_val: float = 0.0,
                 loss_weight: float = 5e-3, layer_weights: Optional[Sequence[float]] = None):
        super().__init__()
        self.gan = GANLoss(gan_type, real_label_val, fake_label_val, loss_weight=1.0)
        self.loss_weight = loss_weight
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]

    def _weights(self, n: int) -> list[float]:
        if self.layer_weights is None:
            return [1.0 / n] * n
        if len(self.layer_weights) != n:
            raise ValueError(f'featd_opt.layer_weights has {len(self.layer_weights)} entries but Feat-D gives '
                             f'{n} logit maps (one per tapped CLIP layer)')
        return self.layer_weights

    def forward(self, logits: Sequence[torch.Tensor], target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        if isinstance(logits, torch.Tensor):
            logits = [logits]
        weights = self._weights(len(logits))
        # the inner GANLoss has loss_weight 1, so is_disc only picks the hinge form; the weight is applied here.
        # fp32 whatever the logits are (mixed precision): a mean over every position of a half-precision map
        # would lose the small differences the game is about.
        loss = sum(w * self.gan(logit.float(), target_is_real, is_disc=is_disc) for w, logit in zip(weights, logits))
        return loss if is_disc else loss * self.loss_weight


class TextGuidedGANLoss(nn.Module):
    """Cross-entropy over TG-D's prompt pair. ``logits``: (B, 2) for [positive, negative] prompts.

    ``target_is_real=True`` asks for the positive prompt, ``False`` for the negative one. Discriminator
    step: HR -> positive, SR -> negative. Generator step: SR -> positive. ``loss_weight`` applies to the
    generator side only, as in BasicSR's GANLoss.
    """

    def __init__(self, loss_weight: float = 5e-3, label_smoothing: float = 0.0):
        super().__init__()
        self.loss_weight = loss_weight
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        if logits.dim() != 2 or logits.shape[1] != 2:
            raise ValueError(f'TextGuidedGANLoss expects (B, 2) prompt-pair logits, got {tuple(logits.shape)}')
        target = torch.full((logits.shape[0],), 0 if target_is_real else 1, dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)
        return loss if is_disc else loss * self.loss_weight
