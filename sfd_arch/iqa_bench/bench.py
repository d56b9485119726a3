"""The engine of ``sfd-iqa bench``: the opinion-unaware NR-IQA table over the standard datasets, as released
(a whole run from its settings: :mod:`.run`; its command line, which writes the results: :mod:`sfd_arch.cli.bench`).

For every dataset found (:mod:`.datasets`) and every metric (SFD-IQA and the offline baselines of
:mod:`.baselines`) the images are scored once; scores are appended to a cache file per dataset and metric as they
come, so an interrupted run goes on where it stopped. Then, per dataset, on the images every metric scored:
SRCC, PLCC (after the 4-parameter logistic of :mod:`.correlation`) and KRCC with percentile-bootstrap 95% intervals
(the same resamples for every metric), the AVG_D (mean over datasets) and AVG_W (weighted by the number of images)
rows, and the notes: a :class:`BenchResult` (:func:`summarize`), of which ``table.md``, ``results.json``,
``relative_plcc.png``, one scatter plot per dataset and the per-image CSVs are pure functions.

Output folder::

    table.md              datasets as rows, methods as columns, SRCC / PLCC, best in bold; intervals; notes
    results.json          everything in the table, plus counts, logistic parameters, what was missing and why
    relative_plcc.png     each method's PLCC relative to --baseline, per dataset, with bootstrap intervals
    scatter/<dataset>.png one panel per metric: scores vs MOS and the fitted logistic
    <dataset>/scores.csv  per image: name, file, MOS (higher is better), every metric, error
    cache/<dataset>/<protocol>/<metric>.csv (+ .json: the settings the scores depend on)
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..iqa.defaults import ScorerSettings
from ..iqa.images import ImageArray, ImageReadError, read_image
from ..metrics import records
from ..metrics.protocols import BENCH_PROTOCOLS, DEFAULT_BENCH_PROTOCOL, BenchProtocol
from ..metrics.records import lower_is_better
from ..utils.files import atomic_path, file_sha256, write_atomic
from ..utils.results import AppendOnlyRows, read_appended
from . import correlation as corr
from . import datasets as dsets
from .baselines import baselines


def metric_names() -> tuple[str, ...]:
    """The methods ``sfd-iqa bench`` can score: SFD-IQA and every baseline of the metric records."""
    return ('sfd_iqa', *baselines())


def titles() -> dict[str, str]:
    """``{method: title}`` for the tables and figures, from the metric records."""
    return {name: records.label(name) for name in metric_names()}


DEFAULT_DATASETS = ('live', 'csiq', 'tid2013', 'kadid10k', 'koniq10k', 'clive', 'spaq')
CRITERIA = ('srcc', 'plcc', 'krcc')
FIT_MARK = '†'  # table.md: a PLCC whose logistic fit is flagged (corr.fit_flag)
CACHE_COLUMNS = ('image', 'score', 'error')


class BenchError(Exception):
    """A setup problem reported in one line (exit status 2)."""


# --------------------------------------------------------------------------------------------------------
# Scoring with a resumable cache
# --------------------------------------------------------------------------------------------------------

def resize_short_side(arr: ImageArray, short: int, method: str = 'area') -> ImageArray:
    """The image resized (aspect kept) so its shorter side is ``short``.

    ``method``: ``area`` (OpenCV, area average when shrinking, cubic when enlarging; the long side rounded) or
    ``pil-bilinear`` (torchvision's ``Resize(short)`` on a PIL image, as pyiqa's dataset loader resizes: PIL's
    bilinear filter, which widens with the scale, and the long side truncated to an integer).
    """
    import cv2

    h, w = arr.height, arr.width
    if min(h, w) == short:
        return arr
    if method == 'pil-bilinear':
        return _pil_resize(arr, short)
    if method != 'area':
        raise ValueError(f"resize method must be 'area' or 'pil-bilinear', got {method!r}")
    scale = short / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return ImageArray(cv2.resize(np.ascontiguousarray(arr.pixels), size, interpolation=interp), arr.scale)


def _pil_resize(arr: ImageArray, short: int) -> ImageArray:
    from PIL import Image

    h, w = arr.height, arr.width
    # torchvision's _compute_resized_output_size: the long side is int(short * long / short_side), truncated
    long = int(short * max(h, w) / min(h, w))
    size = (short, long) if w <= h else (long, short)  # PIL takes (width, height)
    pixels = np.ascontiguousarray(arr.pixels)
    if pixels.dtype == np.uint8:
        out = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
    else:  # 16-bit or float images: each channel as a 32-bit float PIL image, the same filter
        planes = pixels[..., None] if pixels.ndim == 2 else pixels
        out = np.stack([np.asarray(Image.fromarray(planes[..., c].astype(np.float32), mode='F').resize(
            size, Image.BILINEAR)) for c in range(planes.shape[2])], axis=-1)
        out = out[..., 0] if pixels.ndim == 2 else out
    return ImageArray(out, arr.scale)


class ScoreCache:
    """Scores of one metric on one dataset: an :class:`AppendOnlyRows` CSV (``image,score,error``) appended row by
    row, plus the settings they were computed with. Reopening keeps the rows whose score is there; a row cut by an
    interruption is dropped."""

    def __init__(self, path: str, settings: dict, restart: bool = False):
        self.path, self.settings = path, settings
        self.meta = osp.splitext(path)[0] + '.json'
        if restart and osp.exists(self.meta):
            os.remove(self.meta)
        if osp.exists(self.meta):
            with open(self.meta) as f:
                before = json.load(f)
            if before != settings:
                changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
                raise BenchError(f'{path} holds scores computed with other settings ({", ".join(changed)}); pass '
                                 '--overwrite to score again, or another --out-dir')
        try:
            self._rows = AppendOnlyRows(path, CACHE_COLUMNS, start=[] if restart else None)
        except ValueError as err:
            raise BenchError(f'{err}; it is not a score cache (pass --overwrite to score again)') from None
        self.scores: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        for row in read_appended(path):
            self._keep(row['image'], float(row['score']) if row['score'] else None, row['error'])
        write_atomic(self.meta, json.dumps(settings, indent=1, sort_keys=True))

    def _keep(self, image: str, score: Optional[float], error: Optional[str]) -> None:
        if score is not None:
            self.scores[image] = score
            self.errors.pop(image, None)
        elif error or image not in self.scores:
            self.errors[image] = error or 'failed'

    def add(self, image: str, score: Optional[float], error: Optional[str]) -> None:
        score = None if score is None else float(score)
        self._rows.write({'image': image, 'score': score, 'error': error or ''})
        self._keep(image, score, error)

    def close(self) -> None:
        self._rows.close()


def _read_for_scoring(path: str, short_side: Optional[int], resize: str = 'area') -> ImageArray:
    arr = read_image(path)
    return resize_short_side(arr, short_side, resize) if short_side else arr


def iter_baseline(fn: Callable[[ImageArray], float], items: Sequence[tuple[str, str]], short_side: Optional[int],
                  resize: str = 'area') -> Iterator[tuple[str, Optional[float], Optional[str]]]:
    """(name, score, error) for each (name, file), one image at a time; a failure becomes an error."""
    for name, path in items:
        try:
            value = float(fn(_read_for_scoring(path, short_side, resize)))
            if not np.isfinite(value):
                raise ValueError(f'the metric returned {value}')
            yield name, value, None
        except Exception as err:  # noqa: BLE001 - any failure of a reference implementation is that image's error
            yield name, None, f'{path}: {type(err).__name__}: {err}'


def iter_sfd_iqa(scorer, items: Sequence[tuple[str, str]], short_side: Optional[int], resize: str = 'area'
                 ) -> Iterator[tuple[str, Optional[float], Optional[str]]]:
    """(name, score, error) from the SFD-IQA scorer: files straight through ``iter_files`` (its batching and
    decoding), or, when images are resized first, small batches of resized arrays."""
    if not short_side:
        names = {path: name for name, path in items}
        for result in scorer.iter_files([path for _, path in items]):
            yield names[result.path], (result.score if result.ok else None), result.error
        return
    batch: list[tuple[str, str, ImageArray]] = []

    def flush() -> Iterator[tuple[str, Optional[float], Optional[str]]]:
        try:
            results = scorer.score_arrays([a for _, _, a in batch], names=[p for _, p, _ in batch])
            for (name, _, _), r in zip(batch, results):
                yield name, r.score, None
        except (ValueError, RuntimeError):  # one bad image: score the batch one by one to find it
            for name, path, arr in batch:
                try:
                    yield name, scorer.score_arrays([arr], names=[path])[0].score, None
                except (ValueError, RuntimeError) as err:
                    yield name, None, f'{path}: {err}'

    for name, path in items:
        try:
            batch.append((name, path, _read_for_scoring(path, short_side, resize)))
        except (ImageReadError, ValueError, OSError) as err:
            yield name, None, f'{path}: {err}'
            continue
        if len(batch) >= max(1, scorer.batch_size):
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def iter_scores(metric: str, scorer: Any, items: Sequence[tuple[str, str]], short_side: Optional[int],
                resize: str = 'area') -> Iterator[tuple[str, Optional[float], Optional[str]]]:
    """(name, score, error) of ``metric`` (``sfd_iqa`` or a baseline) for each (name, file); ``short_side`` and
    ``resize``: the dataset's resizing before scoring (:func:`resize_short_side`)."""
    if metric == 'sfd_iqa':
        return iter_sfd_iqa(scorer, items, short_side, resize)
    return iter_baseline(scorer, items, short_side, resize)


