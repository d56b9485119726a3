"""Readers for the standard IQA datasets in the layout their authors release them.

One preset per dataset; each reader needs only the folder the release unpacks to and returns an
:class:`IQADataset`: image names as the release lists them, their files, and opinion scores turned so that
**higher is better** for every dataset (DMOS, where lower is better, is negated). Nothing is converted or copied:
the release's own ``.mat`` (scipy), ``.xlsx`` (openpyxl), ``.csv`` and ``.txt`` files are read as shipped.

Presets, each with its score file(s), image folders, and what was done to the published score:

- ``live``: ``dmos.mat`` (``dmos``, ``orgs``) or ``dmos_realigned.mat`` (``dmos_new``), ``refnames_all.mat``;
  ``jp2k/ jpeg/ wn/ gblur/ fastfading/``; DMOS negated.
- ``csiq``: ``csiq.DMOS.xlsx`` (sheet ``all_by_image``), else ``csiq_label.txt``;
  ``dst_imgs/<type>/<image>.<TYPE>.<level>.png``; DMOS negated.
- ``tid2013``: ``mos_with_names.txt``; ``distorted_images/``; MOS kept.
- ``kadid10k``: ``dmos.csv`` (``dist_img``, ``dmos``); ``images/``; ``dmos`` is higher-is-better: kept.
- ``mdlive``: ``Part 1|2/Imagelists.mat`` (``distimgs``) and ``Scores.mat`` (``DMOSscores``); ``blurjpeg/
  blurnoise/``; DMOS negated.
- ``mdivl``: a score table beside ``Data_Blur_JPEG/`` and ``Data_Noise_JPEG/``; MOS kept.
- ``koniq10k``: ``koniq10k_scores_and_distributions.csv`` (``image_name``, ``MOS`` or ``MOS_zscore``);
  ``1024x768/`` or ``512x384/``; kept. The official split (``split='test'``): the ``set`` column of
  ``koniq10k_distributions_sets.csv`` (the KonIQ repository's metadata file).
- ``clive``: ``Data/AllImages_release.mat``, ``Data/AllMOS_release.mat``; ``Images/`` (first 7 left out); MOS kept.
- ``cid2013``: ``CID2013 data - version 12112014.xlsx`` (``Source_ID``, ``Realigned MOS``); ``IS*/co*/``; kept.
- ``spaq``: ``Annotations/MOS and Image attribute scores.xlsx`` (``Image name``, ``MOS``); ``TestImage/``; kept.
- ``csv``: a CSV with ``image`` and ``mos`` columns, images beside it; kept.

The older names ``koniq`` and ``livec`` are aliases of ``koniq10k`` and ``clive``. Folders are searched up to two
levels below the dataset folder and symlinks are followed; the variant read is in ``IQADataset.variant``.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from ..iqa.images import IMAGE_EXTENSIONS
from ..metrics.protocols import BENCH_PROTOCOLS, DEFAULT_BENCH_PROTOCOL, BenchProtocol
from .mos import ALIASES, DatasetError, match_images, norm_column, number, read_csv_columns, read_mos_table


@dataclass
class IQADataset:
    """One dataset as read from its release.

    ``names[i]`` is the image as the release lists it, ``paths[i]`` its file (None: listed but absent), ``mos[i]``
    its opinion score with higher = better (``turned`` says what was done to the published score).
    """

    preset: str
    folder: str
    source: str                  # the score file(s) read
    names: list[str]
    paths: list[Optional[str]]
    mos: np.ndarray
    turned: str = ''             # '' = published scores kept; else what was done (e.g. 'DMOS negated')
    short_side: Optional[int] = None  # resize so the shorter side has this length before scoring (SPAQ protocol)
    resize: str = 'area'  # how: 'area' (OpenCV) or 'pil-bilinear' (torchvision's Resize on a PIL image, as pyiqa)
    notes: list[str] = field(default_factory=list)
    # the release's alternatives that were chosen (LIVE's DMOS file, KonIQ's resolution and score column):
    # choice -> value, recorded in results.json and table.md, part of the score cache key
    variant: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def absent(self) -> list[str]:
        """Names listed by the release whose image file is not there."""
        return [n for n, p in zip(self.names, self.paths) if p is None]

    def subset(self, keep: Sequence[int]) -> IQADataset:
        """The same dataset with only the entries at the indices ``keep``, in that order."""
        keep = list(keep)
        return replace(self, names=[self.names[i] for i in keep], paths=[self.paths[i] for i in keep],
                       mos=self.mos[keep], notes=list(self.notes), variant=dict(self.variant))

    @property
    def protocol(self) -> str:
        """A short tag of the choices that change the images scored (part of the score cache key): SPAQ's
        resizing, KonIQ's resolution. (Score-file choices change the MOS, not the metric's scores.)"""
        tag = f'short{self.short_side}' if self.short_side else 'asis'
        if self.short_side and self.resize != 'area':
            tag += f'-{self.resize}'
        # the split is not part of it: a split's images are a subset of the whole release's, scored alike
        return f'{tag}-{self.variant["resolution"]}' if 'resolution' in self.variant else tag


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    folders: tuple[str, ...]      # folder names the release unpacks to (matched ignoring case)
    layout: str                   # expected layout, for errors and docs
    read: Callable[..., IQADataset]
    direction: str


# --------------------------------------------------------------------------------------------------------
# File helpers
# --------------------------------------------------------------------------------------------------------

def _find_file(folder: str, relpaths: Sequence[str], layout: str, depth: int = 2) -> str:
    """The first of ``relpaths`` found in ``folder`` or up to ``depth`` folders below it (releases often unpack
    into a nested folder of the same name); names compare ignoring case."""
    wanted = [r.replace('\\', '/').lower() for r in relpaths]
    level = [folder]
    for _ in range(depth + 1):
        for base in level:
            for want in wanted:
                path = _resolve_case(base, want)
                if path is not None:
                    return path
        level = [osp.join(b, d) for b in level for d in sorted(_listdir(b)) if osp.isdir(osp.join(b, d))
                 and not d.startswith('.')]
    raise DatasetError(f'{osp.join(folder, relpaths[0])}: not found (also looked for '
                       f'{", ".join(relpaths[1:]) or "it"} up to {depth} folders below {folder}); '
                       f'expected layout: {layout}')


def _find_dir(base: str, name: str, depth: int = 2) -> Optional[str]:
    """The folder ``name`` (ignoring case) in ``base`` or up to ``depth`` folders below it (``SPAQ/Dataset/
    TestImage/`` when the archive unpacks one level deeper), symlinks followed; None when there is none."""
    level = [base]
    for _ in range(depth + 1):
        for folder in level:
            found = _resolve_case(folder, name.lower())
            if found is not None and osp.isdir(found):
                return found
        level = [osp.join(f, d) for f in level for d in sorted(_listdir(f)) if osp.isdir(osp.join(f, d))
                 and not d.startswith('.')]
    return None


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _resolve_case(base: str, rel: str) -> Optional[str]:
    """``base/rel`` with each component matched ignoring case, or None."""
    path = base
    for part in rel.split('/'):
        exact = osp.join(path, part)
        if osp.exists(exact):
            path = exact
            continue
        match = [e for e in _listdir(path) if e.lower() == part]
        if not match:
            return None
        path = osp.join(path, sorted(match)[0])
    return path


def _index_files(folder: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> dict[str, str]:
    """Lower-cased path relative to ``folder`` (``/``-separated) -> file, for every image below ``folder``."""
    exts = tuple(extensions)
    index = {}
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):  # sub-folders may be symlinks to elsewhere
        real = osp.realpath(root)
        if real in seen:  # a link back up the tree: walk it once
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(files):
            if name.lower().endswith(exts):
                path = osp.join(root, name)
                index.setdefault(osp.relpath(path, folder).replace(os.sep, '/').lower(), path)
    return index


def _by_basename(index: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel, path in index.items():
        out.setdefault(rel.rsplit('/', 1)[-1], path)
    return out


def loadmat(path: str, keys: Sequence[str], layout: str) -> dict[str, np.ndarray]:
    """The variables ``keys`` of a MATLAB file (scipy; h5py for v7.3 files when installed)."""
    from scipy import io

    try:
        data = io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        data = _loadmat_h5(path, keys, layout)
    except (ValueError, OSError, TypeError) as err:
        raise DatasetError(f'{path}: not a readable MATLAB file ({err}); expected layout: {layout}') from err
    missing = [k for k in keys if k not in data]
    if missing:
        present = sorted(k for k in data if not k.startswith('__'))
        raise DatasetError(f'{path}: no variable {", ".join(repr(k) for k in missing)} (it has '
                           f'{", ".join(present) or "none"}); expected layout: {layout}')
    return {k: data[k] for k in keys}


def _loadmat_h5(path: str, keys: Sequence[str], layout: str) -> dict[str, Any]:
    try:
        import h5py
    except ImportError:
        raise DatasetError(f'{path}: a MATLAB v7.3 (HDF5) file; install h5py to read it') from None
    out: dict[str, Any] = {}
    try:
        f = h5py.File(path, 'r')
    except OSError as err:
        raise DatasetError(f'{path}: a MATLAB v7.3 header but not a readable HDF5 file ({err}); expected layout: '
                           f'{layout}') from err
    with f:
        for key in keys:
            if key not in f:
                continue
            ds = f[key]
            if ds.dtype == object:  # cell array: references to char arrays
                out[key] = np.array([''.join(chr(c) for c in np.asarray(f[ref]).ravel()) for ref in
                                     np.asarray(ds).ravel()], dtype=object)
            else:
                out[key] = np.asarray(ds).T  # HDF5 stores MATLAB arrays transposed
    return out


def mat_strings(value: Any) -> list[str]:
    """A MATLAB cell array of strings (any nesting scipy gives it) -> a flat list of str."""
    if isinstance(value, str):
        return [value]
    arr = np.asarray(value)
    if arr.dtype.kind in 'US':
        return [str(s) for s in arr.ravel()] if arr.ndim else [str(arr)]
    out: list[str] = []
    for item in arr.ravel():
        out.extend(mat_strings(item))
    return out


def mat_numbers(value: Any, path: str, key: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DatasetError(f'{path}: variable {key!r} is not numeric') from None


def read_xlsx(path: str, columns: Sequence[str], layout: str, sheet: Optional[str] = None) -> list[dict[str, Any]]:
    """Rows of a spreadsheet as ``{column: value}`` for ``columns`` (matched ignoring case and spaces), read with
    openpyxl. The header is the first row (of the first 50) holding all ``columns``: releases put titles above it.
    ``sheet``: a sheet name to use when present (else every sheet is tried in order)."""
    try:
        import openpyxl
    except ImportError:
        raise DatasetError(f'{path}: reading .xlsx needs openpyxl (pip install openpyxl)') from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - zip/XML errors of a damaged file, all reported the same way
        raise DatasetError(f'{path}: not a readable .xlsx file ({type(err).__name__}: {err})') from err
    try:
        names = book.sheetnames
        order = ([sheet] if sheet in names else []) + [n for n in names if n != sheet]
        wanted = [norm_column(c) for c in columns]
        for name in order:
            rows = book[name].iter_rows(values_only=True)
            for _, row in zip(range(50), rows):
                header = [norm_column(c) if c is not None else '' for c in row]
                if all(w in header for w in wanted):
                    idx = [header.index(w) for w in wanted]
                    out = []
                    for values in rows:
                        if values is None or all(v is None or str(v).strip() == '' for v in values):
                            continue
                        out.append({c: (values[i] if i < len(values) else None) for c, i in zip(columns, idx)})
                    return out
    finally:
        book.close()
    raise DatasetError(f'{path}: no sheet with the columns {", ".join(repr(c) for c in columns)} '
                       f'(sheets: {", ".join(names)}); expected layout: {layout}')


def _dataset(preset: str, folder: str, source: str, names: list[str], paths: list[Optional[str]],
             scores: Sequence[float], negate: bool, **kwargs: Any) -> IQADataset:
    if not names:
        raise DatasetError(f'{source}: lists no image')
    mos = np.asarray(scores, dtype=np.float64)
    return IQADataset(preset, folder, source, names, paths, -mos if negate else mos,
                      turned='DMOS negated (published DMOS: lower is better)' if negate else '', **kwargs)


# --------------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------------

LIVE_FOLDERS = (('jp2k', 227), ('jpeg', 233), ('wn', 174), ('gblur', 174), ('fastfading', 174))
LIVE_LAYOUT = ('databaserelease2/ with dmos.mat (dmos, orgs: 1 x 982), refnames_all.mat (refnames_all) and '
               'jp2k/ jpeg/ wn/ gblur/ fastfading/ holding img<i>.bmp, in that order in dmos')


# LIVE's DMOS files: the release's dmos.mat, and dmos_realigned.mat (the DMOS realigned across the distortion
# sessions, variable dmos_new), which hyperIQA's and DBCNN-style loaders read
LIVE_DMOS_FILES = {'dmos.mat': 'dmos', 'dmos_realigned.mat': 'dmos_new'}
LIVE_DEFAULT_DMOS = 'dmos.mat'


def read_live(folder: str, dmos_file: str = LIVE_DEFAULT_DMOS) -> IQADataset:
    """LIVE IQA release 2: the 779 distorted images (``orgs == 0``); DMOS negated. ``dmos_file``:
    ``dmos.mat`` (``dmos``) or ``dmos_realigned.mat`` (``dmos_new``)."""
    if dmos_file not in LIVE_DMOS_FILES:
        raise DatasetError(f'LIVE DMOS file {dmos_file!r}: choose one of {", ".join(LIVE_DMOS_FILES)}')
    key = LIVE_DMOS_FILES[dmos_file]
    chosen = dmos_file
    dmos_file = _find_file(folder, [chosen], LIVE_LAYOUT)
    base = osp.dirname(dmos_file)
    refs_file = _find_file(base, ['refnames_all.mat'], LIVE_LAYOUT, depth=0)
    mat = loadmat(dmos_file, [key, 'orgs'], LIVE_LAYOUT)
    dmos, orgs = mat_numbers(mat[key], dmos_file, key), mat_numbers(mat['orgs'], dmos_file, 'orgs')
    refs = mat_strings(loadmat(refs_file, ['refnames_all'], LIVE_LAYOUT)['refnames_all'])
    total = sum(n for _, n in LIVE_FOLDERS)
    for what, arr, path in (('dmos', dmos, dmos_file), ('orgs', orgs, dmos_file), ('refnames_all', refs, refs_file)):
        if len(arr) != total:
            raise DatasetError(f'{path}: {what} has {len(arr)} entries, expected {total}; expected layout: '
                               f'{LIVE_LAYOUT}')
    index = _index_files(base)
    names, paths, scores = [], [], []
    i = 0
    for sub, count in LIVE_FOLDERS:
        for k in range(1, count + 1):
            if orgs[i] == 0:  # orgs == 1 marks the undistorted copies of the references
                name = f'{sub}/img{k}.bmp'
                names.append(name)
                paths.append(index.get(name))
                scores.append(dmos[i])
            i += 1
    return _dataset('live', base, dmos_file, names, paths, scores, negate=True,
                    notes=[f'{int(np.sum(orgs == 1))} reference copies (orgs == 1) left out'],
                    variant={'dmos_file': chosen})


CSIQ_LAYOUT = ('CSIQ/ with csiq.DMOS.xlsx (sheet all_by_image: image, dst_idx, dst_type, dst_lev, dmos_std, dmos) '
               'and dst_imgs/<type>/<image>.<TYPE>.<level>.png')
# dst_type as written in the sheet -> the token in the file names
CSIQ_TYPES = {'noise': 'awgn', 'awgn': 'awgn', 'jpeg': 'jpeg', 'jpeg 2000': 'jpeg2000', 'jpeg2000': 'jpeg2000',
              'fnoise': 'fnoise', 'f noise': 'fnoise', 'blur': 'blur', 'contrast': 'contrast'}


def read_csiq(folder: str) -> IQADataset:
    """CSIQ: the 866 distorted images of ``csiq.DMOS.xlsx``, or, without it, of ``csiq_label.txt`` (the derived
    list hyperIQA's and DBCNN-style loaders read); DMOS (0 = best) negated."""
    try:
        xlsx = _find_file(folder, ['csiq.DMOS.xlsx'], CSIQ_LAYOUT)
    except DatasetError:
        try:
            label = _find_file(folder, ['csiq_label.txt'], CSIQ_LAYOUT)
        except DatasetError:
            raise DatasetError(f'{osp.join(folder, "csiq.DMOS.xlsx")}: not found, nor csiq_label.txt (up to 2 '
                               f'folders below {folder}); expected layout: {CSIQ_LAYOUT}') from None
        return read_csiq_label(label)
    base = osp.dirname(xlsx)
    rows = read_xlsx(xlsx, ['image', 'dst_type', 'dst_lev', 'dmos'], CSIQ_LAYOUT, sheet='all_by_image')
    files = _by_basename(_index_files(base, ('.png',)))
    names, paths, scores = [], [], []
    for line, row in enumerate(rows, start=1):
        if row['image'] is None and row['dmos'] is None:
            continue
        image = row['image']
        image = str(int(image)) if isinstance(image, float) and image.is_integer() else str(image).strip()
        kind = norm_column(row['dst_type'])
        if kind not in CSIQ_TYPES:
            raise DatasetError(f'{xlsx}: row {line}: unknown dst_type {row["dst_type"]!r} (known: '
                               f'{", ".join(sorted(CSIQ_TYPES))})')
        level = int(number(row['dst_lev'], xlsx, f'row {line} dst_lev'))
        name = f'{image}.{CSIQ_TYPES[kind]}.{level}.png'
        names.append(name)
        paths.append(files.get(name.lower()))
        scores.append(number(row['dmos'], xlsx, f'row {line} dmos'))
    return _dataset('csiq', base, xlsx, names, paths, scores, negate=True, variant={'score_file': 'csiq.DMOS.xlsx'})


def _two_columns(path: str, expected: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, [first, second])`` of each non-empty line of a two-column text score file; any other line
    is an error naming the file, the line and the ``expected`` form."""
    with open(path, encoding='utf-8-sig', errors='replace') as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise DatasetError(f'{path}:{line_no}: expected "{expected}", got {line.strip()!r}')
            yield line_no, parts


def read_csiq_label(label: str) -> IQADataset:
    """CSIQ from ``csiq_label.txt``: ``<image>.<TYPE>.<level>[.png] <dmos>`` per line; images anywhere below
    its folder (``dst_imgs/<type>/`` of the release, ``dst_imgs_all/`` of hyperIQA's copy); DMOS negated."""
    base = osp.dirname(label)
    files = _by_basename(_index_files(base, ('.png',)))
    names, paths, scores = [], [], []
    for line_no, parts in _two_columns(label, '<image name> <dmos>'):
        name = parts[0] if parts[0].lower().endswith('.png') else parts[0] + '.png'
        names.append(name)
        paths.append(files.get(name.lower()))
        scores.append(number(parts[1], label, f'line {line_no}'))
    return _dataset('csiq', base, label, names, paths, scores, negate=True,
                    variant={'score_file': 'csiq_label.txt'},
                    notes=['scores from csiq_label.txt (a derived list of the DMOS), csiq.DMOS.xlsx absent'])


TID_LAYOUT = 'tid2013/ with mos_with_names.txt ("<MOS> <name>" per line) and distorted_images/'


def read_tid2013(folder: str) -> IQADataset:
    """TID2013: 3000 distorted images, MOS (0..9, higher is better) kept."""
    mos_file = _find_file(folder, ['mos_with_names.txt'], TID_LAYOUT)
    base = osp.dirname(mos_file)
    files = {k.rsplit('/', 1)[-1]: v for k, v in _index_files(osp.join(base, 'distorted_images')).items()}
    if not osp.isdir(osp.join(base, 'distorted_images')):
        files = _by_basename(_index_files(base))
    names, paths, scores = [], [], []
    for line_no, parts in _two_columns(mos_file, '<MOS> <image name>'):
        names.append(parts[1])
        paths.append(files.get(parts[1].lower()))  # the release mixes i25_... and I25_... spellings
        scores.append(number(parts[0], mos_file, f'line {line_no}'))
    return _dataset('tid2013', base, mos_file, names, paths, scores, negate=False)


KADID_LAYOUT = 'kadid10k/ with dmos.csv (dist_img, ref_img, dmos, var) and images/'


def read_kadid10k(folder: str) -> IQADataset:
    """KADID-10k: 10125 distorted images. Its ``dmos`` column is a mean of 1..5 ratings, higher is better: kept."""
    table = _find_file(folder, ['dmos.csv'], KADID_LAYOUT)
    base = osp.dirname(table)
    files = _by_basename(_index_files(osp.join(base, 'images') if osp.isdir(osp.join(base, 'images')) else base))
    rows = read_csv_columns(table, ['dist_img', 'dmos'], KADID_LAYOUT)
    names = [r['dist_img'] for r in rows]
    scores = [number(r['dmos'], table, f'row {i} dmos') for i, r in enumerate(rows, start=2)]
    return _dataset('kadid10k', base, table, names, [files.get(n.lower()) for n in names], scores, negate=False)


MDLIVE_LAYOUT = ('LIVEmultidistortiondatabase/ with "Part 1/" (Imagelists.mat: distimgs; Scores.mat: DMOSscores; '
                 'blurjpeg/) and "Part 2/" (the same, blurnoise/)')
MDLIVE_PARTS = (('part 1', 'blurjpeg'), ('part 2', 'blurnoise'))


def read_mdlive(folder: str) -> IQADataset:
    """LIVE Multiply Distorted: 450 images (blur + JPEG, blur + noise); DMOS negated."""
    names, paths, scores, sources = [], [], [], []
    for part, images in MDLIVE_PARTS:
        variants = [f'{p}/Imagelists.mat' for p in (part, part.replace(' ', '_'), part.replace(' ', ''))]
        lists = _find_file(folder, variants, MDLIVE_LAYOUT)
        part_dir = osp.dirname(lists)
        scores_file = _find_file(part_dir, ['Scores.mat'], MDLIVE_LAYOUT, depth=0)
        dist = mat_strings(loadmat(lists, ['distimgs'], MDLIVE_LAYOUT)['distimgs'])
        dmos = mat_numbers(loadmat(scores_file, ['DMOSscores'], MDLIVE_LAYOUT)['DMOSscores'], scores_file,
                           'DMOSscores')
        if len(dist) != len(dmos):
            raise DatasetError(f'{scores_file}: {len(dmos)} DMOSscores for {len(dist)} distimgs in {lists}')
        files = _by_basename(_index_files(osp.join(part_dir, images)))
        label = osp.basename(part_dir)
        for name, d in zip(dist, dmos):
            names.append(f'{label}/{images}/{name}')
            paths.append(files.get(name.lower()))
            scores.append(d)
        sources += [lists, scores_file]
    return _dataset('mdlive', folder, '; '.join(sources), names, paths, scores, negate=True)


MDIVL_LAYOUT = ('MDIVL/ with Data_Blur_JPEG/ and Data_Noise_JPEG/ and, in or below it, a score table: a .mat '
                'with a cell array of image names and a numeric vector of the same length, or a .csv/.xlsx with '
                'an image-name column and a MOS column')
MDIVL_NAME_COLUMNS = ('image', 'image name', 'image_name', 'name', 'filename', 'file', 'img')
MDIVL_SCORE_COLUMNS = ('mos', 'score', 'scores', 'mos_score')


def read_mdivl(folder: str) -> IQADataset:
    """MDIVL (multiply distorted, blur + JPEG and noise + JPEG): MOS (0..100, higher is better) kept.

    The release's score file format could not be confirmed from a public source, so every ``.mat``, ``.csv`` and
    ``.xlsx`` in the folder is examined: the first one that pairs image names with as many numbers, and whose names
    are images of ``Data_Blur_JPEG/`` and ``Data_Noise_JPEG/``, is used (and named in the report).
    """
    anchor = _find_file(folder, ['Data_Blur_JPEG', 'Data_Noise_JPEG'], MDIVL_LAYOUT)
    base = osp.dirname(anchor)
    files: dict[str, str] = {}
    for sub in ('Data_Blur_JPEG', 'Data_Noise_JPEG'):
        path = _resolve_case(base, sub.lower())
        if path:
            files.update(_by_basename(_index_files(path)))
    tried = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(names):
            path = osp.join(root, name)
            pairs = _mdivl_candidate(path)
            if pairs is None:
                continue
            tried.append(path)
            hits = [files.get(osp.basename(n).lower()) for n, _ in pairs]
            if sum(h is not None for h in hits) >= 0.9 * len(pairs):
                return _dataset('mdivl', base, path, [n for n, _ in pairs], hits, [s for _, s in pairs],
                                negate=False, notes=[f'scores read from {path} (MOS, higher is better)'])
    raise DatasetError(f'{folder}: no score table whose names are the images of Data_Blur_JPEG/ and '
                       f'Data_Noise_JPEG/ (examined: {", ".join(tried) or "no .mat/.csv/.xlsx file"}); '
                       f'expected layout: {MDIVL_LAYOUT}')


def _mdivl_candidate(path: str) -> Optional[list[tuple[str, float]]]:
    ext = osp.splitext(path)[1].lower()
    try:
        if ext == '.mat':
            from scipy import io

            data = {k: v for k, v in io.loadmat(path).items() if not k.startswith('__')}
            texts = {k: mat_strings(v) for k, v in data.items() if np.asarray(v).dtype.kind in 'OUS'}
            numbers = {k: np.asarray(v, np.float64).ravel() for k, v in data.items()
                       if np.asarray(v).dtype.kind in 'fiu'}
            for t in texts.values():
                for n in numbers.values():
                    if len(t) == len(n) > 0:
                        return list(zip(t, n.tolist()))
            return None
        if ext in ('.csv', '.xlsx'):
            for name_col in MDIVL_NAME_COLUMNS:
                for score_col in MDIVL_SCORE_COLUMNS:
                    try:
                        rows = (read_csv_columns(path, [name_col, score_col], '') if ext == '.csv'
                                else read_xlsx(path, [name_col, score_col], ''))
                    except DatasetError:
                        continue
                    return [(str(r[name_col]).strip(), float(r[score_col])) for r in rows]
    except (ValueError, TypeError, OSError, NotImplementedError):
        return None
    return None


KONIQ_LAYOUT = ('koniq10k/ with koniq10k_scores_and_distributions.csv (image_name, MOS, MOS_zscore) and 1024x768/ '
                'or 512x384/')
KONIQ_RESOLUTIONS = ('1024x768', '512x384')  # each its own zip; the first is taken when both are there
KONIQ_SCORE_COLUMNS = ('MOS', 'MOS_zscore')
KONIQ_SPLIT_FILE = 'koniq10k_distributions_sets.csv'
KONIQ_SPLIT_URL = 'https://github.com/subpic/koniq/blob/master/metadata/koniq10k_distributions_sets.csv'
# the split argument -> the value of the file's `set` column
KONIQ_SPLITS = {'all': None, 'train': 'training', 'val': 'validation', 'test': 'test'}


def _koniq_split(base: str, split: str) -> set[str]:
    """The image names of one official KonIQ-10k split (the ``set`` column of ``koniq10k_distributions_sets.csv``,
    beside the score file or up to two folders below)."""
    try:
        path = _find_file(base, [KONIQ_SPLIT_FILE], KONIQ_LAYOUT)
    except DatasetError:
        raise DatasetError(f'{osp.join(base, KONIQ_SPLIT_FILE)}: not found; the official {split} split of KonIQ-10k '
                           f'is its `set` column; the file is published in the KonIQ repository ({KONIQ_SPLIT_URL})'
                           f'; put it beside koniq10k_scores_and_distributions.csv') from None
    rows = read_csv_columns(path, ['image_name', 'set'], f'{KONIQ_SPLIT_FILE} (image_name, ..., set)')
    wanted = KONIQ_SPLITS[split]
    found = {r['set'].strip() for r in rows}
    names = {r['image_name'].strip() for r in rows if r['set'].strip() == wanted}
    if not names:
        raise DatasetError(f'{path}: no image has set = {wanted!r} (its set column holds '
                           f'{", ".join(sorted(found)) or "nothing"})')
    return names


def read_koniq10k(folder: str, score_column: str = 'MOS', resolution: Optional[str] = None,
                  split: str = 'all') -> IQADataset:
    """KonIQ-10k: 10073 images, scores kept. ``score_column``: ``MOS`` (1..5) or ``MOS_zscore`` (hyperIQA's
    choice); ``resolution``: ``1024x768`` or ``512x384`` (pyiqa's default); None takes whichever folder exists
    (``1024x768`` when both do). ``split``: ``all``, or ``train`` / ``val`` / ``test``, the official split (pyiqa's
    benchmark scores ``test``: 2015 images), read from ``koniq10k_distributions_sets.csv``."""
    if split not in KONIQ_SPLITS:
        raise DatasetError(f'KonIQ-10k split {split!r}: choose one of {", ".join(KONIQ_SPLITS)}')
    if score_column not in KONIQ_SCORE_COLUMNS:
        raise DatasetError(f'KonIQ-10k score column {score_column!r}: choose one of {", ".join(KONIQ_SCORE_COLUMNS)}')
    if resolution is not None and resolution.lower() not in KONIQ_RESOLUTIONS:
        raise DatasetError(f'KonIQ-10k resolution {resolution!r}: choose one of {", ".join(KONIQ_RESOLUTIONS)}')
    table = _find_file(folder, ['koniq10k_scores_and_distributions.csv'], KONIQ_LAYOUT)
    base = osp.dirname(table)
    dirs = {r: _find_dir(base, r) for r in ([resolution.lower()] if resolution else KONIQ_RESOLUTIONS)}
    resolution, image_dir = next(((r, d) for r, d in dirs.items() if d), (resolution, None))
    if image_dir is None:
        looked = ' or '.join(f'{r}/ (koniq10k_{r}.zip)' for r in dirs)
        raise DatasetError(f'{base}: no {looked} up to 2 folders below; expected layout: {KONIQ_LAYOUT}')
    members = _koniq_split(base, split) if split != 'all' else None  # before indexing 10k files: fail fast
    rows = read_csv_columns(table, ['image_name', score_column], KONIQ_LAYOUT)
    numbered = [(i, r) for i, r in enumerate(rows, start=2) if members is None or r['image_name'].strip() in members]
    if members is not None and len(numbered) != len(members):
        absent = sorted(members - {r['image_name'].strip() for _, r in numbered})
        raise DatasetError(f'{table}: {len(absent)} image(s) of the {split} split of {KONIQ_SPLIT_FILE} have no score '
                           f'(e.g. {", ".join(absent[:3])})')
    files = _by_basename(_index_files(image_dir))
    names = [r['image_name'] for _, r in numbered]
    scores = [number(r[score_column], table, f'row {i} {score_column}') for i, r in numbered]
    variant = {'resolution': resolution, 'score_column': score_column}
    source = table
    if split != 'all':
        variant['split'] = f'{split} ({KONIQ_SPLIT_FILE}, set = {KONIQ_SPLITS[split]})'
        source = f'{table}; {osp.join(base, KONIQ_SPLIT_FILE)}'
    return _dataset('koniq10k', base, source, names, [files.get(n.lower()) for n in names], scores, negate=False,
                    variant=variant)


CLIVE_LAYOUT = ('ChallengeDB_release/ with Data/AllImages_release.mat (AllImages_release), Data/AllMOS_release.mat '
                '(AllMOS_release) and Images/')
CLIVE_TRAINING = 7


def read_clive(folder: str) -> IQADataset:
    """LIVE In the Wild Challenge: 1162 images; the 7 training images listed first are left out, as is usual.
    MOS (0..100) kept."""
    names_file = _find_file(folder, ['Data/AllImages_release.mat'], CLIVE_LAYOUT)
    base = osp.dirname(osp.dirname(names_file))
    mos_file = _find_file(base, ['Data/AllMOS_release.mat'], CLIVE_LAYOUT, depth=0)
    names = mat_strings(loadmat(names_file, ['AllImages_release'], CLIVE_LAYOUT)['AllImages_release'])
    mos = mat_numbers(loadmat(mos_file, ['AllMOS_release'], CLIVE_LAYOUT)['AllMOS_release'], mos_file,
                      'AllMOS_release')
    if len(names) != len(mos):
        raise DatasetError(f'{mos_file}: {len(mos)} scores for {len(names)} images in {names_file}')
    if len(names) <= CLIVE_TRAINING:
        raise DatasetError(f'{names_file}: {len(names)} images, expected the 7 training images and the rest')
    image_dir = _resolve_case(base, 'images')
    index = _index_files(image_dir) if image_dir else {}
    kept = names[CLIVE_TRAINING:]
    return _dataset('clive', base, f'{names_file}; {mos_file}', kept, [index.get(n.lower()) for n in kept],
                    mos[CLIVE_TRAINING:], negate=False,
                    notes=[f'the first {CLIVE_TRAINING} entries (training images {", ".join(names[:3])}, ...) '
                           'left out'])


CID_LAYOUT = ("CID2013/ with 'CID2013 data - version 12112014.xlsx' (sheet 'CID2013 MOS': Source_ID, "
              "Realigned MOS) and IS1/ ... IS6/ holding co*/<Source_ID>.jpg")


def read_cid2013(folder: str) -> IQADataset:
    """CID2013: 474 camera images; the realigned MOS (0..100, comparable across the six image sets) kept."""
    candidates = [f for f in sorted(_listdir(folder)) if f.lower().startswith('cid2013') and f.lower().endswith(
        '.xlsx')]
    xlsx = _find_file(folder, ['CID2013 data - version 12112014.xlsx', *candidates], CID_LAYOUT)
    base = osp.dirname(xlsx)
    rows = read_xlsx(xlsx, ['Source_ID', 'Realigned MOS'], CID_LAYOUT, sheet='CID2013 MOS')
    files = {osp.splitext(k.rsplit('/', 1)[-1])[0]: v for k, v in _index_files(base, ('.jpg', '.jpeg')).items()}
    names, paths, scores = [], [], []
    for line, row in enumerate(rows, start=1):
        if row['Source_ID'] is None:
            continue
        name = str(row['Source_ID']).strip()
        names.append(name)
        paths.append(files.get(osp.splitext(name)[0].lower()))
        scores.append(number(row['Realigned MOS'], xlsx, f'row {line} Realigned MOS'))
    return _dataset('cid2013', base, xlsx, names, paths, scores, negate=False)


SPAQ_LAYOUT = "SPAQ/ with 'Annotations/MOS and Image attribute scores.xlsx' (Image name, MOS) and TestImage/"
SPAQ_SHORT_SIDE = 512


SPAQ_RESIZES = ('area', 'pil-bilinear')


def read_spaq(folder: str, short_side: Optional[int] = None, resize: str = 'area') -> IQADataset:
    """SPAQ: 11125 smartphone photos, MOS (0..100) kept. ``short_side`` resizes each image so that its shorter
    side has that length before scoring (pyiqa's benchmark: 448, ``resize='pil-bilinear'``); None scores them as
    released. ``resize``: ``area`` (OpenCV's area average when shrinking) or ``pil-bilinear`` (torchvision's
    ``Resize`` on a PIL image, as pyiqa's loader)."""
    if resize not in SPAQ_RESIZES:
        raise DatasetError(f'SPAQ resize {resize!r}: choose one of {", ".join(SPAQ_RESIZES)}')
    xlsx = _find_file(folder, ['Annotations/MOS and Image attribute scores.xlsx'], SPAQ_LAYOUT)
    base = osp.dirname(osp.dirname(xlsx))
    image_dir = _find_dir(base, 'testimage')  # SPAQ/TestImage/ or, as some archives unpack, SPAQ/Dataset/TestImage/
    files = _by_basename(_index_files(image_dir)) if image_dir else {}
    rows = read_xlsx(xlsx, ['Image name', 'MOS'], SPAQ_LAYOUT)
    names = [str(r['Image name']).strip() for r in rows if r['Image name'] is not None]
    scores = [number(r['MOS'], xlsx, f'row {i} MOS') for i, r in enumerate(rows, start=1) if r['Image name']
              is not None]
    return _dataset('spaq', base, xlsx, names, [files.get(n.lower()) for n in names], scores, negate=False,
                    short_side=short_side, resize=resize)


CSV_LAYOUT = 'a folder with one .csv (columns image, mos; higher is better) and the images it names'


def read_csv_dataset(folder: str, table: Optional[str] = None, image_col: str = 'image',
                     score_col: str = 'mos') -> IQADataset:
    """The generic layout: a CSV of image names and MOS, images matched in the CSV's folder by relative path,
    file name, or unique stem (as ``sfd-iqa eval --mos`` does)."""
    if table is None:
        tables = [f for f in sorted(_listdir(folder)) if f.lower().endswith('.csv')]
        if len(tables) != 1:
            raise DatasetError(f'{folder}: expected exactly one .csv (found {len(tables)}: {", ".join(tables)}); '
                               f'expected layout: {CSV_LAYOUT}')
        table = osp.join(folder, tables[0])
    return mos_table_dataset(table, osp.dirname(osp.abspath(table)), image_col, score_col,
                             f'expected layout: {CSV_LAYOUT}')


def mos_table_dataset(table: str, folder: str, image_col: str, score_col: str, hint: str = '',
                      preset: str = 'csv') -> IQADataset:
    """A MOS table (CSV) and the images it names in ``folder``, as a dataset: the one reading behind
    ``sfd-iqa eval --mos`` and ``bench``'s generic layout. Entries without an image keep ``None`` as path."""
    mos = read_mos_table(table, image_col, score_col, hint)
    paths, _ = match_images(folder, mos.names)
    return _dataset(preset, folder, table, mos.names, paths, mos.mos, negate=False)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset('live', 'LIVE', ('databaserelease2', 'LIVEIQA_release2', 'LIVE'), LIVE_LAYOUT, read_live, 'DMOS, negated'),
    Preset('csiq', 'CSIQ', ('CSIQ',), CSIQ_LAYOUT, read_csiq, 'DMOS, negated'),
    Preset('tid2013', 'TID2013', ('tid2013',), TID_LAYOUT, read_tid2013, 'MOS'),
    Preset('kadid10k', 'KADID-10k', ('kadid10k', 'KADID-10k'), KADID_LAYOUT, read_kadid10k,
           "'dmos' column, higher is better: kept"),
    Preset('mdlive', 'MDLIVE', ('LIVEmultidistortiondatabase', 'To_Release', 'LIVEMD', 'LIVE_MD'), MDLIVE_LAYOUT,
           read_mdlive, 'DMOS, negated'),
    Preset('mdivl', 'MDIVL', ('MDIVL', 'MD_IVL'), MDIVL_LAYOUT, read_mdivl, 'MOS'),
    Preset('koniq10k', 'KonIQ-10k', ('koniq10k', 'KonIQ-10k', 'koniq'), KONIQ_LAYOUT, read_koniq10k, 'MOS'),
    Preset('clive', 'CLIVE', ('ChallengeDB_release', 'LIVEC', 'LIVE_Challenge', 'livec'), CLIVE_LAYOUT, read_clive,
           'MOS'),
    Preset('cid2013', 'CID2013', ('CID2013',), CID_LAYOUT, read_cid2013, 'MOS (realigned)'),
    Preset('spaq', 'SPAQ', ('SPAQ',), SPAQ_LAYOUT, read_spaq, 'MOS'),
    Preset('csv', 'CSV', (), CSV_LAYOUT, read_csv_dataset, 'as in the CSV (higher is better)'),
)}


