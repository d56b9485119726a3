"""The ``sfd-iqa`` command: ``score`` images, ``export`` training checkpoints, ``eval`` against MOS.

Exit status: 0 when everything was scored, 1 when some input failed (its row says why), 2 for a usage or
setup error (bad option, missing weights, an output file that exists), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import os.path as osp
import sys
from typing import IO, Callable, Optional, Sequence

SCORE_COLUMNS = ('path', 'score', 'q_feat', 'q_text', 'height', 'width', 'tiles', 'error')
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with the command line or its files, reported in one line with exit status 2."""


# --------------------------------------------------------------------------------------------------------
# Output files
# --------------------------------------------------------------------------------------------------------

class RowWriter:
    """Writes score rows to a CSV and/or JSON Lines file (or CSV to stdout), flushing each row.

    An existing output file is refused unless ``mode`` is ``overwrite`` (start again) or ``resume`` (keep its
    rows, append, and skip inputs it already scored without error).
    """

    def __init__(self, csv_path: Optional[str], json_path: Optional[str], mode: str = 'refuse'):
        self._files: list[IO] = []
        self._csv = self._json = None
        self.check(csv_path, json_path, mode)
        done: list[set[str]] = []
        if csv_path:
            f, rows = self._open(csv_path, mode, self._read_csv, header=True)
            self._csv = csv.writer(f)
            done.append(rows)
        if json_path:
            self._json, rows = self._open(json_path, mode, self._read_jsonl, header=False)
            done.append(rows)
        if not csv_path and not json_path:
            self._csv = csv.writer(sys.stdout)
            self._csv.writerow(SCORE_COLUMNS)
            self._files.append(sys.stdout)
        # an input is skipped on --resume only when every output already has it
        self.done: set[str] = set.intersection(*done) if done else set()

    @staticmethod
    def check(csv_path: Optional[str], json_path: Optional[str], mode: str) -> None:
        """Refuse existing outputs before any work is done (``mode`` ``refuse``)."""
        for path in (csv_path, json_path):
            if path and osp.exists(path) and mode == 'refuse':
                raise UsageError(f'output exists: {path} (pass --overwrite to replace it or --resume to continue it)')
        if csv_path and json_path and osp.abspath(csv_path) == osp.abspath(json_path):
            raise UsageError('--csv and --json name the same file')

    def _open(self, path: str, mode: str, read_done: Callable[[str], set[str]],
              header: bool) -> tuple[IO, set[str]]:
        resume = mode == 'resume' and osp.isfile(path) and osp.getsize(path) > 0
        done = read_done(path) if resume else set()
        if resume:
            with open(path, 'rb') as f:
                f.seek(-1, os.SEEK_END)
                cut = f.read(1) != b'\n'  # the last row of an interrupted run may be incomplete
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        f = open(path, 'a' if resume else 'w', newline='')
        self._files.append(f)
        if resume and cut:
            f.write('\n')
        if header and not resume:
            csv.writer(f).writerow(SCORE_COLUMNS)
        f.flush()
        return f, done

    @staticmethod
    def _read_csv(path: str) -> set[str]:
        with open(path, newline='') as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != SCORE_COLUMNS:
                raise UsageError(f'cannot resume {path}: its header is {reader.fieldnames}, expected '
                                 f'{",".join(SCORE_COLUMNS)}')
            return {row['path'] for row in reader if not row.get('error') and row.get('score')}

    @staticmethod
    def _read_jsonl(path: str) -> set[str]:
        done = set()
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                if isinstance(row, dict) and row.get('error') is None and row.get('score') is not None:
                    done.add(row['path'])
        return done

    def write(self, row: dict) -> None:
        if self._csv is not None:
            self._csv.writerow(['' if row.get(c) is None else (repr(row[c]) if isinstance(row[c], float) else row[c])
                                for c in SCORE_COLUMNS])
        if self._json is not None:
            self._json.write(json.dumps({c: row.get(c) for c in SCORE_COLUMNS}) + '\n')
        for f in self._files:
            f.flush()

    def close(self) -> None:
        for f in self._files:
            if f is not sys.stdout:
                f.close()


# --------------------------------------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------------------------------------

