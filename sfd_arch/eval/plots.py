"""Plots of SFD results: the perception-distortion plane (paper, Fig. 1) and training curves.

Perception-distortion plane, one labelled point per model (model = results folder name, or ``--labels``)::

    python scripts/plot/plot_results.py pd results/ESRGAN/metrics.csv results/SFD/metrics.csv --metric lpips -o pd.png
    python scripts/plot/plot_results.py pd results/*/metrics.csv --metric niqe --average -o pd_mean.png

Training curves from a BasicSR tensorboard log (losses ``l_*``, TG-D ``p_pos_real``/``p_pos_fake``,
validation ``metrics/<dataset>/<metric>``)::

    python scripts/plot/plot_results.py curves tb_logger/train_SFD_x4 -o curves.png

Both functions return the matplotlib Figure and the numbers they plotted.
"""
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

import matplotlib

matplotlib.use('Agg')  # files only; no display is needed or expected

import matplotlib.pyplot as plt  # noqa: E402

from ..utils.directions import lower_is_better
from ..utils.results import dataset_means, read_metrics_csv

AVERAGE = 'average'


# -- perception-distortion plane ---------------------------------------------------------------------------
def _find_metric(means: dict, wanted: str, path: str) -> str:
    """The metric name as spelled in the CSV (match is case-insensitive); error lists what the file has."""
    names = list(dict.fromkeys(m for per_metric in means.values() for m in per_metric))
    for name in names:
        if name.lower() == wanted.lower():
            return name
    raise ValueError(f'{path}: no metric {wanted!r}; it has {", ".join(names) or "no metrics"}')


def pd_points(csv_paths: list[str], metric: str, x_metric: str = 'psnr', labels: Optional[list[str]] = None,
              datasets: Optional[list[str]] = None, average: bool = False) -> 'OrderedDict[str, OrderedDict]':
    """``{panel: {model: (x, y)}}``: per-dataset means of ``x_metric`` and ``metric`` for each model.

    A panel is a dataset, or the single panel ``average`` (the mean of the per-dataset means over the datasets
    every model has, so all points average the same datasets).
    """
    if labels and len(labels) != len(csv_paths):
        raise ValueError(f'{len(labels)} labels for {len(csv_paths)} metrics files')
    models = OrderedDict()
    for i, path in enumerate(csv_paths):
        label = labels[i] if labels else osp.basename(osp.dirname(osp.abspath(path)))
        means = dataset_means(read_metrics_csv(path))
        xm, ym = _find_metric(means, x_metric, path), _find_metric(means, metric, path)
        models[label] = OrderedDict((d, (m[xm], m[ym])) for d, m in means.items() if xm in m and ym in m)
    common = [d for d in next(iter(models.values()), {}) if all(d in per_ds for per_ds in models.values())]
    if datasets:
        absent = [d for d in datasets if d not in common]
        if absent:
            raise ValueError(f'dataset(s) {absent} are not in every metrics file; common: {common}')
        common = list(datasets)
    if not common:
        raise ValueError('the metrics files share no dataset with both metrics')
    panels = OrderedDict()
    if average:
        panels[AVERAGE] = OrderedDict(
            (label, (sum(per_ds[d][0] for d in common) / len(common), sum(per_ds[d][1] for d in common) / len(common)))
            for label, per_ds in models.items())
    else:
        for d in common:
            panels[d] = OrderedDict((label, per_ds[d]) for label, per_ds in models.items())
    return panels


def plot_pd(csv_paths: list[str], metric: str, x_metric: str = 'psnr', labels: Optional[list[str]] = None,
            datasets: Optional[list[str]] = None, average: bool = False, output: Optional[str] = None):
    """Draw the perception-distortion plane; returns ``(figure, points)`` with ``points`` as ``pd_points``."""
    panels = pd_points(csv_paths, metric, x_metric, labels, datasets, average)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False)
    y_note = ' (lower is better)' if lower_is_better(metric) else ''
    for ax, (panel, points) in zip(axes[0], panels.items()):
        for label, (x, y) in points.items():
            ax.scatter([x], [y], s=40, label=label, zorder=3)
            ax.annotate(label, (x, y), textcoords='offset points', xytext=(5, 5), fontsize=9)
        ax.set_title('mean over the common datasets' if panel == AVERAGE else panel)
        ax.set_xlabel(f'{x_metric.upper()} (higher is better)')
        ax.set_ylabel(metric.upper() + y_note)
        ax.grid(True, alpha=0.3)
        ax.margins(0.2)  # room for the labels next to the outermost points
    fig.suptitle('Perception-distortion plane')
    fig.tight_layout()
    if output:
        _save(fig, output)
    return fig, panels


