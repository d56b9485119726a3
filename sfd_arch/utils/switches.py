"""The ablation switches of an option file: which SFD discriminators a run trains (docs/ablations.md).

Read in one place by the model, the option-file preflight and ``sfd-iqa export``; plain dictionaries in,
nothing imported from torch or BasicSR, so the IQA side can use it without the training side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .discriminators import DISCRIMINATORS, DiscriminatorSpec


@dataclass
class SFDSwitches:
    """Which SFD discriminators an option file trains, and the option lines that turned the others off.

    ``on`` maps each spec's ``switch`` (utils/discriminators.py) to whether the run trains it; ``featd`` and
    ``tgd`` read it by the paper's names.
    """

    on: dict[str, bool] = field(default_factory=lambda: {spec.switch: True for spec in DISCRIMINATORS})
    fixed_prompts: bool = False
    image_d: bool = False
    reasons: dict[str, list[str]] = field(default_factory=dict)

    @property
    def featd(self) -> bool:
        return self.on['featd']

    @property
    def tgd(self) -> bool:
        return self.on['tgd']

    def trains(self, spec: DiscriminatorSpec) -> bool:
        return self.on[spec.switch]

    @property
    def uses_clip(self) -> bool:
        return any(self.on.values())

    def describe(self) -> str:
        parts = ['Feat-D' if self.featd else None,
                 ('TG-D (fixed prompts)' if self.fixed_prompts else 'TG-D + LPP') if self.tgd else None,
                 'image D' if self.image_d else None]
        return ' + '.join(p for p in parts if p)


def sfd_switches(opt: dict[str, Any], source: str = 'option file') -> SFDSwitches:
    """Read the ablation switches of an option file (docs/design.md, "1 The method"; docs/ablations.md).

    A key that is absent means the paper default; a key present with ``~`` (YAML null) turns its
    discriminator off: ``network_featd: ~`` / ``train.featd_opt: ~`` for Feat-D, ``network_lpp: ~`` /
    ``train.tgd_opt: ~`` for TG-D and LPP (each spec's ``network_key`` / ``loss_key``). Raises ``ValueError``
    when the run would have no adversarial term and ``KeyError`` for an optimiser set to ``~`` beside a network
    that is on (a silent fallback to the default optimiser is exactly the surprise these switches exist to prevent).
    """
    train_opt = opt.get('train') or {}
    switches = SFDSwitches(image_d=bool(opt.get('keep_image_d', False)))
    for spec in DISCRIMINATORS:
        reasons = []
        if spec.network_key in opt and opt[spec.network_key] is None:
            reasons.append(f'{spec.network_key}: ~')
        if spec.loss_key in train_opt and train_opt[spec.loss_key] is None:
            reasons.append(f'train.{spec.loss_key}: ~')
        if reasons:
            switches.on[spec.switch] = False
            switches.reasons[spec.switch] = reasons
    switches.fixed_prompts = switches.tgd and any(spec.frozen(opt) for spec in DISCRIMINATORS if spec.switch == 'tgd')
    if not switches.uses_clip and not switches.image_d:
        offs = ' and '.join(f'{spec.label} ({", ".join(switches.reasons[spec.switch])})' for spec in DISCRIMINATORS)
        raise ValueError(f'{source}: {offs} are {"both" if len(DISCRIMINATORS) == 2 else "all"} off and there is no '
                         'image discriminator (keep_image_d: false), so the run would have no adversarial term. Turn '
                         'one of them back on, or set `keep_image_d: true` with a network_d block for an image-D-only '
                         'run.')
    for spec in DISCRIMINATORS:
        trained = switches.trains(spec) and not spec.frozen(opt)
        if trained and spec.optimizer_key in train_opt and train_opt[spec.optimizer_key] is None:
            raise KeyError(f'{source}: train.{spec.optimizer_key}: ~ does not turn its network off (use '
                           f'train.{spec.loss_key}: ~ for that); remove the line to use the default optimiser, '
                           'or give one')
    return switches