def score_dataset(ds: dsets.IQADataset, metrics: Sequence[str], make_scorer: Callable[[str], Any],
                  progress: Callable[[int, str], Any]) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Every image of ``ds`` found on disk, scored by each metric, without a cache (``sfd-iqa eval``).

    ``make_scorer(metric)`` builds a metric's scorer, ``progress(total, desc)`` a progress bar. Returns
    metric -> {name: score} and name -> the first error met for it (prefixed with the metric).
    """
    todo = [(n, p) for n, p in zip(ds.names, ds.paths) if p is not None]
    scores: dict[str, dict[str, float]] = {m: {} for m in metrics}
    errors: dict[str, str] = {}
    for m in metrics:
        scorer = make_scorer(m)
        with progress(len(todo), f'{ds.preset} {m}') as bar:
            for name, score, error in iter_scores(m, scorer, todo, ds.short_side, ds.resize):
                if score is None:
                    errors.setdefault(name, f'{m}: {error}')
                else:
                    scores[m][name] = score
                bar.update(1)
    return scores, errors


def oriented_scores(ds: dsets.IQADataset, metric: str, scores: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The scored images' values turned higher-is-better, and their MOS, in dataset order."""
    keep = [i for i, n in enumerate(ds.names) if n in scores]
    return (corr.oriented(metric, np.array([scores[ds.names[i]] for i in keep], np.float64)),
            np.asarray(ds.mos[keep], np.float64))


