"""Results as rows: the one long-format row (:class:`ResultRow`), the one resumable append-only writer of every
results file (:class:`AppendOnlyRows`), ``metrics.csv`` and its per-dataset summary table.

The recorder that collects the values from BasicSR's validation loop sits above the metrics
(``sfd_arch.eval.recorder``); what it writes, and what the plots and the comparison read, is defined here.

Files: ``metrics.csv`` with columns ``dataset,image,metric,value`` (one row per image per metric, one ``*`` row
per dataset-level metric such as FID), plus a ``note`` column when a metric's network does not run on its
published weights (``stand-in weights``, or ``random CLIP`` for SFD-IQA; empty for the other metrics), and
``summary.md``, a markdown table of the mean per dataset and metric whose headers carry the same marks. Both
forms of ``metrics.csv`` read back with ``read_metrics_csv``.
"""
import csv
import json
import logging
import os
import os.path as osp
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from typing import IO, Any, Optional

from .files import atomic_path, drop_cut_line

METRICS_CSV = 'metrics.csv'
SUMMARY_MD = 'summary.md'
CSV_COLUMNS = ('dataset', 'image', 'metric', 'value', 'note')
OLD_CSV_COLUMNS = CSV_COLUMNS[:4]  # files written before the note column
DATASET_LEVEL = '*'  # the image field of a value computed over a whole dataset (FID, KID)


@dataclass(frozen=True)
class ResultRow:
    """One value, the long-format row every results file is made of: ``metric`` of one ``image`` (or of the whole
    dataset, image ``*``) of ``dataset``, computed for ``model`` (a model of the comparison, a method of the bench;
    empty where a file holds one model only: the test script's ``metrics.csv``).

    ``value`` is None when it could not be computed, and ``note`` then says why (an error); otherwise ``note`` is
    why the number is not comparable to published ones (``stand-in weights``), or empty. A file keeps the columns
    it needs (:class:`AppendOnlyRows` writes a row's fields by column name)."""

    model: str
    dataset: str
    image: str
    metric: str
    value: Optional[float]
    note: str = ''


# -- marks of numbers from stand-in networks ---------------------------------------------------------------------
STAND_IN_WEIGHTS = 'stand-in weights'  # LPIPS, DISTS, FID... on files that are not the published ones
RANDOM_CLIP = 'random CLIP'  # SFD-IQA whose CLIP was never trained (``clip.pretrained: null``)


def marked(name: str, note: Optional[str]) -> str:
    """``lpips`` -> ``lpips (stand-in weights)``: the label a number gets wherever it is shown, so that a value
    from random weights is never read as the published metric."""
    return f'{name} ({note})' if note else name


def metric_notes(records: Iterable[ResultRow]) -> dict[str, str]:
    """``{metric: note}`` of the metrics that carry a note in ``records``."""
    return {r.metric: r.note for r in records if r.note}


