"""Score rows: the columns of ``sfd-iqa score``'s CSV / JSON Lines output, writing them (with --resume), reading
them back (a row cut by an interruption or without a score is not kept), and scoring files into a writer."""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Any, Collection, Optional, Sequence

from ..utils.results import AppendOnlyRows, read_appended
from .common import EXIT_FAILED, EXIT_OK, UsageError, progress

SCORE_COLUMNS = ('path', 'score', 'q_feat', 'p_pos', 'height', 'width', 'tiles', 'error')
_INT_COLUMNS = ('height', 'width', 'tiles')
_FLOAT_COLUMNS = ('score', 'q_feat', 'p_pos')
# the first release named TG-D's quantity q_text: its files are read (and resumed) as if the column said p_pos
LEGACY_COLUMNS = {'q_text': 'p_pos'}
LEGACY_HEADER = tuple({new: old for old, new in LEGACY_COLUMNS.items()}.get(c, c) for c in SCORE_COLUMNS)


def current_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """A header with the first release's column names replaced by today's."""
    return tuple(LEGACY_COLUMNS.get(c, c) for c in columns)


def current_row(row: dict) -> dict:
    """A row (CSV or JSON) with the first release's keys renamed to today's, values unchanged."""
    return {LEGACY_COLUMNS.get(k, k): v for k, v in row.items()}


class RowWriter:
    """Score rows into a CSV and/or JSON Lines file (or CSV to stdout), each an :class:`AppendOnlyRows`.

    An existing output file is refused unless ``mode`` is ``overwrite`` (start again) or ``resume`` (keep its
    rows, append, and skip inputs it already scored without error).
    """

    def __init__(self, csv_path: Optional[str], json_path: Optional[str], mode: str = 'refuse'):
        self.check(csv_path, json_path, mode)
        self._outputs: list[AppendOnlyRows] = []
        done: list[set[str]] = []
        for path, fmt in ((csv_path, 'csv'), (json_path, 'jsonl')):
            if not path:
                continue
            try:
                output = AppendOnlyRows(path, SCORE_COLUMNS, fmt=fmt, start=None if mode == 'resume' else [],
                                        also=[LEGACY_HEADER])
            except ValueError as err:
                raise UsageError(f'cannot resume {err}') from None
            self._outputs.append(output)
            done.append({row['path'] for row in read_rows(path) if row_ok(row)} if mode == 'resume' else set())
        if not self._outputs:
            self._outputs.append(AppendOnlyRows('-', SCORE_COLUMNS))
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

    def write(self, row: dict) -> None:
        for output in self._outputs:
            output.write(row)

    def close(self) -> None:
        for output in self._outputs:
            output.close()


def read_rows(path: str) -> list[dict]:
    """Score rows of a CSV or JSON Lines file (ours), typed as ``IQAResult.as_dict`` gives them; a line cut by
    an interruption is skipped."""
    fmt = 'csv' if path.endswith('.csv') or _looks_like_csv(path) else 'jsonl'
    rows: list[dict] = []
    for raw in read_appended(path, fmt):
        row = current_row(raw)
        if not row.get('path'):
            continue  # a stray line
        if fmt == 'csv':
            try:
                row = _typed(row)
            except ValueError:
                continue
        rows.append(row)
    return rows


def _looks_like_csv(path: str) -> bool:
    with open(path) as f:
        return f.readline().startswith('path,')


def _typed(raw: dict) -> dict:
    row: dict[str, Any] = {'path': raw['path']}
    for column in _FLOAT_COLUMNS:
        row[column] = float(raw[column]) if raw.get(column) else None
    for column in _INT_COLUMNS:
        row[column] = int(raw[column]) if raw.get(column) else None
    row['error'] = raw.get('error') or None
    return row


def row_ok(row: dict) -> bool:
    """A row with a score and no error: scored, not to be scored again."""
    return row.get('error') is None and row.get('score') is not None


def merge_rows(sources: Sequence[Sequence[dict]]) -> dict[str, dict]:
    """path -> row over ``sources`` read in order: a later row replaces an earlier one, except that an error
    row never replaces a row without error."""
    merged: dict[str, dict] = {}
    for rows in sources:
        for row in rows:
            old = merged.get(row['path'])
            if old is None or row_ok(row) or not row_ok(old):
                merged[row['path']] = row
    return merged


def windows(files: Sequence[str], done: Collection[str], size: int) -> list[list[str]]:
    """``files`` cut into fixed windows of ``size`` consecutive inputs, those still holding an input not in
    ``done``. A window is the unit whose crops share batches (``SFDIQA.iter_files(group=size)``) and the unit
    dealt to ranks, so every crop travels in the same batch in one process and in many, fresh or resumed."""
    cut = [list(files[i:i + size]) for i in range(0, len(files), size)]
    return [w for w in cut if any(f not in done for f in w)]


def score_into(writer: RowWriter, scorer, chosen: Sequence[Sequence[str]], args: argparse.Namespace, desc: str,
               error_prefix: str = '', done: Collection[str] = ()) -> tuple[int, int]:
    """Score the windows ``chosen`` (:func:`windows`; all of ``scorer.batch_size`` inputs but the list's last)
    in order, one row into ``writer`` for each input not in ``done`` (error rows included; a done input is
    scored again only for its window's batches), with a progress bar. Returns ``(scored, failed)``."""
    files = [f for window in chosen for f in window]
    scored = failed = 0
    with progress(sum(f not in done for f in files), args, desc) as bar:
        for result in scorer.iter_files(files, group=scorer.batch_size):
            if result.path in done:
                continue
            writer.write(result.as_dict())
            scored += result.ok
            failed += not result.ok
            bar.update(1)
            if not result.ok:
                bar.write(f'{error_prefix}error: {result.error}', file=sys.stderr)
    return scored, failed


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