def metric_settings(metric: str, scorer: ScorerSettings) -> dict:
    """What a metric's scores depend on (speed settings left out); a cache made with other settings is refused."""
    if metric == 'sfd_iqa':
        return {'metric': metric, 'weights_sha256': file_sha256(scorer.weights), 'clip_weights': scorer.clip_weights,
                'alpha': scorer.alpha, 'tile': scorer.tile, 'amp': scorer.amp}
    return {'metric': metric, 'implementation': baselines()[metric].bench.implementation}


def metric_scorer(metric: str, scorer: ScorerSettings) -> Any:
    """The scorer of ``metric``: SFD-IQA built from ``scorer`` (:func:`sfd_arch.iqa.scorer.build_scorer`), or an
    offline baseline on ``scorer.device``."""
    if metric == 'sfd_iqa':
        from ..iqa.scorer import build_scorer

        return build_scorer(scorer)
    from .baselines import build

    return build(metric, scorer.device)


# --------------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------------

@dataclass
class MetricResult:
    n: int
    srcc: float
    plcc: float
    krcc: float
    ci: dict[str, list[float]] = field(default_factory=dict)     # criterion -> [low, high]
    logistic: Optional[list[float]] = None
    notes: list[str] = field(default_factory=list)
    fit: str = ''  # corr.fit_flag of the full-data logistic
    boot: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # criterion -> (B,) resample values


def _corr_fast(x: np.ndarray, y: np.ndarray, fit: bool = True) -> tuple[float, float, float]:
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float('nan'), float('nan'), float('nan')
    srcc = float(stats.spearmanr(x, y)[0])
    krcc = float(stats.kendalltau(x, y)[0])
    if not fit:
        return srcc, float(stats.pearsonr(x, y)[0]), krcc
    params = corr.fit_logistic(x, y)  # a fresh fit per resample (starting from the full fit is slower)
    mapped = corr.logistic4(x, *params) if params is not None else x
    plcc = float(stats.pearsonr(mapped, y)[0]) if np.ptp(mapped) > 0 else float('nan')
    if params is not None and params[0] < params[1]:  # decreasing fit: the sign of the relation, as correlations()
        plcc = -plcc
    return srcc, plcc, krcc


