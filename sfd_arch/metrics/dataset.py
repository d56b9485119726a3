"""Dataset-level metrics (FID, KID) in BasicSR's validation loop and over plain lists of images.

BasicSR's ``nondist_validation`` sums one value per image and metric and divides by the image count. For FID
there is no per-image value, so while ``dataset_metrics(model)`` is active the per-image calls only gather
Inception features; when BasicSR then hands each mean to ``_update_best_metric_result`` (before it logs
anything), the hook puts the dataset value in ``model.metric_results`` and passes it on. So the log, the best-metric
tracking, TensorBoard and ``sfd_arch/test.py``'s files all see the dataset value.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np

from . import fid_metric
from .base import MetricInputError, paired_images
from .registry import is_dataset_metric, metric_type_of


@contextmanager
def dataset_metrics(model: Any) -> Iterator[None]:
    """Make one ``model.nondist_validation`` call (one dataset) report its dataset-level metrics.

    Re-entrant: an inner use on a model already collecting changes nothing, so both ``SFDModel`` and
    ``sfd_arch/test.py`` may wrap the same validation.
    """
    metric_opts = ((getattr(model, 'opt', None) or {}).get('val') or {}).get('metrics') or {}
    names = [n for n, o in metric_opts.items() if isinstance(o, dict) and is_dataset_metric(o)]
    if not names or getattr(model, '_collecting_dataset_metrics', False):
        yield
        return
    collector = fid_metric.FeatureCollector()
    had_own = '_update_best_metric_result' in vars(model)
    original = model._update_best_metric_result

    def update_best(dataset_name, metric, val, current_iter):
        if metric in names:
            opt = metric_opts[metric]
            options = {k: v for k, v in opt.items() if k != 'type'}
            val = collector.value(opt['type'], options, dataset_name)
            model.metric_results[metric] = val
        return original(dataset_name, metric, val, current_iter)

    model._update_best_metric_result = update_best
    model._collecting_dataset_metrics = True
    fid_metric._ACTIVE.append(collector)
    try:
        yield
    finally:
        fid_metric._ACTIVE.remove(collector)
        model._collecting_dataset_metrics = False
        if had_own:
            model._update_best_metric_result = original
        else:
            del model._update_best_metric_result


def compute_dataset_metric(metric_opt: dict[str, Any], sr_images: Sequence[np.ndarray],
                           hr_images: Sequence[np.ndarray], names: Optional[Sequence[str]] = None,
                           dataset: str = '') -> float:
    """The value of a dataset-level metric block (FID, KID) between paired lists of images.

    Args:
        metric_opt: e.g. ``{'type': 'calculate_fid', 'crop_size': 64}``.
        sr_images, hr_images: ``(H, W, 3)`` uint8 BGR arrays (BasicSR's ``tensor2img`` output), paired by index.
        names: image names, used in error messages.
        dataset: the dataset's name, used in the small-sample warning.
    """
    metric_type = metric_type_of(metric_opt)
    if not is_dataset_metric(metric_opt):
        raise ValueError(f'{metric_type} is a per-image metric; average basicsr.metrics.calculate_metric over images')
    if len(sr_images) != len(hr_images):
        raise ValueError(f'{metric_type}: {len(sr_images)} SR images but {len(hr_images)} HR images')
    options = {k: v for k, v in metric_opt.items() if k != 'type'}
    settings = fid_metric.feature_settings(metric_type, options)
    crop_border, input_order, crop_size, path, device, batch_size, dims = settings
    sr_feats, hr_feats = [], []
    for i, (sr, hr) in enumerate(zip(sr_images, hr_images)):
        try:
            sr, hr = paired_images(sr, hr, crop_border, input_order, metric_type)
        except MetricInputError as err:
            label = names[i] if names is not None and i < len(names) else f'image {i}'
            raise MetricInputError(f'{label}: {err}') from None
        sr_feats.append(fid_metric.inception_features([sr], crop_size, path, device, batch_size, dims))
        hr_feats.append(fid_metric.inception_features([hr], crop_size, path, device, batch_size, dims))
    if not sr_feats:
        raise ValueError(f'{metric_type}: no images given')
    return fid_metric.value_from_features(metric_type, options, np.concatenate(sr_feats), np.concatenate(hr_feats),
                                          dataset)