def canonical(name: str) -> str:
    """A preset name or alias -> the preset name; ValueError naming the known presets otherwise."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise ValueError(f'unknown dataset preset {name!r} (known: {", ".join(sorted(PRESETS) + sorted(ALIASES))})')
    return key


@dataclass(frozen=True)
class ReleaseOptions:
    """The release variants a user picks over the protocol's (``--live-dmos``, ``--koniq-resolution``,
    ``--koniq-score``, ``--spaq-short-side``); None: the protocol's choice. ``spaq_short_side`` 0: as released."""

    live_dmos: str = LIVE_DEFAULT_DMOS
    koniq_resolution: Optional[str] = None
    koniq_score: Optional[str] = None
    spaq_short_side: Optional[int] = None


def reader_options(preset: str, release: ReleaseOptions = ReleaseOptions(),
                   protocol: Optional[BenchProtocol] = None) -> dict[str, Any]:
    """The reader options of ``preset``: the bench protocol's (default: ``sfd``), each overridden by its field
    of ``release`` where set."""
    protocol = protocol or BENCH_PROTOCOLS[DEFAULT_BENCH_PROTOCOL]
    if preset == 'live':
        return {'dmos_file': release.live_dmos or LIVE_DEFAULT_DMOS}
    if preset == 'koniq10k':
        return {'score_column': release.koniq_score or protocol.koniq_score,
                'resolution': release.koniq_resolution or protocol.koniq_resolution,
                'split': protocol.koniq_split}
    if preset == 'spaq':
        short = release.spaq_short_side
        return {'short_side': (protocol.spaq_short_side if short is None else short) or None,
                'resize': protocol.spaq_resize}
    return {}


