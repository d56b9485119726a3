"""A comparison's settings and its result, as values: what ``compare`` takes and what it returns.

``CompareSettings`` holds every option of ``scripts/compare.py`` (frozen: one comparison, one set of options);
``command_line`` turns it back into the command that repeats it. ``CompareResult`` is everything a comparison
found (the rows, the means, the notes, the PD and visual choices, the weights, the protocol) and where its files
are. Every text output is a pure function of the result: ``result.table`` (``table.md``), ``report_text``
(``report.md``), ``results_record`` (``results.json``) and ``page_data`` (what ``report.html`` is made of), so a
caller prints from the result and never reads back a file the comparison just wrote.
"""
from __future__ import annotations

import os.path as osp
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..utils.results import ResultRow
from .report import report_markdown
from .sources import BICUBIC

Pairs = tuple[tuple[str, str], ...]
# (dataset, image, (x, y, size) or None): a visual figure, the square chosen by --crop or found by choose_crop
VisualChoice = tuple[str, str, Optional[tuple[int, int, int]]]


def _pairs(value: Union[Mapping[str, str], Iterable[tuple[str, str]], None]) -> Pairs:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple((str(k), str(v)) for k, v in items)


def _names(value: Optional[Iterable[str]]) -> Optional[tuple[str, ...]]:
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class CompareSettings:
    """Every option of one comparison (``scripts/compare.py --help`` says what each does).

    ``models``: ``(label, spec)`` pairs in the order of the table (spec: ``bicubic``, a checkpoint, an experiment
    folder, an SR folder, or '' for the option file's network_g); ``network_g``: ``(label, block)`` pairs. Mappings
    and lists are accepted and stored as tuples, so settings are immutable and hashable. The options are checked
    when ``compare`` starts, against the option file they name."""

    opt_path: str
    models: Pairs
    out_dir: str
    device: str = 'auto'
    metrics: Optional[tuple[str, ...]] = None
    default_metrics: bool = True
    datasets: Optional[tuple[str, ...]] = None
    pd_metric: str = 'lpips'
    x_metric: str = 'psnr'
    visual_per_dataset: int = 1
    crops: tuple[str, ...] = ()
    bicubic: str = 'matlab'
    tile: int = 0
    half: bool = False
    progress: bool = True
    command: Optional[str] = None  # the command written into the reports (default: command_line(self))
    network_g: Pairs = ()
    protocol: Optional[str] = None

    def __post_init__(self) -> None:
        for name, value in (('models', _pairs(self.models)), ('network_g', _pairs(self.network_g)),
                            ('metrics', _names(self.metrics)), ('datasets', _names(self.datasets)),
                            ('crops', tuple(self.crops))):
            object.__setattr__(self, name, value)  # frozen: normalised once, here

    @property
    def model_specs(self) -> dict[str, str]:
        return dict(self.models)

    @property
    def network_blocks(self) -> dict[str, str]:
        return dict(self.network_g)


def command_line(settings: CompareSettings) -> str:
    """The ``scripts/compare.py`` command that repeats a comparison (written into ``report.md``)."""
    s = settings
    argv = ['-opt', s.opt_path] + (['--protocol', s.protocol] if s.protocol else [])
    for label, spec in s.models:
        argv += ['--model', BICUBIC if (label, spec.lower()) == (BICUBIC, BICUBIC) else
                 f'{label}={spec}' if spec else label]
    for label, spec in s.network_g:
        argv += ['--network_g', f'{label}={spec}']
    argv += ['-o', s.out_dir]
    for flag, value, default in (('--device', s.device, 'auto'), ('--pd', s.pd_metric, 'lpips'),
                                 ('--pd-x', s.x_metric, 'psnr'), ('--visual', s.visual_per_dataset, 1),
                                 ('--bicubic', s.bicubic, 'matlab'), ('--tile', s.tile, 0)):
        argv += [flag, str(value)] if value != default else []
    argv += (['--metrics', *s.metrics] if s.metrics else []) + (['--datasets', *s.datasets] if s.datasets else [])
    argv += [a for c in s.crops for a in ('--crop', c)] + (['--half'] if s.half else [])
    argv += [] if s.default_metrics else ['--no-default-metrics']
    return 'python scripts/compare.py ' + shlex.join(argv)