def evaluate_metrics(scores: dict[str, np.ndarray], mos: np.ndarray, n_boot: int, seed: int,
                     plcc: str = 'logistic4') -> dict[str, MetricResult]:
    """SRCC / PLCC / KRCC of each metric's oriented scores ``(N,)`` against ``mos`` ``(N,)`` with percentile
    bootstrap intervals over ``n_boot`` resamples of the images (the same resamples for every metric, so
    differences between metrics are paired). ``plcc``: ``logistic4`` (after the fit) or ``raw`` (the bench
    protocol's choice)."""
    if plcc not in ('logistic4', 'raw'):
        raise ValueError(f"plcc must be 'logistic4' or 'raw', got {plcc!r}")
    fit = plcc == 'logistic4'
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(mos), size=(n_boot, len(mos))) if n_boot and len(mos) >= 3 else None
    out = {}
    for metric, x in scores.items():
        c = corr.correlations(x, mos, fit=fit)
        res = MetricResult(c.n, c.srcc, c.plcc, c.krcc, logistic=c.logistic, notes=list(c.notes), fit=c.fit)
        if draws is not None and np.isfinite(c.srcc):
            boot = np.array([_corr_fast(x[idx], mos[idx], fit) for idx in draws])
            for k, crit in enumerate(CRITERIA):
                values = boot[:, k]
                res.boot[crit] = values
                ok = values[np.isfinite(values)]
                res.ci[crit] = ([float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5))] if len(ok) else
                                [float('nan'), float('nan')])
        out[metric] = res
    return out


def averages(per_dataset: dict[str, dict[str, MetricResult]], metrics: Sequence[str]
             ) -> dict[str, dict[str, MetricResult]]:
    """AVG_D (plain mean over datasets) and AVG_W (weighted by each dataset's number of images); intervals from
    averaging the per-dataset resamples (datasets are resampled independently). NaN when a metric lacks a
    dataset."""
    rows: dict[str, dict[str, MetricResult]] = {'AVG_D': {}, 'AVG_W': {}}
    for metric in metrics:
        results = [per_dataset[d][metric] for d in per_dataset if metric in per_dataset[d]]
        complete = len(results) == len(per_dataset) and results
        for label in rows:
            if not complete:
                rows[label][metric] = MetricResult(0, *(float('nan'),) * 3, notes=['not scored on every dataset'])
                continue
            w = np.array([r.n for r in results], np.float64) if label == 'AVG_W' else np.ones(len(results))
            w = w / w.sum()
            vals = {c: float(sum(wi * getattr(r, c) for wi, r in zip(w, results))) for c in CRITERIA}
            res = MetricResult(int(sum(r.n for r in results)), vals['srcc'], vals['plcc'], vals['krcc'])
            for c in CRITERIA:
                if all(c in r.boot for r in results):
                    b = sum(wi * r.boot[c] for wi, r in zip(w, results))
                    res.boot[c] = b
                    ok = b[np.isfinite(b)]
                    res.ci[c] = [float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5))] if len(ok) else []
            rows[label][metric] = res
    return rows


def relative_plcc(results: dict[str, MetricResult], baseline: str) -> dict[str, tuple[float, float, float]]:
    """metric -> (PLCC / baseline PLCC, 2.5%, 97.5% of the paired bootstrap ratio)."""
    base = results.get(baseline)
    out = {}
    for metric, r in results.items():
        if base is None or not np.isfinite(base.plcc) or base.plcc <= 0:
            out[metric] = (float('nan'),) * 3
            continue
        ratio = r.plcc / base.plcc
        lo = hi = float('nan')
        if 'plcc' in r.boot and 'plcc' in base.boot:
            with np.errstate(divide='ignore', invalid='ignore'):
                b = r.boot['plcc'] / base.boot['plcc']
            b = b[np.isfinite(b)]
            if len(b):
                lo, hi = float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))
        out[metric] = (float(ratio), lo, hi)
    return out


# --------------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------------

def _fmt(v: float, bold: bool = False) -> str:
    text = '-' if v is None or not np.isfinite(v) else f'{v:.4f}'
    return f'**{text}**' if bold and text != '-' else text


def protocol_lines(protocol: BenchProtocol, chosen_by: str = '') -> list[str]:
    """What ``table.md`` says first: the protocol that made it, its choices and the files it follows."""
    koniq = ('the official test split' if protocol.koniq_split == 'test' else
             'all images' if protocol.koniq_split == 'all' else f'the {protocol.koniq_split} split')
    spaq = (f'shorter side resized to {protocol.spaq_short_side} px ({protocol.spaq_resize})'
            if protocol.spaq_short_side else 'as released')
    return [f'**Protocol: `{protocol.name}`**, {protocol.title}' + (f' (chosen by {chosen_by})' if chosen_by else '')
            + f'. PLCC: {"after the 4-parameter logistic" if protocol.plcc == "logistic4" else "raw scores, no fit"}; '
            f'KonIQ-10k: {koniq}, {protocol.koniq_resolution or "the resolution found"}, {protocol.koniq_score}; '
            f'SPAQ: {spaq}. Matches: {protocol.matches}', '',
            'Sources: ' + '; '.join(f'`{s}`' for s in protocol.sources) + '.', '']


