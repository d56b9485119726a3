"""What a model comparison runs on: its models (bicubic, generators, SR folders) and its datasets.

Everything is loaded before any work, so a bad checkpoint or a missing SR image fails before anything is
written. Generators are read by ``sfd_arch.archs.generators`` (the reader of ``scripts/inference_sfd.py`` and
``sfd_arch/test.py``): a bare file, a file with a ``--network_g`` block, or an experiment folder; a file that is not
a BasicSR RRDBNet is tried with the option file's ``network_g`` before spandrel. A dataset is paired (LQ + GT) or
LQ-only (BasicSR's ``SingleImageDataset``): an LQ-only set is scored with no-reference metrics only.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np

from ..archs import generators
from ..utils.files import file_sha256
from ..utils.imagefiles import file_incomplete
from .plan import CompareError

BICUBIC = 'bicubic'
IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def load_generator(path: str, opt: dict, network_g: Optional[str] = None,
                   opt_path: str = 'the option file') -> generators.Generator:
    """The generator of a checkpoint or experiment folder (``network_g``: this model's own block, if given); a file
    that is not a BasicSR RRDBNet is tried with the option file's ``network_g``, then with spandrel."""
    try:
        return generators.load_generator(path, network_g, fallback_block=opt.get('network_g'),
                                         fallback_source=opt_path)
    except FileNotFoundError:
        raise CompareError(f'checkpoint not found: {path}') from None
    except generators.GeneratorError as err:
        raise CompareError(str(err)) from None


def is_experiment_folder(path: str) -> bool:
    """A training run's folder (``models/net_g_*``), as opposed to a folder of SR images."""
    models = osp.join(path, 'models')
    return osp.isdir(models) and any(n.startswith('net_g_') for n in os.listdir(models))


def bicubic_upscale(lq: np.ndarray, scale: int, kernel: str = 'matlab') -> np.ndarray:
    """``(h, w, 3)`` uint8 -> ``(h * scale, w * scale, 3)`` uint8 by bicubic interpolation.

    ``matlab``: BasicSR's ``imresize`` (MATLAB's bicubic, a = -0.5), the kernel of BasicSR's LR images;
    ``cv2``: OpenCV's ``INTER_CUBIC`` (a = -0.75).
    """
    if kernel == 'matlab':
        from basicsr.utils.matlab_functions import imresize

        out = imresize(lq.astype(np.float64) / 255.0, scale)
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
    if kernel == 'cv2':
        return cv2.resize(lq, (lq.shape[1] * scale, lq.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
    raise CompareError(f'unknown bicubic kernel {kernel!r}; use matlab or cv2')


@dataclass
class Model:
    """One compared model: ``kind`` is ``bicubic``, ``checkpoint``, ``folder`` or ``option``."""

    label: str
    kind: str
    path: str = ''
    fingerprint: str = ''
    upsampler: Any = None
    folder_files: dict[tuple[str, str], str] = field(default_factory=dict)
    how: str = ''  # how the generator was found (sfd_arch.archs.generators.Generator.how)

    def describe(self) -> str:
        """What the model is, in the words of the report's notes."""
        return {BICUBIC: 'bicubic interpolation', 'checkpoint': f'checkpoint {self.path}',
                'folder': f'SR images in {self.path}',
                'option': f"the option file's network_g ({self.path})"}[self.kind] + (
                    f', read as {self.how}' if self.how else '')


def parse_model_arg(text: str) -> tuple[str, str]:
    """``bicubic`` | ``NAME=PATH`` | ``NAME=bicubic`` | ``NAME`` -> ``(label, spec)``; spec '' = option file."""
    label, sep, spec = text.partition('=')
    label = label.strip()
    if not sep:
        return (BICUBIC, BICUBIC) if label.lower() == BICUBIC else (label, '')  # one label, by hand or demo
    if not label or not spec:
        raise CompareError(f'--model {text!r}: expected NAME=CHECKPOINT, NAME=FOLDER, NAME or bicubic')
    return label, spec


def parse_models(texts: Sequence[str]) -> 'OrderedDict[str, str]':
    """Every ``--model`` argument as ``label -> spec``, in the order given; a name given twice is an error."""
    models: OrderedDict[str, str] = OrderedDict()
    for text in texts:
        label, spec = parse_model_arg(text)
        if label in models:
            raise CompareError(f'--model {text}: the name {label} is given twice')
        models[label] = spec or ''
    return models


def parse_network_args(texts: Sequence[str], models: 'dict[str, str]') -> dict[str, str]:
    """Every ``--network_g NAME=BLOCK|YAML`` as ``label -> spec``; the name must be a ``--model`` with a file."""
    out: dict[str, str] = {}
    for text in texts:
        label, sep, spec = text.partition('=')
        label = label.strip()
        if not sep or not label or not spec.strip():
            raise CompareError(f'--network_g {text!r}: expected NAME=BLOCK or NAME=FILE.yml, e.g. '
                               'SR="{type: MSRResNet, upscale: 4}"')
        if label not in models:
            raise CompareError(f'--network_g {label}=...: no --model named {label} (models: {", ".join(models)})')
        if label in out:
            raise CompareError(f'--network_g: the name {label} is given twice')
        out[label] = spec
    return out


def build_models(models: 'dict[str, str]', opt: dict, opt_path: str, device: Any, tile: int, half: bool,
                 bicubic_kernel: str, network_g: Optional[dict[str, str]] = None) -> list[Model]:
    """Load every model now, so a bad checkpoint fails before any work (and before anything is written).

    ``network_g``: a model's own ``network_g`` block (inline YAML or a YAML file) by label."""
    out = []
    network_g = dict(network_g or {})
    for label, spec in models.items():
        if not re.fullmatch(r'[\w.+-]+', label):
            raise CompareError(f'model name {label!r}: use letters, digits, ".", "+", "-" or "_" (it names a folder)')
        if spec.lower() == BICUBIC or (spec and osp.isdir(spec) and not is_experiment_folder(spec)):
            if label in network_g:
                raise CompareError(f'--network_g {label}: {label} is {spec}, not a checkpoint')
            out.append(Model(label, BICUBIC, fingerprint=f'bicubic:{bicubic_kernel}') if spec.lower() == BICUBIC
                       else Model(label, 'folder', spec))
            continue
        kind = 'checkpoint'
        if not spec:
            spec = ((opt.get('path') or {}).get('pretrain_network_g') or '')
            if not spec:
                raise CompareError(f'--model {label}: no checkpoint given and {opt_path} has no '
                                   'path.pretrain_network_g')
            kind = 'option'
        gen = load_generator(spec, opt, network_g.get(label), opt_path)
        if gen.scale != int(opt.get('scale', 4)):
            raise CompareError(f'{spec}: a x{gen.scale} generator, but {opt_path} has scale: {opt.get("scale")}')
        upsampler = gen.upsampler(tile=tile, half=half, device=device)
        settings = json.dumps({'tile': tile, 'half': upsampler.half, 'network_g': gen.network_g, 'how': gen.way,
                               'multiple_of': upsampler.mod}, sort_keys=True, default=str)
        out.append(Model(label, kind, spec, f'{file_sha256(gen.path)}:{settings}', upsampler, how=gen.how))
    if len({m.label for m in out}) != len(out):
        raise CompareError(f'model names must differ: {[m.label for m in out]}')
    return out


# -- datasets -----------------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A test set: BasicSR's dataset object, its image names (LQ basenames, as BasicSR names them). ``paired``:
    it has ground truth (``hr_paths``); an LQ-only set (``SingleImageDataset``) has its LQ files instead."""

    name: str
    dataset: Any
    images: list[str]
    hr_paths: list[str]
    fingerprint: str
    order: list[int]  # dataset index of each image: images are sorted by name, BasicSR's scan is not
    paired: bool = True
    lq_paths: list[str] = field(default_factory=list)

    def pair(self, index: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """``(lq, hr)`` uint8 BGR of the ``index``-th image, HR cropped to LQ x scale as BasicSR's test does;
        ``hr`` is ``None`` in an LQ-only set."""
        from basicsr.utils import tensor2img

        item = self.dataset[self.order[index]]
        lq = tensor2img(item['lq'], rgb2bgr=True)
        return lq, (tensor2img(item['gt'], rgb2bgr=True) if self.paired else None)


def file_stat(path: str) -> list:
    """Size and modification time: a changed file changes a fingerprint without reading it whole."""
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def test_blocks(opt: dict, wanted: Optional[Sequence[str]] = None) -> list[tuple[str, str, dict]]:
    """``(key, name, block)`` of every test dataset block of the option file, in file order."""
    out = []
    for key, block in (opt.get('datasets') or {}).items():
        if key.split('_')[0] == 'train' or not isinstance(block, dict):
            continue
        name = block.get('name', key)
        if not wanted or name in wanted:
            out.append((key, name, block))
    return out


def is_lq_only(block: dict) -> bool:
    """A dataset block without ground truth: BasicSR's ``SingleImageDataset`` (LQ images only)."""
    return block.get('type') == 'SingleImageDataset'


def load_datasets(opt: dict, opt_path: str, wanted: Optional[Sequence[str]] = None) -> list[Dataset]:
    """Every test dataset block of the option file, in file order (``wanted`` filters by name): paired (LQ + GT),
    or LQ-only (``SingleImageDataset``: real-world images without ground truth)."""
    from basicsr.data import build_dataset

    out = []
    for key, name, block in test_blocks(opt, wanted):
        lq_only = is_lq_only(block)
        if not block.get('dataroot_lq') or not (lq_only or block.get('dataroot_gt')):
            raise CompareError(f'{opt_path}: datasets.{key} ({name}) is not paired: it needs dataroot_lq and '
                               'dataroot_gt (or type: SingleImageDataset for LQ images without ground truth)')
        block = dict(block, phase='test', scale=int(opt.get('scale', 4)))
        block['io_backend'] = dict(block.get('io_backend') or {'type': 'disk'})
        try:
            dataset = build_dataset(block)
        except (AssertionError, FileNotFoundError, KeyError, ValueError) as err:
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): {err}') from None
        paths = getattr(dataset, 'paths', None)
        if paths is None:
            raise CompareError(f'{opt_path}: datasets.{key}: {block["type"]} lists no LQ/GT paths; use '
                               'PairedImageDataset (or SingleImageDataset)')
        if lq_only:  # SingleImageDataset lists LQ paths (strings), a paired set dicts of both
            paths = [{'lq_path': p} for p in paths]
        order = sorted(range(len(paths)), key=lambda i: paths[i]['lq_path'])
        paths = [paths[i] for i in order]
        images = [osp.splitext(osp.basename(p['lq_path']))[0] for p in paths]
        if not images:
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): no images in {block["dataroot_lq"]}')
        if len(set(images)) != len(images):
            twice = sorted({i for i in images if images.count(i) > 1})[:5]
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): several LQ files share a name: {twice}')
        cut = [problem for p in paths for problem in (file_incomplete(p['lq_path']),
                                                      None if lq_only else file_incomplete(p['gt_path'])) if problem]
        if cut:  # OpenCV would decode a cut JPEG as a partly gray image, and score it
            more = f' (and {len(cut) - 3} more)' if len(cut) > 3 else ''
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): {"; ".join(cut[:3])}{more}')
        listing = [[p['lq_path'], *file_stat(p['lq_path'])] + ([] if lq_only else [p['gt_path'],
                                                                                    *file_stat(p['gt_path'])])
                   for p in paths]
        fingerprint = hashlib.sha256(json.dumps([block, listing], sort_keys=True, default=str).encode()).hexdigest()
        out.append(Dataset(name, dataset, images, [] if lq_only else [p['gt_path'] for p in paths], fingerprint,
                           order, paired=not lq_only, lq_paths=[p['lq_path'] for p in paths]))
    if wanted:
        absent = [w for w in wanted if w not in {d.name for d in out}]
        if absent:
            raise CompareError(f'--datasets: {", ".join(absent)} not in {opt_path}')
    if not out:
        raise CompareError(f'{opt_path}: no test datasets under datasets: (paired, or SingleImageDataset)')
    return out


