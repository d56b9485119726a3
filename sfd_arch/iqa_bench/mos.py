"""MOS tables: the CSV of image names and mean opinion scores that ``sfd-iqa eval --mos`` and a ``bench`` dataset
of the generic layout read, and matching its names to the image files of a folder.

The column names are options, matched ignoring case and surrounding spaces; :data:`MOS_COLUMNS` holds those of
the known tables, for ``sfd-iqa eval --mos TABLE --preset NAME`` (the released layouts themselves are read by
:mod:`sfd_arch.iqa_bench.datasets`):

    koniq10k (koniq)  koniq10k_scores_and_distributions.csv   image_name, MOS (or MOS_zscore)
    clive (livec)     a CSV export of LIVE Challenge           image, mos
    spaq              CSV export of 'MOS and Image attribute scores.xlsx'   Image name, MOS
    kadid10k          dmos.csv                                 dist_img, dmos
"""
from __future__ import annotations

import csv
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, TextIO

import numpy as np

MOS_COLUMNS: dict[str, dict[str, str]] = {
    'koniq10k': {'image_col': 'image_name', 'score_col': 'MOS'},
    'clive': {'image_col': 'image', 'score_col': 'mos'},
    'spaq': {'image_col': 'Image name', 'score_col': 'MOS'},
    'kadid10k': {'image_col': 'dist_img', 'score_col': 'dmos'},
}
# the names of the first release: alias -> dataset name, for these tables and the bench's presets (datasets.py)
ALIASES = {'koniq': 'koniq10k', 'livec': 'clive'}
MOS_COLUMNS.update((alias, MOS_COLUMNS[name]) for alias, name in ALIASES.items())


class DatasetError(ValueError):
    """A dataset folder that does not hold its release's layout; the message names the file and the layout."""


def norm_column(text: Any) -> str:
    """A column name as matched: stripped, without a byte-order mark, lower case."""
    return str(text).strip().lstrip('\ufeff').lower()


def read_csv_columns(path: str, columns: Sequence[str], layout: str = '', hint: str = '') -> list[dict[str, str]]:
    """Rows of a CSV (``,``/``;``/tab, BOM fine) as ``{column: text}``; columns match ignoring case. An error about
    a missing column lists the columns as written and ends with ``hint`` (or the expected ``layout``)."""
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = sniffed_csv_reader(f)
        written = next(reader, [])
        header = [norm_column(c) for c in written]
        missing = [c for c in columns if norm_column(c) not in header]
        if missing:
            raise DatasetError(f'{path}: no column {", ".join(repr(c) for c in missing)} (columns: '
                               f'{", ".join(repr(c) for c in written) or "none"}); '
                               f'{hint or f"expected layout: {layout}"}')
        idx = [header.index(norm_column(c)) for c in columns]
        return [{c: row[i].strip() if i < len(row) else '' for c, i in zip(columns, idx)}
                for row in reader if row and any(cell.strip() for cell in row)]


def number(value: Any, path: str, where: str) -> float:
    """``value`` as a finite float; anything else is a :class:`DatasetError` naming file and place."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f'{path}: {where}: {value!r} is not a number') from None
    if not np.isfinite(out):
        raise DatasetError(f'{path}: {where}: {value!r} is not a finite number')
    return out


@dataclass
class MOSTable:
    """Image names (as written in the table) and their mean opinion scores, in table order."""

    path: str
    names: list[str]
    mos: np.ndarray


def sniffed_csv_reader(f: TextIO) -> Iterator[list[str]]:
    """``csv.reader`` over an open text file, with the delimiter (``,``, ``;`` or tab) guessed from its start:
    MOS tables come from spreadsheets saved in many locales."""
    sample = f.read(8192)
    f.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=',;\t')
    except csv.Error:
        dialect = csv.excel
    return csv.reader(f, dialect)


def read_mos_table(path: str, image_col: str, score_col: str, hint: str = '') -> MOSTable:
    """Read a CSV (comma, semicolon or tab separated) of image names and MOS; errors name file and column.

    ``hint`` ends an error about a missing column (by default: the command-line options that name columns).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'MOS table not found: {path}')
    if path.lower().endswith(('.xlsx', '.xls')):
        raise DatasetError(f'{path}: spreadsheets are not read directly; export the sheet to CSV (for SPAQ: '
                           "columns 'Image name' and 'MOS') and pass the CSV")
    rows = read_csv_columns(path, [image_col, score_col], hint=hint or 'set --image-col / --score-col or --preset')
    if not rows:
        raise DatasetError(f'{path}: no rows')
    scores = [number(r[score_col], path, f'row {i} {score_col}') for i, r in enumerate(rows, start=2)]
    return MOSTable(path, [r[image_col] for r in rows], np.asarray(scores, dtype=np.float64))


def match_images(folder: str, names: Sequence[str]) -> tuple[list[Optional[str]], list[str]]:
    """Path of each table entry in ``folder`` (or None), matched by relative path, then file name, then file
    name without extension when that is unique. Returns the paths and the unmatched names."""
    by_rel, by_base, by_stem = {}, {}, {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            by_rel[osp.relpath(path, folder).replace(os.sep, '/')] = path
            by_base.setdefault(name, path)
            by_stem.setdefault(osp.splitext(name)[0], []).append(path)
    paths, unmatched = [], []
    for name in names:
        key = name.replace('\\', '/').lstrip('./')
        path = by_rel.get(key) or by_base.get(osp.basename(key))
        if path is None:
            stems = by_stem.get(osp.splitext(osp.basename(key))[0], [])
            path = stems[0] if len(stems) == 1 else None
        paths.append(path)
        if path is None:
            unmatched.append(name)
    return paths, unmatched