def read_dataset(preset: str, folder: str, **options: Any) -> IQADataset:
    """Read a release folder with its preset's reader (options: ``dmos_file`` for live, ``short_side`` for spaq,
    ``score_column`` / ``resolution`` for koniq10k, ``table`` for csv; :func:`reader_options`)."""
    name = canonical(preset)
    if not osp.isdir(folder) and not (name == 'csv' and osp.isfile(folder)):
        raise DatasetError(f'{folder}: no such folder (expected layout for {name}: {PRESETS[name].layout})')
    if name == 'csv' and osp.isfile(folder):
        return read_csv_dataset(osp.dirname(osp.abspath(folder)), table=folder, **options)
    return PRESETS[name].read(folder, **options)


def find_dataset(preset: str, root: str) -> Optional[str]:
    """The folder of ``preset`` under ``root``: a folder named as its release unpacks, or after the preset or an
    alias (names compare ignoring case, ``-`` and ``_``); None when there is none."""
    name = canonical(preset)

    def key(text: str) -> str:
        return text.lower().replace('-', '').replace('_', '')

    wanted = [key(n) for n in (*PRESETS[name].folders, name, *[a for a, t in ALIASES.items() if t == name])]
    entries = {key(e): osp.join(root, e) for e in sorted(_listdir(root)) if osp.isdir(osp.join(root, e))}
    for w in wanted:
        if w in entries:
            return entries[w]
    return None
