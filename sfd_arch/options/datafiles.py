"""The dataset blocks of an option file against the disk, before BasicSR starts: folders and LMDBs that exist and
hold images, pairs with matching names and sizes, a crop that fits the smallest training image, a batch the set
can fill.

BasicSR finds these late: an empty training folder is a ``ZeroDivisionError`` in ``create_train_val_dataloader``,
a ``gt_size`` larger than an image is a ``ValueError`` from a data-loader worker after the experiment folder is
made, and validation pairs of the wrong sizes fail at the first validation, thousands of iterations in. The check
mirrors BasicSR 1.4.2's own listing (``basicsr/data/data_util.py``: ``paired_paths_from_folder``,
``paired_paths_from_meta_info_file``, ``paired_paths_from_lmdb``; Real-ESRGAN's ``meta_info`` files) and reads only
what is cheap: folder listings, ``meta_info.txt`` (an LMDB records every image's shape there) and image headers
(``sfd_arch.utils.imagefiles.image_size``: Pillow reads the header, no pixel is decoded).
"""
from __future__ import annotations

import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..utils.imagefiles import ImageFileError, image_size

# datasets whose pairs and sizes are checked here; any other registered type gets its paths checked only
PAIRED = ('PairedImageDataset', 'RealESRGANPairedDataset')
# a meta_info.txt line: the key (up to the first dot), then the (h,w[,c]) shape where recorded
_META_LINE = re.compile(r'^(?=\S)([^.\n]*)[^\n(]*(?:\((\d+),\s*(\d+)[^)\n]*\))?[^\n]*$', re.M)


class DatasetFileError(ValueError):
    """A dataset of an option file that BasicSR would fail on; the message names the file, the key and the fix."""


@dataclass
class Listing:
    """What a dataset block will read: ``items`` (one name per sample) and, where known, the sizes of each
    sample's GT and LQ images as ``(N, 2)`` arrays of (width, height), and ``files(i)``: the two names of sample
    ``i`` for messages."""

    items: list[str] = field(default_factory=list)
    gt_wh: Optional[np.ndarray] = None
    lq_wh: Optional[np.ndarray] = None
    files: Callable[[int], tuple[str, str]] = lambda i: ('', '')


