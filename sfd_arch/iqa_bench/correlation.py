"""Agreement of an IQA metric with human opinion: SRCC, PLCC (after a 4-parameter logistic) and KRCC.

The usual IQA protocol (VQEG): Spearman's and Kendall's rank correlations on the raw predictions, and
Pearson's correlation between the MOS and the predictions mapped by the monotonic logistic

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

fitted by least squares (``scipy.optimize.curve_fit``). Metrics where lower is better (NIQE) are negated
before correlating, so that for every metric a positive correlation means agreement with humans.

MOS tables (CSV; the column names are options, matched ignoring case and surrounding spaces) and the column
presets of ``sfd-iqa eval --mos`` (the released layouts themselves are read by ``datasets.py``):

    koniq10k (koniq)  koniq10k_scores_and_distributions.csv   image_name, MOS (or MOS_zscore)
    clive (livec)     a CSV export of LIVE Challenge           image, mos
    spaq              CSV export of 'MOS and Image attribute scores.xlsx'   Image name, MOS
    kadid10k          dmos.csv                                 dist_img, dmos
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence, TextIO

import numpy as np
from scipy import optimize, stats

from ..utils.directions import LOWER_IS_BETTER, lower_is_better, oriented  # noqa: F401  (re-exported)

PRESETS: dict[str, dict[str, str]] = {
    'koniq10k': {'image_col': 'image_name', 'score_col': 'MOS'},
    'clive': {'image_col': 'image', 'score_col': 'mos'},
    'spaq': {'image_col': 'Image name', 'score_col': 'MOS'},
    'kadid10k': {'image_col': 'dist_img', 'score_col': 'dmos'},
}
PRESETS['koniq'], PRESETS['livec'] = PRESETS['koniq10k'], PRESETS['clive']  # the names of the first release


@dataclass
class MOSTable:
    """Image names (as written in the table) and their mean opinion scores, in table order."""

    path: str
    names: list[str]
    mos: np.ndarray


def _norm(col: str) -> str:
    return col.strip().lstrip('\ufeff').lower()


def sniffed_csv_reader(f: TextIO) -> Iterator[list[str]]:
    """``csv.reader`` over an open text file, with the delimiter (``,``, ``;`` or tab) guessed from its start:
    MOS tables come from spreadsheets saved in many locales."""
    sample = f.read(8192)
    f.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=',;\t')
    except csv.Error:
        dialect = csv.excel
    return csv.reader(f, dialect)


def read_mos_table(path: str, image_col: str, score_col: str) -> MOSTable:
    """Read a CSV (comma, semicolon or tab separated) of image names and MOS; errors name file and column."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'MOS table not found: {path}')
    if path.lower().endswith(('.xlsx', '.xls')):
        raise ValueError(f'{path}: spreadsheets are not read directly; export the sheet to CSV (for SPAQ: '
                         "columns 'Image name' and 'MOS') and pass the CSV")
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = sniffed_csv_reader(f)
        header = next(reader, None)
        if not header:
            raise ValueError(f'{path}: empty MOS table')
        columns = {_norm(c): i for i, c in enumerate(header)}
        missing = [c for c in (image_col, score_col) if _norm(c) not in columns]
        if missing:
            raise ValueError(f'{path}: no column {", ".join(repr(c) for c in missing)}; columns are '
                             f'{", ".join(repr(c) for c in header)} (set --image-col / --score-col or --preset)')
        ic, sc = columns[_norm(image_col)], columns[_norm(score_col)]
        names, mos = [], []
        for line_no, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            try:
                value = float(row[sc])
            except (ValueError, IndexError):
                raise ValueError(f'{path}:{line_no}: {score_col} value {row[sc] if sc < len(row) else None!r} '
                                 'is not a number') from None
            names.append(row[ic].strip())
            mos.append(value)
    if not names:
        raise ValueError(f'{path}: no rows')
    return MOSTable(path, names, np.asarray(mos, dtype=np.float64))


