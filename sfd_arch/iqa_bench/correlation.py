"""Agreement of an IQA metric with human opinion: SRCC, PLCC (after a 4-parameter logistic) and KRCC.

The usual IQA protocol (VQEG): Spearman's and Kendall's rank correlations on the raw predictions, and
Pearson's correlation between the MOS and the predictions mapped by the monotonic logistic

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

fitted by least squares (``scipy.optimize.curve_fit``). Metrics where lower is better (NIQE, as its record in
:mod:`sfd_arch.metrics.records` says) are negated before correlating, so that for every metric a positive
correlation means agreement with humans. MOS tables are read by :mod:`sfd_arch.iqa_bench.mos`, released datasets by
:mod:`sfd_arch.iqa_bench.datasets`.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..metrics.records import lower_is_better, oriented  # noqa: F401  (oriented: re-exported for the bench)
from ..utils.files import write_atomic


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
    from scipy import optimize, stats  # here, not at module level: the `sfd-iqa` parsers import this package

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
    fit: str = ''  # '' a sound increasing fit; else why its PLCC needs care (fit_flag), shown in tables and plots


# a logistic whose scale |b4| is under this fraction of the predictions' range rises as a step: it separates two
# clusters rather than following the scores, and its PLCC says little
STEP_FRACTION = 0.02


def fit_flag(pred: np.ndarray, params: Optional[Sequence[float]]) -> str:
    """Why a logistic fit's PLCC needs care ('' when it does not): no fit, a decreasing or a step-shaped curve."""
    if params is None:
        return 'no logistic fit (PLCC on the raw scores)'
    flags = []
    if params[0] < params[1]:
        flags.append('decreasing (PLCC negated)')
    if abs(params[3]) < STEP_FRACTION * float(np.ptp(pred)):
        flags.append('step-shaped (degenerate)')
    return ', '.join(flags)


def correlations(pred: Sequence[float], mos: Sequence[float], fit: bool = True) -> Correlations:
    """SRCC, PLCC after the logistic fit, KRCC of predictions against MOS (NaN with fewer than 3 pairs).

    ``fit=False``: PLCC on the predictions as they are, with no logistic (pyiqa's benchmark, ``calculate_plcc``
    without ``fit_scale``)."""
    from scipy import stats

    pred, mos = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    n = len(pred)
    if n < 3 or np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return Correlations(n, float('nan'), float('nan'), float('nan'),
                            notes=['fewer than 3 scored images, or constant scores'])
    srcc = float(stats.spearmanr(pred, mos)[0])
    krcc = float(stats.kendalltau(pred, mos)[0])
    if not fit:
        return Correlations(n, srcc, float(stats.pearsonr(pred, mos)[0]), krcc,
                            notes=['PLCC on the raw scores (no logistic fit, by protocol)'])
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
    fit = fit_flag(pred, params)
    if 'step-shaped' in fit:
        notes.append('the fitted logistic is a step (scale under 2% of the score range): PLCC says little')
    return Correlations(n, srcc, plcc, krcc, None if params is None else [float(p) for p in params], notes, fit)


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
        flagged = f'\nlogistic fit: {c.fit}' if c.fit else ''
        ax.set_title(f'{label}: SRCC {c.srcc:.3f}  PLCC {c.plcc:.3f}{flagged}', fontsize=8,
                     color='C3' if c.fit else 'black')
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_eval_outputs(outputs: dict[str, str], summary: dict, scores: dict[str, np.ndarray],
                       mos: dict[str, np.ndarray], results: dict[str, Correlations]) -> None:
    """The common end of ``sfd-iqa eval`` and of each ``bench`` dataset: ``summary`` (plus the correlations) as
    JSON, the scatter plot, and the table and file names on the console. ``scores`` are oriented (higher = better)."""
    summary = {**summary, 'negated': sorted(m for m in results if lower_is_better(m)),
               'results': {m: vars(c) for m, c in results.items()}}
    write_atomic(outputs['summary'], json.dumps(summary, indent=2))
    plot_scatter(outputs['plot'], scores, mos, results)
    print(format_table(results))
    print(f'per-image scores: {outputs["scores"]}; summary: {outputs["summary"]}; plot: {outputs["plot"]}')
