"""SpandrelNet: a generator file of an architecture only spandrel knows, as a BasicSR network.

``network_g: {type: SpandrelNet, model_path: 4x_ESRGAN.pth}`` (with ``path.pretrain_network_g: ~``) lets BasicSR's
test pipeline and ``sfd_arch/test.py`` run any file spandrel detects (ESRGAN, SwinIR, HAT, DAT, SPAN...): the
file is read weights-only here (``sfd_arch.archs.generators``) and spandrel builds the network from the state
dict. Inputs are padded to the architecture's size requirements and the output cropped back, as the tiled
upsampler does. For fine-tuning, name a registered architecture instead (``RRDBNet``, ``KAIRRRDBNet``, ...):
this wrapper is for testing and comparing. Needs the optional package spandrel: ``pip install sfd_arch[models]``.
"""
from __future__ import annotations

import torch
from torch import nn


class SpandrelNet(nn.Module):
    """The network spandrel detects in ``model_path``, with its weights; ``(B, 3, h, w) -> (B, 3, h*s, w*s)``.

    Args:
        model_path: a ``.pth`` or ``.safetensors`` generator file (``params_ema``, ``params`` or a bare state dict).
    """

    def __init__(self, model_path: str):
        super().__init__()
        from .generators import from_spandrel, read_state  # spandrel and the reader load only when one is built

        state, key = read_state(model_path)
        gen = from_spandrel(state, model_path, key)
        self.model = gen.net
        self.scale, self.multiple_of, self.minimum, self.square = gen.scale, gen.multiple_of, gen.minimum, gen.square
        self.how = gen.how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..utils.upsampler import pad_to_requirements  # with the reader: loaded once a network is built

        h, w = x.shape[2:]
        x = pad_to_requirements(x, self.minimum, self.square, self.multiple_of)
        return self.model(x)[:, :, :h * self.scale, :w * self.scale]