def match_images(folder: str, names: Sequence[str]) -> tuple[list[Optional[str]], list[str]]:
    """Path of each table entry in ``folder`` (or None), matched by relative path, then file name, then file
    name without extension when that is unique. Returns the paths and the unmatched names."""
    by_rel, by_base, by_stem = {}, {}, {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            by_rel[osp.relpath(path, folder).replace(os.sep, '/')] = path
            by_base.setdefault(name, path)
            by_stem.setdefault(osp.splitext(name)[0], []).append(path)
    paths, unmatched = [], []
    for name in names:
        key = name.replace('\\', '/').lstrip('./')
        path = by_rel.get(key) or by_base.get(osp.basename(key))
        if path is None:
            stems = by_stem.get(osp.splitext(osp.basename(key))[0], [])
            path = stems[0] if len(stems) == 1 else None
        paths.append(path)
        if path is None:
            unmatched.append(name)
    return paths, unmatched


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG's monotonic 4-parameter logistic."""
    with np.errstate(over='ignore'):  # exp overflows to inf far from b3: the curve is flat there, as it should be
        return (b1 - b2) / (1.0 + np.exp(-(x - b3) / (np.abs(b4) + 1e-12))) + b2


def _logistic4_jac(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """``(N, 4)`` derivatives of :func:`logistic4` by its parameters: the analytic Jacobian makes each fit several
    times cheaper than finite differences (it matters for thousands of bootstrap refits)."""
    scale = np.abs(b4) + 1e-12
    with np.errstate(over='ignore'):
        g = 1.0 / (1.0 + np.exp(-(x - b3) / scale))
    slope = g * (1.0 - g)  # = g^2 exp(.), without inf * 0
    d3 = -(b1 - b2) * slope / scale
    d4 = -(b1 - b2) * slope * (x - b3) * np.sign(b4) / scale ** 2
    return np.stack([g, 1.0 - g, d3, d4], axis=1)


def fit_logistic(pred: np.ndarray, mos: np.ndarray) -> Optional[np.ndarray]:
    """Least-squares logistic parameters, or None when the fit does not converge."""
    pred, mos = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    p0 = [mos.max(), mos.min(), float(np.mean(pred)), float(np.std(pred)) or 1.0]
    if stats.pearsonr(pred, mos)[0] < 0:  # a decreasing relation: start from the decreasing logistic
        p0[0], p0[1] = p0[1], p0[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            params, _ = optimize.curve_fit(logistic4, pred, mos, p0=p0, jac=_logistic4_jac, maxfev=20000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    return params if np.all(np.isfinite(params)) else None


@dataclass
class Correlations:
    n: int
    srcc: float
    plcc: float
    krcc: float
    logistic: Optional[list[float]] = None  # None: fit failed, PLCC is on the raw predictions
    notes: list[str] = field(default_factory=list)


def correlations(pred: Sequence[float], mos: Sequence[float]) -> Correlations:
    """SRCC, PLCC after the logistic fit, KRCC of predictions against MOS (NaN with fewer than 3 pairs)."""
    pred, mos = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    n = len(pred)
    if n < 3 or np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return Correlations(n, float('nan'), float('nan'), float('nan'),
                            notes=['fewer than 3 scored images, or constant scores'])
    srcc = float(stats.spearmanr(pred, mos)[0])
    krcc = float(stats.kendalltau(pred, mos)[0])
    params = fit_logistic(pred, mos)
    notes = []
    if params is None:
        mapped = pred
        notes.append('logistic fit did not converge: PLCC on raw predictions')
    else:
        mapped = logistic4(pred, *params)
    plcc = float(stats.pearsonr(mapped, mos)[0]) if np.ptp(mapped) > 0 else float('nan')
    if params is not None and params[0] < params[1]:
        # a decreasing logistic would turn disagreement into a positive PLCC: keep the sign of the relation
        plcc = -plcc
        notes.append('the fitted logistic is decreasing (scores disagree with MOS): PLCC negated')
    return Correlations(n, srcc, plcc, krcc, None if params is None else [float(p) for p in params], notes)


def format_table(results: dict[str, Correlations]) -> str:
    lines = [f'{"metric":<14} {"n":>6} {"SRCC":>8} {"PLCC":>8} {"KRCC":>8}']
    for metric, c in results.items():
        label = f'-{metric}' if lower_is_better(metric) else metric
        lines.append(f'{label:<14} {c.n:>6d} {c.srcc:>8.4f} {c.plcc:>8.4f} {c.krcc:>8.4f}')
    negated = [m for m in results if lower_is_better(m)]
    if negated:
        lines.append(f'({", ".join("-" + m for m in negated)}: lower-is-better metrics, negated before correlating)')
    return '\n'.join(lines)


def plot_scatter(path: str, scores: dict[str, np.ndarray], mos: dict[str, np.ndarray],
                 results: dict[str, Correlations], title: Optional[str] = None, ylabel: str = 'MOS') -> str:
    """One scatter panel per metric (oriented scores vs MOS) with the fitted logistic, at most three panels a
    row; a PNG at ``path``."""
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    metrics = list(scores)
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows + (0.3 if title else 0)), squeeze=False)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.ravel(), metrics):
        x, y, c = scores[metric], mos[metric], results[metric]
        ax.scatter(x, y, s=10 if len(x) < 500 else 3, alpha=0.6 if len(x) < 500 else 0.35, linewidths=0)
        if c.logistic is not None and len(x):
            grid = np.linspace(x.min(), x.max(), 200)
            ax.plot(grid, logistic4(grid, *c.logistic), color='C3', lw=1.5, label='4-parameter logistic')
            ax.legend(loc='lower right', fontsize=7, frameon=False)
        label = f'-{metric}' if lower_is_better(metric) else metric
        ax.set_xlabel(label + (' (negated: lower is better)' if lower_is_better(metric) else ''), fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f'{label}: SRCC {c.srcc:.3f}  PLCC {c.plcc:.3f}', fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def niqe_of_file(path: str) -> float:
    """BasicSR's NIQE (lower is better) of an image file, on the Y channel of the 8-bit-range image."""
    from .images import read_image

    return niqe_of_array(read_image(path))


def niqe_of_array(arr) -> float:
    """BasicSR's NIQE of an :class:`~sfd_arch.iqa.images.ImageArray` (RGB or gray, any bit depth)."""
    import cv2
    from basicsr.metrics.niqe import calculate_niqe

    pixels = np.asarray(arr.pixels, dtype=np.float64) * (255.0 / arr.scale)
    if pixels.ndim == 2:
        return float(calculate_niqe(pixels, crop_border=0, input_order='HW'))
    bgr = cv2.cvtColor(np.clip(pixels, 0, 255).astype(np.float32), cv2.COLOR_RGB2BGR)
    return float(calculate_niqe(bgr, crop_border=0, input_order='HWC', convert_to='y'))


def write_eval_outputs(outputs: dict[str, str], summary: dict, scores: dict[str, np.ndarray],
                       mos: dict[str, np.ndarray], results: dict[str, Correlations]) -> None:
    """The common end of ``sfd-iqa eval`` and of each ``bench`` dataset: ``summary`` (plus the correlations) as
    JSON, the scatter plot, and the table and file names on the console. ``scores`` are oriented (higher = better)."""
    summary = {**summary, 'negated': sorted(m for m in results if lower_is_better(m)),
               'results': {m: vars(c) for m, c in results.items()}}
    with open(outputs['summary'], 'w') as f:
        json.dump(summary, f, indent=2)
    plot_scatter(outputs['plot'], scores, mos, results)
    print(format_table(results))
    print(f'per-image scores: {outputs["scores"]}; summary: {outputs["summary"]}; plot: {outputs["plot"]}')
