"""``sfd-iqa score`` across processes, GPUs and nodes, on torch.distributed (torchrun launches; nothing of ours).

    torchrun --nnodes N --nproc_per_node G --no-python sfd-iqa score DIR -w W --csv out.csv

Every process (rank) finds the same inputs, takes its share of them and writes its rows, flushed one by one,
to its own part file ``out.csv.part<rank>.jsonl``; rank 0 then merges the parts into exactly the file one
process would have written: same rows, same order (missing paths first, then the inputs in the order
``find_images`` lists them), same values (floats travel as JSON, which round-trips them; every batch has the
same batches: the inputs are cut into fixed windows of ``--batch-size`` consecutive files, the crops of a window
share batches by size, unpadded, and windows go whole to ranks, so a crop meets the same companions in a batch
of the same shape in one process and in many; on the CPU the processes must also use the same number of
threads, as torchrun's ``OMP_NUM_THREADS=1`` does).

* **Sharding** is deterministic: the windows still holding an input to score, in input order, dealt
  round-robin (``windows[rank::world_size]``, :func:`sfd_arch.cli.rows.windows`).
* **Resume** (``--resume``): after an interruption (a preempted job, a lost node) every part file and any
  earlier merged output is read first; what they hold without error is not written again, whatever rank held
  it and whatever the world size was, and the windows with anything left are dealt out anew (a window cut by
  the interruption is scored whole again, for its batches, and writes only its missing rows). A part's last
  line cut by a kill is ignored. The merged file then has one row per input (a row without error wins over an
  error row), with the bits of an uninterrupted run.
* **Processes** only synchronise (two barriers and a gather of counts), so the process group is gloo
  whatever the device; the network runs on ``cuda:LOCAL_RANK`` when CUDA is present. The part files and the
  output must be on a filesystem that every node sees (as for BasicSR's checkpoints); rank 0 checks that
  every input has a row before it writes the merged file and keeps the parts otherwise.
* **Exit status**: only rank 0 reports failed inputs (1), since torchrun stops every rank as soon as one
  exits non-zero; the other ranks exit 0 once their part is complete.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import os.path as osp
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional, Sequence, TypeVar

from ..iqa.scorer import IQAResult
from ..utils.files import atomic_path
from .common import EXIT_OK, UsageError, load_scorer, scorer_settings
from .rows import RowWriter, finish_score, merge_rows, read_rows, row_ok, score_into, windows

T = TypeVar('T')
# Ranks that finish early wait for the slowest at the final gather; a rank that dies ends the job through
# torchrun anyway, so the timeout only has to outlast an unbalanced shard.
PROCESS_GROUP_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands, from the variables torchrun sets (all absent: one process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> 'DistEnv':
        environ = os.environ if environ is None else environ
        values = {}
        for key, name in (('rank', 'RANK'), ('world_size', 'WORLD_SIZE'), ('local_rank', 'LOCAL_RANK'),
                          ('local_world_size', 'LOCAL_WORLD_SIZE')):
            raw = environ.get(name)
            if raw in (None, ''):
                continue
            try:
                values[key] = int(raw)
            except ValueError:
                raise ValueError(f'environment variable {name}={raw!r} is not an integer') from None
        env = cls(**values)
        if env.world_size < 1 or not 0 <= env.rank < env.world_size:
            raise ValueError(f'RANK={env.rank} does not fit WORLD_SIZE={env.world_size}')
        return env


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """This rank's share: every ``world_size``-th item from ``rank`` on (deterministic, balanced to one item)."""
    return list(items[rank::world_size])


def part_path(output: str, rank: int) -> str:
    return f'{output}.part{rank}.jsonl'


def part_files(output: str) -> list[str]:
    """Existing part files of ``output`` (any rank, any earlier world size), by rank."""
    pattern = re.compile(re.escape(osp.basename(output)) + r'\.part(\d+)\.jsonl$')
    found = [(int(m.group(1)), p) for p in glob.glob(glob.escape(output) + '.part*.jsonl')
             if (m := pattern.search(osp.basename(p)))]
    return [p for _, p in sorted(found)]


def rank_device(requested: Optional[str], env: DistEnv) -> str:
    """The device of this rank: ``cuda:LOCAL_RANK`` for no ``--device`` (CUDA present) or a bare ``cuda``."""
    import torch

    if requested in (None, '', 'cuda') and torch.cuda.is_available():
        requested = f'cuda:{env.local_rank % torch.cuda.device_count()}'
    device = torch.device(requested or 'cpu')
    if device.type == 'cuda' and device.index is not None:
        torch.cuda.set_device(device)  # CUDA graphs (--compile) and pinned copies use the current device
    return str(device)


