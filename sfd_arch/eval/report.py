"""Tables and figures of a model comparison, in the layout of SR papers.

Everything here works on rows of ``metrics.csv`` (``model,dataset,image,metric,value``; a dataset-level
metric such as FID has the image ``*``) and on images already in memory, so the figures can be redrawn
from a finished comparison without running a network. One function per output:

- ``table_markdown``: a row group per dataset, a column per metric with its direction, best in bold,
  second underlined;
- ``plot_pd``: the perception-distortion plane, one panel per dataset and one for the mean;
- ``plot_scores``: for datasets without ground truth, each model's no-reference scores;
- ``plot_visual``: the HR image with a zoom box, then the zoomed crops of every model and of HR;
- ``report_markdown``: ``report.md``, which embeds the three and lists the metric weights.
"""
from __future__ import annotations

import math
import os.path as osp
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
import yaml

from ..utils.files import atomic_path
from ..utils.results import (
    DATASET_LEVEL,  # noqa: F401  (re-exported: the image field of a dataset-level value)
    ResultRow,
)

CSV_COLUMNS = ('model', 'dataset', 'image', 'metric', 'value')
MEAN_PANEL = 'Mean'
ARROWS = {'higher': '↑', 'lower': '↓'}
# paper-column figures: 3.5 in wide, 7-8 pt text after scaling to the column
COLUMN_WIDTH_IN = 3.5
FONT_PT = 7


# -- metrics.csv ------------------------------------------------------------------------------------------------
def read_compare_csv(path: str) -> list[ResultRow]:
    """Rows of a comparison ``metrics.csv``; a wrong header or a non-numeric value is an error naming the line."""
    from ..utils.results import read_value_csv

    return [ResultRow(*fields, value) for fields, value in read_value_csv(path, CSV_COLUMNS)]


def dataset_means(rows: Iterable[ResultRow]) -> dict[str, dict[str, dict[str, float]]]:
    """``{dataset: {model: {metric: value}}}``: the mean over images, or the dataset-level value as it is.

    Per model, the means of ``sfd_arch.utils.results.dataset_means`` (the one mean of a test's ``metrics.csv``).
    """
    from ..utils.results import dataset_means as means_per_dataset

    by_model: dict[str, list[ResultRow]] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model, model_rows in by_model.items():
        for dataset, per_metric in means_per_dataset(model_rows).items():
            out.setdefault(dataset, {})[model] = per_metric
    return out