@dataclass
class CompareResult:
    """What one comparison found, and where its files are.

    ``rows``: this run's ``metrics.csv`` rows (its models, datasets and metrics); ``means``:
    ``{dataset: {model: {metric: value}}}``; ``models``, ``datasets``, ``metrics``: the display orders;
    ``labels``: metric -> column head (with its stand-in mark); ``directions``: metric -> ``higher`` | ``lower``;
    ``not_applicable``: ``(dataset, metric)`` pairs read n/a (full-reference metrics without ground truth);
    ``lq_only``: the datasets without ground truth; ``no_reference``: the metrics that score an image alone;
    ``blocks``: each metric's BasicSR block; ``notes``: the report's notes; ``pd_metric``: the PD plot's y metric
    (``None``: no plot) and ``pd_note`` its caption or why there is none; ``x_metric``: its x metric;
    ``visual_choices`` / ``caption_metrics``: the visual figures and the metrics under their crops; ``images``:
    each image's HR (or enlarged LQ) and SR paths, for report.html's viewers; ``weights``: the weight report
    (``{'metric', 'name', 'path', 'status'}``); ``skipped_metrics``: metric -> why it was skipped; ``protocol``:
    ``MetricPlan.protocol_record()``; ``computed``: ``{'sr': SR images made, 'values': metric values computed}`` by
    this call (both 0 on a finished re-run); ``table``: the markdown table (``table.md``); ``command``: the command
    that repeats the comparison. The paths (``metrics_csv``, ``table_md``, ``pd_png``, ``scores_png``,
    ``visual``, ``report_md``, ``report_html``, ``results_json``) are where ``compare`` writes each file;
    ``pd_png`` and ``scores_png`` are ``None`` when there is no such figure.
    """

    out_dir: str
    rows: list[ResultRow]
    means: dict[str, dict[str, dict[str, float]]]
    models: list[str]
    datasets: list[str]
    metrics: list[str]
    labels: dict[str, str]
    directions: dict[str, str]
    not_applicable: list[tuple[str, str]]
    lq_only: list[str]
    no_reference: list[str]
    blocks: dict[str, dict]
    notes: list[str]
    pd_metric: Optional[str]
    pd_note: str
    x_metric: str
    visual_choices: list[VisualChoice]
    caption_metrics: list[str]
    images: list[dict[str, Any]]
    weights: list[dict[str, Any]]
    skipped_metrics: dict[str, str]
    protocol: dict[str, Any]
    table: str
    command: str
    metrics_csv: str
    table_md: str
    pd_png: Optional[str]
    scores_png: Optional[str]
    visual: list[str]
    report_md: str
    report_html: str
    results_json: str
    computed: dict[str, int] = field(default_factory=lambda: {'sr': 0, 'values': 0})


def report_text(result: CompareResult) -> str:
    """``report.md`` of a comparison (figures linked relative to its folder)."""
    return report_markdown(result.command, result.table, 'pd.png' if result.pd_png else None,
                           [osp.relpath(p, result.out_dir) for p in result.visual], result.weights,
                           result.skipped_metrics, result.notes, dict(result.blocks), pd_caption=result.pd_note,
                           scores_png='scores.png' if result.scores_png else None, protocol=result.protocol)


def results_record(result: CompareResult) -> dict[str, Any]:
    """``results.json``: the command, the protocol, the metric blocks, their directions, the skipped metrics, the
    means and the weights."""
    return {'command': result.command, 'protocol': result.protocol, 'metrics': dict(result.blocks),
            'directions': result.directions, 'skipped': result.skipped_metrics, 'means': result.means,
            'weights': result.weights}


def page_data(result: CompareResult) -> dict[str, Any]:
    """What ``html_report.write_compare_html`` makes ``report.html`` from."""
    return {'rows': result.rows, 'models': result.models, 'datasets': result.datasets, 'metrics': result.metrics,
            'labels': result.labels, 'directions': result.directions, 'images': result.images,
            'command': result.command, 'weights': result.weights, 'skipped': result.skipped_metrics,
            'notes': result.notes, 'pd_png': result.pd_png, 'pd_caption': result.pd_note,
            'scores_png': result.scores_png, 'not_applicable': result.not_applicable, 'protocol': result.protocol}


__all__ = ['CompareResult', 'CompareSettings', 'Pairs', 'VisualChoice', 'command_line', 'page_data',
           'report_text', 'results_record']
