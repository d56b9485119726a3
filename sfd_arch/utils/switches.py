"""The ablation switches of an option file: which SFD discriminators a run trains (docs/ablations.md).

Read in one place by the model, the option-file preflight and ``sfd-iqa export``; plain dictionaries in,
nothing imported from torch or BasicSR, so the IQA side can use it without the training side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SFDSwitches:
    """Which SFD discriminators an option file trains, and the option lines that turned the others off."""

    featd: bool = True
    tgd: bool = True
    fixed_prompts: bool = False
    image_d: bool = False
    reasons: dict[str, list[str]] = field(default_factory=dict)

    @property
    def uses_clip(self) -> bool:
        return self.featd or self.tgd

    def describe(self) -> str:
        parts = ['Feat-D' if self.featd else None,
                 ('TG-D (fixed prompts)' if self.fixed_prompts else 'TG-D + LPP') if self.tgd else None,
                 'image D' if self.image_d else None]
        return ' + '.join(p for p in parts if p)


def sfd_switches(opt: dict[str, Any], source: str = 'option file') -> SFDSwitches:
    """Read the ablation switches of an option file (docs/design.md, "1 The method"; docs/ablations.md).

    A key that is absent means the paper default; a key present with ``~`` (YAML null) turns its
    discriminator off: ``network_featd: ~`` / ``train.featd_opt: ~`` for Feat-D, ``network_lpp: ~`` /
    ``train.tgd_opt: ~`` for TG-D and LPP. Raises ``ValueError`` when the run would have no adversarial term
    and ``KeyError`` for an optimiser set to ``~`` beside a network that is on (a silent fallback to the
    default optimiser is exactly the surprise these switches exist to prevent).
    """
    train_opt = opt.get('train') or {}
    switches = SFDSwitches(image_d=bool(opt.get('keep_image_d', False)))
    for name, net_key, loss_key in (('featd', 'network_featd', 'featd_opt'), ('tgd', 'network_lpp', 'tgd_opt')):
        reasons = []
        if net_key in opt and opt[net_key] is None:
            reasons.append(f'{net_key}: ~')
        if loss_key in train_opt and train_opt[loss_key] is None:
            reasons.append(f'train.{loss_key}: ~')
        if reasons:
            setattr(switches, name, False)
            switches.reasons[name] = reasons
    lpp_block = opt.get('network_lpp') or {}
    switches.fixed_prompts = switches.tgd and lpp_block.get('learnable', True) is False
    if not switches.uses_clip and not switches.image_d:
        raise ValueError(f'{source}: Feat-D ({", ".join(switches.reasons["featd"])}) and TG-D '
                         f'({", ".join(switches.reasons["tgd"])}) are both off and there is no image discriminator '
                         '(keep_image_d: false), so the run would have no adversarial term. Turn one of them back on, '
                         'or set `keep_image_d: true` with a network_d block for an image-D-only run.')
    trained = {'optim_featd': switches.featd, 'optim_lpp': switches.tgd and not switches.fixed_prompts}
    for key, on in trained.items():
        if on and key in train_opt and train_opt[key] is None:
            raise KeyError(f'{source}: train.{key}: ~ does not turn its network off (use '
                           f'{"train.featd_opt: ~" if key == "optim_featd" else "train.tgd_opt: ~"} for that); '
                           'remove the line to use the default optimiser, or give one')
    return switches
