"""A whole ``sfd-iqa bench`` from its settings: check them, read the datasets, score what the caches lack, and
compute one :class:`~.bench.BenchResult` per protocol (its command line is :mod:`sfd_arch.cli.bench`, which writes
the results).

    settings = BenchSettings(root='datasets/IQA', metrics=('niqe', 'piqe'), out_dir='iqa_report')
    run = run_bench(settings)             # BenchError (one line) on a setup problem, before any scoring
    for folder, result in run.results.items():
        print(result.table.headline)
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Optional, Sequence

from ..iqa.defaults import ScorerSettings
from ..metrics.protocols import BENCH_PROTOCOLS, DEFAULT_BENCH_PROTOCOL, BenchProtocol
from ..utils.files import UnsafePathError, check_name, refuse_output_over_input
from . import datasets as dsets
from .baselines import unavailable_reason
from .bench import (
    DEFAULT_DATASETS,
    BenchError,
    BenchResult,
    ScoreCache,
    iter_scores,
    metric_scorer,
    metric_settings,
    summarize,
)


@dataclass(frozen=True)
class BenchSettings:
    """Everything a bench's results depend on (each field the ``sfd-iqa bench`` option of its name).

    ``datasets``: presets or aliases (None: :data:`~.bench.DEFAULT_DATASETS` with ``root``, else only those of
    ``dataset_dirs``); ``dataset_dirs``: ``NAME=PATH`` strings, NAME a preset or, for a CSV file, any plain name;
    ``protocols``: names of :data:`~sfd_arch.metrics.protocols.BENCH_PROTOCOLS`, ``chosen_by`` how they were
    chosen (recorded in the outputs); ``bootstrap``: resamples for the 95% intervals (0: none)."""

    root: Optional[str] = None
    datasets: Optional[tuple[str, ...]] = None
    dataset_dirs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ('sfd_iqa', 'niqe', 'piqe')
    baseline: str = 'niqe'
    protocols: tuple[str, ...] = (DEFAULT_BENCH_PROTOCOL,)
    chosen_by: str = 'the default'
    bootstrap: int = 1000
    seed: int = 0
    out_dir: str = 'iqa_report'
    overwrite: bool = False
    release: dsets.ReleaseOptions = field(default_factory=dsets.ReleaseOptions)
    scorer: ScorerSettings = field(default_factory=ScorerSettings)


@dataclass
class BenchRun:
    """What a run computed: per report folder (the output folder for one protocol, ``<out>/<protocol>`` for
    several) its result, in the order of the protocols; and the datasets not found or unreadable under any."""

    results: dict[str, BenchResult]
    missing: list[str]
    broken: dict[str, str]

    @property
    def failed(self) -> int:
        """Images that failed or were listed but absent, over every protocol's report."""
        return sum(r.failed for r in self.results.values())


def parse_dataset_dirs(values: Sequence[str]) -> dict[str, str]:
    """``NAME=PATH`` strings -> {preset or label: path}. NAME is a preset (or alias) read with its reader; any
    other NAME must point at a CSV (the generic layout)."""
    out = {}
    for value in values:
        name, sep, path = value.partition('=')
        if not sep or not name or not path:
            raise BenchError(f'--dataset-dir expects NAME=PATH, got {value!r}')
        try:
            key = dsets.canonical(name)
        except ValueError:
            try:  # the name becomes <out>/<name>/scores.csv and cache/<name>/: a plain name only
                check_name(name, '--dataset-dir')
            except ValueError as err:
                raise BenchError(str(err)) from None
            if not path.lower().endswith('.csv'):
                raise BenchError(f'--dataset-dir {value}: {name!r} is not a preset ({", ".join(sorted(dsets.PRESETS))})'
                                 '; a dataset of another name must be a CSV file (columns image, mos)') from None
            key = name
        out[key] = path
    return out


def load_datasets(settings: BenchSettings, protocol: Optional[BenchProtocol] = None
                  ) -> tuple[dict[str, dsets.IQADataset], list[str], dict[str, str]]:
    """(read datasets, names not found, names found but unreadable -> error), read as ``protocol`` (default:
    ``sfd``) says, each field of ``settings.release`` overriding its choice."""
    overrides = parse_dataset_dirs(settings.dataset_dirs)
    asked = settings.datasets if settings.datasets is not None else DEFAULT_DATASETS if settings.root else ()
    wanted = list(dict.fromkeys([dsets.canonical(d) for d in asked] + list(overrides)))
    found, missing, broken = {}, [], {}
    for name in wanted:
        folder = overrides.get(name) or (dsets.find_dataset(name, settings.root)
                                         if settings.root and name in dsets.PRESETS else None)
        if folder is None:
            missing.append(name)
            continue
        preset = name if name in dsets.PRESETS else 'csv'
        try:
            found[name] = dsets.read_dataset(preset, folder, **dsets.reader_options(preset, settings.release,
                                                                                     protocol))
        except (dsets.DatasetError, OSError) as err:
            broken[name] = str(err)
    return found, missing, broken


