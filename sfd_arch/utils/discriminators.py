"""SFD's discriminators as data: one spec each, read by the model, the switches, the option schema and export.

Everything the package says about a discriminator by name (its network, optimiser and loss keys, its checkpoint
and path keys, its switch, the defaults that apply when an option file leaves its blocks out) is written here once;
``SFDMixin`` (models/sfd_model.py), ``sfd_switches`` (utils/switches.py), the option schema (options/schema.py,
options/values.py, options/weightfiles.py) and ``sfd-iqa export`` (iqa/export.py) loop over ``DISCRIMINATORS``.
A third discriminator is one more spec here, plus its network, its loss and its term in the training step.
Plain data (no torch, no BasicSR), so every layer can read it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional

# the optimiser every SFD discriminator gets when an option file gives none (the paper's)
DEFAULT_OPTIMIZER: dict[str, Any] = {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]}


@dataclass(frozen=True)
class DiscriminatorSpec:
    """One SFD discriminator: the option keys, attribute names and file names that belong to it.

    ``name`` is BasicSR's short network name: ``network_<name>`` in the option file, ``net_<name>`` on the model and
    in checkpoint files (``net_<name>_<iter>.pth``), ``path.pretrain_network_<name>`` / ``param_key_<name>`` /
    ``strict_load_<name>``, ``optimizer_<name>`` on the model and the entry of the SFD-IQA weights file. ``switch``
    is the ``SFDSwitches`` attribute that says whether a run trains it.
    """

    name: str
    switch: str
    label: str             # the term in messages: 'Feat-D', 'TG-D'
    network_label: str     # the network in messages about its checkpoint: 'Feat-D', 'LPP'
    ablation_label: str    # what an ablation turns off: 'Feat-D', 'TG-D and LPP'
    loss_key: str          # train.<loss_key>
    loss_attr: str         # the model's attribute holding the built loss
    network_default: dict = field(default_factory=dict)
    loss_default: dict = field(default_factory=dict)
    optimizer_default: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_OPTIMIZER))
    # wrapped like BasicSR's net_d (DDP / DataParallel); False: plain module, gradients averaged by hand
    wrapped: bool = True
    # a network-block key whose `false` builds the network with nothing to train (no optimiser), e.g. fixed prompts
    frozen_flag: Optional[str] = None
    # constructor arguments the model passes itself (the top-level `clip:` block), never written in the block
    injected: tuple[str, ...] = ('clip',)

    @property
    def network_key(self) -> str:
        return f'network_{self.name}'

    @property
    def optimizer_key(self) -> str:
        return f'optim_{self.name}'

    @property
    def net_attr(self) -> str:
        return f'net_{self.name}'

    @property
    def optimizer_attr(self) -> str:
        return f'optimizer_{self.name}'

    @property
    def pretrain_key(self) -> str:
        return f'pretrain_network_{self.name}'

    @property
    def path_keys(self) -> tuple[str, str, str]:
        """The ``path:`` keys BasicSR's naming gives this network."""
        return self.pretrain_key, f'param_key_{self.name}', f'strict_load_{self.name}'

    def checkpoint_file(self, iteration: Any) -> str:
        """``net_<name>_<iter>.pth``, as BasicSR's ``save_network`` names it."""
        return f'net_{self.name}_{iteration}.pth'

    def network_opt(self, opt: dict[str, Any]) -> dict[str, Any]:
        """The network block of ``opt``, the default where absent, with its ``type`` filled in (a copy)."""
        block = copy.deepcopy(opt.get(self.network_key) or self.network_default)
        block.setdefault('type', self.network_default['type'])  # e.g. `network_lpp: {learnable: false, ...}`
        return block

    def loss_opt(self, train_opt: dict[str, Any]) -> dict[str, Any]:
        """The ``train.<loss_key>`` block, the default where absent, with its ``type`` filled in (a copy)."""
        block = copy.deepcopy(train_opt.get(self.loss_key) or self.loss_default)
        block.setdefault('type', self.loss_default['type'])
        return block

    def frozen(self, opt: dict[str, Any]) -> bool:
        """Whether the option file builds this network with nothing to train (``frozen_flag: false``)."""
        block = opt.get(self.network_key) or {}
        return self.frozen_flag is not None and block.get(self.frozen_flag, True) is False


FEATD = DiscriminatorSpec(
    name='featd', switch='featd', label='Feat-D', network_label='Feat-D', ablation_label='Feat-D',
    loss_key='featd_opt', loss_attr='cri_featd',
    network_default={'type': 'FeatD', 'num_feat': 64},
    loss_default={'type': 'FeatureGANLoss', 'gan_type': 'vanilla', 'loss_weight': 5e-3})
LPP = DiscriminatorSpec(
    name='lpp', switch='tgd', label='TG-D', network_label='LPP', ablation_label='TG-D and LPP',
    loss_key='tgd_opt', loss_attr='cri_tgd',
    network_default={'type': 'PromptLearner', 'n_ctx': 16, 'pos': 'high quality', 'neg': 'low quality'},
    loss_default={'type': 'TextGuidedGANLoss', 'loss_weight': 5e-3},
    # its text features are computed once per iteration and used by both steps, which DDP's
    # one-forward-per-backward contract does not allow
    wrapped=False, frozen_flag='learnable')

# in the order the model builds, trains and saves them
DISCRIMINATORS: tuple[DiscriminatorSpec, ...] = (FEATD, LPP)
BY_NAME: dict[str, DiscriminatorSpec] = {spec.name: spec for spec in DISCRIMINATORS}
BY_NETWORK_KEY: dict[str, DiscriminatorSpec] = {spec.network_key: spec for spec in DISCRIMINATORS}