def _files_in(folder: str) -> list[str]:
    """BasicSR's ``scandir(folder)``: the non-hidden files directly inside, by name."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith('.') and e.is_file())


def _folder(where: str, key: str, folder: Any) -> str:
    if not folder:
        raise DatasetFileError(f'{where}.{key}: missing (the folder of the images)')
    folder = str(folder)
    if not osp.exists(folder):
        raise FileNotFoundError(f'{where}.{key}: not found: {folder}')
    if not osp.isdir(folder):
        raise DatasetFileError(f'{where}.{key}: {folder} is a file, not a folder of images')
    return folder


def _lmdb_meta(where: str, key: str, folder: str) -> tuple[list[str], np.ndarray]:
    """An LMDB's keys and their (width, height) from its ``meta_info.txt`` (``name.png (h,w,c) compression`` per
    line; BasicSR's key is the text before the first dot). One regular expression over the whole file: 140,000
    lines take a fraction of a second, a loop over lines several times that."""
    if not folder.endswith('.lmdb'):
        raise DatasetFileError(f'{where}.{key}: {folder} is not an LMDB (io_backend type lmdb needs a folder named '
                               '*.lmdb, as scripts/data_preparation/prepare_data.py --lmdb writes)')
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{where}.{key}: not found: {folder}')
    for name in ('data.mdb', 'meta_info.txt'):
        if not osp.isfile(osp.join(folder, name)):
            raise DatasetFileError(f'{where}.{key}: {folder} has no {name}: not an LMDB written by BasicSR\'s '
                                   'tools (scripts/data_preparation/prepare_data.py --lmdb)')
    with open(osp.join(folder, 'meta_info.txt')) as f:
        lines = _META_LINE.findall(f.read())
    if not lines:
        raise DatasetFileError(f'{where}.{key}: no images in {folder} (its meta_info.txt lists none)')
    keys = [line[0] for line in lines]
    # (h, w) as recorded; -1 where a line has no shape
    hw = np.array([(line[1] or -1, line[2] or -1) for line in lines], dtype=np.int64)
    return keys, hw[:, ::-1].copy()


def _meta_names(where: str, key: str, path: Any) -> list[str]:
    """The first field of each line of a meta information file (BasicSR and Real-ESRGAN read it so)."""
    if not path:
        raise DatasetFileError(f'{where}.{key}: missing (the list of training images)')
    if not osp.isfile(str(path)):
        raise FileNotFoundError(f'{where}.{key}: not found: {path}')
    with open(str(path)) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise DatasetFileError(f'{where}.{key}: {path} lists no images')
    return names


def _missing_files(paths: Iterable[str]) -> list[str]:
    """The paths that are not files, from one listing per folder (no stat per file)."""
    by_folder: dict[str, set[str]] = {}
    missing = []
    for path in paths:
        folder, name = osp.split(path)
        if folder not in by_folder:
            by_folder[folder] = set(_files_in(folder)) if osp.isdir(folder) else set()
        if name not in by_folder[folder]:
            missing.append(path)
    return missing


def _some(items: list[str], count: int = 3) -> str:
    more = f' and {len(items) - count} more' if len(items) > count else ''
    return ', '.join(items[:count]) + more


def _headers(files: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    gt, lq = [], []
    for gt_file, lq_file in files:
        try:
            gt.append(image_size(gt_file))
            lq.append(image_size(lq_file))
        except ImageFileError as err:
            raise DatasetFileError(str(err)) from None
    return np.array(gt, dtype=np.int64).reshape(-1, 2), np.array(lq, dtype=np.int64).reshape(-1, 2)


def paired_listing(where: str, block: dict[str, Any]) -> Listing:
    """The (GT, LQ) pairs of a paired dataset block, with their sizes, as BasicSR will list them."""
    backend = (block.get('io_backend') or {}).get('type', 'disk')
    tmpl = block.get('filename_tmpl', '{}')
    if backend == 'lmdb':
        gt_root, lq_root = str(block.get('dataroot_gt') or ''), str(block.get('dataroot_lq') or '')
        gt_keys, gt_wh = _lmdb_meta(where, 'dataroot_gt', gt_root)
        lq_keys, lq_wh = _lmdb_meta(where, 'dataroot_lq', lq_root)
        lq_index = dict(zip(lq_keys, range(len(lq_keys))))
        if len(lq_index) != len(gt_keys) or not all(k in lq_index for k in gt_keys):
            gt_set, lq_set = set(gt_keys), set(lq_index)
            raise DatasetFileError(f'{where}: the LMDBs hold different images: only in dataroot_gt: '
                                   f'{_some(sorted(gt_set - lq_set)) or "none"}; only in dataroot_lq: '
                                   f'{_some(sorted(lq_set - gt_set)) or "none"}')
        lq_wh = lq_wh[[lq_index[k] for k in gt_keys]]
        return Listing(gt_keys, gt_wh, lq_wh,
                       lambda i: (f'{gt_root} image {gt_keys[i]}', f'{lq_root} image {gt_keys[i]}'))
    gt_dir = _folder(where, 'dataroot_gt', block.get('dataroot_gt'))
    lq_dir = _folder(where, 'dataroot_lq', block.get('dataroot_lq'))
    meta_key = 'meta_info' if block.get('type') == 'RealESRGANPairedDataset' else 'meta_info_file'
    if block.get(meta_key):
        names = _meta_names(where, meta_key, block.get(meta_key))
        if meta_key == 'meta_info':  # Real-ESRGAN: "gt_path, lq_path" per line, relative to the two roots
            pairs = [tuple(part.strip() for part in line.split(',')[:2]) for line in names]
            files = [(osp.join(gt_dir, p[0]), osp.join(lq_dir, p[-1])) for p in pairs]
        else:
            files = []
            for line in names:
                gt_name = line.split(' ')[0]
                base, ext = osp.splitext(osp.basename(gt_name))
                files.append((osp.join(gt_dir, gt_name), osp.join(lq_dir, f'{tmpl.format(base)}{ext}')))
        missing = _missing_files(p for pair in files for p in pair)
        if missing:
            raise FileNotFoundError(f'{where}.{meta_key}: {len(missing)} listed image(s) not found: '
                                    f'{_some(missing)}')
    else:
        gt_files, lq_files = _files_in(gt_dir), _files_in(lq_dir)
        for key, folder, found in (('dataroot_gt', gt_dir, gt_files), ('dataroot_lq', lq_dir, lq_files)):
            if not found:
                raise DatasetFileError(f'{where}.{key}: no images in {folder} (an empty folder)')
        lq_set = set(lq_files)
        files, unmatched = [], []
        for name in gt_files:
            base, ext = osp.splitext(name)
            lq_name = f'{tmpl.format(base)}{ext}'
            if lq_name in lq_set:
                files.append((osp.join(gt_dir, name), osp.join(lq_dir, lq_name)))
            else:
                unmatched.append(f'{name} (no {lq_name})')
        if unmatched or len(gt_files) != len(lq_files):
            extra = sorted(lq_set - {osp.basename(lq) for _, lq in files})
            raise DatasetFileError(
                f'{where}: dataroot_gt and dataroot_lq do not pair up ({len(gt_files)} and {len(lq_files)} files, '
                f"filename_tmpl {tmpl!r}): GT without LQ: {_some(unmatched) or 'none'}; LQ without GT: "
                f"{_some(extra) or 'none'}")
    gt_wh, lq_wh = _headers(files)
    return Listing([gt for gt, _ in files], gt_wh, lq_wh, files.__getitem__)


def single_listing(where: str, block: dict[str, Any]) -> Listing:
    """SingleImageDataset: the LQ images alone."""
    backend = (block.get('io_backend') or {}).get('type', 'disk')
    if backend == 'lmdb':
        return Listing(_lmdb_meta(where, 'dataroot_lq', str(block.get('dataroot_lq') or ''))[0])
    folder = _folder(where, 'dataroot_lq', block.get('dataroot_lq'))
    if block.get('meta_info_file'):
        names = [osp.join(folder, line.split(' ')[0]) for line in
                 _meta_names(where, 'meta_info_file', block['meta_info_file'])]
        missing = _missing_files(names)
        if missing:
            raise FileNotFoundError(f'{where}.meta_info_file: {len(missing)} listed image(s) not found: '
                                    f'{_some(missing)}')
    else:
        names = [osp.join(folder, f) for f in _files_in(folder)]
        if not names:
            raise DatasetFileError(f'{where}.dataroot_lq: no images in {folder} (an empty folder)')
    try:  # the sizes the metrics will see (LQ x scale), from the headers
        lq_wh = np.array([image_size(f) for f in names], dtype=np.int64).reshape(-1, 2)
    except ImageFileError as err:
        raise DatasetFileError(str(err)) from None
    return Listing(names, None, lq_wh, lambda i: ('', names[i]))


def realesrgan_listing(where: str, block: dict[str, Any]) -> Listing:
    """RealESRGANDataset: the GT images named by ``meta_info`` (or an LMDB's meta_info.txt)."""
    backend = (block.get('io_backend') or {}).get('type', 'disk')
    if backend == 'lmdb':
        return Listing(_lmdb_meta(where, 'dataroot_gt', str(block.get('dataroot_gt') or ''))[0])
    folder = _folder(where, 'dataroot_gt', block.get('dataroot_gt'))
    names = [osp.join(folder, line.split(' ')[0]) for line in _meta_names(where, 'meta_info', block.get('meta_info'))]
    missing = _missing_files(names)
    if missing:
        raise FileNotFoundError(f'{where}.meta_info: {len(missing)} listed image(s) not found under {folder}: '
                                f'{_some(missing)}')
    return Listing(names)


def _check_pair_sizes(where: str, listing: Listing, scale: int, train: bool) -> None:
    """Training crops need GT = LQ x scale exactly; validation crops GT to LQ x scale, so GT may exceed it by less
    than ``scale`` pixels (DIV2K's HR beside its bicubic LR). Entries without a recorded size are skipped."""
    gt, lq = listing.gt_wh, listing.lq_wh
    if gt is None or lq is None or not len(gt):
        return
    known = (gt >= 0).all(1) & (lq >= 0).all(1)
    fits = (gt == lq * scale) if train else ((lq * scale <= gt) & (gt < (lq + 1) * scale))
    bad = np.flatnonzero(known & ~fits.all(1))
    if len(bad):
        cases = []
        for i in bad[:2]:
            gt_file, lq_file = listing.files(int(i))
            cases.append(f'{gt_file} is {gt[i, 0]}x{gt[i, 1]} but {lq_file} is {lq[i, 0]}x{lq[i, 1]}')
        more = f' and {len(bad) - 2} more' if len(bad) > 2 else ''
        need = (f'exactly {scale} x LQ for training' if train else
                f'{scale} x LQ, or up to {scale - 1} px more that BasicSR crops off')
        raise DatasetFileError(f'{where}: {len(bad)} GT/LQ pair(s) are not x{scale} apart (GT must be {need}; '
                               f'width x height): {", ".join(cases)}{more}')


def check_dataset(where: str, block: dict[str, Any], scale: int, train: bool) -> Optional[Listing]:
    """Check one dataset block against the disk; returns its listing (None for a type checked by paths only)."""
    kind = block.get('type')
    backend = (block.get('io_backend') or {}).get('type', 'disk')
    if backend not in ('disk', 'lmdb'):
        return None  # memcached: nothing on this machine to look at
    if kind in PAIRED:
        listing = paired_listing(where, block)
        _check_pair_sizes(where, listing, scale, train)
        if train:
            _check_crop(where, block, listing, scale)
    elif kind == 'SingleImageDataset':
        listing = single_listing(where, block)
    elif kind == 'RealESRGANDataset':
        listing = realesrgan_listing(where, block)
    else:
        for key in ('dataroot_gt', 'dataroot_lq', 'meta_info', 'meta_info_file'):
            value = block.get(key)
            if value and not osp.exists(str(value)):
                raise FileNotFoundError(f'{where}.{key}: not found: {value}')
        return None
    if train:
        _check_batch(where, block, len(listing.items))
    return listing


def _check_crop(where: str, block: dict[str, Any], listing: Listing, scale: int) -> None:
    gt_size = block.get('gt_size')
    if gt_size is None:
        raise DatasetFileError(f'{where}.gt_size: missing (the size of the GT patches training crops)')
    lq_patch = int(gt_size) // scale
    if listing.lq_wh is None or not len(listing.lq_wh):
        return
    short = np.where((listing.lq_wh >= 0).all(1), listing.lq_wh.min(1), np.iinfo(np.int64).max)
    i = int(short.argmin())
    if short[i] < lq_patch:
        gt_file = listing.files(i)[0]
        w, h = listing.gt_wh[i]
        raise DatasetFileError(f'{where}.gt_size: {gt_size} is larger than the smallest training image, {gt_file} '
                               f'({w}x{h}, its LQ {short[i]} px on the short side < {lq_patch}): set gt_size '
                               f'to at most {short[i] * scale}, or drop the small images')


def _check_batch(where: str, block: dict[str, Any], count: int) -> None:
    batch = int(block.get('batch_size_per_gpu') or 0)
    ratio = block.get('dataset_enlarge_ratio', 1) or 1
    if batch and count * ratio < batch:
        raise DatasetFileError(f'{where}.batch_size_per_gpu: {batch} is more than the {count} training image(s) x '
                               f'dataset_enlarge_ratio {ratio:g} give per epoch (BasicSR drops the incomplete batch, '
                               'so no iteration would run): lower it, or raise dataset_enlarge_ratio')


def check_datasets(opt: dict[str, Any], source: str, is_train: bool) -> dict[str, Listing]:
    """Every dataset block the run builds (training: ``train`` and ``val*``; test: every block but ``val*``),
    checked against the disk; returns the listings by phase."""
    scale = int(opt.get('scale') or 1)
    out = {}
    for phase, block in (opt.get('datasets') or {}).items():
        kind = str(phase).split('_')[0]
        if not isinstance(block, dict) or (kind == 'val' and not is_train):
            continue
        train = is_train and kind == 'train'
        try:
            listing = check_dataset(f'datasets.{phase}', block, scale, train)
        except (DatasetFileError, FileNotFoundError) as err:
            raise type(err)(f'{source}: {err}') from None
        except OSError as err:
            raise DatasetFileError(f'{source}: datasets.{phase}: {err}') from None
        if listing is not None:
            out[phase] = listing
    return out


def check_measurable(opt: dict[str, Any], source: str, listings: dict[str, Listing]) -> None:
    """Every ``val.metrics`` entry can measure every image it will be given (the SR image: LQ x scale) in each
    dataset BasicSR validates or tests on: a metric with a size limit in its record (NIQE needs two 96 px blocks
    after the border crop) would otherwise stop the run at its first validation, with a message from inside
    the metric."""
    from ..metrics.records import cannot_measure, size_limited

    metrics = (opt.get('val') or {}).get('metrics') or {}
    scale = int(opt.get('scale') or 1)
    for phase, listing in listings.items():
        if str(phase).split('_')[0] == 'train' or listing.lq_wh is None:
            continue
        for name, block in metrics.items():
            if not isinstance(block, dict) or not size_limited(block):
                continue
            failing = [(i, reason) for i, (w, h) in enumerate(listing.lq_wh) if w >= 0 and h >= 0  # -1: unrecorded
                       for reason in [cannot_measure(block, int(w) * scale, int(h) * scale)] if reason]
            if failing:
                i, reason = failing[0]
                raise DatasetFileError(
                    f'{source}: val.metrics.{name}: {block.get("type")} cannot measure {len(failing)} of the '
                    f'{len(listing.items)} image(s) of datasets.{phase} (SR size = LQ x {scale}), e.g. '
                    f'{listing.files(i)[1]}: {reason}; use larger images or take {name} out of val.metrics')