@dataclass(frozen=True)
class BenchTable:
    """``table.md`` as text: ``headline`` is its first part (the protocol and the SRCC / PLCC table, what
    ``sfd-iqa bench`` prints), ``text`` the whole file."""

    headline: str
    text: str


def write_table(path: str, rows: dict[str, dict[str, MetricResult]], metrics: Sequence[str], n_boot: int,
                notes: Sequence[str], protocol: Optional[BenchProtocol] = None, chosen_by: str = '') -> str:
    """Write :func:`bench_table` to ``path`` (whole, or not at all); returns ``path``."""
    write_atomic(path, bench_table(rows, metrics, n_boot, notes, protocol, chosen_by).text)
    return path


def bench_table(rows: dict[str, dict[str, MetricResult]], metrics: Sequence[str], n_boot: int,
                notes: Sequence[str], protocol: Optional[BenchProtocol] = None, chosen_by: str = '') -> BenchTable:
    """``table.md``: the protocol; SRCC / PLCC per dataset (rows) and method (columns), best of each row in bold;
    then KRCC and the bootstrap intervals; then the notes."""
    protocol = protocol or BENCH_PROTOCOLS[DEFAULT_BENCH_PROTOCOL]
    head = '| Dataset | n | ' + ' | '.join(titles().get(m, m) for m in metrics) + ' |'
    rule = '| --- | ---: | ' + ' | '.join('---:' for _ in metrics) + ' |'

    def best(label: str, crit: str) -> set[str]:
        vals = {m: getattr(rows[label][m], crit) for m in metrics if m in rows[label]}
        finite = [v for v in vals.values() if np.isfinite(v)]
        return {m for m, v in vals.items() if finite and np.isfinite(v) and v == max(finite)} if len(vals) > 1 \
            else set()

    fitted = protocol.plcc == 'logistic4'
    lines = ['# Opinion-unaware NR-IQA benchmark', '', *protocol_lines(protocol, chosen_by),
             f'SRCC / PLCC ({"after the 4-parameter logistic" if fitted else "on the raw scores"}) against the '
             'opinion scores, higher is better; the best of each row in bold. Lower-is-better metrics are negated '
             'before correlating, and DMOS turned to higher-is-better, so every positive correlation means agreement '
             'with people. AVG_D: mean over the datasets; AVG_W: weighted by their numbers of images.'
             + (f' {FIT_MARK}: the logistic fit behind that PLCC is decreasing, step-shaped or absent (see the '
                'notes).' if fitted else ''), '', head, rule]
    for label, res in rows.items():
        b_s, b_p = best(label, 'srcc'), best(label, 'plcc')
        n = next((r.n for r in res.values() if r.n), 0)
        cells = [f'{_fmt(res[m].srcc, m in b_s)} / {_fmt(res[m].plcc, m in b_p)}{FIT_MARK if res[m].fit else ""}'
                 if m in res else '-' for m in metrics]
        lines.append(f'| {label} | {n or ""} | ' + ' | '.join(cells) + ' |')
    headline = '\n'.join(lines).rstrip()
    lines += ['', '## KRCC', '', head, rule]
    for label, res in rows.items():
        b_k = best(label, 'krcc')
        n = next((r.n for r in res.values() if r.n), 0)
        lines.append(f'| {label} | {n or ""} | ' + ' | '.join(_fmt(res[m].krcc, m in b_k) if m in res else '-'
                                                            for m in metrics) + ' |')
    if n_boot:
        lines += ['', f'## 95% bootstrap intervals ({n_boot} resamples of the images, percentile)', '',
                  '| Dataset | Method | SRCC | PLCC | KRCC |', '| --- | --- | --- | --- | --- |']
        for label, res in rows.items():
            for m in metrics:
                if m not in res:
                    continue
                r = res[m]
                cells = [f'{_fmt(getattr(r, c))} [{_fmt(r.ci[c][0])}, {_fmt(r.ci[c][1])}]' if len(r.ci.get(c, []))
                         == 2 else _fmt(getattr(r, c)) for c in CRITERIA]
                lines.append(f'| {label} | {titles().get(m, m)} | ' + ' | '.join(cells) + ' |')
    if notes:
        lines += ['', '## Notes', ''] + [f'- {n}' for n in notes]
    return BenchTable(headline, '\n'.join(lines) + '\n')


