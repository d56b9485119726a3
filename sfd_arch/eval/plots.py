"""Plots of SFD results: the perception-distortion plane (paper, Fig. 1) and training curves.

Perception-distortion plane, one labelled point per model (model = results folder name, or ``--labels``)::

    python scripts/plot/plot_results.py pd results/ESRGAN/metrics.csv results/SFD/metrics.csv --metric lpips -o pd.png
    python scripts/plot/plot_results.py pd results/*/metrics.csv --metric niqe --average -o pd_mean.png

Training curves from a BasicSR tensorboard log (the discriminators' accuracies ``acc_*``, TG-D's
``p_pos_real``/``p_pos_fake``, the losses ``l_*``, any other scalar the run logs, validation
``metrics/<dataset>/<metric>``)::

    python scripts/plot/plot_results.py curves tb_logger/train_SFD_x4 -o curves.png

Both functions return the matplotlib Figure and the numbers they plotted.
"""
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional

import matplotlib

matplotlib.use('Agg')  # files only; no display is needed or expected

import matplotlib.pyplot as plt  # noqa: E402

from ..metrics.records import label as metric_label
from ..metrics.records import lower_is_better
from ..utils.results import dataset_means, marked, metric_notes, read_metrics_csv
from .report import MEAN_PANEL, pd_panels
from .report import plot_pd as draw_pd

AVERAGE = MEAN_PANEL  # the single panel of ``--average`` (the name it had before the two PD plots were one)


# -- perception-distortion plane ---------------------------------------------------------------------------
def _find_metric(means: dict, wanted: str, path: str) -> str:
    """The metric name as spelled in the CSV (match is case-insensitive); error lists what the file has."""
    names = list(dict.fromkeys(m for per_metric in means.values() for m in per_metric))
    for name in names:
        if name.lower() == wanted.lower():
            return name
    raise ValueError(f'{path}: no metric {wanted!r}; it has {", ".join(names) or "no metrics"}')


def _model_means(csv_paths: list[str], metric: str, x_metric: str, labels: Optional[list[str]]):
    """``({dataset: {model: {x_metric, metric: mean}}}, models, notes)`` from the files, metric names as asked."""
    if labels and len(labels) != len(csv_paths):
        raise ValueError(f'{len(labels)} labels for {len(csv_paths)} metrics files')
    means: dict = {}
    models, notes = [], {}
    for i, path in enumerate(csv_paths):
        label = labels[i] if labels else osp.basename(osp.dirname(osp.abspath(path)))
        records = read_metrics_csv(path)
        per_dataset = dataset_means(records)
        xm, ym = _find_metric(per_dataset, x_metric, path), _find_metric(per_dataset, metric, path)
        for wanted, found in ((x_metric, xm), (metric, ym)):
            note = metric_notes(records).get(found)
            if note:
                notes[wanted] = note
        for d, m in per_dataset.items():
            if xm in m and ym in m:
                means.setdefault(d, {})[label] = {x_metric: m[xm], metric: m[ym]}
        models.append(label)
    return means, models, notes


def pd_points(csv_paths: list[str], metric: str, x_metric: str = 'psnr', labels: Optional[list[str]] = None,
              datasets: Optional[list[str]] = None, average: bool = False) -> dict[str, dict]:
    """``{panel: {model: (x, y)}}``: per-dataset means of ``x_metric`` and ``metric`` for each model.

    A panel is a dataset every model has, then ``Mean`` (the mean of the per-dataset means over those datasets,
    so all points average the same datasets); with ``average`` only ``Mean``.
    """
    means, models, _ = _model_means(csv_paths, metric, x_metric, labels)
    return _panels(means, models, metric, x_metric, datasets, average)[0]


def _panels(means: dict, models: list[str], metric: str, x_metric: str, datasets: Optional[list[str]],
            average: bool) -> tuple[dict[str, dict], list[str]]:
    common = [d for d in means if all(m in means[d] for m in models)]
    if datasets:
        absent = [d for d in datasets if d not in common]
        if absent:
            raise ValueError(f'dataset(s) {absent} are not in every metrics file; common: {common}')
        common = list(datasets)
    if not common:
        raise ValueError('the metrics files share no dataset with both metrics')
    panels = pd_panels(means, models, common, x_metric, metric)
    if average and len(common) > 1:
        panels = {MEAN_PANEL: panels[MEAN_PANEL]}
    elif average:  # one dataset: its mean is itself
        panels = {MEAN_PANEL: next(iter(panels.values()))}
    return panels, common


def plot_pd(csv_paths: list[str], metric: str, x_metric: str = 'psnr', labels: Optional[list[str]] = None,
            datasets: Optional[list[str]] = None, average: bool = False, output: Optional[str] = None):
    """Draw the perception-distortion plane from ``metrics.csv`` files of ``sfd-test``, with the comparison's
    paper-column drawing (``sfd_arch.eval.report.plot_pd``); returns ``(figure, points)`` as ``pd_points``.

    An axis whose metric ran on stand-in weights (the files' ``note`` column) says so in its label.
    """
    means, models, notes = _model_means(csv_paths, metric, x_metric, labels)
    _, shown = _panels(means, models, metric, x_metric, datasets, average)
    directions = {m: 'lower' if lower_is_better(m) else 'higher' for m in (x_metric, metric)}
    axis_labels = {m: marked(metric_label(m, m.upper()) + (' (dB)' if m.lower() == 'psnr' else ''),
                             notes.get(m)) for m in (x_metric, metric)}
    fig, drawn = draw_pd(means, models, shown, output, x_metric, metric, directions, axis_labels,
                         mean_only=average)
    if output:
        print(f'Saved {output}')
    return fig, drawn


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