def _load_scorer(args: argparse.Namespace):
    from .scorer import SFDIQA

    if not osp.isfile(args.weights):
        raise UsageError(f'weights file not found: {args.weights} (make one with `sfd-iqa export`)')
    try:
        scorer = SFDIQA.from_file(args.weights, clip_weights=args.clip_weights, device=args.device,
                                  alpha=args.alpha, tile=args.tile, batch_size=args.batch_size)
    except (ValueError, RuntimeError, KeyError) as err:
        raise UsageError(str(err)) from err
    if scorer.note:  # weights of an ablation run with only one of the two discriminators
        print(f'sfd-iqa: {scorer.note}', file=sys.stderr)
    return _speed_options(scorer, args)


def _speed_options(scorer, args: argparse.Namespace):
    """--workers, --amp and --compile: how fast, never what score (--amp moves scores by about 1e-3)."""
    import torch

    from .loader import default_workers

    workers = getattr(args, 'workers', None)
    if workers is not None and workers < 0:
        raise UsageError(f'--workers must be >= 0, got {workers}')
    scorer.workers = default_workers() if workers is None else workers
    scorer.amp = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(getattr(args, 'amp', None) or '')
    if getattr(args, 'compile', False):
        scorer.compile()
    return scorer


def _progress(total: int, args: argparse.Namespace, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit='img', disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)


def score_into(writer: RowWriter, scorer, files: Sequence[str], args: argparse.Namespace, desc: str,
               error_prefix: str = '') -> tuple[int, int]:
    """Score ``files`` in order, one row each into ``writer`` (error rows included), with a progress bar.
    Returns ``(scored, failed)``."""
    scored = failed = 0
    with _progress(len(files), args, desc) as bar:
        for result in scorer.iter_files(files):
            writer.write(result.as_dict())
            scored += result.ok
            failed += not result.ok
            bar.update(1)
            if not result.ok:
                bar.write(f'{error_prefix}error: {result.error}', file=sys.stderr)
    return scored, failed


def cmd_score(args: argparse.Namespace) -> int:
    from .images import find_images
    from .scorer import IQAResult

    if args.overwrite and args.resume:
        raise UsageError('--overwrite and --resume exclude each other')
    mode = 'overwrite' if args.overwrite else 'resume' if args.resume else 'refuse'
    RowWriter.check(args.csv, args.json, mode)
    found = find_images(args.paths, recursive=not args.no_recursive)
    from .distributed import DistEnv, score_sharded

    try:
        env = DistEnv.from_env()
    except ValueError as err:
        raise UsageError(str(err)) from err
    if env.distributed:  # started by torchrun: this process scores its share, rank 0 merges
        return score_sharded(args, found, env, mode)
    scorer = _load_scorer(args)  # before any output is opened: a bad weights file leaves no empty output behind
    scorer.pad_batches = True  # the same score bits as under torchrun, whatever the shards
    writer = RowWriter(args.csv, args.json, mode)
    scored = failed = 0
    try:
        for path in found.missing:
            writer.write(IQAResult(path, error=f'{path}: no such file or folder').as_dict())
            failed += 1
        files = [f for f in found.files if f not in writer.done]
        ok, bad = score_into(writer, scorer, files, args, 'sfd-iqa score')
        scored, failed = scored + ok, failed + bad
    finally:
        writer.close()
    summary = f'scored {scored} image(s)'
    if writer.done:
        summary += f', {len(writer.done)} already in the output (--resume)'
    if failed:
        summary += f', {failed} failed'
    return finish_score(summary, found, failed)


