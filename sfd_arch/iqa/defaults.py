"""SFD-IQA's default settings and the settings object a scorer is built from, apart from the scorer so that
command-line parsers show them without torch."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass
from typing import Optional

# Tiles bound memory, they are not part of the score's definition: the taps are fully convolutional and the
# positional embeddings are interpolated, so any size works. Up to 512 px an image is scored whole, in one CLIP
# pass (a 512x384 image costs one forward pass, not six overlapping 224 px crops).
DEFAULT_TILE = 512
DEFAULT_BATCH_SIZE = 16
DEFAULT_ALPHA = 0.5


@dataclass(frozen=True)
class ScorerSettings:
    """What an SFD-IQA scorer is built from (:func:`sfd_arch.iqa.scorer.build_scorer`): the weights file and the
    settings that define its scores (``clip_weights``, ``alpha``, ``tile``; ``amp`` moves them by about 1e-3),
    and those that change only its speed (``device``, ``batch_size``, ``workers``: None picks from the usable
    cores, ``amp``, ``compile``)."""

    weights: Optional[str] = None
    clip_weights: Optional[str] = None
    device: Optional[str] = None
    alpha: float = DEFAULT_ALPHA
    tile: Optional[int] = DEFAULT_TILE
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: Optional[int] = None
    amp: Optional[str] = None
    compile: bool = False

    def inputs(self) -> list[str]:
        """The files a scorer built from these settings reads (weights, a CLIP weights file): no output may
        replace them."""
        return [p for p in (self.weights, self.clip_weights) if p and osp.isfile(p)]