def find_folder_outputs(model: Model, datasets: list[Dataset]) -> None:
    """Map every image to its SR file in a model folder; missing images are one error listing them."""
    missing = []
    for ds in datasets:
        for where in (osp.join(model.path, ds.name), model.path):
            if osp.isdir(where):
                files = sorted(f for f in os.listdir(where) if f.lower().endswith(IMG_EXTENSIONS))
                break
        stems = {}
        for f in files:
            stems.setdefault(osp.splitext(f)[0], []).append(f)
        for image in ds.images:
            hits = stems.get(image) or [f for s, fs in stems.items() if s.startswith(image + '_') for f in fs]
            if len(hits) > 1:
                raise CompareError(f'{model.label}: {where} has several outputs for {ds.name}/{image}: {hits}')
            if hits:
                model.folder_files[(ds.name, image)] = osp.join(where, hits[0])
            else:
                missing.append(f'{ds.name}/{image}')
    if missing:
        more = f' and {len(missing) - 10} more' if len(missing) > 10 else ''
        raise CompareError(f'model {model.label} ({model.path}) has no output for {len(missing)} image(s): '
                           f'{", ".join(missing[:10])}{more}')
    listing = sorted([k[0], k[1], osp.relpath(v, model.path), *file_stat(v)] for k, v in model.folder_files.items())
    model.fingerprint = 'folder:' + hashlib.sha256(json.dumps(listing).encode()).hexdigest()