@contextmanager
def marked_metric_log(notes: Mapping[str, str], logger_name: str = 'basicsr') -> Iterator[None]:
    """Mark the metric names of BasicSR's validation log (``# lpips: 0.2685`` -> ``# lpips (stand-in weights):
    0.2685``) while the block runs. BasicSR formats the line inside ``_log_validation_metric_values``; a filter
    on its logger rewrites the finished message, so nothing of BasicSR is copied or edited."""
    notes = {m: n for m, n in notes.items() if n}
    if not notes:
        yield
        return

    def mark(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith('Validation '):
            for metric, note in notes.items():
                message = message.replace(f'# {metric}: ', f'# {marked(metric, note)}: ')
            record.msg, record.args = message, ()
        return True

    logger = logging.getLogger(logger_name)
    logger.addFilter(mark)
    try:
        yield
    finally:
        logger.removeFilter(mark)


NOTES = (STAND_IN_WEIGHTS, RANDOM_CLIP)  # every mark :func:`marked` may add


def unmarked(label: str) -> tuple[str, str]:
    """The inverse of :func:`marked`: ``lpips (stand-in weights)`` -> ``('lpips', 'stand-in weights')``,
    ``psnr`` -> ``('psnr', '')``."""
    for note in NOTES:
        suffix = f' ({note})'
        if label.endswith(suffix):
            return label[:-len(suffix)], note
    return label, ''


@dataclass(frozen=True)
class LoggedMetric:
    """A metric value read back from BasicSR's validation log, with the mark it was logged under."""

    value: float
    note: str = ''


# BasicSR's validation line: `\t # <label>: <value with 4 decimals>\tBest: ...`; the label is what
# marked_metric_log wrote, so it is split by unmarked, never matched against a name
_LOG_VALUE = re.compile(r'# (.+?): ([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))(?=\s|$)')


def logged_metrics(lines: Iterable[str]) -> dict[str, LoggedMetric]:
    """The last logged value of each metric in BasicSR's validation log lines, by the metric's own name
    (``# sfd_iqa (random CLIP): 0.5015`` -> ``{'sfd_iqa': LoggedMetric(0.5015, 'random CLIP')}``): what
    :func:`marked_metric_log` wrote, read back."""
    values: dict[str, LoggedMetric] = {}
    for line in lines:
        match = _LOG_VALUE.search(line)
        if match:
            name, note = unmarked(match.group(1))
            values[name] = LoggedMetric(float(match.group(2)), note)
    return values


# -- the one writer of results files -----------------------------------------------------------------------------
def _csv_field(value: Any) -> str:
    """A CSV field: ``repr`` of a float (every digit, so a mean recomputed from the file is exact), '' for None."""
    if value is None:
        return ''
    return repr(float(value)) if isinstance(value, float) else str(value)


def _fields(row: Any) -> Mapping[str, Any]:
    return asdict(row) if is_dataclass(row) else row


class AppendOnlyRows:
    """A results file written one row at a time, each row flushed, so that whatever was computed survives an
    interruption or a failure; the one writer of the resumable results files (``sfd-iqa score``'s CSV and JSON
    Lines, the bench's score caches, the comparison's ``metrics.csv``, the test script's ``metrics.csv``).

    ``fmt`` is ``csv`` (a header of ``columns``, then one line per row) or ``jsonl`` (one JSON object of
    ``columns`` per line). A row is a mapping or a dataclass (:class:`ResultRow`); its fields are taken by column
    name. Opening:

    - ``start`` given: the file is written anew, whole and atomically (:func:`atomic_path`), with these rows;
      rows it held before are dropped in one rename;
    - else an existing, non-empty file is continued: a last line cut by an interruption is dropped, a CSV header
      must be ``columns`` or one of ``also`` (earlier releases' names), and new rows are appended;
    - else the file is started.

    ``path`` ``-``: rows go to standard output (CSV with its header; nothing to continue).
    """

    def __init__(self, path: str, columns: Sequence[str], *, fmt: str = 'csv',
                 start: Optional[Iterable[Any]] = None, also: Sequence[Sequence[str]] = ()):
        if fmt not in ('csv', 'jsonl'):
            raise ValueError(f"fmt must be 'csv' or 'jsonl', got {fmt!r}")
        self.path, self.columns, self.fmt = path, tuple(columns), fmt
        self._file: IO[str]
        if path == '-':
            self._file = sys.stdout
            self._begin()
            return
        if start is not None:
            with atomic_path(path) as tmp:
                self._file = open(tmp, 'w', newline='')
                try:
                    self._begin()
                    for row in start:
                        self.write(row, flush=False)
                finally:
                    self._file.close()
        elif osp.isfile(path) and osp.getsize(path) > 0:
            drop_cut_line(path)
            if fmt == 'csv' and osp.getsize(path) > 0:
                header = read_header(path)
                if header not in (self.columns, *map(tuple, also)):
                    raise ValueError(f'{path}: its header is {",".join(header)}, expected {",".join(self.columns)}')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        fresh = not osp.isfile(path) or osp.getsize(path) == 0  # only a cut header was there: start again
        self._file = open(path, 'a', newline='')
        if fresh:
            self._begin()

    def _begin(self) -> None:
        if self.fmt == 'csv':
            csv.writer(self._file).writerow(self.columns)
        self._file.flush()

    def write(self, row: Any, flush: bool = True) -> None:
        """Append one row (a mapping or dataclass with a field per column; a missing field is empty)."""
        fields = _fields(row)
        if self.fmt == 'csv':
            csv.writer(self._file).writerow([_csv_field(fields.get(c)) for c in self.columns])
        else:
            self._file.write(json.dumps({c: fields.get(c) for c in self.columns}) + '\n')
        if flush:
            self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()

    def __enter__(self) -> 'AppendOnlyRows':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_header(path: str) -> tuple[str, ...]:
    """The header of a CSV file, its names stripped (empty for an empty file)."""
    with open(path, newline='') as f:
        return tuple(h.strip() for h in next(csv.reader(f), ()))


def read_appended(path: str, fmt: str = 'csv') -> list[dict[str, Any]]:
    """The complete rows of a file of :class:`AppendOnlyRows`: CSV rows as ``{column: text}`` (a row cut by an
    interruption, with fewer fields than the header, is left out), JSON Lines objects as they were written (a line
    that is not a whole JSON object is left out)."""
    rows: list[dict[str, Any]] = []
    with open(path, newline='') as f:
        if fmt == 'csv':
            return [row for row in csv.DictReader(f) if None not in row.values() and None not in row]
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


# -- metrics.csv and its summary ----------------------------------------------------------------------------------
def write_metrics_csv(records: Iterable[ResultRow], path: str) -> None:
    """Write ``metrics.csv`` whole; the ``note`` column only when a value carries a mark, so that a run on published
    weights gives the four-column file that earlier readers (positional ones included) expect."""
    records = list(records)
    AppendOnlyRows(path, CSV_COLUMNS if any(r.note for r in records) else OLD_CSV_COLUMNS, start=records).close()


def read_value_csv(path: str, columns: tuple[str, ...],
                   notes: tuple[str, ...] = ()) -> list[tuple[list[str], float]]:
    """Rows of a CSV whose header is ``columns`` and whose last column is a number: ``(text fields, value)``.

    With ``notes``, a header of ``columns + notes`` is accepted too; those text columns follow the value and are
    appended to the text fields (empty for a file without them). A missing file, wrong header, wrong column count
    or non-numeric value is an error naming the file and line."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'metrics file not found: {path}')
    rows = []
    with open(path, newline='') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        header = tuple(h.strip() for h in header) if header is not None else None
        if header not in (columns, columns + notes):
            raise ValueError(f'{path}: expected the header {",".join(columns + notes)}, got {header}')
        n_value = len(columns) - 1
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f'{path}:{line_no}: expected {len(header)} columns, got {row}')
            try:
                value = float(row[n_value])
            except ValueError:
                raise ValueError(f'{path}:{line_no}: value {row[n_value]!r} is not a number') from None
            extra = row[n_value + 1:] + [''] * (len(columns) + len(notes) - len(header))
            rows.append((row[:n_value] + extra, value))
    return rows


def read_metrics_csv(path: str) -> list[ResultRow]:
    """Read a ``metrics.csv`` of ``sfd_arch/test.py``, with or without its ``note`` column (see
    :func:`read_value_csv` for the errors)."""
    return [ResultRow('', *fields[:3], value, *fields[3:])
            for fields, value in read_value_csv(path, OLD_CSV_COLUMNS, CSV_COLUMNS[4:])]


def dataset_means(records: Iterable[ResultRow]) -> dict[str, dict[str, float]]:
    """``{dataset: {metric: mean over images}}``, datasets and metrics in the order they first appear."""
    sums: dict[str, dict[str, list[float]]] = {}
    for r in records:
        sums.setdefault(r.dataset, {}).setdefault(r.metric, []).append(r.value)
    return {d: {m: sum(v) / len(v) for m, v in per_metric.items()} for d, per_metric in sums.items()}


def summary_markdown(records: Iterable[ResultRow], digits: int = 4) -> str:
    """A markdown table: one row per dataset (with its image count), one column per metric, cells = means."""
    records = list(records)
    if not records:
        return 'No metric values were recorded (the option file has no `val: metrics:` block).\n'
    means = dataset_means(records)
    metrics = list(dict.fromkeys(r.metric for r in records))
    notes = metric_notes(records)
    images: dict[str, set] = {}
    for r in records:
        images.setdefault(r.dataset, set())
        if r.image != DATASET_LEVEL:
            images[r.dataset].add(r.image)
    lines = ['| dataset | images | ' + ' | '.join(marked(m, notes.get(m)) for m in metrics) + ' |',
             '| --- | ---: | ' + ' | '.join('---:' for _ in metrics) + ' |']
    for dataset, per_metric in means.items():
        cells = [f'{per_metric[m]:.{digits}f}' if m in per_metric else '-' for m in metrics]
        lines.append(f'| {dataset} | {len(images[dataset])} | ' + ' | '.join(cells) + ' |')
    dataset_level = list(dict.fromkeys(r.metric for r in records if r.image == DATASET_LEVEL))
    if notes:
        lines.append(f'\n{", ".join(marked(m, n) for m, n in notes.items())}: the network does not run on its '
                     'published weights; these numbers are not comparable to published ones.')
    if dataset_level:
        lines.append(f'\n{", ".join(dataset_level)}: one value over all images of the dataset, not a mean.')
    return '\n'.join(lines) + '\n'