# -- training curves ----------------------------------------------------------------------------------------
def _event_dirs(logdir: str) -> list[str]:
    if osp.isfile(logdir):
        return [logdir]
    if not osp.isdir(logdir):
        raise FileNotFoundError(f'tensorboard log not found: {logdir}')
    dirs = sorted({root for root, _, files in os.walk(logdir) if any('tfevents' in f for f in files)})
    if not dirs:
        raise FileNotFoundError(f'no tensorboard event files (*tfevents*) under {logdir}')
    if len(dirs) > 1:  # several experiments: mixing their curves would mislead, so ask for one
        raise ValueError(f'{logdir} holds several runs, pass one of: {", ".join(dirs)}')
    return dirs


def load_scalars(logdir: str) -> 'OrderedDict[str, tuple[list[int], list[float]]]':
    """Every scalar tag under ``logdir`` as ``(steps, values)``, sorted by step.

    All event files of the run's folder are read (a resumed run adds one); a step logged twice keeps the
    later value.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: dict[str, dict[int, float]] = {}
    for path in _event_dirs(logdir):
        acc = EventAccumulator(path, size_guidance={'scalars': 0})  # 0: keep every point, no subsampling
        acc.Reload()
        for tag in acc.Tags().get('scalars', []):
            per_step = series.setdefault(tag, {})
            for event in sorted(acc.Scalars(tag), key=lambda e: e.wall_time):
                per_step[event.step] = event.value
    return OrderedDict((tag, (sorted(s), [s[k] for k in sorted(s)])) for tag, s in sorted(series.items()))


def group_curves(tags: list[str]) -> 'OrderedDict[str, list[str]]':
    """Panels: one per loss ``l_*``, one for ``p_pos_*`` together, one per validation metric (all datasets)."""
    losses, p_pos, metrics = OrderedDict(), OrderedDict(), OrderedDict()
    for tag in tags:
        base = tag.split('/')[-1]
        if base.startswith('l_'):
            losses.setdefault(base, []).append(tag)
        elif base.startswith('p_pos'):
            p_pos.setdefault('p_pos (TG-D)', []).append(tag)
        elif tag.startswith('metrics/'):
            metrics.setdefault(f'val {base}', []).append(tag)
    return OrderedDict([*losses.items(), *p_pos.items(), *metrics.items()])  # read top-left to bottom-right


def plot_curves(logdir: str, output: Optional[str] = None, smooth: float = 0.0, ncols: int = 3):
    """Draw the training curves; returns ``(figure, {tag: (steps, values)})`` of what was plotted (raw values)."""
    scalars = load_scalars(logdir)
    panels = group_curves(list(scalars))
    if not panels:
        raise ValueError(f'{logdir}: no l_*, p_pos_* or metrics/* scalars; it has {list(scalars)[:10]}')
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.2 * nrows), squeeze=False)
    plotted = OrderedDict()
    for ax, (title, tags) in zip(axes.flat, panels.items()):
        for tag in tags:
            steps, values = scalars[tag]
            label = tag[len('metrics/'):].rsplit('/', 1)[0] if tag.startswith('metrics/') else tag.split('/')[-1]
            # validation points are few and far apart: smoothing them would only shift them
            smoothed = smooth > 0 and not tag.startswith('metrics/')
            line, = ax.plot(steps, values, label=label, alpha=0.35 if smoothed else 1.0,
                            marker='o' if tag.startswith('metrics/') else None, markersize=3)
            if smoothed:
                ax.plot(steps, _ema(values, smooth), color=line.get_color())
            plotted[tag] = (steps, values)
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.3)
        if len(tags) > 1 or tags[0].startswith('metrics/'):
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis('off')
    fig.tight_layout()
    if output:
        _save(fig, output)
    return fig, plotted


def _ema(values: list[float], weight: float) -> list[float]:
    out, last = [], values[0] if values else 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        out.append(last)
    return out


def _save(fig, output: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=150, bbox_inches='tight')
    print(f'Saved {output}')
