"""One door from a metric block (``{type: calculate_lpips, ...}``) to what a table or report needs to know of it."""
from __future__ import annotations

from typing import Any

from basicsr.utils.registry import METRIC_REGISTRY

from ..utils.directions import direction

DATASET_METRICS = ('calculate_fid', 'calculate_kid')
# metrics that score the SR image alone, so they apply to real-world images without ground truth
NO_REFERENCE_METRICS = ('calculate_niqe', 'calculate_piqe', 'calculate_sfd_iqa')
# pyiqa's no-reference metrics by name, for when pyiqa itself is not there to say (its ``metric_mode``)
PYIQA_NO_REFERENCE = frozenset({
    'niqe', 'ilniqe', 'brisque', 'piqe', 'nrqm', 'pi', 'musiq', 'musiq-ava', 'musiq-koniq', 'musiq-paq2piq',
    'musiq-spaq', 'maniqa', 'maniqa-kadid', 'maniqa-koniq', 'maniqa-pipal', 'clipiqa', 'clipiqa+', 'clipiqa+_rn50_512',
    'clipiqa+_vitL14_512', 'topiq_nr', 'topiq_nr-flive', 'topiq_nr-spaq', 'topiq_iaa', 'hyperiqa', 'dbcnn',
    'paq2piq', 'nima', 'nima-vgg16-ava', 'cnniqa', 'liqe', 'liqe_mix', 'arniqa', 'qalign', 'qualiclip', 'unique',
    'tres', 'wadiqam_nr', 'laion_aes', 'uranker', 'entropy', 'brisque_matlab', 'niqe_matlab', 'musiq_lower',
    'nrqm_lower', 'ma_lower',
})


def known_metrics() -> list[str]:
    """Every metric type BasicSR can build now (its own, ours, and those of other plugins), sorted."""
    return sorted(name for name, _ in METRIC_REGISTRY)


def metric_type_of(metric_opt: dict[str, Any]) -> str:
    """The registered ``type`` of a metric block; a missing or unknown type is a ``KeyError`` listing the known."""
    if not isinstance(metric_opt, dict) or 'type' not in metric_opt:
        raise KeyError(f'a metric block needs a `type` key (one of {", ".join(known_metrics())}); got {metric_opt!r}')
    metric_type = metric_opt['type']
    if metric_type not in METRIC_REGISTRY._obj_map:
        raise KeyError(f'unknown metric type {metric_type!r}; known: {", ".join(known_metrics())}')
    return metric_type


def is_dataset_metric(metric_opt: dict[str, Any]) -> bool:
    """True for metrics with one value per dataset (FID, KID), which have no per-image value."""
    return metric_type_of(metric_opt) in DATASET_METRICS


def metric_direction(metric_opt: dict[str, Any]) -> str:
    """``'higher'`` or ``'lower'`` (is better): the block's ``better`` key, else what the metric is known for."""
    metric_type = metric_type_of(metric_opt)
    better = metric_opt.get('better')
    if better is not None:
        if better not in ('higher', 'lower'):
            raise ValueError(f"{metric_type}: better must be 'higher' or 'lower', got {better!r}")
        return better
    if metric_type == 'calculate_pyiqa':
        return pyiqa_direction(metric_opt.get('metric', 'musiq'))
    return direction(metric_type)  # the known table; 'higher' (BasicSR's own default) for the rest


def pyiqa_direction(metric: str) -> str:
    """``'lower'`` or ``'higher'`` for a pyiqa metric name: pyiqa's own ``lower_better`` where pyiqa is installed
    and knows the name, else the package's table (so a report can be written without pyiqa)."""
    try:
        import pyiqa

        configs = getattr(pyiqa, 'DEFAULT_CONFIGS', None)
        if configs is None:
            from pyiqa.default_model_configs import DEFAULT_CONFIGS as configs
        if metric in configs:  # pyiqa keeps the direction beside metric_opts
            return 'lower' if configs[metric].get('lower_better', False) else 'higher'
    except ImportError:
        pass
    return direction(metric)


def is_no_reference(metric_opt: dict[str, Any]) -> bool:
    """True for a metric of the SR image alone (NIQE, PIQE, SFD-IQA, pyiqa's no-reference metrics): the only kind
    that applies to a dataset without ground truth. A pyiqa metric's mode comes from pyiqa where it is installed."""
    metric_type = metric_type_of(metric_opt)
    if metric_type in NO_REFERENCE_METRICS:
        return True
    if metric_type != 'calculate_pyiqa':
        return False
    name = str(metric_opt.get('metric', 'musiq'))
    try:
        import pyiqa

        configs = getattr(pyiqa, 'DEFAULT_CONFIGS', None)
        if configs is None:
            from pyiqa.default_model_configs import DEFAULT_CONFIGS as configs
        if name in configs:
            return configs[name].get('metric_mode') == 'NR'
    except ImportError:
        pass
    return name.lower() in PYIQA_NO_REFERENCE
