"""What every ``sfd-iqa`` command shares: exit statuses, the usage error, the scoring options, loading the scorer
from them, and the progress bar."""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Optional

from ..iqa.defaults import DEFAULT_ALPHA, DEFAULT_BATCH_SIZE, DEFAULT_TILE, ScorerSettings
from ..utils.files import OutputBusyError, UnsafePathError, refuse_output_over_input, single_writer

if TYPE_CHECKING:
    from ..iqa.scorer import SFDIQA
    from ..iqa_bench.datasets import ReleaseOptions

# The parsers import this module: what needs torch, open_clip or cv2 is imported in the functions that use it,
# so that --help, argument errors and missing files are reported at once (docs/design.md §2).

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with the command line or its files, reported in one line with exit status 2."""


def check_weights_file(weights: str) -> None:
    """``--weights`` names a file (checked before anything heavy is imported)."""
    if not osp.isfile(weights):
        raise UsageError(f'weights file not found: {weights} (make one with `sfd-iqa export`)')


def scorer_settings(args: argparse.Namespace) -> ScorerSettings:
    """The scoring options (:func:`scoring_options`) as the settings a scorer is built from."""
    return ScorerSettings(weights=args.weights, clip_weights=args.clip_weights, device=args.device, alpha=args.alpha,
                          tile=args.tile, batch_size=args.batch_size, workers=args.workers, amp=args.amp or None,
                          compile=args.compile)


def release_settings(args: argparse.Namespace) -> ReleaseOptions:
    """The release variant options (:func:`release_options`, and bench's ``--spaq-short-side``)."""
    from ..iqa_bench.datasets import ReleaseOptions

    return ReleaseOptions(live_dmos=args.live_dmos, koniq_resolution=args.koniq_resolution,
                          koniq_score=args.koniq_score, spaq_short_side=getattr(args, 'spaq_short_side', None))


def load_scorer(settings: ScorerSettings) -> SFDIQA:
    """The SFD-IQA scorer of ``settings`` (:func:`sfd_arch.iqa.scorer.build_scorer`: its speed settings --workers,
    --amp, --compile as constructor arguments: how fast, never what score; --amp moves scores by about 1e-3)."""
    if settings.workers is not None and settings.workers < 0:
        raise UsageError(f'--workers must be >= 0, got {settings.workers}')
    check_weights_file(settings.weights)
    from ..iqa.scorer import build_scorer

    try:
        scorer = build_scorer(settings)
    except (ValueError, RuntimeError, KeyError) as err:
        raise UsageError(str(err)) from err
    if scorer.note:  # weights of an ablation run with only one of the two discriminators
        print(f'sfd-iqa: {scorer.note}', file=sys.stderr)
    return scorer


def metric_scorer(metric: str, settings: ScorerSettings) -> Any:
    """The scorer of ``metric``: SFD-IQA (:func:`load_scorer`) or an offline baseline on ``settings.device``."""
    if metric == 'sfd_iqa':
        return load_scorer(settings)
    from ..iqa_bench.bench import metric_scorer as engine_scorer

    return engine_scorer(metric, settings)


def progress(total: int, args: argparse.Namespace, desc: str) -> Any:
    """A tqdm bar on stderr (off with --no-progress), counting images."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit='img', disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)


def release_options(p: argparse.ArgumentParser) -> None:
    """The choices a release offers that change published numbers (bench, eval and --dataset-dir alike); the
    defaults, and which published table used which, are in docs/iqa.md section 6.1."""
    from ..iqa_bench.datasets import KONIQ_RESOLUTIONS, KONIQ_SCORE_COLUMNS, LIVE_DEFAULT_DMOS, LIVE_DMOS_FILES

    g = p.add_argument_group('release variants (recorded in the outputs)')
    g.add_argument('--live-dmos', choices=list(LIVE_DMOS_FILES), default=LIVE_DEFAULT_DMOS,
                   help='LIVE score file: the release\'s dmos.mat or dmos_realigned.mat (hyperIQA, DBCNN-style '
                        'loaders) (default %(default)s)')
    g.add_argument('--koniq-resolution', choices=list(KONIQ_RESOLUTIONS),
                   help='KonIQ-10k image folder (each ships as its own zip) (default: the protocol\'s: 512x384 for '
                        'pyiqa; for sfd the one present, 1024x768 when both are)')
    g.add_argument('--koniq-score', choices=list(KONIQ_SCORE_COLUMNS), default=None,
                   help='KonIQ-10k score column (hyperIQA reads MOS_zscore) (default: the protocol\'s, MOS)')


def scoring_options(p: argparse.ArgumentParser, weights_required: bool = True) -> None:
    g = p.add_argument_group('scoring')
    g.add_argument('--weights', '-w', required=weights_required, help='SFD-IQA weights file (from `sfd-iqa export`)')
    g.add_argument('--clip-weights', help='CLIP weights (open_clip tag or local file) instead of the clip.pretrained '
                                          'recorded in the weights file')
    g.add_argument('--alpha', type=float, default=DEFAULT_ALPHA,
                   help='score = alpha * q_feat + (1 - alpha) * p_pos (default %(default)s)')
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


def scoring_inputs(args: argparse.Namespace) -> list[str]:
    """The files the scoring options read (the SFD-IQA weights, a CLIP weights file): inputs no output may replace."""
    return scorer_settings(args).inputs()


def refuse_outputs_over_inputs(outputs: Sequence[tuple[str, Optional[str]]], inputs: Iterable[str],
                               nested: bool = False) -> None:
    """``(flag, path)`` outputs that are (or, ``nested``, hold) one of the inputs are a usage error, before work."""
    inputs = list(inputs)
    for flag, path in outputs:
        if path:
            try:
                refuse_output_over_input([path], inputs, flag, nested=nested)
            except UnsafePathError as err:
                raise UsageError(str(err)) from None


@contextmanager
def single_writers(paths: Iterable[Optional[str]]) -> Iterator[None]:
    """Hold the OS lock of every output file (``sfd_arch.utils.files.single_writer``) for the block: a second
    process on the same output stops at once with a usage error instead of writing rows beside the first."""
    with ExitStack() as stack:
        for path in paths:
            if path:
                try:
                    stack.enter_context(single_writer(path))
                except OutputBusyError as err:
                    raise UsageError(str(err)) from None
        yield
