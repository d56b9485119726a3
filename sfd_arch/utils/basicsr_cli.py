"""The command lines of ``sfd-train`` and ``sfd-test``: BasicSR's own arguments, and what the SFD wrappers add.

Pure argparse, so that ``--help`` and argument errors answer before torch or BasicSR is imported. The arguments
are those of ``parse_options`` in ``basicsr/utils/options.py`` (1.4.2), which then parses the same command line
itself (``tests/test_startup.py`` compares the two).
"""
from __future__ import annotations

import argparse
import sys

WRAPPER = {
    'train': ('sfd-train', 'BasicSR\'s training pipeline (basicsr/train.py) with the SFD classes registered',
              'moves an existing experiment folder aside'),
    'test': ('sfd-test', 'BasicSR\'s test pipeline (basicsr/test.py) with the SFD classes registered',
             'loads any network'),
}


def add_basicsr_arguments(parser: argparse.ArgumentParser, opt_required: bool = True) -> None:
    """BasicSR 1.4.2's arguments, with its help texts."""
    parser.add_argument('-opt', type=str, required=opt_required, help='Path to option YAML file.')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--auto_resume', action='store_true')
    parser.add_argument('--debug', action='store_true')
    parser.add_argument('--local_rank', type=int, default=0)
    parser.add_argument('--force_yml', nargs='+', default=None,
                        help='Force to update yml files. Examples: train:ema_decay=0.999')


def wrapper_parser(kind: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``sfd-train`` (``kind='train'``) or ``sfd-test`` (``'test'``): what the wrapper does before
    BasicSR starts, then BasicSR's arguments."""
    command, pipeline, before = WRAPPER[kind]
    checks = ('  - data paths, the clip: block (model, pretrained weights, taps), metric weight files and the\n'
              '    SFD switches,\n   ')
    if kind == 'test':
        checks = '  - data paths, metric types and their weight files,\n   '
    extra = ('\nIt also writes results/<name>/metrics.csv (every metric of every image) and summary.md; a\n'
             'top-level `protocol:` (sfd, basicsr, pyiqa) adds that preset\'s metrics to val.metrics; --model\n'
             'tests any generator instead of network_g (docs/evaluation.md "Test with per-image results").\n'
             if kind == 'test' else '')
    parser = argparse.ArgumentParser(
        prog=prog or (command if sys.argv[0] in ('', '-c') else None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f'{command}: {pipeline},\nrun from the current directory (experiments/, results/, tb_logger/).\n\n'
                    'What the SFD wrapper adds: before BasicSR starts, the option file is checked, so that a mistake\n'
                    f'fails in a second, before BasicSR {before}:\n'
                    '  - every key against the schema (a typo is named with the closest known key); keys your own\n'
                    '    code reads are declared in a top-level `extra_keys:` list of dotted paths, e.g.\n'
                    '      extra_keys: [train.my_weight, datasets.train.my_flag]\n'
                    f'{checks} with --force_yml, --debug, --auto_resume and --launcher applied first, as BasicSR\n'
                    '    applies them.\n'
                    f'{extra}\n'
                    'Docs: docs/training.md "Commands" and docs/training.md "Option keys"; docs/tutorial.md (a first\n'
                    'run, step by step); docs/design.md (how the code is laid out).\n\n'
                    'BasicSR\'s own arguments follow; BasicSR parses them again itself.',
        epilog='Exit status: 0 ok; 2 for an argument error; 1 with a one-line `error:` naming the file (and the key)\n'
               'when the option file is wrong.')
    add_basicsr_arguments(parser)
    if kind == 'test':
        add_generator_arguments(parser.add_argument_group('any generator instead of the option file\'s network_g '
                                                          '(read by the SFD wrapper, not passed to BasicSR)'))
    return parser


def add_generator_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``sfd-test``'s ``--model``, ``--network_g`` and ``--iter`` (``sfd_arch.archs.generators`` reads them)."""
    parser.add_argument('--model', default=None, help='generator file or experiment folder (replaces network_g)')
    parser.add_argument('--network_g', default=None, help='network_g block of --model: inline YAML or a YAML file')
    parser.add_argument('--iter', type=int, default=None, help='with an experiment folder: models/net_g_<iter>.pth')