def folders_of(name: str) -> list[str]:
    """The folder names a dataset is looked for under --root."""
    if name not in dsets.PRESETS:
        return [name]
    return list(dict.fromkeys([*dsets.PRESETS[name].folders, name]))


def report_folders(settings: BenchSettings) -> dict[str, str]:
    """protocol -> its report folder: the output folder for one protocol, a folder of its name in it for several."""
    names = list(dict.fromkeys(settings.protocols or (DEFAULT_BENCH_PROTOCOL,)))
    return {p: settings.out_dir if len(names) == 1 else osp.join(settings.out_dir, p) for p in names}


def bench_outputs(folder: str, found: dict, extra: Sequence[str] = ()) -> list[str]:
    """What a report folder's writer writes into (folders whose files it replaces or adds) and the files it
    replaces; ``extra``: names the caller writes there too (the HTML page and its folder)."""
    folders = ['cache', 'scatter', *extra, *found]
    files = ['table.md', 'results.json', 'relative_plcc.png']
    return [osp.join(folder, name) for name in (*folders, *files)]


def bench_inputs(found: dict, settings: BenchSettings) -> list[str]:
    """Every file a bench reads: images, score files, weights."""
    inputs = settings.scorer.inputs()
    for ds in found.values():
        inputs += [p for p in ds.paths if p is not None] + [p for p in ds.source.split('; ') if p]
    return inputs


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


def _no_bar(total: int, desc: str) -> ContextManager[Any]:
    return nullcontext(_NoBar())


def check_settings(settings: BenchSettings) -> None:
    """The problems a bench's settings show before any file is read, each a :class:`BenchError`."""
    if len(dict.fromkeys(settings.protocols)) > 1:
        clash = [d for d in list(settings.datasets or []) + [v.partition('=')[0] for v in settings.dataset_dirs]
                 if d in BENCH_PROTOCOLS]
        if clash:  # each protocol's report goes into a folder of its name, beside the dataset folders
            raise BenchError(f'a dataset named {clash[0]!r} would share its folder with the report of protocol '
                             f'{clash[0]!r}; rename the dataset or run one protocol at a time')
    if 'sfd_iqa' in settings.metrics and not settings.scorer.weights:
        raise BenchError('--metric sfd_iqa needs --weights (or leave sfd_iqa out)')
    if settings.bootstrap < 0:
        raise BenchError(f'--bootstrap must be >= 0, got {settings.bootstrap}')
    if not settings.root and not settings.dataset_dirs:
        raise BenchError('give --root (a folder holding the dataset folders) and/or --dataset-dir NAME=PATH')
    if settings.root and not osp.isdir(settings.root):
        raise BenchError(f'--root {settings.root}: no such folder')


