"""SR metrics beyond BasicSR's: LPIPS, DISTS, FID/KID per dataset, PIQE, and pyiqa's, all offline.

Registered in BasicSR's METRIC registry when BasicSR is imported (:mod:`sfd_arch.registration`; so ``val.metrics``
of any option file can use them): ``calculate_lpips``, ``calculate_dists``, ``calculate_fid``, ``calculate_kid``,
``calculate_pyiqa``, ``calculate_piqe``, and pyiqa's PSNR/SSIM conventions without pyiqa (``calculate_psnr_pyiqa``,
``calculate_ssim_pyiqa``). Each is called like BasicSR's ``calculate_psnr(img, img2, crop_border, input_order='HWC',
**kwargs)`` with uint8 BGR images; FID and KID are dataset-level (``dataset.py``). Weight files: ``weights.py``.
One record per metric (its label, direction, weight files, function...): ``records.py``.
Evaluation protocols (named presets of metric settings, each naming the file it follows): ``protocols.py``.
"""
from ..utils.lazy import lazy_names

# imported from their modules when first used: the protocols and records (plain data) are read by command-line parsers
__getattr__, __dir__ = lazy_names(__name__, {
    'MetricInputError': '.base', 'clear_metric_cache': '.base', 'compute_dataset_metric': '.dataset',
    'dataset_metrics': '.dataset', 'calculate_dists': '.dists_metric', 'DatasetMetricError': '.fid_metric',
    'calculate_fid': '.fid_metric', 'calculate_kid': '.fid_metric', 'frechet_distance': '.fid_metric',
    'inception_features': '.fid_metric', 'calculate_lpips': '.lpips_metric', 'calculate_piqe': '.piqe_metric',
    'BENCH_PROTOCOLS': '.protocols', 'PROTOCOLS': '.protocols', 'BenchProtocol': '.protocols',
    'Protocol': '.protocols', 'get_bench_protocol': '.protocols', 'get_protocol': '.protocols',
    'calculate_psnr_pyiqa': '.pyiqa_conventions', 'calculate_ssim_pyiqa': '.pyiqa_conventions',
    'calculate_pyiqa': '.pyiqa_metric', 'METRICS': '.records', 'Metric': '.records',
    'check_metric_weights': '.registry', 'is_dataset_metric': '.registry', 'is_no_reference': '.registry',
    'known_metrics': '.registry', 'metric_direction': '.registry', 'metric_type_of': '.registry',
    'weight_report': '.registry', 'write_stand_in_weights': '.standins', 'MissingWeightsError': '.weights',
})

__all__ = [
    'BENCH_PROTOCOLS', 'BenchProtocol', 'DatasetMetricError', 'METRICS', 'Metric', 'MetricInputError',
    'MissingWeightsError',
    'PROTOCOLS', 'Protocol', 'calculate_dists', 'calculate_fid', 'calculate_kid', 'calculate_lpips',
    'calculate_piqe', 'calculate_psnr_pyiqa', 'calculate_pyiqa', 'calculate_ssim_pyiqa', 'check_metric_weights',
    'clear_metric_cache', 'compute_dataset_metric', 'dataset_metrics', 'frechet_distance', 'get_bench_protocol',
    'get_protocol', 'inception_features', 'is_dataset_metric', 'is_no_reference', 'known_metrics',
    'metric_direction', 'metric_type_of', 'weight_report', 'write_stand_in_weights',
]
