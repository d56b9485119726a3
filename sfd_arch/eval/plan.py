"""The metrics of a model comparison: the option file's ``val.metrics`` plus LPIPS, DISTS and FID where present.

Every metric block goes through the metric library (``sfd_arch.metrics``), the one door for BasicSR's metrics and
this project's; a default metric whose weights are missing is skipped with its reason, which the report shows.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

import sfd_arch.metrics as metrics_lib

LABELS = {'psnr': 'PSNR', 'ssim': 'SSIM', 'lpips': 'LPIPS', 'dists': 'DISTS', 'fid': 'FID', 'niqe': 'NIQE',
          'musiq': 'MUSIQ', 'sfd_iqa': 'SFD-IQA'}
# the metrics added when their weights are present, unless the option file has a metric of the same type
DEFAULT_METRICS = OrderedDict([
    ('lpips', {'type': 'calculate_lpips', 'net': 'alex'}),
    ('dists', {'type': 'calculate_dists'}),
    ('fid', {'type': 'calculate_fid'}),
])


class CompareError(ValueError):
    """A problem with the input: the message names the file, model, dataset, image or metric."""


# -- the metric library (sfd_arch.metrics): one door for every metric block ------------------------------------
def known_metric_types() -> list[str]:
    """Every registered metric type, listed in the error on a typo in ``val.metrics``."""
    return metrics_lib.known_metrics()


def is_dataset_metric(metric_opt: dict) -> bool:
    """FID-like metrics take a whole dataset at once: they get one row per model and dataset (image ``*``)."""
    return metrics_lib.is_dataset_metric(metric_opt)


def compute_dataset_metric(metric_opt: dict, sr_images: list[np.ndarray], hr_images: list[np.ndarray],
                           names: Sequence[str], dataset: str) -> float:
    """A dataset-level metric (FID, KID) between paired lists of ``(H, W, 3)`` uint8 BGR images."""
    # looked up on the module at call time, so a test can stand in for the 2048-d Frechet distance
    return float(metrics_lib.compute_dataset_metric(metric_opt, sr_images, hr_images, names=names, dataset=dataset))


def compute_image_metric(metric_opt: dict, sr: np.ndarray, hr: np.ndarray) -> float:
    """One BasicSR metric of one ``(H, W, 3)`` uint8 BGR pair, through ``basicsr.metrics.calculate_metric``."""
    from basicsr.metrics import calculate_metric

    value = calculate_metric({'img': sr, 'img2': hr}, metric_opt)
    return float(value.item()) if hasattr(value, 'item') else float(value)


# BasicSR's NIQE (basicsr/metrics/niqe.py) cuts the image into 96 px blocks and fits a Gaussian to their
# features: one block gives a singular covariance ("SVD did not converge"), so it needs at least two
NIQE_BLOCK, NIQE_MIN_BLOCKS = 96, 2


def cannot_measure(metric_opt: dict, width: int, height: int) -> Optional[str]:
    """Why a per-image metric cannot measure an SR image of this size (None when it can): known before the run
    from the image headers."""
    if metric_opt.get('type') != 'calculate_niqe':
        return None
    border = int(metric_opt.get('crop_border', 0) or 0)
    w, h = width - 2 * border, height - 2 * border
    blocks = max(0, w // NIQE_BLOCK) * max(0, h // NIQE_BLOCK)
    if blocks >= NIQE_MIN_BLOCKS:
        return None
    return (f'{width}x{height} leaves {max(w, 0)}x{max(h, 0)} after crop_border {border}: '
            f'{blocks} {NIQE_BLOCK} px block{"" if blocks == 1 else "s"}, NIQE needs {NIQE_MIN_BLOCKS}')


# -- metrics of a run ---------------------------------------------------------------------------------------------
@dataclass
class MetricPlan:
    """The metrics of a run: ``blocks`` (name -> BasicSR metric block), their directions, what was skipped."""

    blocks: 'OrderedDict[str, dict]'
    directions: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)

    def per_image(self) -> list[str]:
        """Names of the metrics computed on each SR image."""
        return [n for n, b in self.blocks.items() if not is_dataset_metric(b)]

    def per_dataset(self) -> list[str]:
        """Names of the metrics computed once over a whole dataset."""
        return [n for n, b in self.blocks.items() if is_dataset_metric(b)]


def plan_metrics(opt: dict, opt_path: str, wanted: Optional[Sequence[str]] = None,
                 default_metrics: bool = True) -> MetricPlan:
    """The option file's ``val.metrics`` plus LPIPS, DISTS and FID where their weights are present.

    A metric of the option file whose type is not registered, or whose weights are missing, is an error; a
    default metric without weights is skipped with the reason. ``wanted`` keeps only the named metrics.
    """
    scale = int(opt.get('scale', 4))
    blocks: OrderedDict[str, dict] = OrderedDict(
        (name, dict(block)) for name, block in ((opt.get('val') or {}).get('metrics') or {}).items())
    known = known_metric_types()
    for name, block in blocks.items():
        if not isinstance(block, dict) or 'type' not in block:
            raise CompareError(f'{opt_path}: val.metrics.{name} needs a type')
        if block['type'] not in known:
            raise CompareError(f'{opt_path}: val.metrics.{name}: unknown metric type {block["type"]!r}; '
                               f'known: {", ".join(known)}')
    try:
        metrics_lib.check_metric_weights(blocks)
    except FileNotFoundError as err:
        raise CompareError(f'{opt_path}: val.metrics: {err}') from err
    skipped: dict[str, str] = {}
    for name, block in list(blocks.items()):
        if block['type'] == 'calculate_sfd_iqa' and str(block.get('weights', '')).lower() == 'model':
            # `weights: model` means a training run's live Feat-D and LPP, which do not exist here
            skipped[name] = ('weights: model scores with a training run\'s own discriminators; give the file of '
                             '`sfd-iqa export` as weights to score here')
            del blocks[name]
    if default_metrics:
        types = {b['type'] for b in blocks.values()}
        for name, block in DEFAULT_METRICS.items():
            block = dict(block)
            if not is_dataset_metric(block):
                # the border a BasicSR test crops for PSNR, so all full-reference numbers see the same pixels
                block['crop_border'] = scale
            if block['type'] in types or name in blocks:
                continue
            try:
                metrics_lib.check_metric_weights({name: block})
            except FileNotFoundError as err:
                skipped[name] = f'weights missing: {err}'
                continue
            blocks[name] = block
    if wanted:
        for w in wanted:
            if w in skipped:
                raise CompareError(f'--metrics {w}: not available: {skipped[w]}')
        absent = [w for w in wanted if w not in blocks]
        if absent:
            raise CompareError(f'--metrics: unknown metric(s) {", ".join(absent)}; this run has '
                               f'{", ".join(blocks) or "none"}')
        blocks = OrderedDict((n, blocks[n]) for n in wanted)
    directions = {name: metrics_lib.metric_direction(block) for name, block in blocks.items()}
    return MetricPlan(blocks, directions, skipped)
