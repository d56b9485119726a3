"""One door from a metric block (``{type: calculate_lpips, ...}``) to what a table or report needs to know of it.

The facts are those of the metric's record (:mod:`.records`); this module reads a block (its ``type``, a pyiqa
block's ``metric``, a ``better`` key) and asks the record, or pyiqa's own ``DEFAULT_CONFIGS`` for a pyiqa metric.
"""
from __future__ import annotations

import importlib.util
import os.path as osp
from typing import Any, Optional

from basicsr.utils.registry import METRIC_REGISTRY

from . import records
from .weights import MissingWeightsError, WeightFile, find_weight, missing_message, search_dirs, weight_status


def known_metrics() -> list[str]:
    """Every metric type BasicSR can build now (its own, ours, and those of other plugins), sorted."""
    return sorted(name for name, _ in METRIC_REGISTRY)


def metric_type_of(metric_opt: dict[str, Any]) -> str:
    """The registered ``type`` of a metric block; a missing or unknown type is a ``KeyError`` listing the known."""
    if not isinstance(metric_opt, dict) or 'type' not in metric_opt:
        raise KeyError(f'a metric block needs a `type` key (one of {", ".join(known_metrics())}); got {metric_opt!r}')
    metric_type = metric_opt['type']
    if metric_type not in METRIC_REGISTRY:
        raise KeyError(f'unknown metric type {metric_type!r}; known: {", ".join(known_metrics())}')
    return metric_type


def is_dataset_metric(metric_opt: dict[str, Any]) -> bool:
    """True for metrics with one value per dataset (FID, KID), which have no per-image value."""
    record = records.of_type(metric_type_of(metric_opt))
    return bool(record and record.per_dataset)


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
    record = records.of_type(metric_type)
    return record.direction if record else 'higher'  # BasicSR's own default for a type without a record


def pyiqa_direction(metric: str) -> str:
    """``'lower'`` or ``'higher'`` for a pyiqa metric name: pyiqa's own ``lower_better`` where pyiqa is installed
    and knows the name, else the metric's record (so a report can be written without pyiqa)."""
    try:
        import pyiqa

        configs = getattr(pyiqa, 'DEFAULT_CONFIGS', None)
        if configs is None:
            from pyiqa.default_model_configs import DEFAULT_CONFIGS as configs
        if metric in configs:  # pyiqa keeps the direction beside metric_opts
            return 'lower' if configs[metric].get('lower_better', False) else 'higher'
    except ImportError:
        pass
    return records.direction(metric)


def is_no_reference(metric_opt: dict[str, Any]) -> bool:
    """True for a metric of the SR image alone (NIQE, PIQE, SFD-IQA, pyiqa's no-reference metrics): the only kind
    that applies to a dataset without ground truth. A pyiqa metric's mode comes from pyiqa where it is installed."""
    metric_type = metric_type_of(metric_opt)
    if metric_type != 'calculate_pyiqa':
        record = records.of_type(metric_type)
        return bool(record and record.no_reference)
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
    record = records.find(name)
    return bool(record and record.no_reference)


def _needs(metric_opt: dict[str, Any]) -> tuple[str, list[tuple[WeightFile, Optional[str]]]]:
    """The block's type and the weight files its record says it needs (with the block's path for each)."""
    metric_type = metric_type_of(metric_opt)
    record = records.of_type(metric_type)
    options = {k: v for k, v in metric_opt.items() if k != 'type'}
    return metric_type, (record.weights(options) if record and record.weights else [])


def weight_report(metric_opt: dict[str, Any]) -> list[dict[str, str]]:
    """For each weight file the metric block needs: ``name``, ``path`` (resolved, or where it is expected),
    ``status`` (``published`` / ``stand-in`` / ``missing``) and ``url``. Metrics without weights give ``[]``."""
    metric_type, needs = _needs(metric_opt)
    report = []
    for spec, override in needs:
        path = find_weight(spec, override)
        expected = osp.abspath(osp.expanduser(str(override))) if override else osp.join(search_dirs()[0], spec.name)
        report.append({'metric': metric_type, 'name': spec.name, 'path': path or expected,
                       'status': weight_status(spec, path), 'url': spec.url})
    return report


def check_metric_weights(metric_opts: dict[str, dict[str, Any]]) -> None:
    """Raise ``MissingWeightsError`` naming every missing file of ``{name: metric block}`` (e.g. ``val.metrics``).

    Unknown metric types raise ``KeyError`` listing the known ones. Reads nothing but file names: fast.
    """
    problems = []
    for name, metric_opt in (metric_opts or {}).items():
        if not isinstance(metric_opt, dict):
            raise ValueError(f'metrics.{name}: expected a mapping with a `type` key, got {metric_opt!r}')
        try:
            metric_type, needs = _needs(metric_opt)
        except KeyError as err:
            raise KeyError(f'metrics.{name}: {err.args[0]}') from None
        if metric_type == 'calculate_pyiqa' and importlib.util.find_spec('pyiqa') is None:
            raise ValueError(f'metrics.{name}: calculate_pyiqa needs the optional package pyiqa, which is not '
                             'installed: pip install .[pyiqa]')
        for spec, override in needs:
            if find_weight(spec, override) is None:
                problems.append(f'metrics.{name} ({metric_type}): ' + missing_message(spec, override))
    if problems:
        raise MissingWeightsError('\n'.join(problems))