def finish_score(summary: str, found, failed: int) -> int:
    """Print a score run's one-line summary (plus the skipped files) and return its exit status: failure when
    a row has an error or nothing was found."""
    if found.skipped:
        summary += f', skipped {len(found.skipped)} non-image file(s) in folders'
    print(summary, file=sys.stderr)
    if not found.files and not found.missing:
        print('no image found', file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .export import ExportError, describe_payload, export_experiment, export_files

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


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from . import evaluate as ev

    if args.mos is None:  # a released layout, read by its preset's reader (datasets.py)
        return _eval_release(args)
    preset = ev.PRESETS.get(args.preset, {}) if args.preset else {}
    image_col = args.image_col or preset.get('image_col', 'image')
    score_col = args.score_col or preset.get('score_col', 'mos')
    try:
        table = ev.read_mos_table(args.mos, image_col, score_col)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from err
    if not osp.isdir(args.folder):
        raise UsageError(f'image folder not found: {args.folder}')
    paths, unmatched = ev.match_images(args.folder, table.names)
    if unmatched:
        print(f'{len(unmatched)} of {len(table.names)} table entries have no image in {args.folder} '
              f'(e.g. {", ".join(unmatched[:3])})', file=sys.stderr)
    pairs = [(name, path, m) for name, path, m in zip(table.names, paths, table.mos) if path is not None]
    if not pairs:
        raise UsageError(f'no image of {args.mos} found in {args.folder}')

    out = args.out_dir
    outputs = {'scores': osp.join(out, 'scores.csv'), 'summary': osp.join(out, 'summary.json'),
               'plot': osp.join(out, 'scatter.png')}
    existing = [p for p in outputs.values() if osp.exists(p)]
    if existing and not args.overwrite:
        raise UsageError(f'output exists: {", ".join(existing)} (pass --overwrite or another --out-dir)')
    os.makedirs(out, exist_ok=True)

    metrics = list(dict.fromkeys(args.metric))
    values: dict[str, dict[str, float]] = {m: {} for m in metrics}
    errors: dict[str, str] = {}
    files = [path for _, path, _ in pairs]
    if 'sfd_iqa' in metrics:
        scorer = _load_scorer(args)
        with _progress(len(files), args, 'sfd-iqa eval') as bar:
            for result in scorer.iter_files(files):
                if result.ok:
                    values['sfd_iqa'][result.path] = result.score
                else:
                    errors[result.path] = result.error
                bar.update(1)
    if 'niqe' in metrics:
        with _progress(len(files), args, 'niqe') as bar:
            for path in files:
                try:
                    values['niqe'][path] = ev.niqe_of_file(path)
                except Exception as err:  # noqa: BLE001 - any failure is reported per file, the run goes on
                    errors.setdefault(path, f'niqe: {type(err).__name__}: {err}')
                bar.update(1)

    results, plotted_x, plotted_y = {}, {}, {}
    for metric in metrics:
        kept = [(path, m) for _, path, m in pairs if path in values[metric]]
        x = ev.oriented(metric, np.array([values[metric][p] for p, _ in kept], dtype=np.float64))
        y = np.array([m for _, m in kept], dtype=np.float64)
        results[metric] = ev.correlations(x, y)
        plotted_x[metric], plotted_y[metric] = x, y

    with open(outputs['scores'], 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['image', 'path', 'mos', *metrics, 'error'])
        for name, path, m in pairs:
            w.writerow([name, path, repr(float(m)),
                        *[repr(values[k][path]) if path in values[k] else '' for k in metrics], errors.get(path, '')])
    summary = {'mos_table': args.mos, 'folder': args.folder, 'image_col': image_col, 'score_col': score_col,
               'table_rows': len(table.names), 'matched': len(pairs), 'unmatched': len(unmatched),
               'failed': len(errors)}
    ev.write_eval_outputs(outputs, summary, plotted_x, plotted_y, results)
    if errors:
        print(f'{len(errors)} image(s) failed (see the error column)', file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


# --------------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------------

def _scoring_options(p: argparse.ArgumentParser, weights_required: bool = True) -> None:
    from .scorer import DEFAULT_ALPHA, DEFAULT_BATCH_SIZE, DEFAULT_TILE

    g = p.add_argument_group('scoring')
    g.add_argument('--weights', '-w', required=weights_required, help='SFD-IQA weights file (from `sfd-iqa export`)')
    g.add_argument('--clip-weights', help='CLIP weights (open_clip tag or local file) instead of the clip.pretrained '
                                          'recorded in the weights file')
    g.add_argument('--alpha', type=float, default=DEFAULT_ALPHA,
                   help='score = alpha * q_feat + (1 - alpha) * q_text (default %(default)s)')
    g.add_argument('--tile', type=int, default=DEFAULT_TILE,
                   help='images larger than this are scored in tile x tile crops and averaged; 0 = whole image '
                        '(default %(default)s)')
    g.add_argument('--batch-size', type=int, default=DEFAULT_BATCH_SIZE,
                   help='crops per forward pass; affects speed and memory, not scores (default %(default)s)')
    g.add_argument('--device', help='cpu, cuda, cuda:1... (default: cuda when available; under torchrun: '
                                    'cuda:LOCAL_RANK)')
    g.add_argument('--workers', type=int, metavar='N',
                   help='worker processes that decode and tile the files while the network runs; 0 = in this '
                        'process; scores do not depend on it (default: usable cores - 1, at most 8, split among '
                        'the torchrun processes of a node)')
    g.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='autocast the forward pass (CUDA; bf16 also on CPU): faster, scores move by about 1e-3 '
                        '(default: fp32)')
    g.add_argument('--compile', action='store_true',
                   help='torch.compile the forward pass (CUDA graphs on CUDA): faster small batches, compiles '
                        'once per batch shape; falls back to eager with a warning where compiling is impossible')
    g.add_argument('--no-progress', action='store_true', help='no progress bar')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='sfd-iqa',
        description='SFD-IQA: opinion-unaware no-reference image quality from the Feat-D and LPP trained by SFD '
                    '(Dong et al., CVPR 2025). Scores are in [0, 1], higher is better.',
        epilog='Exit status: 0 ok, 1 some input failed, 2 usage/setup error. See docs/iqa.md.')
    sub = parser.add_subparsers(dest='command', metavar='{score,export,eval,bench}')
    sub.required = True

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
    _scoring_options(p)
    p.set_defaults(func=cmd_score)

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

    p = sub.add_parser('eval', help='correlate scores of a folder with a MOS table (SRCC, PLCC, KRCC)',
                       description='Score a folder and correlate with mean opinion scores: SRCC, PLCC after the '
                                   '4-parameter logistic fit (VQEG), KRCC. Writes scores.csv, summary.json and '
                                   'scatter.png into --out-dir. NIQE is lower-is-better and is negated.')
    p.add_argument('folder', help='folder with the images of the MOS table, or (without --mos) the folder a '
                                  'dataset release unpacks to')
    p.add_argument('--mos', help='MOS table (CSV); leave out to read the release of --preset from the folder')
    _eval_preset_option(p)
    p.add_argument('--image-col', help="image-name column (default from --preset, else 'image')")
    p.add_argument('--score-col', help="MOS column (default from --preset, else 'mos'), e.g. MOS_zscore")
    p.add_argument('--metric', nargs='+', choices=['sfd_iqa', 'niqe'], default=['sfd_iqa'],
                   help="metrics to compare side by side (default: sfd_iqa); 'niqe' is BasicSR's calculate_niqe")
    p.add_argument('--out-dir', default='sfd_iqa_eval', help='output folder (default %(default)s)')
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs in --out-dir')
    _scoring_options(p, weights_required=False)
    p.set_defaults(func=cmd_eval)
    _add_bench(sub)
    return parser


def _eval_preset_option(p: argparse.ArgumentParser) -> None:
    from .datasets import ALIASES
    from .datasets import PRESETS as RELEASES
    from .evaluate import PRESETS

    p.add_argument('--preset', choices=sorted(set(RELEASES) | set(ALIASES)),
                   help='a known dataset. Without --mos: read its release in FOLDER (layouts in docs/iqa.md). With '
                        '--mos: its column names: ' + '; '.join(
                            f"{k}: {v['image_col']!r}/{v['score_col']!r}" for k, v in sorted(PRESETS.items())))


def _eval_release(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UsageError('eval needs --mos (a CSV), or --preset naming the released layout of FOLDER')
    from .bench import cmd_eval_release

    return cmd_eval_release(args)


def _add_bench(sub) -> None:
    from .bench import add_parser

    add_parser(sub, _scoring_options)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``sfd-iqa``; returns (and, run as a script, exits with) the exit status."""
    parser = build_parser()
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


if __name__ == '__main__':
    sys.exit(main())
