"""The ``sfd-iqa`` command: ``score`` images, ``export`` training checkpoints, ``eval`` against MOS, ``bench`` over
the released IQA datasets (``python -m sfd_arch.cli`` runs it too).

One module per command (:mod:`.score`, :mod:`.export`, :mod:`.evaluate`, :mod:`.bench`), each with its options
(``add_parser``) and its body; what they share is in :mod:`.common` (exit statuses, scoring options, loading the
scorer, progress), the score rows in :mod:`.rows`, torchrun sharding in :mod:`.distributed`.

Exit status: 0 when everything was scored, 1 when some input failed (its row says why), 2 for a usage or
setup error (bad option, missing weights, an output file that exists), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import bench, evaluate, export, score
from .common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from .rows import SCORE_COLUMNS, RowWriter

__all__ = ['EXIT_FAILED', 'EXIT_INTERRUPTED', 'EXIT_OK', 'EXIT_USAGE', 'SCORE_COLUMNS', 'RowWriter', 'UsageError',
           'build_parser', 'main']


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The ``sfd-iqa`` parser with its four subcommands.

    With ``argv``, ``eval`` and ``bench`` get their options only when ``argv`` runs them (their choices come from
    the dataset modules, which import numpy); otherwise they are listed by name and help line, so that
    ``sfd-iqa --help`` and ``sfd-iqa score ...`` answer without those imports.
    """
    chosen = None if argv is None else next((a for a in argv if not a.startswith('-')), '')
    parser = argparse.ArgumentParser(
        prog='sfd-iqa',
        description='SFD-IQA: opinion-unaware no-reference image quality from the Feat-D and LPP trained by SFD '
                    '(Dong et al., CVPR 2025). Scores are in [0, 1], higher is better.',
        epilog='Exit status: 0 ok, 1 some input failed, 2 usage/setup error. See docs/iqa.md.')
    sub = parser.add_subparsers(dest='command', metavar='{score,export,eval,bench}')
    sub.required = True
    for command in (score, export, evaluate, bench):
        listing = getattr(command, 'LISTING', None)
        if listing is None or chosen is None or chosen == listing[0]:
            command.add_parser(sub)
        else:
            sub.add_parser(listing[0], help=listing[1])
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``sfd-iqa``; returns (and, run as a script, exits with) the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command == 'eval' and 'sfd_iqa' in args.metric and not args.weights:
        parser.error('eval --metric sfd_iqa needs --weights')
    try:
        return args.func(args)
    except UsageError as err:
        print(f'sfd-iqa {args.command}: error: {err}', file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print('interrupted: rows written so far are kept', file=sys.stderr)
        return EXIT_INTERRUPTED

