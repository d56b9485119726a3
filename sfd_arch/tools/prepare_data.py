"""Prepare a BasicSR training set (e.g. DF2K = DIV2K + Flickr2K): sub-images, bicubic LR, meta info, LMDB.

Follows BasicSR's DIV2K recipe (``scripts/data_preparation/extract_subimages.py`` and ``create_lmdb.py``):
overlapping ``crop_size`` sub-images every ``step`` pixels (480/240 by default), named ``<image>_s001.png`` ...,
bicubic LR made with BasicSR's MATLAB-like ``imresize``, a ``meta_info`` file, and optionally one LMDB per
folder in BasicSR's layout (``data.mdb``, ``lock.mdb``, ``meta_info.txt``, key = name without extension).

Two choices keep HR and LR sub-images exactly aligned: each HR image is first cropped (bottom/right) to a
multiple of every requested scale (their least common multiple), and LR sub-images are cut from the LR of the
*whole* image at the HR positions divided by the scale, so the LR is what the official DIV2K LR would be.

Output layout, BasicSR's (``<out>`` = ``--output``, ``<name>`` = ``--name``; without ``_sub`` for
``--crop_size 0``)::

    <out>/<name>_HR_sub/0001_s001.png ...          <out>/<name>_HR_sub.lmdb
    <out>/<name>_LR_bicubic/X4_sub/0001_s001.png   <out>/<name>_LR_bicubic_X4_sub.lmdb   (and X2, X3)
    <out>/meta_info_<name>_sub_GT.txt              <out>/prepare_data_state.jsonl

Example: ``-o datasets/DIV2K --name DIV2K_train`` gives exactly the paths of BasicSR's ESRGAN option files
(``datasets/DIV2K/DIV2K_train_HR_sub``, ``datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub`` and the ``.lmdb``
lines)::

    python scripts/data_preparation/prepare_data.py -i datasets/DIV2K/DIV2K_train_HR datasets/Flickr2K/Flickr2K_HR \\
        -o datasets/DIV2K --name DIV2K_train --lmdb

Re-running skips images whose outputs are complete (see ``prepare_data_state.jsonl`` in the output folder).
Unreadable or corrupt source images are reported and skipped; nothing is written for them.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shutil
import sys
from functools import partial, reduce
from multiprocessing import Pool
from typing import Any, Optional

import numpy as np

from ..compat import ensure_basicsr_importable
from ..utils.files import write_atomic

# cv2, tqdm and BasicSR are imported in the functions that use them: the script's parser reads DEFAULTS, and
# `prepare_data.py --help` must answer before they load

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
STATE_FILE = 'prepare_data_state.jsonl'


class PrepareError(Exception):
    """A problem with the arguments or the input folders; main() turns it into a non-zero exit."""


# -- layout -------------------------------------------------------------------------------------------------
def hr_folder(output: str, name: str, crop: bool) -> str:
    return osp.join(output, f'{name}_HR' + ('_sub' if crop else ''))


def lr_folder(output: str, name: str, scale: int, crop: bool) -> str:
    # BasicSR's (and the official DIV2K) layout: <name>_LR_bicubic/X4_sub on disk, but <name>_LR_bicubic_X4_sub.lmdb
    return osp.join(output, f'{name}_LR_bicubic', f'X{scale}' + ('_sub' if crop else ''))


def lmdb_path(output: str, name: str, scale: Optional[int], crop: bool) -> str:
    part = 'HR' if scale is None else f'LR_bicubic_X{scale}'
    return osp.join(output, f'{name}_{part}' + ('_sub' if crop else '') + '.lmdb')


def meta_info_path(output: str, name: str, crop: bool) -> str:
    return osp.join(output, f'meta_info_{name}' + ('_sub' if crop else '') + '_GT.txt')


# -- pure functions -----------------------------------------------------------------------------------------
def crop_positions(length: int, crop_size: int, step: int, thresh_size: int) -> list[int]:
    """Start offsets along one axis, as BasicSR's extract_subimages: every ``step``, plus a last crop flush with
    the border when more than ``thresh_size`` pixels would be left over. An axis shorter than the crop is one
    crop of the whole axis."""
    if length <= crop_size:
        return [0]
    positions = list(range(0, length - crop_size + 1, step))
    if length - (positions[-1] + crop_size) > thresh_size:
        positions.append(length - crop_size)
    return positions


def safe_stem(path: str) -> str:
    # LMDB keys are ASCII and BasicSR cuts meta_info names at the first dot, so names keep only [A-Za-z0-9_-]
    return re.sub(r'[^A-Za-z0-9_-]', '_', osp.splitext(osp.basename(path))[0])


def bicubic_downscale(img: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(img, 1/scale, 'bicubic')`` with BasicSR's implementation, same dtype as the input."""
    ensure_basicsr_importable()
    from basicsr.utils.matlab_functions import imresize

    max_value = float(np.iinfo(img.dtype).max)
    lr = imresize(img.astype(np.float32) / max_value, 1 / scale)
    return np.clip(np.round(lr * max_value), 0, max_value).astype(img.dtype)


