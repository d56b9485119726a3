"""``sfd-iqa bench``: its options and its run; the engine (datasets, caches, correlations, report) is
:mod:`sfd_arch.iqa_bench.bench`."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Any

from ..metrics.protocols import BENCH_PROTOCOLS, DEFAULT_BENCH_PROTOCOL
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    metric_scorer,
    progress,
    refuse_outputs_over_inputs,
    release_options,
    scoring_inputs,
    scoring_options,
)


def bench_outputs(out: str, found: dict) -> list[str]:
    """What a bench writes into (folders whose files it replaces or adds) and the files it replaces."""
    from ..eval.html_report import COPY_DIR

    folders = ['cache', 'scatter', COPY_DIR, *found]
    files = ['table.md', 'results.json', 'report.html', 'relative_plcc.png']
    return [osp.join(out, name) for name in (*folders, *files)]


def bench_inputs(found: dict, args: argparse.Namespace) -> list[str]:
    """Every file a bench reads: images, score files, weights."""
    inputs = scoring_inputs(args)
    for ds in found.values():
        inputs += [p for p in ds.paths if p is not None] + [p for p in ds.source.split('; ') if p]
    return inputs


def run_bench(args: argparse.Namespace) -> int:
    """Check the options, score what the caches lack, then write the report (:func:`summarize`) of each protocol.

    Scores are cached per dataset, image settings (size, resizing) and metric, not per protocol: protocols that
    differ only in their statistics or split (a subset of the same images) share one scoring pass.
    """
    from ..eval.html_report import bench_page_data, write_bench_html
    from ..iqa_bench import baselines
    from ..iqa_bench.bench import (
        BenchError,
        ScoreCache,
        folders_of,
        iter_scores,
        load_datasets,
        metric_settings,
        summarize,
        titles,
    )

    metrics = list(dict.fromkeys(args.metric))
    protocols = [BENCH_PROTOCOLS[p] for p in dict.fromkeys(args.protocol or [DEFAULT_BENCH_PROTOCOL])]
    chosen_by = '--protocol' if args.protocol else 'the default'
    if len(protocols) > 1:
        clash = [d for d in list(args.datasets or []) + [v.partition('=')[0] for v in args.dataset_dir or []]
                 if d in BENCH_PROTOCOLS]
        if clash:  # each protocol's report goes into a folder of its name, beside the dataset folders
            raise UsageError(f'a dataset named {clash[0]!r} would share its folder with the report of protocol '
                             f'{clash[0]!r}; rename the dataset or run one protocol at a time')
    if 'sfd_iqa' in metrics and not args.weights:
        raise UsageError('--metric sfd_iqa needs --weights (or leave sfd_iqa out)')
    if args.bootstrap < 0:
        raise UsageError(f'--bootstrap must be >= 0, got {args.bootstrap}')
    if not args.root and not args.dataset_dir:
        raise UsageError('give --root (a folder holding the dataset folders) and/or --dataset-dir NAME=PATH')
    if args.root and not osp.isdir(args.root):
        raise UsageError(f'--root {args.root}: no such folder')
    loaded = {}
    try:
        for protocol in protocols:
            loaded[protocol.name] = load_datasets(args, protocol)
    except (BenchError, ValueError) as err:
        raise UsageError(str(err)) from err
    missing = list(dict.fromkeys(n for _, m, _ in loaded.values() for n in m))
    broken = {n: e for _, _, b in loaded.values() for n, e in b.items()}
    for name in missing:
        print(f'not found: {name} (looked under {args.root or "-"} for {", ".join(folders_of(name))})', file=sys.stderr)
    for name, err in broken.items():
        print(f'error: {name}: {err}', file=sys.stderr)
    if not any(found for found, _, _ in loaded.values()):
        raise UsageError('no dataset found' + (f' ({len(broken)} unreadable)' if broken else ''))

    unavailable = {m: r for m in metrics if m != 'sfd_iqa' for r in [baselines.unavailable_reason(m)] if r}
    for m, reason in unavailable.items():
        print(f'unavailable: {m}: {reason}', file=sys.stderr)
    runnable = [m for m in metrics if m not in unavailable]
    if not runnable:
        raise UsageError('none of the metrics can run here')
    settings = {m: metric_settings(m, args) for m in runnable}

    out = args.out_dir
    every_found = {n: ds for found, _, _ in loaded.values() for n, ds in found.items()}
    # one protocol reports into the output folder, several into one folder each (below)
    report_dirs = [out] if len(protocols) == 1 else [osp.join(out, p.name) for p in protocols]
    refuse_outputs_over_inputs([('output', p) for d in report_dirs for p in bench_outputs(d, every_found)]
                               + [('output', osp.join(out, 'cache'))], bench_inputs(every_found, args), nested=True)
    os.makedirs(out, exist_ok=True)
    by_path: dict[str, ScoreCache] = {}  # one cache per file: protocols scoring the same images share it
    caches: dict[tuple[str, str, str], ScoreCache] = {}
    try:  # open every cache first: a settings mismatch stops the run before any work
        for pname, (found, _, _) in loaded.items():
            for name, ds in found.items():
                for m in runnable:
                    path = osp.join(out, 'cache', name, ds.protocol, f'{m}.csv')
                    if path not in by_path:
                        by_path[path] = ScoreCache(path, settings[m], restart=args.overwrite)
                    caches[pname, name, m] = by_path[path]
    except BenchError as err:
        for c in by_path.values():
            c.close()
        raise UsageError(str(err)) from err

    scorers: dict[str, Any] = {}
    try:
        for pname, (found, _, _) in loaded.items():
            for name, ds in found.items():
                for m in runnable:
                    cache = caches[pname, name, m]
                    todo = [(n, p) for n, p in zip(ds.names, ds.paths) if p is not None and n not in cache.scores]
                    if not todo:
                        continue
                    if m not in scorers:
                        scorers[m] = metric_scorer(m, args)
                    with progress(len(todo), args, f'{name} {m}') as bar:
                        for image, score, error in iter_scores(m, scorers[m], todo, ds.short_side, ds.resize):
                            cache.add(image, score, error)
                            bar.update(1)
    finally:
        for c in by_path.values():
            c.close()

    failed = 0
    for protocol in protocols:
        found, missing_here, broken_here = loaded[protocol.name]
        # one protocol: its report in the output folder, as always; several: one folder each
        folder = out if len(protocols) == 1 else osp.join(out, protocol.name)
        summary = summarize(args, found, runnable, {(n, m): caches[protocol.name, n, m] for n in found
                                                    for m in runnable},
                            missing_here, broken_here, unavailable, protocol, folder, chosen_by)
        report = summary.report
        write_bench_html(folder, bench_page_data(summary.report, summary.points, titles()))
        failed += sum(d['failed'] + d['absent'] for d in report['datasets'].values())
        print(summary.table.headline)  # the protocol and the SRCC / PLCC table
        figure = 'relative_plcc.png, ' if report['relative_plcc'] else ''
        print(f'wrote {osp.join(folder, "table.md")}, report.html, results.json, {figure}scatter/ and per-image '
              'scores', file=sys.stderr)
        if not figure:
            print(f'relative_plcc.png not written: {report["relative_plcc_not_written"]}', file=sys.stderr)
    if failed or broken:
        print(f'{failed} image(s) failed or absent (see <dataset>/scores.csv), {len(broken)} dataset(s) unreadable',
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# the listing of `sfd-iqa --help`, which builds this subcommand's options only when it runs (they import numpy)
LISTING = ('bench', 'the OU NR-IQA table over the released datasets (SRCC/PLCC/KRCC, intervals, figures)')


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``bench`` subcommand's options."""
    from ..iqa_bench.bench import DEFAULT_DATASETS, metric_names
    from ..iqa_bench.datasets import PRESETS

    presets = sorted(set(PRESETS) - {'csv'})
    p = sub.add_parser(
        LISTING[0], help=LISTING[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Score every dataset found with SFD-IQA and the offline baselines, and write the table of the '
                    'opinion-unaware NR-IQA literature. Datasets are read as released (see docs/iqa.md for each '
                    "preset's layout); those not found are listed and skipped. Scores are cached per dataset and "
                    'metric as they come: run the same command again to resume.',
        epilog='Example:\n  sfd-iqa bench --root datasets/IQA --datasets live csiq tid2013 kadid10k koniq10k clive '
               'spaq \\\n      --metric sfd_iqa niqe piqe -w sfd_iqa.pth -o iqa_report/\n\n'
               'Writes table.md, results.json, relative_plcc.png, scatter/<dataset>.png, <dataset>/scores.csv.\n'
               'Exit status: 0 ok; 1 some image failed, was listed but absent, or a dataset was unreadable; 2 usage '
               'or setup error; 130 interrupted (cached scores are kept).')
    p.add_argument('--root', help='folder holding the dataset folders (each named as its release unpacks, e.g. '
                                  'databaserelease2, ChallengeDB_release, or after its preset: live, clive, ...)')
    p.add_argument('--datasets', nargs='+', metavar='NAME',
                   help=f'presets to run: {", ".join(presets)} (aliases koniq, livec); default with --root: '
                        f'{" ".join(DEFAULT_DATASETS)}; without: only those of --dataset-dir')
    p.add_argument('--dataset-dir', action='append', metavar='NAME=PATH',
                   help='the folder of one dataset (repeatable); NAME a preset, or any name for a CSV file with '
                        'columns image, mos and the images beside it')
    p.add_argument('--metric', nargs='+', choices=metric_names(), default=['sfd_iqa', 'niqe', 'piqe'],
                   help='methods (columns of the table); unavailable baselines are listed in the report '
                        '(default: sfd_iqa niqe piqe)')
    p.add_argument('--baseline', default='niqe', choices=metric_names(),
                   help='method the relative-PLCC figure divides by (default %(default)s)')
    p.add_argument('--protocol', nargs='+', choices=list(BENCH_PROTOCOLS), metavar='NAME',
                   help=f'the evaluation protocol(s): {", ".join(BENCH_PROTOCOLS)} (docs/iqa.md, "Protocols"). '
                        f'{DEFAULT_BENCH_PROTOCOL}: whole releases, PLCC after the logistic; pyiqa: its benchmark\'s '
                        'splits and sizes, PLCC without a fit. Several: one report folder each under -o, the '
                        f'images scored once (default {DEFAULT_BENCH_PROTOCOL})')
    p.add_argument('--spaq-short-side', type=int, default=None, metavar='PX',
                   help='resize SPAQ images so that the shorter side is PX before scoring; 0 = as released '
                        '(default: the protocol\'s: as released for sfd, 448 for pyiqa)')
    p.add_argument('--bootstrap', type=int, default=1000, metavar='B',
                   help='bootstrap resamples for the 95%% intervals; 0 = none (default %(default)s)')
    p.add_argument('--seed', type=int, default=0, help='seed of the bootstrap resamples (default %(default)s)')
    p.add_argument('-o', '--out-dir', default='iqa_report', help='output folder (default %(default)s)')
    p.add_argument('--overwrite', action='store_true',
                   help='drop the cached scores and score everything again (default: resume from the cache)')
    release_options(p)
    scoring_options(p, weights_required=False)
    p.set_defaults(func=run_bench)
    return p