def _fingerprint(files: Sequence[str], done: set[str]) -> str:
    h = hashlib.sha256()
    for name in (*files, '\0', *sorted(done)):
        h.update(name.encode('utf-8', 'surrogatepass') + b'\n')
    return h.hexdigest()


def score_sharded(args: Any, found: Any, env: DistEnv, mode: str) -> int:
    """``sfd-iqa score`` as one rank of ``env.world_size`` (see the module docstring); returns the exit status."""
    import torch.distributed as dist

    outputs = [p for p in (args.csv, args.json) if p]
    if not outputs:
        raise UsageError('under torchrun, give --csv and/or --json: rank 0 merges the ranks\' parts into it')
    base = outputs[0]
    parts = part_files(base)
    if mode == 'refuse' and parts:
        raise UsageError(f'part files of an interrupted run exist ({parts[0]}, ...): pass --resume to continue '
                             'it or --overwrite to start again')
    args.device = rank_device(args.device, env)
    # before the process group: a bad weights file fails every rank at once
    scorer = load_scorer(scorer_settings(args))
    if not dist.is_initialized():
        dist.init_process_group('gloo', timeout=PROCESS_GROUP_TIMEOUT)
    try:
        previous: list[list[dict]] = []
        if mode == 'resume':
            previous = [read_rows(p) for p in outputs if osp.isfile(p)] + [read_rows(p) for p in parts]
        elif env.rank == 0:
            for p in parts:  # --overwrite: before the barrier, so no rank has opened its new part yet
                os.remove(p)
        done = {path for path, row in merge_rows(previous).items() if row_ok(row)}
        fingerprints: list[Optional[str]] = [None] * env.world_size
        dist.all_gather_object(fingerprints, _fingerprint(found.files, done))  # also the barrier before writing
        if len(set(fingerprints)) != 1:
            raise UsageError('the ranks see different inputs or part files: the images and the output must be on '
                                 'a filesystem that every node sees, under the same paths')
        mine = shard(windows(found.files, done, scorer.batch_size), env.rank, env.world_size)
        own_part = part_path(base, env.rank)
        writer = RowWriter(None, own_part, 'resume' if mode == 'resume' else 'overwrite')
        args.no_progress = args.no_progress or env.rank != 0
        try:
            scored, failed = score_into(writer, scorer, mine, args, f'sfd-iqa score [rank 0 of {env.world_size}]',
                                        error_prefix=f'[rank {env.rank}] ', done=done)
        finally:
            writer.close()
        assigned = sum(f not in done for window in mine for f in window)
        counts = {'rank': env.rank, 'part': own_part, 'scored': scored, 'failed': failed, 'assigned': assigned}
        gathered: Optional[list] = [None] * env.world_size if env.rank == 0 else None
        dist.gather_object(counts, gathered, dst=0)
        if env.rank != 0:
            return EXIT_OK
        return _merge(args, found, base, outputs, previous, gathered, len(done), IQAResult)
    finally:
        dist.destroy_process_group()


def _merge(args: Any, found: Any, base: str, outputs: list[str], previous: list[list[dict]], counts: list[dict],
           already: int, result_cls: Any) -> int:
    """Rank 0: parts (+ what an earlier merged output held) -> the output files, atomically; parts removed."""
    parts = part_files(base)
    rows = merge_rows([*previous, *(read_rows(p) for p in parts)])
    absent = [f for f in found.files if f not in rows]
    if absent:
        raise UsageError(f'{len(absent)} input(s) have no row in the part files (e.g. {absent[0]}): is the '
                             f'output on a filesystem that every node sees? Parts kept: {", ".join(parts)}')
    ordered = [result_cls(p, error=f'{p}: no such file or folder').as_dict() for p in found.missing]
    ordered += [rows[f] for f in found.files]
    # a crash before the renames at the end of the block leaves the parts and any earlier output untouched
    with contextlib.ExitStack() as stack:
        temporary = [stack.enter_context(atomic_path(p)) for p in outputs]
        writer = RowWriter(temporary[0] if args.csv else None, temporary[-1] if args.json else None, 'overwrite')
        try:
            for row in ordered:
                writer.write(row)
        finally:
            writer.close()
    for p in parts:
        os.remove(p)
    failed = sum(not row_ok(r) for r in ordered)
    scored = sum(c['scored'] for c in counts)
    summary = (f'scored {scored} image(s) on {len(counts)} ranks '
               f'({", ".join(str(c["scored"] + c["failed"]) for c in counts)} each); wrote {", ".join(outputs)}')
    if already:
        summary += f', {already} already scored (--resume)'
    if failed:
        summary += f', {failed} row(s) with an error'
    return finish_score(summary, found, failed)
