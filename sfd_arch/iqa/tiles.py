"""How SFD-IQA cuts an image into tiles, and the smallest image it scores; shared by the scorer and the loader.

An image no larger than ``tile`` in either side is one tile. A larger one is cut into ``tile`` x ``tile`` crops on
a regular grid (stride = tile, the last row/column shifted back to end at the border), so every crop has the
same size and lies inside the image. A side shorter than ``tile`` is not split.
"""
from __future__ import annotations

import math
from typing import Optional

from ..archs.clip_arch import MIN_SIZE

Box = tuple[int, int, int, int]  # top, left, height, width


def _starts(length: int, size: int) -> list[int]:
    if length <= size:
        return [0]
    n = math.ceil(length / size)
    return [i * size for i in range(n - 1)] + [length - size]


def tile_boxes(height: int, width: int, tile: Optional[int]) -> list[Box]:
    """Crops ``(top, left, h, w)`` covering an image: one box when it fits ``tile`` (or ``tile`` is 0/None),
    otherwise a regular grid of equal crops with the last row/column shifted inside the image."""
    th = height if not tile or height <= tile else tile
    tw = width if not tile or width <= tile else tile
    return [(top, left, th, tw) for top in _starts(height, th) for left in _starts(width, tw)]


def check_size(height: int, width: int, name: str) -> None:
    """Refuse an image under CLIP's smallest input, naming it and its size."""
    if height < MIN_SIZE or width < MIN_SIZE:
        raise ValueError(f'{name}: image of {width}x{height} px (WxH) is too small: SFD-IQA needs at least '
                         f'{MIN_SIZE}x{MIN_SIZE} px')
