"""``sfd-iqa score``: score image files and folders into CSV / JSON Lines rows (one process, or its share under
torchrun: :mod:`sfd_arch.cli.distributed`)."""
from __future__ import annotations

import argparse

from .common import (
    UsageError,
    check_weights_file,
    load_scorer,
    refuse_outputs_over_inputs,
    scorer_settings,
    scoring_inputs,
    scoring_options,
    single_writers,
)
from .rows import SCORE_COLUMNS, RowWriter, finish_score, score_into, windows


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``score`` subcommand's options."""
    p = sub.add_parser('score', help='score image files and folders',
                       description='Score images (files, or folders searched recursively for .png .jpg .bmp .tif '
                                   '.webp ...). Rows are written and flushed as they are computed; a file that '
                                   'fails gets a row with its error and the exit status is 1.',
                       epilog='Output columns: ' + ','.join(SCORE_COLUMNS) + '. Without --csv/--json the CSV '
                              'goes to stdout. Existing output files are refused unless --overwrite or --resume. '
                              'Across GPUs or nodes: torchrun --nproc_per_node G --no-python sfd-iqa score ... '
                              '--csv out.csv (each process scores a share into out.csv.part<rank>.jsonl; rank 0 '
                              'merges them into the file one process would write; docs/distributed.md).')
    p.add_argument('paths', nargs='+', metavar='PATH', help='image files and/or folders')
    p.add_argument('--csv', help='write rows to this CSV file')
    p.add_argument('--json', help='write rows to this JSON Lines file (one JSON object per line)')
    p.add_argument('--overwrite', action='store_true', help='replace existing output files')
    p.add_argument('--resume', action='store_true',
                   help='append to existing output files, skipping inputs they already scored without error')
    p.add_argument('--no-recursive', action='store_true', help='do not descend into sub-folders')
    scoring_options(p)
    p.set_defaults(func=cmd_score)



def cmd_score(args: argparse.Namespace) -> int:
    if args.overwrite and args.resume:
        raise UsageError('--overwrite and --resume exclude each other')
    mode = 'overwrite' if args.overwrite else 'resume' if args.resume else 'refuse'
    RowWriter.check(args.csv, args.json, mode)
    check_weights_file(args.weights)
    from ..iqa.images import find_images
    from ..iqa.scorer import IQAResult
    from .distributed import DistEnv, score_sharded

    found = find_images(args.paths, recursive=not args.no_recursive)
    # --overwrite on an input (`--csv imgs/a.png`) would replace the photo with CSV text
    refuse_outputs_over_inputs((('--csv', args.csv), ('--json', args.json)),
                               [*found.files, *args.paths, *scoring_inputs(args)])
    try:
        env = DistEnv.from_env()
    except ValueError as err:
        raise UsageError(str(err)) from err
    outputs = (args.csv, args.json)
    if env.distributed:  # started by torchrun: this process scores its share, rank 0 merges (and holds the locks)
        with single_writers(outputs if env.rank == 0 else ()):
            return score_sharded(args, found, env, mode)
    with single_writers(outputs):  # a second run on the same file stops here, before it reads what is done
        # before any output is opened: a bad weights file leaves no empty output behind
        scorer = load_scorer(scorer_settings(args))
        writer = RowWriter(args.csv, args.json, mode)
        scored = failed = 0
        try:
            for path in found.missing:
                writer.write(IQAResult(path, error=f'{path}: no such file or folder').as_dict())
                failed += 1
            chosen = windows(found.files, writer.done, scorer.batch_size)  # as torchrun deals them: the same bits
            ok, bad = score_into(writer, scorer, chosen, args, 'sfd-iqa score', done=writer.done)
            scored, failed = scored + ok, failed + bad
        finally:
            writer.close()
    summary = f'scored {scored} image(s)'
    if writer.done:
        summary += f', {len(writer.done)} already in the output (--resume)'
    if failed:
        summary += f', {failed} failed'
    return finish_score(summary, found, failed)
