"""SR metrics beyond BasicSR's: LPIPS, DISTS, FID/KID per dataset, PIQE, and pyiqa's, all offline.

Registered in BasicSR's METRIC registry on import (so ``val.metrics`` of any option file can use them):
``calculate_lpips``, ``calculate_dists``, ``calculate_fid``, ``calculate_kid``, ``calculate_pyiqa``,
``calculate_piqe``, and pyiqa's PSNR/SSIM conventions without pyiqa (``calculate_psnr_pyiqa``,
``calculate_ssim_pyiqa``). Each is called like BasicSR's ``calculate_psnr(img, img2, crop_border, input_order='HWC',
**kwargs)`` with uint8 BGR images; FID and KID are dataset-level (``dataset.py``). Weight files: ``weights.py``.
One record per metric (its label, direction, weight files, function...): ``records.py``.
Evaluation protocols (named presets of metric settings, each naming the file it follows): ``protocols.py``.
"""
from .base import MetricInputError, clear_metric_cache
from .dataset import compute_dataset_metric, dataset_metrics
from .dists_metric import calculate_dists
from .fid_metric import DatasetMetricError, calculate_fid, calculate_kid, frechet_distance, inception_features
from .lpips_metric import calculate_lpips
from .piqe_metric import calculate_piqe
from .protocols import BENCH_PROTOCOLS, PROTOCOLS, BenchProtocol, Protocol, get_bench_protocol, get_protocol
from .pyiqa_conventions import calculate_psnr_pyiqa, calculate_ssim_pyiqa
from .pyiqa_metric import calculate_pyiqa
from .records import METRICS, Metric
from .registry import (
    check_metric_weights,
    is_dataset_metric,
    is_no_reference,
    known_metrics,
    metric_direction,
    metric_type_of,
    weight_report,
)
from .standins import write_stand_in_weights
from .weights import MissingWeightsError

__all__ = [
    'BENCH_PROTOCOLS', 'BenchProtocol', 'DatasetMetricError', 'METRICS', 'Metric', 'MetricInputError',
    'MissingWeightsError',
    'PROTOCOLS', 'Protocol', 'calculate_dists', 'calculate_fid', 'calculate_kid', 'calculate_lpips',
    'calculate_piqe', 'calculate_psnr_pyiqa', 'calculate_pyiqa', 'calculate_ssim_pyiqa', 'check_metric_weights',
    'clear_metric_cache', 'compute_dataset_metric', 'dataset_metrics', 'frechet_distance', 'get_bench_protocol',
    'get_protocol', 'inception_features', 'is_dataset_metric', 'is_no_reference', 'known_metrics',
    'metric_direction', 'metric_type_of', 'weight_report', 'write_stand_in_weights',
]
