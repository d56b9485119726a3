"""Parallel input for SFD-IQA: image files -> decoded tiles, in DataLoader worker processes.

``sfd-iqa score`` of a large folder is bound by decoding, not by the network, once the network runs on a GPU
(a 512x384 JPEG takes about 1 ms of one core to decode). Here each file is read with :func:`read_image`
(decoding, colour order, alpha, 16-bit), checked for size and cut into the scorer's tiles (:func:`tile_boxes`)
in a worker process; the main process only batches tiles and runs the network.

Tiles travel in the stored pixel type (uint8 for 8-bit files: a quarter of float32's bytes; 16-bit as int32,
float images as float32), pinned on CUDA and copied with ``non_blocking=True``, and become float32 in [0, 1]
on the scoring device with the arithmetic of :meth:`ImageArray.crop` (a true division by 255 or 65535, a clip
for float images). So a score does not depend on the number of workers, nor on whether the file was read here
or by ``SFDIQA.score_arrays``: the network sees the same bits. Items come back in input order.

    for name, image in decoded_images(paths, tile=512, device='cuda', workers=8):
        ...  # image: a TileStack (height, width, crop(top, left, h, w) on the device) or an error message (str)
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .images import ImageArray, ImageReadError, read_image
from .tiles import Box, check_size, tile_boxes

MAX_DEFAULT_WORKERS = 8
PREFETCH_FACTOR = 4  # items queued per worker: enough to hide a slow file behind its neighbours


def default_workers() -> int:
    """Worker processes per scoring process: the usable cores of this process (split among the processes
    torchrun started on this node) minus one for the process that runs the network, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    per_node = max(1, int(os.environ.get('LOCAL_WORLD_SIZE', '1') or 1))
    return max(0, min(MAX_DEFAULT_WORKERS, cpus // per_node - 1))


@dataclass
class DecodedImage:
    """One file as a worker hands it over: its tiles in the stored pixel type, or the error that stopped it.

    ``tiles`` is ``(n, C, th, tw)`` with ``C`` 3 (RGB) or 1 (gray), one entry per box of ``boxes`` (the
    scorer's :func:`tile_boxes` of the image); ``scale`` maps the values to [0, 1] (1.0: float, clipped).
    """

    path: str
    tiles: Optional[torch.Tensor] = None
    scale: float = 1.0
    height: int = 0
    width: int = 0
    boxes: list[Box] = field(default_factory=list)
    error: Optional[str] = None

    def pin_memory(self) -> 'DecodedImage':
        """Called by the DataLoader's pinning thread (``pin_memory=True``) so that the copy to CUDA is async."""
        if self.tiles is not None:
            self.tiles = self.tiles.pin_memory()
        return self


def cut_tiles(image: ImageArray, boxes: Sequence[Box]) -> torch.Tensor:
    """The crops of ``boxes`` as one ``(n, C, th, tw)`` tensor in the stored pixel type (16-bit as int32,
    which holds it exactly, as torch has few uint16 kernels; float as float32, as ``ImageArray.crop`` does)."""
    crops = np.stack([image.pixels[top:top + h, left:left + w] for top, left, h, w in boxes])
    if crops.dtype == np.uint16:
        crops = crops.astype(np.int32)
    elif np.issubdtype(crops.dtype, np.floating):
        crops = crops.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(crops))
    tensor = tensor.unsqueeze(1) if tensor.dim() == 3 else tensor.permute(0, 3, 1, 2)
    return tensor.contiguous()


def to_unit(tiles: torch.Tensor, scale: float, device: Union[str, torch.device]) -> torch.Tensor:
    """``(n, C, h, w)`` stored pixels -> ``(n, 3, h, w)`` float32 in [0, 1] on ``device`` (gray expanded)."""
    device = torch.device(device)
    x = tiles.to(device, non_blocking=True).to(torch.float32)
    if scale != 1.0:
        # divide by a tensor on the device: CUDA turns a division by a CPU scalar into a multiplication by its
        # reciprocal, which can differ in the last bit from ImageArray.crop's true division
        x = x / torch.tensor(scale, dtype=torch.float32, device=device)
    else:
        x = x.clamp(0.0, 1.0)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class TileDataset(Dataset):
    """``paths[i]`` -> :class:`DecodedImage` (never raises for a bad file: the error is in the item)."""

    def __init__(self, paths: Sequence[str], tile: Optional[int]):
        self.paths = list(paths)
        self.tile = int(tile) if tile else 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> DecodedImage:
        path = self.paths[index]
        try:
            image = read_image(path)
            check_size(image.height, image.width, path)
            boxes = tile_boxes(image.height, image.width, self.tile)
            tiles = cut_tiles(image, boxes)
        except (ImageReadError, ValueError, OSError) as err:
            return DecodedImage(path, error=str(err))
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the loader: it gets its error row
            return DecodedImage(path, error=f'{path}: {type(err).__name__}: {err}')
        return DecodedImage(path, tiles, image.scale, image.height, image.width, boxes)


class TileStack:
    """A decoded image on the scoring device, as the scorer wants its sources: ``height``, ``width`` and
    ``crop(top, left, h, w) -> (3, h, w)`` in [0, 1], for the boxes the loader cut."""

    def __init__(self, decoded: DecodedImage, device: Union[str, torch.device]):
        self.path = decoded.path
        self.height, self.width = decoded.height, decoded.width
        self._index = {tuple(box): i for i, box in enumerate(decoded.boxes)}
        self.tiles = to_unit(decoded.tiles, decoded.scale, device)

    def crop(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        try:
            return self.tiles[self._index[(top, left, height, width)]]
        except KeyError:
            raise ValueError(f'{self.path}: the scorer asked for tile {(top, left, height, width)}, which the loader '
                             'did not cut (the loader and the scorer must use the same tile size)') from None


@contextmanager
def _opencv_pool_emptied_for_fork() -> Iterator[None]:
    """OpenCV's thread pool does not survive ``fork``: a worker that inherits a pool with threads (the parent
    resized an image earlier) hangs on its first ``cv2.setNumThreads`` or parallel call. So the parent empties
    its pool while the workers are forked (they inherit one thread: one process per core is what we want there
    anyway) and gets its own setting back once they run."""
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def decoded_images(paths: Sequence[str], tile: Optional[int], device: Union[str, torch.device],
                   workers: int = 0) -> Iterator[tuple[str, Union[TileStack, str]]]:
    """``(path, TileStack or error message)`` for each path, in order. ``workers`` 0 decodes in this process;
    more start that many DataLoader worker processes (never more than there are files), which end when the
    iteration ends or is abandoned."""
    if workers < 0:
        raise ValueError(f'workers must be >= 0, got {workers}')
    if not paths:
        return
    device = torch.device(device)
    workers = min(int(workers), len(paths))
    loader = DataLoader(TileDataset(paths, tile), batch_size=None, shuffle=False, num_workers=workers,
                        pin_memory=device.type == 'cuda', prefetch_factor=PREFETCH_FACTOR if workers else None)
    with _opencv_pool_emptied_for_fork():
        batches = iter(loader)  # all workers start here
    for item in batches:
        yield (item.path, item.error) if item.error is not None else (item.path, TileStack(item, device))