def _write_png(img: np.ndarray, path: str, compression: int) -> None:
    import cv2

    # encode first and rename into place, so an interrupted run never leaves a truncated image behind
    ok, buf = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise OSError(f'could not encode {path}')
    write_atomic(path, buf.tobytes())


def read_source(path: str) -> tuple[Optional[np.ndarray], str]:
    """The image as stored (8/16 bit, gray/BGR/BGRA), or ``(None, reason)``."""
    import cv2

    try:
        if osp.getsize(path) == 0:
            return None, 'empty file'
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as err:
        return None, str(err)
    if img is None or img.size == 0:
        return None, 'not a readable image (corrupt or unsupported format)'
    if img.dtype not in (np.uint8, np.uint16):
        return None, f'unsupported pixel type {img.dtype} (8 or 16 bit expected)'
    return img, ''


def process_image(path: str, settings: dict, folders: dict) -> dict:
    """Write the HR (sub-)images and their LR counterparts of one source. Returns a state record or an error."""
    img, reason = read_source(path)
    if img is None:
        return {'source': path, 'error': reason}
    stem = safe_stem(path)
    scales, crop_size = settings['scales'], settings['crop_size']
    mod = reduce(math.lcm, scales, 1)
    h, w = img.shape[0] - img.shape[0] % mod, img.shape[1] - img.shape[1] % mod
    if h == 0 or w == 0:
        return {'source': path, 'error': f'smaller than the scale factor {mod}'}
    img = img[:h, :w]
    channels = 1 if img.ndim == 2 else img.shape[2]

    if crop_size > 0:
        tops = crop_positions(h, crop_size, settings['step'], settings['thresh_size'])
        lefts = crop_positions(w, crop_size, settings['step'], settings['thresh_size'])
        boxes = [(top, left, min(crop_size, h), min(crop_size, w)) for top in tops for left in lefts]
        names = [f'{stem}_s{i:03d}.png' for i in range(1, len(boxes) + 1)]
    else:
        boxes, names = [(0, 0, h, w)], [f'{stem}.png']

    level = settings['compression_level']
    for (top, left, ch, cw), name in zip(boxes, names):
        _write_png(img[top:top + ch, left:left + cw], osp.join(folders['hr'], name), level)
    for scale in scales:
        lr = bicubic_downscale(img, scale)
        for (top, left, ch, cw), name in zip(boxes, names):
            t, lf = top // scale, left // scale
            _write_png(lr[t:t + ch // scale, lf:lf + cw // scale], osp.join(folders[scale], name), level)
    return {'source': path, 'stem': stem, 'hr': [[n, b[2], b[3], channels] for n, b in zip(names, boxes)]}


# -- state (what a re-run may skip) ---------------------------------------------------------------------------
def _settings_key(settings: dict) -> dict:
    return {k: settings[k] for k in ('name', 'crop_size', 'step', 'thresh_size', 'scales')}


def load_state(path: str, settings: dict) -> dict:
    """Records of finished images from an earlier run with the same settings, keyed by output stem."""
    if not osp.isfile(path):
        return {}
    done = {}
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of an interrupted run; that image is simply done again
        if i == 0:
            if entry.get('settings') != _settings_key(settings):
                raise PrepareError(
                    f'{osp.dirname(path)} was prepared with other settings ({entry.get("settings")}); '
                    f'use another --output, the same settings, or delete {path} to start over')
            continue
        done[entry['stem']] = entry
    return done


def _outputs_exist(entry: dict, folders: dict) -> bool:
    return all(osp.isfile(osp.join(folder, name)) for folder in folders.values() for name, *_ in entry['hr'])


# -- LMDB ---------------------------------------------------------------------------------------------------
def _lmdb_keys(lmdb_path: str) -> Optional[list[str]]:
    meta = osp.join(lmdb_path, 'meta_info.txt')
    if not (osp.isfile(osp.join(lmdb_path, 'data.mdb')) and osp.isfile(meta)):
        return None
    with open(meta) as f:
        return [line.split(' ')[0] for line in f if line.strip()]


def build_lmdb(folder: str, lmdb_path: str, names: list[str], shapes: list[tuple], itemsize: int,
               compress_level: int) -> str:
    """Pack ``names`` from ``folder`` into ``lmdb_path`` with BasicSR's ``make_lmdb_from_imgs``.

    Skipped when the LMDB already holds exactly these images. Built under a temporary name and renamed at the
    end, so an interrupted run leaves no half-filled LMDB that BasicSR would read without complaint.
    """
    ensure_basicsr_importable()
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    if _lmdb_keys(lmdb_path) == names:
        print(f'LMDB up to date, skipped: {lmdb_path}')
        return lmdb_path
    tmp_path = osp.join(osp.dirname(lmdb_path), '.partial_' + osp.basename(lmdb_path))
    shutil.rmtree(tmp_path, ignore_errors=True)
    # upper bound: raw pixels (PNG never grows much beyond them) plus LMDB's per-value page overhead
    raw = sum(h * w * c * itemsize for h, w, c in shapes)
    map_size = int(raw * 1.2) + 8192 * len(names) + (16 << 20)
    make_lmdb_from_imgs(folder, tmp_path, names, [osp.splitext(n)[0] for n in names],
                        compress_level=compress_level, map_size=map_size)
    shutil.rmtree(lmdb_path, ignore_errors=True)
    os.replace(tmp_path, lmdb_path)
    return lmdb_path


# -- driver -------------------------------------------------------------------------------------------------
def list_images(folders: list[str]) -> list[str]:
    missing = [f for f in folders if not osp.isdir(f)]
    if missing:
        raise PrepareError('input folder not found: ' + ', '.join(missing))
    paths = []
    for folder in folders:
        paths += sorted(osp.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMG_EXTENSIONS))
    if not paths:
        raise PrepareError(f'no images ({", ".join(IMG_EXTENSIONS)}) in: {", ".join(folders)}')
    seen: dict[str, str] = {}
    for p in paths:
        stem = safe_stem(p)
        if stem in seen:
            raise PrepareError(f'two inputs would share the output name {stem!r}: {seen[stem]} and {p}')
        seen[stem] = p
    return paths


def prepare(args: argparse.Namespace) -> dict:
    """Run the whole preparation. Returns counts and paths (``processed``, ``skipped``, ``failed``, ``lmdb``...)."""
    from tqdm import tqdm

    scales = sorted(set(args.scales))
    crop = args.crop_size > 0
    for s in scales:
        if s < 2:
            raise PrepareError(f'scales must be >= 2, got {s}')
        if crop and (args.crop_size % s or args.step % s):
            raise PrepareError(f'--crop_size {args.crop_size} and --step {args.step} must be multiples of every '
                               f'scale (x{s}) so that LR sub-images align with HR ones')
    if crop and args.step <= 0:
        raise PrepareError(f'--step must be positive, got {args.step}')
    sources = list_images(args.input)

    settings = {'name': args.name, 'crop_size': args.crop_size, 'step': args.step,
                'thresh_size': args.thresh_size, 'scales': scales, 'compression_level': args.compression_level}
    folders: dict = {'hr': hr_folder(args.output, args.name, crop)}
    folders.update({s: lr_folder(args.output, args.name, s, crop) for s in scales})
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    state_path = osp.join(args.output, STATE_FILE)
    done = load_state(state_path, settings)
    if not osp.isfile(state_path):
        with open(state_path, 'w') as f:
            f.write(json.dumps({'settings': _settings_key(settings)}) + '\n')

    todo = [p for p in sources if not (safe_stem(p) in done and _outputs_exist(done[safe_stem(p)], folders))]
    skipped = len(sources) - len(todo)
    if skipped:
        print(f'{skipped} of {len(sources)} images already prepared, skipped.')
    failed = []
    worker = partial(process_image, settings=settings, folders=folders)
    with open(state_path, 'a') as state:
        if args.n_thread > 1 and len(todo) > 1:
            pool = Pool(args.n_thread, initializer=_quiet_worker)
            results = pool.imap_unordered(worker, todo)
        else:
            pool, results = None, map(worker, todo)
        try:
            for result in tqdm(results, total=len(todo), unit='image', desc='sub-images + LR'):
                if 'error' in result:
                    failed.append(result)
                    tqdm.write(f'WARNING: skipped {result["source"]}: {result["error"]}', file=sys.stderr)
                    continue
                done[result['stem']] = result
                state.write(json.dumps(result) + '\n')
                state.flush()  # the record exists only once all its files do
        finally:
            if pool is not None:
                pool.close()
                pool.join()

    # meta info and LMDB describe the whole output folder: earlier runs (other input folders) included
    entries = [done[k] for k in sorted(done) if _outputs_exist(done[k], folders)]
    hr_items = sorted((name, (h, w, c)) for e in entries for name, h, w, c in e['hr'])
    meta_path = meta_info_path(args.output, args.name, crop)
    write_atomic(meta_path, ''.join(f'{name} ({h},{w},{c})\n' for name, (h, w, c) in hr_items))

    lmdbs = []
    if args.lmdb and hr_items:
        names = [n for n, _ in hr_items]
        itemsize = 2  # a safe bound whether the sources are 8 or 16 bit
        lmdbs.append(build_lmdb(folders['hr'], lmdb_path(args.output, args.name, None, crop), names,
                                [s for _, s in hr_items], itemsize, args.lmdb_compress_level))
        for s in scales:
            lr_shapes = [(h // s, w // s, c) for _, (h, w, c) in hr_items]
            lmdbs.append(build_lmdb(folders[s], lmdb_path(args.output, args.name, s, crop), names, lr_shapes,
                                    itemsize, args.lmdb_compress_level))

    print(f'Done: {len(todo) - len(failed)} processed, {skipped} skipped, {len(failed)} unreadable; '
          f'{len(hr_items)} HR images in {folders["hr"]}; meta info: {meta_path}')
    if failed:
        print('Unreadable images (skipped, nothing written for them):\n' +
              '\n'.join(f'  {r["source"]}: {r["error"]}' for r in failed), file=sys.stderr)
    return {'processed': len(todo) - len(failed), 'skipped': skipped, 'failed': [r['source'] for r in failed],
            'folders': folders, 'meta_info': meta_path, 'lmdb': lmdbs, 'images': len(hr_items)}


def _quiet_worker() -> None:
    # each worker resizes one image at a time; torch's own threads would only oversubscribe the cores
    import torch

    torch.set_num_threads(1)


# the command line's defaults (``scripts/data_preparation/prepare_data.py``): one place for both doors
DEFAULTS = {'name': 'DF2K', 'scales': [2, 3, 4], 'crop_size': 480, 'step': 240, 'thresh_size': 0,
            'compression_level': 3, 'lmdb': False, 'lmdb_compress_level': 1, 'n_thread': min(8, os.cpu_count() or 1)}


def prepare_data(inputs: list[str], output: str, **options: Any) -> dict:
    """``prepare`` with keyword options instead of parsed arguments; unnamed ones take ``DEFAULTS``."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f'prepare_data: unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}')
    return prepare(argparse.Namespace(input=list(inputs), output=output, **{**DEFAULTS, **options}))
