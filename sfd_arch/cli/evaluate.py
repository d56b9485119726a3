"""``sfd-iqa eval``: score one dataset and correlate with its mean opinion scores (SRCC, PLCC, KRCC).

The dataset is either a MOS table (``--mos``, CSV) with the images of FOLDER, or a released layout read by its
preset's reader (``--preset`` without ``--mos``); from there on one body scores, correlates and writes
``scores.csv``, ``summary.json`` and ``scatter.png``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import TYPE_CHECKING

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    metric_scorer,
    progress,
    refuse_outputs_over_inputs,
    release_options,
    release_settings,
    scorer_settings,
    scoring_options,
)

if TYPE_CHECKING:
    from ..iqa_bench.datasets import IQADataset


# the listing of `sfd-iqa --help`, which builds this subcommand's options only when it runs (they import numpy)
LISTING = ('eval', 'correlate scores of a folder with a MOS table (SRCC, PLCC, KRCC)')


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``eval`` subcommand's options."""
    from ..iqa_bench.datasets import ALIASES, PRESETS
    from ..iqa_bench.mos import MOS_COLUMNS

    p = sub.add_parser(LISTING[0], help=LISTING[1],
                       description='Score a folder and correlate with mean opinion scores: SRCC, PLCC after the '
                                   '4-parameter logistic fit (VQEG), KRCC. Writes scores.csv, summary.json and '
                                   'scatter.png into --out-dir. NIQE is lower-is-better and is negated.')
    p.add_argument('folder', help='folder with the images of the MOS table, or (without --mos) the folder a '
                                  'dataset release unpacks to')
    p.add_argument('--mos', help='MOS table (CSV); leave out to read the release of --preset from the folder')
    p.add_argument('--preset', choices=sorted(set(PRESETS) | set(ALIASES)),
                   help='a known dataset. Without --mos: read its release in FOLDER (layouts in docs/iqa.md). With '
                        '--mos: its column names: ' + '; '.join(
                            f"{k}: {v['image_col']!r}/{v['score_col']!r}" for k, v in sorted(MOS_COLUMNS.items())))
    p.add_argument('--image-col', help="image-name column (default from --preset, else 'image')")
    p.add_argument('--score-col', help="MOS column (default from --preset, else 'mos'), e.g. MOS_zscore")
    p.add_argument('--metric', nargs='+', choices=['sfd_iqa', 'niqe'], default=['sfd_iqa'],
                   help="metrics to compare side by side (default: sfd_iqa); 'niqe' is BasicSR's calculate_niqe")
    p.add_argument('--out-dir', default='sfd_iqa_eval', help='output folder (default %(default)s)')
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs in --out-dir')
    release_options(p)
    scoring_options(p, weights_required=False)
    p.set_defaults(func=cmd_eval)


def table_dataset(args: argparse.Namespace) -> tuple[IQADataset, dict]:
    """``--mos TABLE FOLDER``: the table's entries that have an image in FOLDER, and the summary's first keys."""
    from ..iqa_bench.datasets import mos_table_dataset
    from ..iqa_bench.mos import MOS_COLUMNS

    columns = MOS_COLUMNS.get(args.preset, {}) if args.preset else {}
    image_col = args.image_col or columns.get('image_col', 'image')
    score_col = args.score_col or columns.get('score_col', 'mos')
    if osp.isfile(args.mos) and not osp.isdir(args.folder):
        raise UsageError(f'image folder not found: {args.folder}')
    try:
        ds = mos_table_dataset(args.mos, args.folder, image_col, score_col, preset=args.preset or 'csv')
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from err
    unmatched = ds.absent
    if unmatched:
        print(f'{len(unmatched)} of {len(ds)} table entries have no image in {args.folder} '
              f'(e.g. {", ".join(unmatched[:3])})', file=sys.stderr)
    kept = [i for i, p in enumerate(ds.paths) if p is not None]
    if not kept:
        raise UsageError(f'no image of {args.mos} found in {args.folder}')
    summary = {'mos_table': args.mos, 'folder': args.folder, 'image_col': image_col, 'score_col': score_col,
               'table_rows': len(ds), 'matched': len(kept), 'unmatched': len(unmatched)}
    return ds.subset(kept), summary


def release_dataset(args: argparse.Namespace) -> tuple[IQADataset, dict]:
    """``--preset NAME FOLDER`` without ``--mos``: the release read by its preset's reader."""
    from ..iqa_bench import datasets as dsets
    from ..iqa_bench.datasets import DatasetError, read_dataset

    if not args.preset:
        raise UsageError('eval needs --mos (a CSV), or --preset naming the released layout of FOLDER')
    try:
        options = dsets.reader_options(dsets.canonical(args.preset), release_settings(args))
        ds = read_dataset(args.preset, args.folder, **options)
    except (DatasetError, ValueError) as err:
        raise UsageError(str(err)) from err
    summary = {'preset': ds.preset, 'folder': ds.folder, 'source': ds.source, 'turned': ds.turned,
               'variant': dict(ds.variant), 'listed': len(ds), 'absent': len(ds.absent)}
    return ds, summary


def cmd_eval(args: argparse.Namespace) -> int:
    """Score the dataset with each ``--metric``, correlate with its MOS, write the three outputs."""
    from ..iqa_bench import correlation as corr
    from ..iqa_bench.bench import oriented_scores, score_dataset, write_scores

    scorer = scorer_settings(args)
    ds, summary = table_dataset(args) if args.mos else release_dataset(args)
    outputs = {k: osp.join(args.out_dir, f) for k, f in (('scores', 'scores.csv'), ('summary', 'summary.json'),
                                                          ('plot', 'scatter.png'))}
    listed = [p for p in ds.paths if p is not None]
    refuse_outputs_over_inputs([('output', p) for p in outputs.values()],
                               [*listed, *(p for p in (args.mos, *ds.source.split('; ')) if p), *scorer.inputs()])
    existing = [p for p in outputs.values() if osp.exists(p)]
    if existing and not args.overwrite:
        raise UsageError(f'output exists: {", ".join(existing)} (pass --overwrite or another --out-dir)')
    os.makedirs(args.out_dir, exist_ok=True)
    metrics = list(dict.fromkeys(args.metric))
    scores, errors = score_dataset(ds, metrics, lambda m: metric_scorer(m, scorer),
                                   lambda total, desc: progress(total, args, desc))
    results, px, py = {}, {}, {}
    for m in metrics:
        px[m], py[m] = oriented_scores(ds, m, scores[m])
        results[m] = corr.correlations(px[m], py[m])
    write_scores(outputs['scores'], ds, metrics, scores, errors)
    summary.update(failed=len(errors), **({'notes': ds.notes} if not args.mos else {}))
    corr.write_eval_outputs(outputs, summary, px, py, results)
    if errors or ds.absent:
        print(f'{len(errors)} image(s) failed, {len(ds.absent)} listed but absent (see the error column)',
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
