"""Distribution metrics over a whole test set: FID (Heusel et al., 2017) and KID (Binkowski et al., 2018).

Both compare the Inception pool features (``inception.py``, pytorch-fid's network and weights
``pt_inception-2015-12-05-6726825d.pth``) of all SR outputs with those of all HR images of a dataset; they have
no per-image value. Protocol choices, each a key of the metric block:

- ``crop_size``: absent/0 = one sample per whole image (resized to 299x299 as pytorch-fid does); N = the SR-paper
  patch protocol: every non-overlapping NxN crop (row-major, from the top-left; partial crops at the right and
  bottom edges are dropped), each a sample. SR test sets have 5-100 images, too few for a stable FID (a 2048-d
  covariance), so papers use crops; fewer than ``min_samples`` (default 50) samples gives a warning.
- ``crop_border``: removed before cropping, as for the per-image metrics.
- ``dims``: 2048 (default, the FID of the literature), or 64/192/768 (pytorch-fid's ``--dims``): the Frechet
  distance needs the matrix square root of a ``dims x dims`` product, which for 2048 costs from seconds to minutes
  of CPU once per dataset.
- KID: unbiased MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3``, averaged over ``subsets`` random
  subsets of ``subset_size`` samples (both default as in torch-fidelity/clean-fid: 100 x 1000); with fewer
  samples than ``subset_size`` one subset of all samples is used, so the value is exact and needs no seed.

In BasicSR's validation and ``sfd_arch/test.py`` the per-image calls only gather features (``dataset.py`` makes the
model report the dataset value); called directly, outside such a collection, the per-image function refuses.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np
import torch

from .base import cached_network, check_keys, finite, paired_images, resolve_device, to_rgb_tensor
from .inception import FIDInception
from .weights import FID_INCEPTION, require_weight

MIN_SAMPLES = 50
_FEATURE_KEYS = ('crop_border', 'input_order', 'crop_size', 'inception_path', 'device', 'batch_size', 'dims')
_FID_KEYS = _FEATURE_KEYS + ('min_samples',)
_KID_KEYS = _FID_KEYS + ('subset_size', 'subsets', 'seed')


class DatasetMetricError(RuntimeError):
    """A dataset-level metric was asked for a per-image value, or has too few samples."""


# -- features ---------------------------------------------------------------------------------------------------
def inception_network(inception_path: Optional[str] = None, device: Optional[str] = None) -> FIDInception:
    """The cached FID Inception for this weight file and device."""
    path = require_weight(FID_INCEPTION, inception_path, 'calculate_fid')
    dev = resolve_device(device)
    return cached_network(('fid_inception', path, str(dev)), lambda: FIDInception(path).to(dev))


def image_samples(img: np.ndarray, crop_size: Optional[int]) -> list[np.ndarray]:
    """The samples an ``(H, W, 3)`` image contributes: itself, or its non-overlapping ``crop_size`` crops."""
    if not crop_size:
        return [img]
    crop_size = int(crop_size)
    h, w = img.shape[:2]
    if crop_size > min(h, w):
        raise ValueError(f'crop_size {crop_size} is larger than a {w}x{h} image; lower crop_size')
    return [img[y:y + crop_size, x:x + crop_size]
            for y in range(0, h - crop_size + 1, crop_size) for x in range(0, w - crop_size + 1, crop_size)]


def inception_features(images: list[np.ndarray], crop_size: Optional[int] = None, inception_path: Optional[str] = None,
                       device: Optional[str] = None, batch_size: int = 16, dims: int = 2048) -> np.ndarray:
    """Pool features of every sample of ``images`` (``(H, W, 3)`` BGR uint8): ``(N_samples, dims)`` float64."""
    model = inception_network(inception_path, device)
    dev = next(model.parameters()).device
    samples = [s for img in images for s in image_samples(img, crop_size)]
    feats = []
    with torch.inference_mode():
        # whole images may differ in size, so they go one by one; crops share a size and are batched
        step = max(1, int(batch_size)) if crop_size else 1
        for i in range(0, len(samples), step):
            batch = torch.cat([to_rgb_tensor(s, dev) for s in samples[i:i + step]])
            feats.append(model(batch, dims).double().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, dims))


# -- distances --------------------------------------------------------------------------------------------------
def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))``, computed as pytorch-fid does (same fallbacks)."""
    from scipy import linalg  # here, not at import: scipy.linalg adds to every `import sfd_arch`

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f'feature statistics differ in size: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}')
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        # a nearly singular product (few samples): regularise both covariances, as pytorch-fid does
        logging.getLogger('basicsr').warning(f'FID: singular covariance product; adding {eps} to the diagonal')
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise FloatingPointError(f'FID: imaginary component {np.max(np.abs(covmean.imag))} in sqrt(S1 S2)')
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def feature_statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of ``(N, D)`` features (``np.cov``, N-1 normalisation)."""
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


def fid_from_features(sr_feats: np.ndarray, hr_feats: np.ndarray) -> float:
    for label, feats in (('SR', sr_feats), ('HR', hr_feats)):
        if len(feats) < 2:
            raise DatasetMetricError(f'FID needs at least 2 samples per side, got {len(feats)} {label} sample(s); '
                                     'use crop_size to take several crops per image')
    return finite('calculate_fid', frechet_distance(*feature_statistics(sr_feats), *feature_statistics(hr_feats)))


def kid_from_features(sr_feats: np.ndarray, hr_feats: np.ndarray, subset_size: int = 1000, subsets: int = 100,
                      seed: int = 0) -> float:
    """Unbiased MMD^2 with kernel ``(x.y / d + 1)^3``, mean over random subsets (one subset of all if few).

    Equal to torch-fidelity's ``kid_features_to_metric`` with ``rng_seed=seed`` (its defaults: degree 3,
    gamma 1/d, coef0 1), subset for subset; the tests check it.
    """
    n = min(len(sr_feats), len(hr_feats))
    if n < 2:
        raise DatasetMetricError(f'KID needs at least 2 samples per side, got {len(sr_feats)} SR and '
                                 f'{len(hr_feats)} HR')
    d = sr_feats.shape[1]
    m = min(int(subset_size), n)
    # torch-fidelity's generator and draw order (SR subset, then HR subset): the same seed, the same subsets
    rng = np.random.RandomState(seed)
    draws = 1 if (m == len(sr_feats) == len(hr_feats)) else int(subsets)
    values = []
    for _ in range(draws):
        x = sr_feats[rng.choice(len(sr_feats), m, replace=False)]
        y = hr_feats[rng.choice(len(hr_feats), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        # the unbiased estimate leaves out each sample's kernel with itself
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return finite('calculate_kid', float(np.mean(values)))


# -- gathering per dataset --------------------------------------------------------------------------------------
def feature_settings(metric_type: str, options: dict[str, Any]) -> tuple:
    """What the features of a metric block depend on; FID and KID blocks with equal settings share features."""
    check_keys(metric_type, options, _KID_KEYS if metric_type == 'calculate_kid' else _FID_KEYS)
    path = require_weight(FID_INCEPTION, options.get('inception_path'), metric_type)
    return (int(options.get('crop_border') or 0), options.get('input_order', 'HWC'),
            int(options.get('crop_size') or 0), path, str(resolve_device(options.get('device'))),
            int(options.get('batch_size') or 16), int(options.get('dims') or 2048))


class FeatureCollector:
    """Inception features of the SR and HR images of one dataset, per feature setting.

    Active while BasicSR validates one dataset (``dataset.py``); the per-image metric calls feed it. Images are
    reduced to features at once, so memory holds 2 x 2048 numbers per sample, not the images.
    """

    def __init__(self):
        self.features: dict[tuple, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self._last: dict[tuple, np.ndarray] = {}

    def add(self, settings: tuple, img: np.ndarray, img2: np.ndarray, metric: str) -> None:
        # BasicSR hands the same SR array to every metric of an image: an FID and a KID block with the same
        # settings must not count the image twice (the array is kept, so its identity cannot be reused)
        if self._last.get(settings) is img:
            return
        self._last[settings] = img
        crop_border, input_order, crop_size, path, device, batch_size, dims = settings
        sr, hr = paired_images(img, img2, crop_border, input_order, metric)
        sr_feats = inception_features([sr], crop_size, path, device, batch_size, dims)
        hr_feats = inception_features([hr], crop_size, path, device, batch_size, dims)
        sr_list, hr_list = self.features.setdefault(settings, ([], []))
        sr_list.append(sr_feats)
        hr_list.append(hr_feats)

    def value(self, metric_type: str, options: dict[str, Any], dataset: str = '') -> float:
        settings = feature_settings(metric_type, options)
        sr_list, hr_list = self.features.get(settings, ([], []))
        if not sr_list:
            raise DatasetMetricError(f'{metric_type}: no image of dataset {dataset or "?"} reached the metric')
        return value_from_features(metric_type, options, np.concatenate(sr_list), np.concatenate(hr_list), dataset)


_ACTIVE: list[FeatureCollector] = []


def active_collector() -> Optional[FeatureCollector]:
    return _ACTIVE[-1] if _ACTIVE else None


def value_from_features(metric_type: str, options: dict[str, Any], sr_feats: np.ndarray, hr_feats: np.ndarray,
                        dataset: str = '') -> float:
    min_samples = int(options.get('min_samples', MIN_SAMPLES))
    if len(sr_feats) < min_samples:
        logging.getLogger('basicsr').warning(
            f'{metric_type} of {dataset or "the dataset"} from {len(sr_feats)} samples (< {min_samples}): the value is '
            'unreliable and biased upwards; ' + ('a smaller crop_size gives more samples' if options.get('crop_size')
                                                 else 'set crop_size (e.g. 64) to score non-overlapping crops'))
    if metric_type == 'calculate_kid':
        return kid_from_features(sr_feats, hr_feats, int(options.get('subset_size', 1000)),
                                 int(options.get('subsets', 100)), int(options.get('seed', 0)))
    return fid_from_features(sr_feats, hr_feats)


def _per_image_call(metric_type: str, img: np.ndarray, img2: np.ndarray, options: dict[str, Any]) -> float:
    collector = active_collector()
    if collector is None:
        raise DatasetMetricError(
            f'{metric_type} is a dataset-level metric with no per-image value. Use it in val.metrics of an SFDModel '
            'or through sfd_arch/test.py (which report it once per dataset), or call '
            'sfd_arch.metrics.compute_dataset_metric(metric_opt, sr_images, hr_images).')
    if img2 is None:
        raise ValueError(f'{metric_type} compares SR with HR images: the dataset has no ground truth (img2)')
    collector.add(feature_settings(metric_type, options), img, img2, metric_type)
    # not a value: the dataset hook replaces the mean of these with the dataset value before anything reads it
    return float('nan')


def calculate_fid(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                  **kwargs: Any) -> float:
    """FID between the SR and HR images of a dataset (lower is better); see the module docstring for the keys.

    Per image, inside a dataset collection, it only gathers features and returns NaN, which the collection
    replaces by the dataset value; outside one it raises ``DatasetMetricError``.
    """
    return _per_image_call('calculate_fid', img, img2, {'crop_border': crop_border, 'input_order': input_order,
                                                        **kwargs})


def calculate_kid(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                  **kwargs: Any) -> float:
    """KID between the SR and HR images of a dataset (lower is better); a dataset-level metric like FID."""
    return _per_image_call('calculate_kid', img, img2, {'crop_border': crop_border, 'input_order': input_order,
                                                        **kwargs})


# the keys these two read through **kwargs, for the option-file check (sfd_arch.options)
calculate_fid.option_keys = _FID_KEYS
calculate_kid.option_keys = _KID_KEYS
