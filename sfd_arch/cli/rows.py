"""Score rows: the columns of ``sfd-iqa score``'s CSV / JSON Lines output, writing them (with --resume), reading
them back (a row cut by an interruption or without a score is not kept), and scoring files into a writer."""
from __future__ import annotations

import argparse
import csv
import json
import os
import os.path as osp
import sys
from typing import IO, Any, Callable, Collection, Optional, Sequence

from ..utils.files import drop_cut_line
from .common import EXIT_FAILED, EXIT_OK, UsageError, progress

SCORE_COLUMNS = ('path', 'score', 'q_feat', 'p_pos', 'height', 'width', 'tiles', 'error')
_INT_COLUMNS = ('height', 'width', 'tiles')
_FLOAT_COLUMNS = ('score', 'q_feat', 'p_pos')
# the first release named TG-D's quantity q_text: its files are read (and resumed) as if the column said p_pos
LEGACY_COLUMNS = {'q_text': 'p_pos'}


def current_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """A header with the first release's column names replaced by today's."""
    return tuple(LEGACY_COLUMNS.get(c, c) for c in columns)


def current_row(row: dict) -> dict:
    """A row (CSV or JSON) with the first release's keys renamed to today's, values unchanged."""
    return {LEGACY_COLUMNS.get(k, k): v for k, v in row.items()}


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
        if resume:
            drop_cut_line(path)
            resume = osp.getsize(path) > 0  # only a cut header was there: start the file again
        done = read_done(path) if resume else set()
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        f = open(path, 'a' if resume else 'w', newline='')
        self._files.append(f)
        if header and not resume:
            csv.writer(f).writerow(SCORE_COLUMNS)
        f.flush()
        return f, done

    @staticmethod
    def _read_csv(path: str) -> set[str]:
        """Inputs the CSV scored: complete rows with a score and no error (a cut or empty row is scored again)."""
        with open(path, newline='') as f:
            fieldnames = csv.DictReader(f).fieldnames
        if current_columns(fieldnames or ()) != SCORE_COLUMNS:
            raise UsageError(f'cannot resume {path}: its header is {fieldnames}, expected {",".join(SCORE_COLUMNS)}')
        return {row['path'] for row in read_rows(path) if row_ok(row)}

    @staticmethod
    def _read_jsonl(path: str) -> set[str]:
        return {row['path'] for row in read_rows(path) if row_ok(row)}

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


def read_rows(path: str) -> list[dict]:
    """Score rows of a CSV or JSON Lines file (ours), typed as ``IQAResult.as_dict`` gives them; a line cut by
    an interruption is skipped."""
    columns = SCORE_COLUMNS
    rows: list[dict] = []
    if path.endswith('.csv') or _looks_like_csv(path):
        with open(path, newline='') as f:
            for raw in csv.DictReader(f):
                raw = current_row(raw)
                if None in raw or any(raw.get(c) is None for c in columns) or not raw['path']:
                    continue  # a row cut by an interruption (missing fields) or a stray line
                try:
                    rows.append(_typed(current_row(raw)))
                except ValueError:
                    continue
        return rows
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get('path'):
                rows.append(current_row(row))
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
