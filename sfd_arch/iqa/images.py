"""Image inputs of SFD-IQA: reading files, normalising pixel layouts, finding images in folders.

Every input becomes an RGB (or single-channel gray) NumPy array plus the value that maps it to [0, 1]. The array
keeps its stored dtype (uint8, uint16, float) and is only converted to float one tile at a time, so a huge image
costs its own bytes plus one batch of tiles, never a float copy of the whole image.

Layouts (``as_rgb``): ``HxW`` and ``HxWx1`` gray (replicated to RGB per tile), ``HxWx2`` gray + alpha and
``HxWx4`` colour + alpha (alpha dropped, colour kept as stored: no compositing onto a background), ``HxWx3``
colour. Types: uint8 (/255), uint16 (/65535, 16-bit PNG/TIFF), float (taken as [0, 1] and clipped).
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

# cv2 and torch are imported where they are used: the command-line parsers read IMAGE_EXTENSIONS, and
# `sfd-iqa --help` must not wait for them

from ..utils.imagefiles import incomplete, read_bytes

IMAGE_EXTENSIONS = ('.bmp', '.dib', '.jpeg', '.jpg', '.jpe', '.jp2', '.png', '.pbm', '.pgm', '.ppm', '.pnm',
                    '.tif', '.tiff', '.webp')


class ImageReadError(ValueError):
    """An input that is not a usable image; the message names the file and the reason."""


@dataclass
class ImageArray:
    """An image as stored: ``pixels`` is ``(H, W)`` gray or ``(H, W, 3)`` RGB (possibly a strided view),
    ``scale`` maps its values to [0, 1]."""

    pixels: np.ndarray
    scale: float

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def crop(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """``(3, height, width)`` float32 RGB in [0, 1] (a new tensor; the image is not copied)."""
        patch = np.asarray(self.pixels[top:top + height, left:left + width], dtype=np.float32)
        if self.scale != 1.0:
            patch = patch / np.float32(self.scale)
        else:
            patch = np.clip(patch, 0.0, 1.0)
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(patch))
        if tensor.dim() == 2:
            return tensor.unsqueeze(0).expand(3, -1, -1).contiguous()
        return tensor.permute(2, 0, 1).contiguous()


def _scale_of(dtype: np.dtype, name: str) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ImageReadError(f'{name}: unsupported pixel type {dtype} (expected 8-bit, 16-bit or float images)')


def as_rgb(img: np.ndarray, channel_order: str = 'BGR', name: str = 'image') -> ImageArray:
    """Normalise a decoded image (OpenCV's BGR/BGRA order by default, or ``'RGB'``) to an :class:`ImageArray`.

    Alpha is dropped, gray stays single-channel (replicated per tile), channel order becomes RGB.
    """
    if not isinstance(img, np.ndarray):
        raise ImageReadError(f'{name}: expected a NumPy array, got {type(img).__name__}')
    order = channel_order.upper()
    if order not in ('BGR', 'RGB'):
        raise ValueError(f"channel_order must be 'BGR' or 'RGB', got {channel_order!r}")
    scale = _scale_of(img.dtype, name)
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]  # gray, or gray + alpha
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[:, :, :3]
        if order == 'BGR':
            img = img[:, :, ::-1]  # a view: no copy of a huge image
    elif img.ndim != 2:
        raise ImageReadError(f'{name}: unsupported image layout {img.shape} (expected HxW, HxWx1..4)')
    return ImageArray(img, scale)


def read_image(path: str) -> ImageArray:
    """Read an image file as stored (``cv2.IMREAD_UNCHANGED``: 16-bit kept, alpha seen and dropped), turned
    upright by its EXIF orientation tag. A truncated JPEG or PNG is an ``ImageReadError`` (found from the file's
    structure: ``sfd_arch.utils.imagefiles.incomplete``), not a partly gray image.

    Opinion scores were collected on images as displayed, and viewers apply the tag; ``IMREAD_UNCHANGED`` does
    not, so the tag is read separately (Pillow parses the header only) and applied as a view (no copy).
    """
    import cv2

    if not osp.isfile(path):
        raise ImageReadError(f'{path}: no such file')
    data = read_bytes(path)
    # OpenCV decodes a cut JPEG without an error (gray fill): the file's structure says it is cut
    problem = incomplete(data, path)
    if problem:
        raise ImageReadError(problem)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise ImageReadError(f'{path}: cannot decode the file (corrupt, truncated, or not an image format '
                             'OpenCV reads)')
    return as_rgb(apply_orientation(img, exif_orientation(path)), 'BGR', name=path)


# EXIF orientation (1..8) -> how the stored pixels become the displayed image; rotations as np.rot90 counts
# (counter-clockwise), each done after the optional left-right mirror.
_ORIENTATIONS = {1: (False, 0), 2: (True, 0), 3: (False, 2), 4: (True, 2),
                 5: (True, 1), 6: (False, 3), 7: (True, 3), 8: (False, 1)}


def exif_orientation(path: str) -> int:
    """The EXIF orientation tag (0x0112) of an image file, 1 (as stored) when absent or unreadable."""
    if osp.splitext(path)[1].lower() not in _EXIF_EXTENSIONS:
        return 1
    try:
        from PIL import Image

        with Image.open(path) as im:
            value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost an image OpenCV decoded
        return 1
    return int(value) if value in _ORIENTATIONS else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """``(H, W[, C])`` as stored -> as displayed for an EXIF orientation (a view of ``img``)."""
    mirror, quarter_turns = _ORIENTATIONS.get(orientation, (False, 0))
    if mirror:
        img = img[:, ::-1]
    return np.rot90(img, quarter_turns) if quarter_turns else img


_EXIF_EXTENSIONS = ('.jpg', '.jpeg', '.jpe', '.tif', '.tiff', '.webp', '.png')


def is_image_file(path: str) -> bool:
    return osp.splitext(path)[1].lower() in IMAGE_EXTENSIONS


@dataclass
class FoundImages:
    """Inputs resolved from the command line: image files in order, plus what was left out."""

    files: list[str]
    skipped: list[str]  # non-image files met inside folders
    missing: list[str]  # arguments that are neither a file nor a folder


def find_images(paths: Sequence[str] | str, recursive: bool = True) -> FoundImages:
    """Expand files and folders into image files.

    Files named explicitly are kept whatever their extension (an unreadable one gets an error row later);
    inside folders only files with an image extension are taken (sorted, hidden files and folders ignored)
    and the rest are counted as skipped.
    """
    if isinstance(paths, str):
        paths = [paths]
    found = FoundImages([], [], [])
    seen: set[str] = set()

    def add(path: str) -> None:
        key = osp.abspath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for path in paths:
        if osp.isdir(path):
            for file in _walk(path, recursive):
                if is_image_file(file):
                    add(file)
                else:
                    found.skipped.append(file)
        elif osp.isfile(path):
            add(path)
        else:
            found.missing.append(path)
    return found


def _walk(folder: str, recursive: bool) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.')) if recursive else []
        for name in sorted(files):
            if not name.startswith('.'):
                yield osp.join(root, name)