def mean_over_datasets(means: dict, models: Sequence[str], datasets: Sequence[str],
                       metrics: Sequence[str]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Per model, the mean of the per-dataset means over the datasets where every model has every metric.

    Returns ``({model: {metric: value}}, datasets used)``; averaging the same datasets for every model keeps
    the points comparable.
    """
    used = [d for d in datasets
            if all(m in means.get(d, {}).get(model, {}) for model in models for m in metrics)]
    if not used:
        return {}, []
    return {model: {m: sum(means[d][model][m] for d in used) / len(used) for m in metrics} for model in models}, used


def format_value(value: float, digits: Optional[int] = None) -> str:
    """Two decimals for values of 10 and more (PSNR, FID), four below (SSIM, LPIPS, DISTS)."""
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        digits = 2 if abs(value) >= 10 else 4
    return f'{value:.{digits}f}'


# -- table.md ---------------------------------------------------------------------------------------------------
def column_digits(values: Iterable[float]) -> int:
    """Decimals for a column: two when its largest value reaches 10 (PSNR, FID), else four; one per column."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    return 2 if finite and max(finite) >= 10 else 4


def _ranks(values: dict[str, float], direction: str, digits: int) -> dict[str, int]:
    """Rank 1 = best, ties share a rank (compared as displayed, so equal-looking cells get the same mark)."""
    shown = {k: round(v, digits) for k, v in values.items() if math.isfinite(v)}
    ordered = sorted(set(shown.values()), reverse=direction == 'higher')
    return {k: ordered.index(v) + 1 for k, v in shown.items()}


def table_markdown(means: dict, models: Sequence[str], datasets: Sequence[str], metrics: Sequence[str],
                   directions: dict[str, str], labels: Optional[dict[str, str]] = None,
                   not_applicable: Iterable[tuple[str, str]] = ()) -> str:
    """The paper's table as markdown: a row group per dataset, one row per model, one column per metric.

    Column heads carry ↑ or ↓ from ``directions`` (``metric -> 'higher' | 'lower'``). Within a dataset the best
    value of a column is bold; the second is underlined (``<u>..</u>``) when at least three models compete.
    ``labels`` renames column heads (e.g. ``psnr -> PSNR``). Missing values show as ``-``; a ``(dataset, metric)``
    of ``not_applicable`` (a full-reference metric on a dataset without ground truth) as ``n/a``.
    """
    labels = labels or {}
    not_applicable = set(not_applicable)
    head = ['Dataset', 'Model'] + [f'{labels.get(m, m)} {ARROWS.get(directions.get(m, "higher"), "")}'.strip()
                                   for m in metrics]
    lines = ['| ' + ' | '.join(head) + ' |', '| --- | --- | ' + ' | '.join('---:' for _ in metrics) + ' |']
    digits = {m: column_digits(means.get(d, {}).get(model, {}).get(m, float('nan')) for d in datasets
                               for model in models) for m in metrics}
    for dataset in datasets:
        per_model = means.get(dataset, {})
        ranks = {m: _ranks({model: per_model[model][m] for model in models if m in per_model.get(model, {})},
                           directions.get(m, 'higher'), digits[m]) for m in metrics}
        for i, model in enumerate(models):
            cells = []
            for m in metrics:
                value = per_model.get(model, {}).get(m)
                if value is None:
                    cells.append('n/a' if (dataset, m) in not_applicable else '-')
                    continue
                text, rank = format_value(value, digits[m]), ranks[m].get(model)
                if rank == 1 and len(ranks[m]) >= 2:
                    text = f'**{text}**'
                elif rank == 2 and len(ranks[m]) >= 3:
                    text = f'<u>{text}</u>'
                cells.append(text)
            lines.append(f'| {dataset if i == 0 else ""} | {model} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


# -- pd.png -----------------------------------------------------------------------------------------------------
def _paper_style() -> dict[str, Any]:
    return {'font.size': FONT_PT, 'axes.titlesize': FONT_PT + 1, 'axes.labelsize': FONT_PT,
            'xtick.labelsize': FONT_PT - 1, 'ytick.labelsize': FONT_PT - 1, 'legend.fontsize': FONT_PT - 1,
            'axes.linewidth': 0.6, 'xtick.major.width': 0.6, 'ytick.major.width': 0.6, 'lines.linewidth': 0.8,
            'savefig.dpi': 300}


def pd_panels(means: dict, models: Sequence[str], datasets: Sequence[str], x_metric: str,
              y_metric: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``{panel: {model: (x, y)}}``: one panel per dataset where every model has both metrics, then ``Mean``."""
    panels: dict[str, dict[str, tuple[float, float]]] = {}
    for d in datasets:
        per_model = means.get(d, {})
        if all(x_metric in per_model.get(m, {}) and y_metric in per_model.get(m, {}) for m in models):
            panels[d] = {m: (per_model[m][x_metric], per_model[m][y_metric]) for m in models}
    if len(panels) > 1:
        avg, _ = mean_over_datasets(means, models, list(panels), [x_metric, y_metric])
        panels[MEAN_PANEL] = {m: (avg[m][x_metric], avg[m][y_metric]) for m in models}
    return panels


def _place_labels(ax, points: dict[str, tuple[float, float]], fontsize: float) -> int:
    """Label the points, each at the first of six positions next to it that covers no other label or point, else
    at the first of eight positions further out, joined to its point by a thin leader line (two models with
    nearly the same numbers).

    Greedy and deterministic, in the order of ``points``. A label that fits nowhere is left out (the legend
    names every point), so no label ever sits on or next to another model's marker. Needs the final layout
    (call after ``tight_layout``). Returns how many labels were left out.
    """
    from matplotlib.text import Text

    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pixels = ax.figure.dpi / 72  # points -> display pixels
    marker_boxes = []
    for x, y in points.values():
        px, py = ax.transData.transform((x, y))
        # a margin around each marker: a label touching another model's marker would read as its label
        marker_boxes.append((px - 5 * pixels, py - 5 * pixels, px + 5 * pixels, py + 5 * pixels))
    near = [((4, 2), 'left', 'bottom'), ((4, -2), 'left', 'top'), ((-4, 2), 'right', 'bottom'),
            ((-4, -2), 'right', 'top'), ((0, 5), 'center', 'bottom'), ((0, -5), 'center', 'top')]
    far = [((16, -12), 'left', 'top'), ((16, 12), 'left', 'bottom'), ((-16, -12), 'right', 'top'),
           ((-16, 12), 'right', 'bottom'), ((0, -18), 'center', 'top'), ((0, 18), 'center', 'bottom'),
           ((24, 0), 'left', 'center'), ((-24, 0), 'right', 'center')]
    candidates = [(c, None) for c in near] + [(c, {'arrowstyle': '-', 'lw': 0.5, 'color': '0.35',
                                                   'shrinkA': 1, 'shrinkB': 3}) for c in far]
    placed: list[tuple[float, float, float, float]] = []
    left_out = 0
    for i, (label, (x, y)) in enumerate(points.items()):
        others = placed + [b for j, b in enumerate(marker_boxes) if j != i]
        for (offset, ha, va), leader in candidates:
            text = ax.annotate(label, (x, y), textcoords='offset points', xytext=offset, ha=ha, va=va,
                               fontsize=fontsize, arrowprops=leader)
            text.update_positions(renderer)
            bb = Text.get_window_extent(text, renderer)  # the words only, not the leader line
            box = (bb.x0, bb.y0, bb.x1, bb.y1)
            inside = bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0 and bb.y1 <= frame.y1
            if inside and not any(_overlap(box, o) for o in others):
                placed.append(box)
                break
            text.remove()
        else:
            left_out += 1
    return left_out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> int:
    return int(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def plot_pd(means: dict, models: Sequence[str], datasets: Sequence[str], output: Optional[str] = None,
            x_metric: str = 'psnr', y_metric: str = 'lpips', directions: Optional[dict[str, str]] = None,
            labels: Optional[dict[str, str]] = None, ncols: int = 2, mean_only: bool = False):
    """The perception-distortion plane for a paper column; returns ``(figure, panels)`` (see ``pd_panels``).

    One panel per dataset and one for the mean over them (a single dataset gets one panel; ``mean_only``
    keeps the mean alone), two panels per row, 3.5 in wide in all, as docs/evaluation.md documents; each model is one
    point with its own colour and marker in every panel, labelled inside the frame (``_place_labels``).
    ``labels`` name the axes: a metric on stand-in weights comes with its mark (``LPIPS (stand-in weights)``).
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    directions, labels = directions or {}, labels or {}
    panels = pd_panels(means, models, datasets, x_metric, y_metric)
    if not panels:
        raise ValueError(f'no dataset has both {x_metric} and {y_metric} for every model ({", ".join(models)})')
    n_datasets = len([p for p in panels if p != MEAN_PANEL])
    if mean_only:
        panels = {MEAN_PANEL: panels.get(MEAN_PANEL) or next(iter(panels.values()))}
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    colors = [f'C{i % 10}' for i in range(len(models))]
    markers = 'osD^vP*X<>'
    x_label = f'{labels.get(x_metric, x_metric)} {ARROWS.get(directions.get(x_metric, "higher"), "")}'
    y_label = f'{labels.get(y_metric, y_metric)} {ARROWS.get(directions.get(y_metric, "higher"), "")}'
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle='', marker=markers[i % len(markers)], color=colors[i], markersize=4,
                      markeredgecolor='black', markeredgewidth=0.3) for i in range(len(models))]
    spare_slot = nrows * ncols > len(panels)
    legend_cols = min(len(models), 4)
    legend_h = 0 if spare_slot else 0.13 * math.ceil(len(models) / legend_cols) + 0.02  # inches below the panels
    with plt.rc_context(_paper_style()):
        width = COLUMN_WIDTH_IN
        height = (1.5 if ncols > 1 else 2.3) * nrows + 0.15 + legend_h  # one panel: a column-wide plane
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
        for ax, (panel, points) in zip(axes.flat, panels.items()):
            for i, (x, y) in enumerate(points.values()):
                ax.scatter([x], [y], s=14, color=colors[i], marker=markers[i % len(markers)], zorder=3,
                           edgecolors='black', linewidths=0.3)
            ax.set_title(f'mean of {n_datasets} datasets' if panel == MEAN_PANEL else panel, pad=2)
            ax.grid(True, alpha=0.3, linewidth=0.4)
            ax.margins(x=0.35, y=0.3)  # room for the labels of the outermost points
            ax.tick_params(pad=1.5, length=2)
            ax.locator_params(nbins=4)
        for ax in axes[-1]:
            ax.set_xlabel(x_label, labelpad=1)
        for ax in axes[:, 0]:
            ax.set_ylabel(y_label, labelpad=1)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis('off')
        # the legend names every point (labels are only drawn where they cannot be mistaken for a neighbour's)
        if spare_slot:
            axes.flat[-1].legend(handles, list(models), loc='center', frameon=False, handletextpad=0.3,
                                 labelspacing=0.4)
        else:
            fig.legend(handles, list(models), loc='lower center', ncol=legend_cols, frameon=False,
                       handletextpad=0.3, columnspacing=1.0, bbox_to_anchor=(0.5, 0.0))
        if nrows > 1 and len(panels) % ncols:
            # an empty slot in the last row: the panel above it is the bottom of its column and needs the x label
            for c in range(len(panels) % ncols, ncols):
                axes[-2, c].set_xlabel(x_label, labelpad=1)
        fig.tight_layout(pad=0.3, h_pad=0.5, w_pad=0.5, rect=(0, legend_h / height, 1, 1))
        for ax, points in zip(axes.flat, panels.values()):
            _place_labels(ax, points, FONT_PT - 1)
        if output:
            _save(fig, output)
    return fig, panels


# -- scores.png -------------------------------------------------------------------------------------------------
def plot_scores(means: dict, models: Sequence[str], datasets: Sequence[str], metrics: Sequence[str],
                directions: Optional[dict[str, str]] = None, labels: Optional[dict[str, str]] = None,
                output: Optional[str] = None, ncols: int = 2):
    """Each model's score per no-reference metric, for datasets without ground truth (no PD plane to draw).

    One panel per metric (two per row, 3.5 in wide in all): datasets along x, one point per model in the colour and
    marker ``plot_pd`` gives it, its value beside it; the title carries ↑ or ↓. Points, not bars: the axis fits
    the values (NIQE 8 against 11), and a bar cut off above zero would overstate the difference. Returns the figure.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    directions, labels = directions or {}, labels or {}
    metrics = [m for m in metrics if any(m in means.get(d, {}).get(model, {}) for d in datasets for model in models)]
    if not metrics:
        raise ValueError(f'no scores of {", ".join(models)} on {", ".join(datasets)}')
    ncols = max(1, min(ncols, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    colors = [f'C{i % 10}' for i in range(len(models))]
    markers = 'osD^vP*X<>'
    step = 0.6 / max(1, len(models))
    legend_cols = min(len(models), 4)
    legend_h = 0.13 * math.ceil(len(models) / legend_cols) + 0.02
    with plt.rc_context(_paper_style()):
        height = 1.5 * nrows + 0.15 + legend_h
        fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN, height), squeeze=False)
        for ax, metric in zip(axes.flat, metrics):
            digits = column_digits(means.get(d, {}).get(model, {}).get(metric, float('nan')) for d in datasets
                                   for model in models)  # one precision per panel, as per table column
            for i, model in enumerate(models):
                for j, d in enumerate(datasets):
                    y = means.get(d, {}).get(model, {}).get(metric)
                    if y is None or not math.isfinite(y):
                        continue
                    x = j + (i - (len(models) - 1) / 2) * step
                    ax.scatter([x], [y], s=14, color=colors[i], marker=markers[i % len(markers)], zorder=3,
                               edgecolors='black', linewidths=0.3)
                    ax.annotate(format_value(y, digits), (x, y), textcoords='offset points',
                                xytext=(0, 4), ha='center', va='bottom', fontsize=FONT_PT - 2)
            ax.set_xticks(range(len(datasets)))
            ax.set_xticklabels(datasets)
            ax.set_xlim(-0.5, len(datasets) - 0.5)
            ax.margins(y=0.3)  # room for the value labels
            ax.set_title(f'{labels.get(metric, metric)} {ARROWS.get(directions.get(metric, "higher"), "")}', pad=2)
            ax.grid(True, axis='y', alpha=0.3, linewidth=0.4)
            ax.tick_params(pad=1.5, length=2)
            ax.locator_params(axis='y', nbins=4)
        for ax in list(axes.flat)[len(metrics):]:
            ax.axis('off')
        handles = [Line2D([], [], linestyle='', marker=markers[i % len(markers)], color=colors[i], markersize=4,
                          markeredgecolor='black', markeredgewidth=0.3) for i in range(len(models))]
        fig.legend(handles, list(models), loc='lower center', ncol=legend_cols, frameon=False, handletextpad=0.3,
                   columnspacing=1.0, bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(pad=0.3, h_pad=0.5, w_pad=0.5, rect=(0, legend_h / height, 1, 1))
        if output:
            _save(fig, output)
    return fig


# -- visual/*.png -----------------------------------------------------------------------------------------------
def _window_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sum of every ``size`` x ``size`` square of a 2-D array (index = top-left), through a summed-area table."""
    table = np.pad(values.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]


def _gray(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32).mean(axis=2) if img.ndim == 3 else img.astype(np.float32)


def choose_crop(images: Sequence[np.ndarray], size: int, hr: Optional[np.ndarray] = None) -> tuple[int, int]:
    """Top-left ``(x, y)`` of the ``size`` square to zoom on: where the images differ most and HR has texture.

    The difference is the per-pixel standard deviation across the images (gray levels, ``(H, W, C)`` uint8
    or float inputs of one size), the texture HR's gradient magnitude; each is summed over the window and scaled
    to [0, 1], and the window with the largest product wins (a flat sky where the models differ in tone, or
    texture that every model renders alike, is not what a reader zooms on). The square stays one crop size away
    from the border where the image allows (less, but centred, where it does not): edge artefacts of a
    convolution are real but are not what a zoom should show. Ties go to the first position in row order.
    """
    if not images:
        raise ValueError('choose_crop needs at least one image')
    h, w = images[0].shape[:2]
    size = min(size, h, w)
    stack = np.stack([_gray(img) for img in images])
    spread = _window_sums(stack.std(axis=0) if len(images) > 1 else np.zeros((h, w), np.float32), size)
    score = spread / spread.max() if spread.max() > 0 else np.zeros_like(spread)
    if hr is not None:
        gy, gx = np.gradient(_gray(hr))
        texture = _window_sums(np.hypot(gx, gy), size)
        texture = texture / texture.max() if texture.max() > 0 else np.zeros_like(texture)
        score = score * texture + 1e-3 * (score + texture)  # the sums break ties where one factor is zero
    my, mx = (min(size, (n - size) // 2) for n in (h, w))  # the margin the image allows on each axis
    inner = score[my:h - size + 1 - my, mx:w - size + 1 - mx]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(x) + mx, int(y) + my


def plot_visual(hr: np.ndarray, crops: Sequence[tuple[str, np.ndarray, str]], box: tuple[int, int, int],
                title: str = '', output: Optional[str] = None, max_cols: int = 3):
    """A visual comparison: the HR image with the zoom box, then the zoomed crops side by side.

    Args:
        hr: the HR image, ``(H, W, 3)`` uint8 BGR (as OpenCV reads it).
        crops: ``(label, image, caption)`` per panel in display order (bicubic, models, HR); ``image`` is the
            whole ``(H, W, 3)`` uint8 BGR output, cropped here; ``caption`` goes beneath (e.g. PSNR / LPIPS).
        box: ``(x, y, size)`` of the zoom square in HR pixels.
        title: text under the HR image (dataset / image).
        output: PNG path to save at 300 dpi.
        max_cols: most crops per row; rows are balanced (four crops: 2 x 2, five: 3 + 2).

    The figure is 3.5 in wide (a paper column) up to five crops, 7 in (two columns) beyond; the HR panel is as
    tall as the crop grid. Returns the matplotlib figure.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x, y, size = box
    h, w = hr.shape[:2]
    n = len(crops)
    nrows = math.ceil(n / max_cols)
    ncols = math.ceil(n / nrows)
    # inches: figure width, outer margin, gap between panels, text line above (label) and below (caption)
    width, margin, gap = (COLUMN_WIDTH_IN if n <= 5 else 2 * COLUMN_WIDTH_IN), 0.02, 0.05
    top_text, bottom_text = 0.15, 0.14
    aspect = w / h
    text_rows = nrows * (top_text + bottom_text) - top_text - bottom_text
    # the HR panel spans the crop grid's height: solve width = hr_w + crops for the crop size
    cell = (width - 2 * margin - ncols * gap - aspect * text_rows) / (aspect * nrows + ncols)
    hr_w = aspect * (nrows * cell + text_rows)
    if hr_w > 0.5 * width:  # a wide panorama: cap its width, centre it vertically
        hr_w = 0.5 * width
        cell = (width - 2 * margin - hr_w - ncols * gap) / ncols
    hr_h = hr_w / aspect
    # a caption wider than its crop (long metric names) breaks at its ' / ' separators, with room for the lines
    max_chars = int(cell * 72 / (0.55 * (FONT_PT - 1.5)))
    captions = [c if len(c) <= max_chars else c.replace(' / ', '\n') for _, _, c in crops]
    lines = max(c.count('\n') + 1 for c in captions)
    bottom_text += (lines - 1) * (FONT_PT - 1.5) * 1.25 / 72
    grid_h = nrows * (top_text + cell + bottom_text)
    height = 2 * margin + max(grid_h, hr_h + top_text + bottom_text)
    with plt.rc_context(_paper_style()):
        fig = plt.figure(figsize=(width, height))

        def axes_at(left: float, bottom: float, w_in: float, h_in: float):
            return fig.add_axes((left / width, bottom / height, w_in / width, h_in / height))

        ax_hr = axes_at(margin, (height - hr_h) / 2, hr_w, hr_h)
        ax_hr.imshow(hr[..., ::-1], interpolation='lanczos')
        ax_hr.add_patch(Rectangle((x - 0.5, y - 0.5), size, size, fill=False, edgecolor='red', linewidth=1.0))
        ax_hr.set_xlabel(title, fontsize=FONT_PT - 1, labelpad=1.5)
        grid_top = height - margin - (height - 2 * margin - grid_h) / 2
        for i, ((label, img, _), caption) in enumerate(zip(crops, captions)):
            if img.shape[:2] != (h, w):
                raise ValueError(f'{label}: image of {img.shape[1]}x{img.shape[0]}, HR is {w}x{h}')
            row, col = divmod(i, ncols)
            left = margin + hr_w + gap + col * (cell + gap)
            bottom = grid_top - (row + 1) * (top_text + cell + bottom_text) + bottom_text
            ax = axes_at(left, bottom, cell, cell)
            ax.imshow(img[y:y + size, x:x + size, ::-1], interpolation='nearest')
            _fit_width(ax.set_title(label, fontsize=FONT_PT, pad=1.5), cell + gap, fig)
            # a single long name, even on its own line, gets smaller type
            _fit_width(ax.set_xlabel(caption, fontsize=FONT_PT - 1.5, labelpad=1.5), cell + gap, fig)
        for ax in fig.axes:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_linewidth(0.4)
        if output:
            _save(fig, output, tight=False)
    return fig


def _fit_width(text, width_in: float, fig) -> None:
    """Shrinks ``text``'s type until it is at most ``width_in`` inches wide (a model name or a caption longer than
    its crop would run into the next panel), measured by the figure's renderer."""
    renderer = fig.canvas.get_renderer()
    wide = text.get_window_extent(renderer).width / fig.dpi
    if wide > width_in:
        text.set_fontsize(text.get_fontsize() * width_in / wide)


# -- report.md --------------------------------------------------------------------------------------------------
PROTOCOL_COLUMNS = (('metric', 'metric'), ('colour', 'colour'), ('crop', 'crop (px/side)'), ('backbone', 'backbone'),
                    ('input_range', 'input'), ('resize', 'resizing'), ('from', 'settings from'))


def protocol_markdown(record: dict) -> list[str]:
    """The protocol of a comparison (``MetricPlan.protocol_record``) as Markdown lines: its name and who chose it,
    one row per metric with its choices and where they came from, what the preset leaves out, its sources."""
    if not record:
        return []
    lines = [f'**Protocol: `{record["name"]}`**, {record["title"]} (chosen by {record["chosen_by"]}). '
             f'Matches: {record["matches"]}', '',
             '| ' + ' | '.join(head for _, head in PROTOCOL_COLUMNS) + ' |',
             '| ' + ' | '.join('---' for _ in PROTOCOL_COLUMNS) + ' |']
    lines += ['| ' + ' | '.join(str(row.get(key, '')).replace('|', '\\|') for key, _ in PROTOCOL_COLUMNS) + ' |'
              for row in record['metrics']]
    lines.append('')
    if record.get('omitted'):
        lines += ['Not in this protocol: ' + '; '.join(f'`{k}`: {v}' for k, v in record['omitted'].items()) + '.',
                  '']
    lines += ['Sources: ' + '; '.join(f'`{s}`' for s in record['sources']) + '.', '']
    return lines


def report_markdown(command: str, table: str, pd_png: Optional[str], visual_pngs: Sequence[str],
                    weights: Sequence[dict], skipped: dict[str, str], notes: Sequence[str] = (),
                    metric_opts: Optional[dict[str, dict]] = None, pd_caption: str = '',
                    scores_png: Optional[str] = None, protocol: Optional[dict] = None) -> str:
    """``report.md``: the protocol, the command, the table, the PD plot (and the scores of datasets without ground
    truth), the visual comparisons, and the metric weights.

    ``weights`` are ``{'name', 'path', 'status'}`` dicts (status ``published``, ``stand-in`` or ``missing``);
    figure paths are written relative to the report's folder by the caller; ``protocol`` is
    ``MetricPlan.protocol_record()``.
    """
    lines = ['# Model comparison', ''] + protocol_markdown(protocol or {})
    lines += ['Produced by:', '', '```bash', command, '```', '', '## Metrics', '', table]
    lines += ['Means over the images of each dataset (FID: one value over the whole dataset). '
              'Best in **bold**, second <u>underlined</u>; ↑ higher is better, ↓ lower is better.', '']
    if pd_png:
        lines += ['## Perception-distortion plane', '', f'![perception-distortion plane]({pd_png})', '']
        if pd_caption:
            lines += [pd_caption, '']
    if scores_png:
        lines += ['## Scores per model (no ground truth)', '', f'![scores per model]({scores_png})', '',
                  'Datasets without ground truth have no perception-distortion plane: each panel is one '
                  'no-reference metric, one point per model.', '']
    if visual_pngs:
        lines += ['## Visual comparison', '']
        lines += [f'![{osp.splitext(osp.basename(p))[0]}]({p})' for p in visual_pngs]
        lines += ['', 'Red box: the zoomed region (where the models differ most, unless chosen with `--crop`). '
                  'Beneath each crop: its metrics on the crop alone.', '']
    lines += ['## Metric networks and their weights', '']
    if weights:
        lines += ['| metric | weight file | loaded from | weights |', '| --- | --- | --- | --- |']
        meaning = {'published': 'published', 'stand-in': '**random stand-in** (numbers are not comparable to '
                                'published ones)', 'missing': 'missing (metric skipped)'}
        lines += [f'| {w.get("metric", "")} | {w["name"]} | `{w["path"]}` | {meaning.get(w["status"], w["status"])} |'
                  for w in weights]
    else:
        lines += ['No metric of this comparison uses network weights.']
    lines.append('')
    if skipped:
        lines += ['Skipped metrics:', '']
        lines += [f'- `{name}`: {reason}' for name, reason in skipped.items()]
        lines.append('')
    if metric_opts:
        lines += ['Metric settings (BasicSR metric blocks):', '', '```yaml']
        for name, opt in metric_opts.items():
            lines.append(f'{name}: ' + yaml.safe_dump(dict(opt), default_flow_style=True, sort_keys=False,
                                                      width=10_000).strip())
        lines += ['```', '']
    if notes:
        lines += ['## Notes', '']
        lines += [f'- {n}' for n in notes]
        lines.append('')
    return '\n'.join(lines)


def _save(fig, output: str, tight: bool = True) -> None:
    with atomic_path(output, keep_extension=True) as tmp:  # an interrupted run never leaves half a PNG
        fig.savefig(tmp, dpi=300, bbox_inches='tight' if tight else None, pad_inches=0.02)
