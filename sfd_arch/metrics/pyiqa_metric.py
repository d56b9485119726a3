"""No-reference (and full-reference) metrics of real-world SR papers through pyiqa, an optional extra.

``musiq: {type: calculate_pyiqa, metric: musiq}`` scores the SR image with ``pyiqa.create_metric('musiq')``
(MUSIQ, MANIQA, CLIP-IQA, TOPIQ-NR, NRQM, PI, ... any pyiqa name). pyiqa is imported on first use only:
``pip install .[pyiqa]``.

Offline: pyiqa fetches its weights through ``download_url_to_file`` (its own ``download_util`` and torch.hub's).
While a pyiqa metric is built, both are replaced by a lookup of the file's published name in
``experiments/pretrained_models/`` and torch hub's checkpoint folder; a file found there is copied into the cache
folder pyiqa asked for, a missing one raises ``MissingWeightsError`` with its name, where to put it and its URL.
``pretrained_model_path`` in the block overrides pyiqa's default weight file.
"""
from __future__ import annotations

import os.path as osp
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional
from urllib.parse import urlparse

import numpy as np
import torch

from .base import cached_network, crop, finite, paired_images, resolve_device, to_hwc, to_rgb_tensor
from .weights import MissingWeightsError, search_dirs

INSTALL_HINT = 'pip install .[pyiqa]'


def import_pyiqa() -> Any:
    try:
        import pyiqa
    except ImportError as err:
        raise ImportError(f'calculate_pyiqa needs the optional package pyiqa, which is not installed: '
                          f'{INSTALL_HINT} (or pip install pyiqa). ({err})') from None
    return pyiqa


def _offline_download(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
    name = osp.basename(urlparse(url).path)
    for folder in search_dirs():
        path = osp.join(folder, name)
        if osp.isfile(path):
            if osp.abspath(path) != osp.abspath(dst):
                shutil.copyfile(path, dst)
            return
    raise MissingWeightsError(f'pyiqa weight file {name} not found. Put it at {osp.join(search_dirs()[0], name)} '
                              f'(or {osp.join(search_dirs()[1], name)}). It is published at {url}; nothing is '
                              'downloaded.')


@contextmanager
def _no_downloads() -> Iterator[None]:
    import torch.hub

    import_pyiqa()
    from pyiqa.utils import download_util

    saved = (download_util.download_url_to_file, torch.hub.download_url_to_file)
    download_util.download_url_to_file = _offline_download
    torch.hub.download_url_to_file = _offline_download
    try:
        yield
    finally:
        download_util.download_url_to_file, torch.hub.download_url_to_file = saved


def pyiqa_network(metric: str, device: Optional[str] = None, pretrained_model_path: Optional[str] = None) -> Any:
    """The cached ``pyiqa.create_metric(metric)`` for this device and weight file, built without downloading."""
    pyiqa = import_pyiqa()
    dev = resolve_device(device)
    kwargs = {'pretrained_model_path': pretrained_model_path} if pretrained_model_path else {}
    if pretrained_model_path and not osp.isfile(pretrained_model_path):
        raise MissingWeightsError(f'calculate_pyiqa ({metric}): pretrained_model_path not found: '
                                  f'{osp.abspath(pretrained_model_path)}')

    def build():
        known = pyiqa.list_models()
        if metric not in known:
            raise KeyError(f'calculate_pyiqa: unknown pyiqa metric {metric!r}; known: {", ".join(sorted(known))}')
        with _no_downloads():
            try:
                return pyiqa.create_metric(metric, as_loss=False, device=dev, **kwargs)
            except MissingWeightsError:
                raise
            except Exception as err:  # timm/HF/CLIP weights that pyiqa does not fetch itself
                raise RuntimeError(f'calculate_pyiqa: pyiqa metric {metric!r} could not be built offline: '
                                   f'{err}') from err

    return cached_network(('pyiqa', metric, str(dev), pretrained_model_path), build)


def calculate_pyiqa(img: np.ndarray, img2: Optional[np.ndarray] = None, metric: str = 'musiq', crop_border: int = 0,
                    input_order: str = 'HWC', device: Optional[str] = None, pretrained_model_path: Optional[str] = None,
                    better: Optional[str] = None, **kwargs: Any) -> float:
    """A pyiqa metric of SR ``img`` (and HR ``img2`` for pyiqa's full-reference metrics); uint8 BGR ``(H, W, 3)``."""
    if kwargs:
        raise KeyError(f'calculate_pyiqa: unknown option(s) {sorted(kwargs)}; known: metric, crop_border, '
                       'input_order, device, pretrained_model_path, better')
    model = pyiqa_network(metric, device, pretrained_model_path)
    dev = resolve_device(device)
    if getattr(model, 'metric_mode', 'NR') == 'FR':
        if img2 is None:
            raise ValueError(f'calculate_pyiqa: {metric} is full-reference and the dataset has no HR image')
        sr, hr = paired_images(img, img2, crop_border, input_order, f'calculate_pyiqa ({metric})')
        with torch.inference_mode():
            value = model(to_rgb_tensor(sr, dev), to_rgb_tensor(hr, dev))
    else:
        sr = crop(to_hwc(img, input_order, f'calculate_pyiqa ({metric}): SR image'), crop_border, 'calculate_pyiqa')
        with torch.inference_mode():
            value = model(to_rgb_tensor(sr, dev))
    return finite(f'calculate_pyiqa ({metric})', float(value.mean().item()) if hasattr(value, 'mean') else value)
