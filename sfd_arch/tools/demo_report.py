"""What ``make demo`` prints at its end: the comparison table of its models and the targets the demo must meet.

The numbers come from the compare engine's result (:class:`sfd_arch.eval.comparison.CompareResult`): its ``means``
give the table, its weight report says which metric runs on stand-in weights, and its SR images give the colour
check. This module only arranges them and judges the targets, so that the judgement can be tested without training
anything.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..metrics import records
from ..utils.results import RANDOM_CLIP

# the demo's `make demo` budget on a quiet 2-core machine (README, "What `make demo` prints": its targets)
TIME_BUDGET_S = 180.0
# a colour cast shows as a shift of a channel's mean; 2/255 is below what the eye sees on a photo
CHANNEL_TOLERANCE = 2.0
# the demo's columns, headed by their records' labels
HEADERS = {m: records.label(m) + (' (dB)' if m == 'psnr' else '')
           for m in ('psnr', 'ssim', 'niqe', 'lpips', 'dists', 'fid', 'sfd_iqa')}
# why a column's numbers mean less than their name says; the demo's SFD-IQA has no weight files of its own to report
MARKS = {m: RANDOM_CLIP for m in HEADERS if records.METRICS[m].stand_in == RANDOM_CLIP}


def stand_in_metrics(weights: Sequence[Mapping[str, Any]]) -> set[str]:
    """The metrics of the compare engine's weight report that run on at least one stand-in weight file."""
    return {str(w['metric']) for w in weights if w.get('status') == 'stand-in'}


def column_header(metric: str, stand_ins: set[str], direction: str = '') -> str:
    """``LPIPS [stand-in] (lower)``: the header names any weights that are not the published ones."""
    head = HEADERS.get(metric, metric.upper())
    mark = 'stand-in' if metric in stand_ins else MARKS.get(metric, '')
    return head + (f' [{mark}]' if mark else '') + (f' ({direction})' if direction else '')


def results_table(means: Mapping[str, Mapping[str, float]], models: Sequence[str], metrics: Sequence[str],
                  stand_ins: set[str], lower_better: Optional[set[str]] = None) -> str:
    """A fixed-width table, one row per model, one column per metric (``means``: ``{model: {metric: value}}``);
    ``lower_better``: the metrics where lower is better (default: as their records say)."""
    heads = [column_header(m, stand_ins, 'lower' if (m in lower_better if lower_better is not None
                                                     else records.lower_is_better(m)) else 'higher') for m in metrics]
    width = max(12, *(len(m) + 2 for m in models))
    lines = [f'{"model":<{width}}' + ''.join(f'{h:>{max(len(h) + 2, 10)}}' for h in heads)]
    lines.append('-' * len(lines[0]))
    for model in models:
        cells = []
        for metric, head in zip(metrics, heads):
            value = means.get(model, {}).get(metric, float('nan'))
            digits = 2 if metric in ('psnr', 'niqe') else 4
            cells.append(f'{value:>{max(len(head) + 2, 10)}.{digits}f}')
        lines.append(f'{model:<{width}}' + ''.join(cells))
    return '\n'.join(lines)


def channel_shift(sr_paths: Sequence[str], hr_paths: Sequence[str]) -> float:
    """The largest |mean of a colour channel in SR - the same in HR| over images and channels, in 1/255 units.

    A colour cast (a sepia grey image, halved saturation) moves channel means apart; a sharper or softer image
    does not."""
    import cv2

    worst = 0.0
    for sr_path, hr_path in zip(sr_paths, hr_paths, strict=True):
        sr, hr = cv2.imread(sr_path), cv2.imread(hr_path)
        if sr is None or hr is None:
            raise FileNotFoundError(f'cannot read {sr_path if sr is None else hr_path}')
        if sr.shape != hr.shape:
            raise ValueError(f'{sr_path}: {sr.shape} but HR {hr_path} is {hr.shape}')
        diff = sr.reshape(-1, 3).astype(np.float64).mean(0) - hr.reshape(-1, 3).astype(np.float64).mean(0)
        worst = max(worst, float(np.abs(diff).max()))
    return worst


