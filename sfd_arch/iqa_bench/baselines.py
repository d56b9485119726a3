"""Opinion-unaware baselines scored offline on the same images as SFD-IQA.

The baselines are the metrics whose record (:mod:`sfd_arch.metrics.records`) has a ``bench`` entry: its
implementation, the package and local files it needs, and the scorer that runs it. Each is a reference
implementation used as is, with its weights from a local file:

- ``niqe``: BasicSR's ``calculate_niqe`` (Y channel, no crop), ``niqe_pris_params.npz`` shipped with basicsr.
- ``piqe``: ``pypiqe.piqe`` (a port of MATLAB's ``piqe``), no weights.
- ``brisque``: pyiqa's ``brisque``, ``brisque_svm_weights.pth`` in pyiqa's cache.
- ``ilniqe``: pyiqa's ``ilniqe``, ``ILNIQE_templateModel.mat`` in pyiqa's cache.
- ``clipiqa``: pyiqa's ``clipiqa``, CLIP ``RN50.pt`` in torch hub's ``clip/`` folder (higher is better).
- ``qualiclip``: pyiqa's ``qualiclip``, ``clip/RN50.pt`` and ``QualiCLIP.pth`` in pyiqa's cache (higher is better).

The first four are lower-is-better (their records say so). A metric added with a record whose bench entry keeps
the default scorer (``basicsr``) runs through its registered function on the 8-bit BGR image.

A baseline whose package or file is absent is *unavailable*: :func:`unavailable_reason` says why (naming the
file and where it goes) and ``sfd-iqa bench`` lists it in its report instead of dropping it. Nothing here
downloads.
"""
from __future__ import annotations

import importlib.util
import os.path as osp
from typing import Callable, Optional

import numpy as np

from ..iqa.images import ImageArray
from ..metrics import records

Scorer = Callable[[ImageArray], float]
INSTALL_HINTS = {'pypiqe': 'pip install pypiqe', 'pyiqa': 'optional: pip install pyiqa'}


def baselines() -> dict[str, records.Metric]:
    """``{name: record}`` of every bench baseline (the records with a ``bench`` entry), in the records' order."""
    return records.bench_baselines()


def torch_hub_dir() -> str:
    import torch

    return torch.hub.get_dir()


def pyiqa_cache_dir() -> str:
    """pyiqa's download folder (``<torch hub>/pyiqa``), computed without importing pyiqa."""
    return osp.join(torch_hub_dir(), 'pyiqa')


def _folder(kind: str) -> str:
    """The folder of a bench entry's file: pyiqa's cache, torch hub's ``clip/``, or inside an installed package."""
    if kind == 'pyiqa':
        return pyiqa_cache_dir()
    if kind == 'clip':
        return osp.join(torch_hub_dir(), 'clip')
    spec = importlib.util.find_spec(kind)
    return list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else kind


def unavailable_reason(name: str) -> Optional[str]:
    """Why baseline ``name`` cannot run here (a missing package or weights file), or None when it can."""
    entry = baselines()[name].bench
    if entry.package and importlib.util.find_spec(entry.package) is None:
        extra = INSTALL_HINTS.get(entry.package, '')
        return f'{entry.package} is not installed' + (f' ({extra})' if extra else '')
    shipped = [osp.join(_folder(kind), file) for kind, file in entry.files if kind not in ('pyiqa', 'clip')]
    missing = [path for path in shipped if not osp.isfile(path)]
    if missing:  # a file that comes with an installed package, not one the user downloads
        return f'{", ".join(missing)} is missing (it ships with {entry.package})'
    missing = [osp.join(_folder(kind), file) for kind, file in entry.files
               if kind in ('pyiqa', 'clip') and not osp.isfile(osp.join(_folder(kind), file))]
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
    return SCORERS[baselines()[name].bench.scorer](name, device)


def _registered_scorer(name: str, device: Optional[str]) -> Scorer:
    """The metric's registered function (its record's ``type`` and ``options``) on the 8-bit BGR image."""
    record = baselines()[name]
    function, options = record.function(), dict(record.options)

    def score(arr: ImageArray) -> float:
        return float(function(to_uint8_bgr(arr), crop_border=0, **options))

    return score


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


# how a bench entry's `scorer` runs: name and device -> ImageArray -> float
SCORERS: dict[str, Callable[[str, Optional[str]], Scorer]] = {
    'basicsr': _registered_scorer,
    'niqe': lambda name, device: niqe_of_array,
    'pypiqe': lambda name, device: piqe_of_array,
    'pyiqa': lambda name, device: _pyiqa_scorer(name, device),
}
