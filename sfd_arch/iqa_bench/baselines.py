"""Opinion-unaware baselines scored offline on the same images as SFD-IQA.

Each baseline is a reference implementation used as is, with its weights from a local file:

- ``niqe``: BasicSR's ``calculate_niqe`` (Y channel, no crop), ``niqe_pris_params.npz`` shipped with basicsr.
- ``piqe``: ``pypiqe.piqe`` (a port of MATLAB's ``piqe``), no weights.
- ``brisque``: pyiqa's ``brisque``, ``brisque_svm_weights.pth`` in pyiqa's cache.
- ``ilniqe``: pyiqa's ``ilniqe``, ``ILNIQE_templateModel.mat`` in pyiqa's cache.
- ``clipiqa``: pyiqa's ``clipiqa``, CLIP ``RN50.pt`` in torch hub's ``clip/`` folder (higher is better).
- ``qualiclip``: pyiqa's ``qualiclip``, ``clip/RN50.pt`` and ``QualiCLIP.pth`` in pyiqa's cache (higher is better).

The first four are lower-is-better (:mod:`sfd_arch.utils.directions`).

A baseline whose package or file is absent is *unavailable*: :func:`unavailable_reason` says why (naming the
file and where it goes) and ``sfd-iqa bench`` lists it in its report instead of dropping it. Nothing here
downloads.
"""
from __future__ import annotations

import importlib.util
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..iqa.images import ImageArray
from ..utils.directions import lower_is_better

Scorer = Callable[[ImageArray], float]


@dataclass(frozen=True)
class Baseline:
    name: str
    title: str
    implementation: str
    files: tuple[tuple[str, str], ...] = ()   # (folder kind, file name) that must exist locally
    package: Optional[str] = None             # import name that must be installed

    @property
    def lower_better(self) -> bool:
        """From the package's one direction table (sfd_arch/utils/directions.py)."""
        return lower_is_better(self.name)


def torch_hub_dir() -> str:
    import torch

    return torch.hub.get_dir()


def pyiqa_cache_dir() -> str:
    """pyiqa's download folder (``<torch hub>/pyiqa``), computed without importing pyiqa."""
    return osp.join(torch_hub_dir(), 'pyiqa')


def _folder(kind: str) -> str:
    return pyiqa_cache_dir() if kind == 'pyiqa' else osp.join(torch_hub_dir(), 'clip')


BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline('niqe', 'NIQE', "BasicSR's calculate_niqe (Y channel, no border crop)", package='basicsr'),
    Baseline('piqe', 'PIQE', 'pypiqe.piqe (MATLAB piqe port)', package='pypiqe'),
    Baseline('brisque', 'BRISQUE', "pyiqa's brisque", (('pyiqa', 'brisque_svm_weights.pth'),), 'pyiqa'),
    Baseline('ilniqe', 'IL-NIQE', "pyiqa's ilniqe", (('pyiqa', 'ILNIQE_templateModel.mat'),), 'pyiqa'),
    Baseline('clipiqa', 'CLIP-IQA', "pyiqa's clipiqa (CLIP RN50, antonym prompts)", (('clip', 'RN50.pt'),),
             'pyiqa'),
    Baseline('qualiclip', 'QualiCLIP', "pyiqa's qualiclip",
             (('clip', 'RN50.pt'), ('pyiqa', 'QualiCLIP.pth')), 'pyiqa'),
)}


def unavailable_reason(name: str) -> Optional[str]:
    """Why baseline ``name`` cannot run here (a missing package or weights file), or None when it can."""
    base = BASELINES[name]
    if base.package and importlib.util.find_spec(base.package) is None:
        extra = {'pypiqe': 'pip install pypiqe', 'pyiqa': 'optional: pip install pyiqa'}.get(base.package, '')
        return f'{base.package} is not installed' + (f' ({extra})' if extra else '')
    if name == 'niqe':
        from basicsr.metrics import niqe

        params = osp.join(osp.dirname(niqe.__file__), 'niqe_pris_params.npz')
        if not osp.isfile(params):
            return f'{params} is missing (it ships with basicsr)'
    missing = [osp.join(_folder(kind), file) for kind, file in base.files if not osp.isfile(osp.join(_folder(kind),
                                                                                                     file))]
    if missing:
        return f'no local weights: {", ".join(missing)} (put the published file there; nothing is downloaded)'
    return None


def to_uint8_bgr(arr: ImageArray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR (or ``(H, W)`` gray) of an image array, rounded from any bit depth."""
    pixels = np.asarray(arr.pixels)
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.round(pixels.astype(np.float64) * (255.0 / arr.scale)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels[:, :, ::-1] if pixels.ndim == 3 else pixels)


def niqe_of_array(arr: ImageArray) -> float:
    """BasicSR's NIQE of an :class:`~sfd_arch.iqa.images.ImageArray` (RGB or gray, any bit depth)."""
    import cv2
    from basicsr.metrics.niqe import calculate_niqe

    pixels = np.asarray(arr.pixels, dtype=np.float64) * (255.0 / arr.scale)
    if pixels.ndim == 2:
        return float(calculate_niqe(pixels, crop_border=0, input_order='HW'))
    bgr = cv2.cvtColor(np.clip(pixels, 0, 255).astype(np.float32), cv2.COLOR_RGB2BGR)
    return float(calculate_niqe(bgr, crop_border=0, input_order='HWC', convert_to='y'))


def piqe_of_array(arr: ImageArray) -> float:
    """PIQE (0..100, lower is better) by ``pypiqe`` on the 8-bit BGR image (it converts to gray itself)."""
    from pypiqe import piqe

    return float(piqe(to_uint8_bgr(arr))[0])


def build(name: str, device: Optional[str] = None) -> Scorer:
    """A function ``ImageArray -> float`` (the metric's own scale and direction) for an available baseline."""
    reason = unavailable_reason(name)
    if reason:
        raise RuntimeError(f'{name} is unavailable: {reason}')
    if name == 'niqe':
        return niqe_of_array
    if name == 'piqe':
        return piqe_of_array
    return _pyiqa_scorer(name, device)


def _pyiqa_scorer(name: str, device: Optional[str]) -> Scorer:
    import pyiqa
    import torch

    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    metric = pyiqa.create_metric(name, device=dev, as_loss=False)

    def score(arr: ImageArray) -> float:
        pixels = np.asarray(arr.pixels, dtype=np.float32) / np.float32(arr.scale)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        tensor = torch.from_numpy(np.ascontiguousarray(np.clip(pixels, 0, 1))).permute(2, 0, 1)[None].to(dev)
        with torch.inference_mode():
            return float(metric(tensor).reshape(-1)[0])

    return score