def sr_paths(compare_dir: str, model: str, dataset: str, images: Sequence[str]) -> list[str]:
    """Where the compare engine caches a model's SR images (``<out>/sr/<model>/<dataset>/<image>.png``)."""
    return [osp.join(compare_dir, 'sr', model, dataset, f'{image}.png') for image in images]


@dataclass
class Target:
    """One promise of the demo, what was measured, and whether it holds."""

    name: str
    measured: str
    met: bool


def quality_targets(means: Mapping[str, Mapping[str, float]], bicubic: str, stage1: str, sfd: str,
                    shifts: Mapping[str, float]) -> list[Target]:
    """Stage 1 and SFD above bicubic in PSNR; SFD without a colour cast (``shifts``: model -> channel_shift)."""
    psnr = {m: means[m]['psnr'] for m in (bicubic, stage1, sfd)}
    targets = [Target(f'{name} above bicubic in PSNR', f'{psnr[m]:.2f} vs {psnr[bicubic]:.2f} dB',
                      psnr[m] > psnr[bicubic]) for name, m in (('stage 1', stage1), ('SFD', sfd))]
    limit = max(CHANNEL_TOLERANCE, shifts[bicubic])
    targets.append(Target(f'SFD without a colour cast (each channel mean within {CHANNEL_TOLERANCE:g}/255 of HR, or '
                          'no further than bicubic)',
                          f'worst {shifts[sfd]:.2f}/255 (bicubic {shifts[bicubic]:.2f}/255)', shifts[sfd] <= limit))
    return targets


@dataclass
class Stage:
    """A step of the demo and its cost: ``wall``, the seconds it added to the demo's run; ``cpu``, the CPU seconds
    of all its threads and processes; ``beside``, the stages it ran beside on the other core."""

    name: str
    wall: float
    cpu: float
    note: str = ''
    beside: tuple[str, ...] = ()


def longest_path_cpu(stages: Sequence[Stage]) -> float:
    """The CPU seconds on the demo's longest path: a stage that ran beside others counts only for what it took
    beyond them (on a quiet 2-core machine it had a core of its own)."""
    cpu = {s.name: s.cpu for s in stages}
    return sum(max(0.0, s.cpu - sum(cpu.get(n, 0.0) for n in s.beside)) if s.beside else s.cpu for s in stages)


def stage_lines(stages: Sequence[Stage]) -> str:
    """One line per stage: wall and CPU seconds, and its note."""
    return '\n'.join(f'  {s.name:<20}{s.wall:6.0f} s wall {s.cpu:6.0f} s CPU' + (f'  ({s.note})' if s.note else '')
                     for s in stages)


def time_target(wall_s: float, cpu_s: float, path_cpu_s: 'float | None' = None,
                budget_s: float = TIME_BUDGET_S) -> Target:
    """``make demo`` within the budget on a quiet machine, judged on CPU time.

    Wall time on a shared machine says how busy it was. On a quiet 2-core machine the demo's wall time lies
    between its CPU time divided by 2 (both cores busy all along) and its CPU time on the longest path,
    ``path_cpu_s`` (see :func:`longest_path_cpu`; all of ``cpu_s`` when nothing ran side by side): the target is
    judged on that upper end, and on the wall time when that is smaller."""
    path = cpu_s if path_cpu_s is None else path_cpu_s
    bound = min(wall_s, path)
    return Target(f'make demo within {budget_s:.0f} s on a quiet 2-core machine',
                  f'{wall_s:.0f} s wall here, {cpu_s:.0f} s CPU ({path:.0f} s on the longest path): '
                  f'quiet estimate {cpu_s / 2:.0f}-{bound:.0f} s', bound <= budget_s)


def targets_text(targets: Sequence[Target]) -> str:
    """One line per target with its verdict, then the overall verdict."""
    lines = [f'  [{"met" if t.met else "NOT met"}] {t.name}: {t.measured}' for t in targets]
    ok = all(t.met for t in targets)
    lines.append(f'  => {"all targets met" if ok else "some targets NOT met"}')
    return '\n'.join(lines)
