"""``sfd-iqa export``: an SFD experiment folder (or explicit checkpoints) -> one SFD-IQA weights file."""
from __future__ import annotations

import argparse

from .common import EXIT_OK, UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``export`` subcommand's options."""
    p = sub.add_parser('export', help='training checkpoints -> one SFD-IQA weights file',
                       description='Write an SFD-IQA weights file (Feat-D + LPP weights, the clip block and network '
                                   'arguments; no CLIP weights) from an SFD experiment folder or explicit files.',
                       epilog='Examples:\n  sfd-iqa export experiments/SFD_x4 -o sfd_iqa.pth\n'
                              '  sfd-iqa export experiments/SFD_x4 --iter 400000 -o sfd_iqa_400k.pth\n'
                              '  sfd-iqa export --featd net_featd_5000.pth --lpp net_lpp_5000.pth '
                              '--opt train_sfd_x4.yml -o sfd_iqa.pth',
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('experiment', nargs='?', help='experiments/<name> (models/net_featd_<iter>.pth, '
                                                 'models/net_lpp_<iter>.pth and the copied option .yml)')
    p.add_argument('--iter', help="iteration to export, or 'latest' for net_*_latest.pth (default: the highest "
                                  'iteration saved for both networks)')
    p.add_argument('--featd', help='Feat-D checkpoint (BasicSR {"params": state_dict}); leave out for a run trained '
                                   'without Feat-D (the file then scores with p_pos alone)')
    p.add_argument('--lpp', help='LPP checkpoint (BasicSR {"params": state_dict}); leave out for a run trained '
                                 'without TG-D (the file then scores with q_feat alone)')
    p.add_argument('--opt', help='option file with the clip/network_featd/network_lpp blocks (default with an '
                                 'experiment: the .yml BasicSR copied into it)')
    p.add_argument('-o', '--output', required=True, help='SFD-IQA weights file to write')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output file')
    p.set_defaults(func=cmd_export)



def cmd_export(args: argparse.Namespace) -> int:
    from ..iqa.export import ExportError, describe_payload, export_experiment, export_files

    explicit = [args.featd, args.lpp, args.opt]
    iteration = args.iter
    if iteration not in (None, 'latest'):
        if not str(iteration).isdigit():
            raise UsageError(f"--iter must be an iteration number or 'latest', got {iteration!r}")
        iteration = int(iteration)
    try:
        if args.experiment:
            if args.featd or args.lpp:
                raise UsageError('give either an experiment folder or --featd/--lpp/--opt, not both')
            payload = export_experiment(args.experiment, args.output, iteration, opt=args.opt,
                                        overwrite=args.overwrite)
        elif args.opt and (args.featd or args.lpp):  # one of them alone: a run that trained only that one
            if args.iter is not None:
                raise UsageError('--iter needs an experiment folder')
            payload = export_files(args.featd, args.lpp, args.opt, args.output, overwrite=args.overwrite)
        else:
            absent = [flag for flag, value in zip(('--featd', '--lpp', '--opt'), explicit) if not value]
            raise UsageError(f'export needs an experiment folder, or --opt with --featd and/or --lpp '
                             f'(missing {", ".join(absent)})')
    except ExportError as err:
        raise UsageError(str(err)) from err
    clip = payload['clip']
    nets = {name: payload[key]['kwargs'] if payload[key] is not None else 'none (off in this run)'
            for name, key in (('Feat-D', 'featd'), ('LPP', 'lpp'))}
    print(f"wrote {args.output}: CLIP {clip['model']} (pretrained: {clip['pretrained']}), taps {clip['layers']}, "
          f"Feat-D {nets['Feat-D']}, LPP {nets['LPP']}, from iteration {payload['source'].get('iteration', '?')}; "
          f'{describe_payload(payload)}')
    return EXIT_OK