def run_bench(settings: BenchSettings, make_scorer: Optional[Callable[[str], Any]] = None,
              progress: Callable[[int, str], ContextManager[Any]] = _no_bar,
              report: Callable[[str], None] = _stderr, extra_outputs: Sequence[str] = ()) -> BenchRun:
    """Check the settings, read the datasets, score what the caches lack, and summarize each protocol.

    Everything that can stop a run stops it before any scoring, as a one-line :class:`BenchError`: the settings,
    the datasets (none found or readable), the metrics (none can run here), outputs over inputs (``extra_outputs``:
    names the caller writes into each report folder besides the results), and a cache made with other settings
    (every cache is opened first). Scores are cached per dataset, image settings (size, resizing) and metric, not
    per protocol: protocols that differ only in their statistics or split (a subset of the same images) share one
    scoring pass. ``make_scorer(metric)`` builds a metric's scorer (default :func:`~.bench.metric_scorer` of
    ``settings.scorer``), once, when it has images to score; ``progress(total, desc)`` a bar with ``update(n)``;
    ``report(line)`` is told the datasets not found or unreadable and the metrics unavailable as they are met.
    """
    check_settings(settings)
    protocols = [BENCH_PROTOCOLS[p] for p in dict.fromkeys(settings.protocols)]
    loaded = {}
    try:
        for protocol in protocols:
            loaded[protocol.name] = load_datasets(settings, protocol)
    except ValueError as err:
        raise BenchError(str(err)) from err
    missing = list(dict.fromkeys(n for _, m, _ in loaded.values() for n in m))
    broken = {n: e for _, _, b in loaded.values() for n, e in b.items()}
    for name in missing:
        report(f'not found: {name} (looked under {settings.root or "-"} for {", ".join(folders_of(name))})')
    for name, err in broken.items():
        report(f'error: {name}: {err}')
    if not any(found for found, _, _ in loaded.values()):
        raise BenchError('no dataset found' + (f' ({len(broken)} unreadable)' if broken else ''))

    metrics = list(dict.fromkeys(settings.metrics))
    unavailable = {m: r for m in metrics if m != 'sfd_iqa' for r in [unavailable_reason(m)] if r}
    for m, reason in unavailable.items():
        report(f'unavailable: {m}: {reason}')
    runnable = [m for m in metrics if m not in unavailable]
    if not runnable:
        raise BenchError('none of the metrics can run here')
    cache_settings = {m: metric_settings(m, settings.scorer) for m in runnable}

    out = settings.out_dir
    every_found = {n: ds for found, _, _ in loaded.values() for n, ds in found.items()}
    folders = report_folders(settings)
    outputs = [p for d in folders.values() for p in bench_outputs(d, every_found, extra_outputs)]
    try:
        refuse_output_over_input([*outputs, osp.join(out, 'cache')], bench_inputs(every_found, settings), 'output',
                                 nested=True)
    except UnsafePathError as err:
        raise BenchError(str(err)) from None
    os.makedirs(out, exist_ok=True)
    caches = _open_caches(loaded, runnable, cache_settings, out, settings.overwrite)
    make_scorer = make_scorer or (lambda m: metric_scorer(m, settings.scorer))
    try:
        _score(loaded, runnable, caches, make_scorer, progress)
    finally:
        for c in set(caches.values()):
            c.close()
    results = {}
    for protocol in protocols:
        found, missing_here, broken_here = loaded[protocol.name]
        results[folders[protocol.name]] = summarize(
            found, runnable, {(n, m): caches[protocol.name, n, m] for n in found for m in runnable}, missing_here,
            broken_here, unavailable, protocol, settings.chosen_by, settings.baseline, settings.bootstrap,
            settings.seed)
    return BenchRun(results, missing, broken)


def _open_caches(loaded: dict, metrics: Sequence[str], settings: dict[str, dict], out: str, restart: bool
                 ) -> dict[tuple[str, str, str], ScoreCache]:
    """(protocol, dataset, metric) -> its cache, every one opened before any work (a settings mismatch stops the
    run); one cache per file: protocols scoring the same images share it."""
    by_path: dict[str, ScoreCache] = {}
    caches: dict[tuple[str, str, str], ScoreCache] = {}
    try:
        for pname, (found, _, _) in loaded.items():
            for name, ds in found.items():
                for m in metrics:
                    path = osp.join(out, 'cache', name, ds.protocol, f'{m}.csv')
                    if path not in by_path:
                        by_path[path] = ScoreCache(path, settings[m], restart=restart)
                    caches[pname, name, m] = by_path[path]
    except BenchError:
        for c in by_path.values():
            c.close()
        raise
    return caches


def _score(loaded: dict, metrics: Sequence[str], caches: dict[tuple[str, str, str], ScoreCache],
           make_scorer: Callable[[str], Any], progress: Callable[[int, str], ContextManager[Any]]) -> None:
    """Score every image a cache lacks; a metric's scorer is built when it first has something to score."""
    scorers: dict[str, Any] = {}
    for pname, (found, _, _) in loaded.items():
        for name, ds in found.items():
            for m in metrics:
                cache = caches[pname, name, m]
                todo = [(n, p) for n, p in zip(ds.names, ds.paths) if p is not None and n not in cache.scores]
                if not todo:
                    continue
                if m not in scorers:
                    scorers[m] = make_scorer(m)
                with progress(len(todo), f'{name} {m}') as bar:
                    for image, score, error in iter_scores(m, scorers[m], todo, ds.short_side, ds.resize):
                        cache.add(image, score, error)
                        bar.update(1)
