"""``sfd-iqa bench``: its options, its settings, and the writing and printing of its results; the engine
(checks, datasets, caches, correlations) is :mod:`sfd_arch.iqa_bench.run` and :mod:`sfd_arch.iqa_bench.bench`."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import TYPE_CHECKING

from ..metrics.protocols import BENCH_PROTOCOLS, DEFAULT_BENCH_PROTOCOL
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    metric_scorer,
    progress,
    release_options,
    release_settings,
    scorer_settings,
    scoring_options,
)

if TYPE_CHECKING:
    from ..iqa_bench.bench import BenchResult
    from ..iqa_bench.run import BenchSettings


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The bench's settings from its command line (the one place that reads the namespace)."""
    from ..iqa_bench.run import BenchSettings

    return BenchSettings(
        root=args.root, datasets=None if args.datasets is None else tuple(args.datasets),
        dataset_dirs=tuple(args.dataset_dir or ()), metrics=tuple(args.metric), baseline=args.baseline,
        protocols=tuple(args.protocol or (DEFAULT_BENCH_PROTOCOL,)),
        chosen_by='--protocol' if args.protocol else 'the default', bootstrap=args.bootstrap, seed=args.seed,
        out_dir=args.out_dir, overwrite=args.overwrite, release=release_settings(args), scorer=scorer_settings(args))


def write_bench(result: BenchResult, folder: str) -> None:
    """Write a protocol's report folder, each file a pure function of ``result``: ``<dataset>/scores.csv``
    (:func:`~sfd_arch.iqa_bench.bench.score_rows`), ``scatter/<dataset>.png``, ``relative_plcc.png`` (when
    ``results.json`` has its ratios), ``table.md`` (:func:`~sfd_arch.iqa_bench.bench.bench_table`, in the
    result), ``results.json`` (the result's dict) and ``report.html``
    (:func:`~sfd_arch.eval.html_report.bench_page_data`). It sits here, above both, because the page belongs to
    the report layer, which the bench does not import."""
    from ..eval.html_report import bench_page_data, write_bench_html
    from ..iqa_bench.bench import plot_dataset, plot_relative_plcc, titles, write_scores
    from ..utils.files import write_atomic

    os.makedirs(folder, exist_ok=True)
    for name, held in result.datasets.items():
        write_scores(osp.join(folder, name, 'scores.csv'), held.dataset, result.metrics, held.scores, held.errors)
        if held.kept:
            plot_dataset(osp.join(folder, 'scatter', f'{name}.png'), name, result)
    if result.report['relative_plcc'] is not None:
        plot_relative_plcc(osp.join(folder, 'relative_plcc.png'), result.rows, result.metrics, result.baseline)
    write_atomic(osp.join(folder, 'table.md'), result.table.text)
    write_atomic(osp.join(folder, 'results.json'), result.results_json())
    write_bench_html(folder, bench_page_data(result.report, result.points, titles()))


def run_bench(args: argparse.Namespace) -> int:
    """Run the bench of the options (:func:`sfd_arch.iqa_bench.run.run_bench`: every check before any scoring),
    then write and print each protocol's result."""
    from ..eval.html_report import COPY_DIR
    from ..iqa_bench.bench import BenchError
    from ..iqa_bench.run import run_bench as run

    settings = settings_from_args(args)
    try:
        bench = run(settings, make_scorer=lambda m: metric_scorer(m, settings.scorer),
                    progress=lambda total, desc: progress(total, args, desc), extra_outputs=(COPY_DIR, 'report.html'))
    except BenchError as err:
        raise UsageError(str(err)) from err
    for folder, result in bench.results.items():
        write_bench(result, folder)
        report = result.report
        print(result.table.headline)  # the protocol and the SRCC / PLCC table
        figure = 'relative_plcc.png, ' if report['relative_plcc'] else ''
        print(f'wrote {osp.join(folder, "table.md")}, report.html, results.json, {figure}scatter/ and per-image '
              'scores', file=sys.stderr)
        if not figure:
            print(f'relative_plcc.png not written: {report["relative_plcc_not_written"]}', file=sys.stderr)
    if bench.failed or bench.broken:
        print(f'{bench.failed} image(s) failed or absent (see <dataset>/scores.csv), {len(bench.broken)} dataset(s) '
              'unreadable', file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# the listing of `sfd-iqa --help`, which builds this subcommand's options only when it runs (they import numpy)
LISTING = ('bench', 'the OU NR-IQA table over the released datasets (SRCC/PLCC/KRCC, intervals, figures)')


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``bench`` subcommand's options."""
    from ..iqa_bench.bench import DEFAULT_DATASETS, metric_names
    from ..iqa_bench.datasets import PRESETS
    from ..iqa_bench.run import BenchSettings

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
    p.add_argument('--metric', nargs='+', choices=metric_names(), default=list(BenchSettings.metrics),
                   help='methods (columns of the table); unavailable baselines are listed in the report '
                        f'(default: {" ".join(BenchSettings.metrics)})')
    p.add_argument('--baseline', default=BenchSettings.baseline, choices=metric_names(),
                   help='method the relative-PLCC figure divides by (default %(default)s)')
    p.add_argument('--protocol', nargs='+', choices=list(BENCH_PROTOCOLS), metavar='NAME',
                   help=f'the evaluation protocol(s): {", ".join(BENCH_PROTOCOLS)} (docs/iqa.md, "Protocols"). '
                        f'{DEFAULT_BENCH_PROTOCOL}: whole releases, PLCC after the logistic; pyiqa: its benchmark\'s '
                        'splits and sizes, PLCC without a fit. Several: one report folder each under -o, the '
                        f'images scored once (default {DEFAULT_BENCH_PROTOCOL})')
    p.add_argument('--spaq-short-side', type=int, default=None, metavar='PX',
                   help='resize SPAQ images so that the shorter side is PX before scoring; 0 = as released '
                        '(default: the protocol\'s: as released for sfd, 448 for pyiqa)')
    p.add_argument('--bootstrap', type=int, default=BenchSettings.bootstrap, metavar='B',
                   help='bootstrap resamples for the 95%% intervals; 0 = none (default %(default)s)')
    p.add_argument('--seed', type=int, default=BenchSettings.seed,
                   help='seed of the bootstrap resamples (default %(default)s)')
    p.add_argument('-o', '--out-dir', default=BenchSettings.out_dir, help='output folder (default %(default)s)')
    p.add_argument('--overwrite', action='store_true',
                   help='drop the cached scores and score everything again (default: resume from the cache)')
    release_options(p)
    scoring_options(p, weights_required=False)
    p.set_defaults(func=run_bench)
    return p