def plot_relative_plcc(path: str, rows: dict[str, dict[str, MetricResult]], metrics: Sequence[str],
                       baseline: str) -> Optional[str]:
    """Grouped bars: for each dataset (and AVG_D), each method's PLCC divided by the baseline's, with the paired
    bootstrap 95% interval as whiskers; the baseline is the dashed line at 1. None when there is nothing to
    compare."""
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    others = [m for m in metrics if m != baseline]
    labels = [d for d in rows if d != 'AVG_W']
    if not others or not labels:
        return None
    rel = {d: relative_plcc(rows[d], baseline) for d in labels}
    width = 0.8 / len(others)
    # one paper column (3.5 in) for a few groups, the full text width (7 in) at most
    fig, ax = plt.subplots(figsize=(min(7.0, max(3.5, 0.42 * len(labels) * max(1.0, 0.7 * len(others)) + 1.0)),
                                    2.6))
    x = np.arange(len(labels))
    colors = plt.get_cmap('tab10')
    top, bottom = 1.0, 0.0
    for k, m in enumerate(others):
        vals = np.array([rel[d].get(m, (np.nan,) * 3)[0] for d in labels])
        lo = np.array([rel[d].get(m, (np.nan,) * 3)[1] for d in labels])
        hi = np.array([rel[d].get(m, (np.nan,) * 3)[2] for d in labels])
        pos = x - 0.4 + width * (k + 0.5)
        err = np.vstack([np.where(np.isfinite(lo), vals - lo, 0), np.where(np.isfinite(hi), hi - vals, 0)])
        ax.bar(pos, np.nan_to_num(vals), width * 0.9, color=colors(k), label=titles().get(m, m),
               yerr=np.clip(err, 0, None), capsize=2, error_kw={'lw': 0.8, 'ecolor': '0.25'})
        for px_, v, low, high in zip(pos, vals, lo, hi):
            if not np.isfinite(v):
                continue
            if abs(v) > 0.3:  # the ratio inside its bar, by the zero line, away from the whiskers
                y, color = (0.02 if v >= 0 else -0.02), 'white'
            else:  # a short bar: beyond its whisker
                end = high if v >= 0 else low
                y, color = (end if np.isfinite(end) else v) + (0.04 if v >= 0 else -0.06), '0.2'
            ax.text(px_, y, f'{v:.2f}', ha='center', va='bottom' if v >= 0 else 'top', rotation=90, fontsize=5.5,
                    color=color)
        finite = np.concatenate([vals[np.isfinite(vals)], hi[np.isfinite(hi)], lo[np.isfinite(lo)]])
        if len(finite):
            top, bottom = max(top, float(finite.max())), min(bottom, float(finite.min()))
    ax.axhline(1.0, color='0.2', ls='--', lw=1, label=f'{titles().get(baseline, baseline)} (= 1)')
    if bottom < 0:
        ax.axhline(0.0, color='0.2', lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([_display(d) for d in labels], fontsize=7)
    ax.set_ylabel(f'PLCC / PLCC of {titles().get(baseline, baseline)}', fontsize=7)
    ax.tick_params(axis='y', labelsize=7)
    span = top - bottom
    ax.set_ylim(bottom - 0.2 * span if bottom < 0 else 0, top + 0.22 * span)
    ax.grid(axis='y', lw=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    ax.legend(fontsize=6.5, ncol=min(4, len(others) + 1), loc='upper left', frameon=False)
    ax.set_title(f'PLCC relative to {titles().get(baseline, baseline)}\n(whiskers: 95% bootstrap intervals)',
                 fontsize=7.5)
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def _display(name: str) -> str:
    return dsets.PRESETS[name].title if name in dsets.PRESETS else name


# --------------------------------------------------------------------------------------------------------
# The result of a run, and the pure functions of it that the files are
# --------------------------------------------------------------------------------------------------------

@dataclass
class DatasetScores:
    """One dataset of a result: the dataset as read, each metric's scores (``{metric: {image: score}}``), the
    first error of each image some metric failed on, and the images every metric scored (``kept``, positions in
    the dataset; ``mos`` theirs, ``oriented`` their scores turned higher-is-better, as correlated)."""

    dataset: dsets.IQADataset
    scores: dict[str, dict[str, float]]
    errors: dict[str, str]
    kept: list[int]
    mos: np.ndarray
    oriented: dict[str, np.ndarray]


@dataclass
class BenchResult:
    """A bench under one protocol, computed and not yet written (:func:`summarize`): every file of the report
    folder is a function of it (``sfd_arch.cli.bench.write_bench``).

    ``rows``: the datasets' :class:`MetricResult` per metric, then ``AVG_D`` and ``AVG_W``; ``report``: the
    ``results.json`` dict; ``table``: ``table.md`` (its ``headline`` is what ``sfd-iqa bench`` prints);
    ``points``: per dataset the points of its scatter plots (``{'images', 'mos', 'scores': {metric: raw
    scores}}``, the rows of ``scores.csv`` the correlations used); ``datasets``: the per-image scores and errors
    of ``scores.csv``."""

    protocol: BenchProtocol
    chosen_by: str
    metrics: list[str]
    baseline: str
    datasets: dict[str, DatasetScores]
    rows: dict[str, dict[str, MetricResult]]
    report: dict
    notes: list[str]
    table: BenchTable
    points: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Images that failed to score or were listed but absent, over every dataset."""
        return sum(d['failed'] + d['absent'] for d in self.report['datasets'].values())

    def results_json(self) -> str:
        """``results.json``."""
        return json.dumps(self.report, indent=1, default=float)


def relative_plcc_drawn(rows: dict[str, dict[str, MetricResult]], metrics: Sequence[str], baseline: str) -> bool:
    """Whether ``relative_plcc.png`` has something to show: the baseline and another method, and a dataset."""
    return baseline in metrics and any(m != baseline for m in metrics) and any(d != 'AVG_W' for d in rows)


def summarize(found: dict[str, dsets.IQADataset], metrics: Sequence[str], caches: dict[tuple[str, str], ScoreCache],
              missing: Sequence[str], broken: dict[str, str], unavailable: dict[str, str],
              protocol: Optional[BenchProtocol] = None, chosen_by: str = '', baseline: str = 'niqe',
              n_boot: int = 1000, seed: int = 0) -> BenchResult:
    """Correlations (:func:`evaluate_metrics`, ``n_boot`` resamples from ``seed``), averages, notes and table of
    the cached scores (anything with the ``.scores`` and ``.errors`` of a :class:`ScoreCache`), under ``protocol``
    (default ``sfd``: its PLCC; the datasets were read with its splits). Writes nothing."""
    protocol = protocol or BENCH_PROTOCOLS[DEFAULT_BENCH_PROTOCOL]
    metrics = list(metrics)
    per_dataset: dict[str, dict[str, MetricResult]] = {}
    report: dict[str, Any] = {'datasets': {}, 'metrics': list(metrics), 'baseline': baseline,
                              'bootstrap': n_boot, 'seed': seed, 'missing': list(missing),
                              'unreadable': dict(broken), 'unavailable': dict(unavailable),
                              'protocol': dict(protocol.describe(), chosen_by=chosen_by)}
    notes = []
    points: dict[str, dict[str, Any]] = {}
    held: dict[str, DatasetScores] = {}
    for name, ds in found.items():
        scores = {m: caches[name, m].scores for m in metrics}
        errors = {n: e for m in metrics for n, e in caches[name, m].errors.items() if n not in scores[m]}
        keep = [i for i, n in enumerate(ds.names) if ds.paths[i] is not None and all(n in scores[m] for m in metrics)]
        mos = ds.mos[keep]
        oriented = {m: corr.oriented(m, np.array([scores[m][ds.names[i]] for i in keep], np.float64)) for m in metrics}
        dataset_seed = seed + zlib.crc32(name.encode())  # the same resamples for a dataset on every run
        per_dataset[name] = evaluate_metrics(oriented, mos, n_boot, dataset_seed, protocol.plcc)
        held[name] = DatasetScores(ds, scores, errors, keep, mos, oriented)
        if keep:
            points[name] = {'images': [ds.names[i] for i in keep], 'mos': [float(m) for m in mos],
                            'scores': {m: [float(scores[m][ds.names[i]]) for i in keep] for m in metrics}}
        report['datasets'][name] = {
            'title': _display(name), 'folder': ds.folder, 'source': ds.source, 'turned': ds.turned,
            'protocol': ds.protocol, 'variant': dict(ds.variant), 'listed': len(ds), 'absent': len(ds.absent),
            'failed': len(errors), 'evaluated': len(keep), 'notes': ds.notes,
            'results': {m: _as_json(r) for m, r in per_dataset[name].items()}}
        notes += dataset_notes(name, ds, len(errors), per_dataset[name])
    rows = {**per_dataset, **averages(per_dataset, metrics)}
    report['averages'] = {k: {m: _as_json(r) for m, r in v.items()} for k, v in rows.items() if k.startswith('AVG')}
    if missing:
        notes.append('not found: ' + ', '.join(missing))
    notes += [f'unreadable: {k}: {v}' for k, v in broken.items()]
    notes += [f'unavailable: {titles().get(k, k)}: {v}' for k, v in unavailable.items()]
    negated = [titles().get(m, m) for m in metrics if lower_is_better(m)]
    if negated:
        notes.append('negated before correlating (lower is better): ' + ', '.join(negated))
    drawn, why = False, f'the baseline {baseline} is not among --metric'
    if baseline in metrics:
        drawn = relative_plcc_drawn(rows, metrics, baseline)
        why = f'no method besides the baseline {baseline}, or no finite PLCC of it'
    report['relative_plcc'] = {k: relative_plcc(v, baseline) for k, v in rows.items()} if drawn else None
    report['relative_plcc_not_written'] = None if drawn else why
    if not drawn:
        notes.append(f'relative_plcc.png not written: {why}')
    table = bench_table({(_display(k) if k in per_dataset else k): v for k, v in rows.items()}, metrics,
                        n_boot, notes, protocol, chosen_by)
    report['notes'] = notes
    return BenchResult(protocol, chosen_by, metrics, baseline, held, rows, report, notes, table, points)


def dataset_notes(name: str, ds: dsets.IQADataset, failed: int, results: dict[str, MetricResult]) -> list[str]:
    """table.md's notes on one dataset: the release's variant read, absent and failed images, what was turned,
    resizing, and every flagged logistic fit."""
    title = _display(name)
    notes = []
    if ds.variant:
        notes.append(f'{title}: read with ' + ', '.join(f'{k} = {v}' for k, v in ds.variant.items()))
    if ds.absent:
        notes.append(f'{title}: {len(ds.absent)} listed image(s) not found (e.g. {", ".join(ds.absent[:3])})')
    if failed:
        notes.append(f'{title}: {failed} image(s) failed to score (see {name}/scores.csv)')
    if ds.turned:
        notes.append(f'{title}: {ds.turned}')
    if ds.short_side:
        notes.append(f'{title}: images resized so the shorter side is {ds.short_side} px ({ds.resize})')
    notes += [f'{FIT_MARK} {title}, {titles().get(m, m)}: logistic fit {r.fit}' for m, r in results.items() if r.fit]
    return notes


def _as_json(r: MetricResult) -> dict:
    return {'n': r.n, 'srcc': r.srcc, 'plcc': r.plcc, 'krcc': r.krcc, 'ci95': r.ci, 'logistic': r.logistic,
            'fit': r.fit,
            'notes': r.notes}


def score_rows(ds: dsets.IQADataset, metrics: Sequence[str], scores: dict[str, dict[str, float]],
               errors: dict[str, str]) -> list[list[str]]:
    """The per-image CSV: a header (image, path, mos, one column per metric, error), then one row per listed
    image (absent images say so)."""
    rows = [['image', 'path', 'mos', *metrics, 'error']]
    for name, p, m in zip(ds.names, ds.paths, ds.mos):
        error = (f'listed in {ds.source} but not found' if p is None else errors.get(name, ''))
        rows.append([name, p or '', repr(float(m)), *[repr(scores[k][name]) if name in scores[k] else ''
                                                      for k in metrics], error])
    return rows


def write_scores(path: str, ds: dsets.IQADataset, metrics: Sequence[str], scores: dict[str, dict[str, float]],
                 errors: dict[str, str]) -> None:
    """Write :func:`score_rows` to ``path`` (whole, or not at all)."""
    with atomic_path(path) as tmp, open(tmp, 'w', newline='') as f:
        csv.writer(f).writerows(score_rows(ds, metrics, scores, errors))


def plot_dataset(path: str, name: str, result: BenchResult) -> None:
    """``scatter/<name>.png`` of a result: one panel per metric, its oriented scores against MOS and the fit."""
    held = result.datasets[name]
    _scatter(path, name, result.metrics, held.oriented, held.mos, result.rows[name])


def _scatter(path: str, name: str, metrics: Sequence[str], x: dict[str, np.ndarray], mos: np.ndarray,
             results: dict[str, MetricResult]) -> None:
    found = {m: corr.Correlations(r.n, r.srcc, r.plcc, r.krcc, r.logistic, fit=r.fit) for m, r in results.items()}
    corr.plot_scatter(path, {m: x[m] for m in metrics}, {m: mos for m in metrics}, found,
                      title=f'{_display(name)} (n = {len(mos)})', ylabel='MOS (higher is better)')