ACCURACY_PANEL = 'discriminator accuracy'
P_POS_PANEL = 'p_pos (TG-D)'
NOT_DRAWN = ('lr',)  # the learning rate follows the schedule: nothing about the game's health


def group_curves(tags: list[str]) -> 'OrderedDict[str, list[str]]':
    """Panels, the health of the game first: the discriminators' accuracies (``acc_*``: Feat-D's real and fake,
    TG-D's) together, TG-D's ``p_pos_*`` together, then each loss and any other scalar with its ``_real`` /
    ``_fake`` pair in one panel (``l_d_featd_real`` + ``l_d_featd_fake``), then one panel per validation metric
    (all datasets). Every scalar the log holds is drawn but the learning rate."""
    accuracy, p_pos, others, metrics = OrderedDict(), OrderedDict(), OrderedDict(), OrderedDict()
    for tag in tags:
        base = tag.split('/')[-1]
        if tag.startswith('metrics/'):
            metrics.setdefault(f'val {base}', []).append(tag)
        elif base in NOT_DRAWN:
            continue
        elif base.startswith('acc_'):
            accuracy.setdefault(ACCURACY_PANEL, []).append(tag)
        elif base.startswith('p_pos'):
            p_pos.setdefault(P_POS_PANEL, []).append(tag)
        else:
            others.setdefault(re.sub(r'_(real|fake)$', '', base), []).append(tag)
    others = OrderedDict((f'{key} (real, fake)' if len(group) > 1 else group[0].split('/')[-1], group)
                         for key, group in sorted(others.items(), key=lambda kv: (not kv[0].startswith('l_'), kv[0])))
    return OrderedDict([*accuracy.items(), *p_pos.items(), *others.items(), *metrics.items()])


def _curve_label(tag: str) -> str:
    """``metrics/Set5/psnr`` -> ``Set5``; ``losses/l_g_pix`` -> ``l_g_pix``."""
    return tag[len('metrics/'):].rsplit('/', 1)[0] if tag.startswith('metrics/') else tag.split('/')[-1]


def plot_curves(logdir: str, output: Optional[str] = None, smooth: float = 0.0, ncols: int = 3):
    """Draw the training curves; returns ``(figure, {tag: (steps, values)})`` of what was plotted (raw values).

    ``smooth`` (0 to 1, as TensorBoard's slider) adds a debiased EMA (``debiased_ema``) over each training curve;
    the legend names the raw and the smoothed line. Validation points are drawn raw. Every panel spans the run
    from iteration 0 to its last logged one, so a validation run at the end is a point at the end, with its value
    written beside it, not a lone point on an axis of its own.
    """
    scalars = load_scalars(logdir)
    panels = group_curves(list(scalars))
    if not panels:
        raise ValueError(f'{logdir}: no scalars to draw; it has {list(scalars)[:10]}')
    last_step = max(max(scalars[t][0]) for tags in panels.values() for t in tags)
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.2 * nrows), squeeze=False)
    plotted = OrderedDict()
    for ax, (title, tags) in zip(axes.flat, panels.items()):
        for tag in tags:
            steps, values = scalars[tag]
            label = _curve_label(tag)
            validation = tag.startswith('metrics/')
            smoothed = smooth > 0 and not validation  # validation points are few: smoothing would only shift them
            line, = ax.plot(steps, values, label=f'{label} (raw)' if smoothed else label,
                            alpha=0.35 if smoothed else 1.0, marker='o' if validation or len(steps) == 1 else None,
                            markersize=5 if len(steps) == 1 else 3)
            if smoothed:
                ax.plot(steps, debiased_ema(values, smooth), color=line.get_color(),
                        label=f'{label} (smoothed {smooth:g})')
            if len(steps) == 1:  # one point: its value in words, the axis alone would hide it
                ax.annotate(f'{values[0]:.4g}', (steps[0], values[0]), textcoords='offset points', xytext=(-6, 6),
                            ha='right', fontsize=8, color=line.get_color())
            plotted[tag] = (steps, values)
        if title in (ACCURACY_PANEL, P_POS_PANEL):  # 0.5: chance for an accuracy, no preference for p_pos
            ax.axhline(0.5, color='0.5', lw=0.8, ls='--', zorder=0)
        if title == ACCURACY_PANEL:  # a share of positions: its whole range, 0.5 and 0.9 as far apart as they are
            ax.set_ylim(-0.03, 1.03)
        ax.set_xlim(0, last_step * 1.04)
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.3)
        if len(tags) > 1 or tags[0].startswith('metrics/') or smooth > 0:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis('off')
    fig.tight_layout()
    if output:
        _save(fig, output)
    return fig, plotted


def debiased_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average started at zero and divided by ``1 - weight**n``.

    The division removes the pull towards zero of an EMA started at zero, so the first smoothed point is the
    first raw one and a constant series gives the constant at every point; the curves match what TensorBoard
    shows for the same slider value. Like any EMA it lags a trend by about ``1 / (1 - weight)`` points: with 0.9
    over a dozen logged points a falling loss stays above the raw one (the legend tells the two apart).
    """
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = weight * last + (1 - weight) * v
        out.append(last / (1 - weight ** n) if weight < 1 else values[0])
    return out


def _save(fig, output: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=150, bbox_inches='tight')
    print(f'Saved {output}')
