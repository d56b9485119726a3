"""The paper's evaluation in one command: run models on the test sets of an option file, score, report.

    python scripts/compare.py -opt options/test_sfd_x4.yml --model bicubic \\
        --model ESRGAN=experiments/pretrained_models/ESRGAN_x4.pth \\
        --model SFD=experiments/SFD_x4/models/net_g_latest.pth -o reports/x4

Every paired dataset of the option file (its ``datasets:`` blocks, read with BasicSR's dataset classes, GT
cropped to LQ x scale as BasicSR's test does) is upscaled by every model, and every SR image is scored with
the option file's ``val.metrics`` plus LPIPS, DISTS and FID where their weights are present (the others are
skipped, and the report says why). A model is:

- ``bicubic``: the interpolation baseline, ``--bicubic matlab`` (default: BasicSR's MATLAB-like ``imresize``,
  the kernel BasicSR's and ``scripts/prepare_data.py``'s LR images are made with) or ``cv2``
  (``cv2.INTER_CUBIC``);
- ``NAME=CHECKPOINT``: a generator checkpoint, read as ``scripts/inference_sfd.py`` reads it (``params_ema``,
  then ``params``, then a raw state dict; the RRDBNet's shape comes from the weights); a checkpoint of another
  architecture is loaded into the option file's ``network_g``;
- ``NAME=FOLDER``: SR images made elsewhere, ``FOLDER/<dataset>/<image>[_suffix].png`` or ``FOLDER/<image>...``
  (BasicSR's ``results/<name>/visualization`` works as it is);
- ``NAME``: the option file's ``network_g`` with ``path.pretrain_network_g``.

Written into ``-o DIR``: ``metrics.csv`` (``model,dataset,image,metric,value``; FID rows have the image
``*``), ``table.md``, ``pd.png``, ``visual/<dataset>_<image>.png``, ``report.md`` and the SR images under
``sr/<model>/<dataset>/``. Rows are appended as they are computed, so an interrupted or failed run keeps
what it did; re-running skips every value already there and redoes a model whose checkpoint changed
(SHA-256), a dataset whose files changed, or a metric whose settings changed.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import os.path as osp
import re
import shlex
import shutil
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np

SCRIPTS = osp.dirname(osp.abspath(__file__))
try:
    from sfd_arch.compat import ensure_basicsr_importable
except ImportError:  # a checkout that is not installed: the package sits next to scripts/
    sys.path.insert(0, osp.dirname(SCRIPTS))
    from sfd_arch.compat import ensure_basicsr_importable

ensure_basicsr_importable()

import sfd_arch  # noqa: E402,F401  (registers the SFD metrics in BasicSR's registry)
import sfd_arch.metrics as metrics_lib  # noqa: E402
from sfd_arch.eval.report import (  # noqa: E402
    CSV_COLUMNS,
    DATASET_LEVEL,
    CompareRow,
    choose_crop,
    csv_line,
    dataset_means,
    format_value,
    plot_pd,
    plot_visual,
    read_compare_csv,
    report_markdown,
    table_markdown,
)
from sfd_arch.utils import upsampler as inference  # noqa: E402
from sfd_arch.utils.files import file_sha256  # noqa: E402

STATE_FILE = 'compare_state.json'
BICUBIC = 'bicubic'
IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
LABELS = {'psnr': 'PSNR', 'ssim': 'SSIM', 'lpips': 'LPIPS', 'dists': 'DISTS', 'fid': 'FID', 'niqe': 'NIQE',
          'musiq': 'MUSIQ', 'sfd_iqa': 'SFD-IQA'}
# the metrics added when their weights are present, unless the option file has a metric of the same type
DEFAULT_METRICS = OrderedDict([
    ('lpips', {'type': 'calculate_lpips', 'net': 'alex'}),
    ('dists', {'type': 'calculate_dists'}),
    ('fid', {'type': 'calculate_fid'}),
])


class CompareError(ValueError):
    """A problem with the input: the message names the file, model, dataset, image or metric."""


# -- the metric library (sfd_arch.metrics): one door for every metric block ------------------------------------
def known_metric_types() -> list[str]:
    return metrics_lib.known_metrics()


def is_dataset_metric(metric_opt: dict) -> bool:
    return metrics_lib.is_dataset_metric(metric_opt)


def compute_dataset_metric(metric_opt: dict, sr_images: list[np.ndarray], hr_images: list[np.ndarray],
                           names: Sequence[str], dataset: str) -> float:
    """A dataset-level metric (FID, KID) between paired lists of ``(H, W, 3)`` uint8 BGR images."""
    # looked up on the module at call time, so a test can stand in for the 2048-d Frechet distance
    return float(metrics_lib.compute_dataset_metric(metric_opt, sr_images, hr_images, names=names, dataset=dataset))


def compute_image_metric(metric_opt: dict, sr: np.ndarray, hr: np.ndarray) -> float:
    """One BasicSR metric of one ``(H, W, 3)`` uint8 BGR pair, through ``basicsr.metrics.calculate_metric``."""
    from basicsr.metrics import calculate_metric

    value = calculate_metric({'img': sr, 'img2': hr}, metric_opt)
    return float(value.item()) if hasattr(value, 'item') else float(value)


# -- metrics of a run ---------------------------------------------------------------------------------------------
@dataclass
class MetricPlan:
    """The metrics of a run: ``blocks`` (name -> BasicSR metric block), their directions, what was skipped."""

    blocks: 'OrderedDict[str, dict]'
    directions: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)

    def per_image(self) -> list[str]:
        return [n for n, b in self.blocks.items() if not is_dataset_metric(b)]

    def per_dataset(self) -> list[str]:
        return [n for n, b in self.blocks.items() if is_dataset_metric(b)]


def plan_metrics(opt: dict, opt_path: str, wanted: Optional[Sequence[str]] = None,
                 default_metrics: bool = True) -> MetricPlan:
    """The option file's ``val.metrics`` plus LPIPS, DISTS and FID where their weights are present.

    A metric of the option file whose type is not registered, or whose weights are missing, is an error; a
    default metric without weights is skipped with the reason. ``wanted`` keeps only the named metrics.
    """
    scale = int(opt.get('scale', 4))
    blocks: OrderedDict[str, dict] = OrderedDict(
        (name, dict(block)) for name, block in ((opt.get('val') or {}).get('metrics') or {}).items())
    known = known_metric_types()
    for name, block in blocks.items():
        if not isinstance(block, dict) or 'type' not in block:
            raise CompareError(f'{opt_path}: val.metrics.{name} needs a type')
        if block['type'] not in known:
            raise CompareError(f'{opt_path}: val.metrics.{name}: unknown metric type {block["type"]!r}; '
                               f'known: {", ".join(known)}')
    try:
        metrics_lib.check_metric_weights(blocks)
    except FileNotFoundError as err:
        raise CompareError(f'{opt_path}: val.metrics: {err}') from err
    skipped: dict[str, str] = {}
    for name, block in list(blocks.items()):
        if block['type'] == 'calculate_sfd_iqa' and str(block.get('weights', '')).lower() == 'model':
            # `weights: model` means a training run's live Feat-D and LPP, which do not exist here
            skipped[name] = ('weights: model scores with a training run\'s own discriminators; give the file of '
                             '`sfd-iqa export` as weights to score here')
            del blocks[name]
    if default_metrics:
        types = {b['type'] for b in blocks.values()}
        for name, block in DEFAULT_METRICS.items():
            block = dict(block)
            if not is_dataset_metric(block):
                # the border a BasicSR test crops for PSNR, so all full-reference numbers see the same pixels
                block['crop_border'] = scale
            if block['type'] in types or name in blocks:
                continue
            try:
                metrics_lib.check_metric_weights({name: block})
            except FileNotFoundError as err:
                skipped[name] = f'weights missing: {err}'
                continue
            blocks[name] = block
    if wanted:
        for w in wanted:
            if w in skipped:
                raise CompareError(f'--metrics {w}: not available: {skipped[w]}')
        absent = [w for w in wanted if w not in blocks]
        if absent:
            raise CompareError(f'--metrics: unknown metric(s) {", ".join(absent)}; this run has '
                               f'{", ".join(blocks) or "none"}')
        blocks = OrderedDict((n, blocks[n]) for n in wanted)
    directions = {name: metrics_lib.metric_direction(block) for name, block in blocks.items()}
    return MetricPlan(blocks, directions, skipped)


# -- models -----------------------------------------------------------------------------------------------------
def load_generator(path: str, opt: dict) -> tuple[Any, int]:
    """The generator of a checkpoint and its scale: a BasicSR RRDBNet, else the option file's ``network_g``."""
    try:
        return inference.build_generator(path)
    except FileNotFoundError:
        raise CompareError(f'checkpoint not found: {path}') from None
    except ValueError as rrdb_err:
        network_g = opt.get('network_g')
        if not network_g or network_g.get('type') == 'RRDBNet':
            raise CompareError(f'{path} holds no generator: {rrdb_err}') from None
        from basicsr.archs import build_network

        try:
            net = build_network(dict(network_g))
            net.load_state_dict(inference.load_generator_state(path), strict=True)
        except (RuntimeError, ValueError, KeyError, TypeError) as err:
            raise CompareError(f'{path} holds no generator: not an RRDBNet ({rrdb_err}) and not the option '
                               f"file's network_g ({network_g['type']}): {str(err).splitlines()[0]}") from None
        return net.eval(), int(opt.get('scale', 4))
    except Exception as err:  # torch.load on a file that is not a checkpoint raises many kinds
        raise CompareError(f'{path}: cannot read it as a PyTorch checkpoint ({type(err).__name__}: {err})') from None


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

    def describe(self) -> str:
        return {BICUBIC: 'bicubic interpolation', 'checkpoint': f'checkpoint {self.path}',
                'folder': f'SR images in {self.path}',
                'option': f"the option file's network_g ({self.path})"}[self.kind]


def parse_model_arg(text: str) -> tuple[str, str]:
    """``bicubic`` | ``NAME=PATH`` | ``NAME=bicubic`` | ``NAME`` -> ``(label, spec)``; spec '' = option file."""
    label, sep, spec = text.partition('=')
    label = label.strip()
    if not sep:
        return ('Bicubic', BICUBIC) if label.lower() == BICUBIC else (label, '')
    if not label or not spec:
        raise CompareError(f'--model {text!r}: expected NAME=CHECKPOINT, NAME=FOLDER, NAME or bicubic')
    return label, spec


def build_models(models: 'dict[str, str]', opt: dict, opt_path: str, device: Any, tile: int, half: bool,
                 bicubic_kernel: str) -> list[Model]:
    """Load every model now, so a bad checkpoint fails before any work (and before anything is written)."""
    out = []
    for label, spec in models.items():
        if not re.fullmatch(r'[\w.+-]+', label):
            raise CompareError(f'model name {label!r}: use letters, digits, ".", "+", "-" or "_" (it names a folder)')
        if spec.lower() == BICUBIC:
            out.append(Model(label, BICUBIC, fingerprint=f'bicubic:{bicubic_kernel}'))
            continue
        if spec and osp.isdir(spec):
            out.append(Model(label, 'folder', spec))
            continue
        kind = 'checkpoint'
        if not spec:
            spec = ((opt.get('path') or {}).get('pretrain_network_g') or '')
            if not spec:
                raise CompareError(f'--model {label}: no checkpoint given and {opt_path} has no '
                                   'path.pretrain_network_g')
            kind = 'option'
        net, scale = load_generator(spec, opt)
        if scale != int(opt.get('scale', 4)):
            raise CompareError(f'{spec}: a x{scale} generator, but {opt_path} has scale: {opt.get("scale")}')
        upsampler = inference.RRDBUpsampler(net, scale, tile=tile, half=half, device=device)
        settings = json.dumps({'tile': tile, 'half': upsampler.half, 'network_g': opt.get('network_g')
                               if kind == 'option' else None}, sort_keys=True, default=str)
        out.append(Model(label, kind, spec, f'{file_sha256(spec)}:{settings}', upsampler))
    if len({m.label for m in out}) != len(out):
        raise CompareError(f'model names must differ: {[m.label for m in out]}')
    return out


# -- datasets -----------------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A paired test set: BasicSR's dataset object, its image names (LQ basenames, as BasicSR names them)."""

    name: str
    dataset: Any
    images: list[str]
    hr_paths: list[str]
    fingerprint: str
    order: list[int]  # dataset index of each image: images are sorted by name, BasicSR's scan is not

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lq, hr)`` uint8 BGR of the ``index``-th image, HR cropped to LQ x scale as BasicSR's test does."""
        from basicsr.utils import tensor2img

        item = self.dataset[self.order[index]]
        return tensor2img(item['lq'], rgb2bgr=True), tensor2img(item['gt'], rgb2bgr=True)


def _stat(path: str) -> list:
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def load_datasets(opt: dict, opt_path: str, wanted: Optional[Sequence[str]] = None) -> list[Dataset]:
    """Every paired (LQ + GT) dataset block of the option file, in file order (``wanted`` filters by name)."""
    from basicsr.data import build_dataset

    out = []
    for key, block in (opt.get('datasets') or {}).items():
        if key.split('_')[0] == 'train' or not isinstance(block, dict):
            continue
        name = block.get('name', key)
        if wanted and name not in wanted:
            continue
        if not block.get('dataroot_gt') or not block.get('dataroot_lq'):
            raise CompareError(f'{opt_path}: datasets.{key} ({name}) is not paired: it needs dataroot_lq and '
                               'dataroot_gt')
        block = dict(block, phase='test', scale=int(opt.get('scale', 4)))
        block['io_backend'] = dict(block.get('io_backend') or {'type': 'disk'})
        try:
            dataset = build_dataset(block)
        except (AssertionError, FileNotFoundError, KeyError, ValueError) as err:
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): {err}') from None
        paths = getattr(dataset, 'paths', None)
        if paths is None:
            raise CompareError(f'{opt_path}: datasets.{key}: {block["type"]} lists no LQ/GT paths; use '
                               'PairedImageDataset')
        order = sorted(range(len(paths)), key=lambda i: paths[i]['lq_path'])
        paths = [paths[i] for i in order]
        images = [osp.splitext(osp.basename(p['lq_path']))[0] for p in paths]
        if not images:
            raise CompareError(f'{opt_path}: datasets.{key} ({name}): no images in {block["dataroot_lq"]}')
        listing = [[p['lq_path'], *_stat(p['lq_path']), p['gt_path'], *_stat(p['gt_path'])] for p in paths]
        fingerprint = hashlib.sha256(json.dumps([block, listing], sort_keys=True, default=str).encode()).hexdigest()
        out.append(Dataset(name, dataset, images, [p['gt_path'] for p in paths], fingerprint, order))
    if wanted:
        absent = [w for w in wanted if w not in {d.name for d in out}]
        if absent:
            raise CompareError(f'--datasets: {", ".join(absent)} not in {opt_path}')
    if not out:
        raise CompareError(f'{opt_path}: no paired test datasets under datasets:')
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
    listing = sorted([k[0], k[1], osp.relpath(v, model.path), *_stat(v)] for k, v in model.folder_files.items())
    model.fingerprint = 'folder:' + hashlib.sha256(json.dumps(listing).encode()).hexdigest()


# -- the run: state, cache, rows ---------------------------------------------------------------------------------
class RowWriter:
    """``metrics.csv``, one row appended and flushed per value, so whatever was computed survives a failure."""

    def __init__(self, path: str, rows: list[CompareRow], rewrite: bool):
        self.path = path
        if rewrite or not osp.isfile(path):
            tmp = path + '.tmp'
            with open(tmp, 'w', newline='') as f:  # stale rows dropped in one rename: never half a file
                writer = csv.writer(f)
                writer.writerow(CSV_COLUMNS)
                writer.writerows(csv_line(r) for r in rows)
            os.replace(tmp, path)
        self._file = open(path, 'a', newline='')
        self._writer = csv.writer(self._file)

    def add(self, row: CompareRow) -> None:
        self._writer.writerow(csv_line(row))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _write_json(path: str, data: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _imwrite(path: str, img: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path[:-4] + '.tmp.png'
    if not cv2.imwrite(tmp, img):
        raise CompareError(f'cannot write {path}')
    os.replace(tmp, path)


def reconcile(out_dir: str, models: list[Model], datasets: list[Dataset],
              plan: MetricPlan) -> tuple[list[CompareRow], bool, dict]:
    """Drop the rows and SR images that no longer hold: changed model, dataset or metric settings.

    Returns the rows still valid, whether ``metrics.csv`` must be rewritten without the others, and the new
    state. The state file records what the kept rows were computed with; it is
    written after the stale rows are gone, so a crash in between only makes the next run drop nothing twice.
    """
    csv_path, state_path = osp.join(out_dir, 'metrics.csv'), osp.join(out_dir, STATE_FILE)
    try:
        rows = read_compare_csv(csv_path) if osp.isfile(csv_path) else []
    except ValueError as err:
        raise CompareError(f'{err}; move the file away to start this comparison over') from None
    state = {'models': {}, 'datasets': {}, 'metrics': {}}
    if osp.isfile(state_path):
        try:
            with open(state_path) as f:
                state.update(json.load(f))
        except (OSError, ValueError) as err:
            raise CompareError(f'{state_path} is damaged ({err}); delete it to recompute everything') from None
    elif rows:
        # rows without a record of what made them cannot be trusted to match these models
        state = {'models': {}, 'datasets': {}, 'metrics': {}, 'unknown': True}
    metric_keys = {n: json.dumps(b, sort_keys=True, default=str) for n, b in plan.blocks.items()}
    stale_models = {m.label for m in models if state['models'].get(m.label) != m.fingerprint}
    stale_datasets = {d.name for d in datasets if state['datasets'].get(d.name) != d.fingerprint}
    stale_metrics = {n for n, k in metric_keys.items() if state['metrics'].get(n) != k}
    kept = [r for r in rows if not (r.model in stale_models or r.dataset in stale_datasets
                                    or r.metric in stale_metrics)]
    for m in models:
        for d in datasets:
            if m.label in stale_models or d.name in stale_datasets:
                shutil.rmtree(osp.join(out_dir, 'sr', m.label, d.name), ignore_errors=True)
    writer_rewrite = len(kept) != len(rows)
    state['models'].update({m.label: m.fingerprint for m in models})
    state['datasets'].update({d.name: d.fingerprint for d in datasets})
    state['metrics'].update(metric_keys)
    state.pop('unknown', None)
    return kept, writer_rewrite, state


@dataclass
class Run:
    out_dir: str
    models: list[Model]
    datasets: list[Dataset]
    plan: MetricPlan
    scale: int
    bicubic_kernel: str
    computed_sr: int = 0
    computed_values: int = 0

    def sr_path(self, model: Model, ds: Dataset, image: str) -> str:
        if model.kind == 'folder':
            return model.folder_files[(ds.name, image)]
        return osp.join(self.out_dir, 'sr', model.label, ds.name, f'{image}.png')

    def sr_image(self, model: Model, ds: Dataset, index: int, lq: Optional[np.ndarray] = None) -> np.ndarray:
        """The SR image of one model: from the cache or the model's folder, else made now and cached."""
        path = self.sr_path(model, ds, ds.images[index])
        if osp.isfile(path):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise CompareError(f'{model.label}: cannot read {path} as an image')
            return img
        if model.kind == 'folder':
            raise CompareError(f'{model.label}: {path} disappeared')
        if lq is None:
            lq, _ = ds.pair(index)
        if model.kind == BICUBIC:
            sr = bicubic_upscale(lq, self.scale, self.bicubic_kernel)
        else:
            sr = model.upsampler.enhance(lq)
        _imwrite(path, sr)
        self.computed_sr += 1
        return sr

    def check_sizes(self, model: Model, ds: Dataset, index: int, sr: np.ndarray, hr: np.ndarray) -> None:
        if sr.shape[:2] != hr.shape[:2]:
            image = ds.images[index]
            raise CompareError(f'{model.label} on {ds.name}/{image}: SR {self.sr_path(model, ds, image)} '
                               f'is {sr.shape[1]}x{sr.shape[0]} but HR {ds.hr_paths[index]} is '
                               f'{hr.shape[1]}x{hr.shape[0]} (width x height)')

    def value(self, name: str, model: Model, ds: Dataset, image: str, compute, *args) -> float:
        """``compute(*args)`` as a finite float; any failure becomes an error naming metric, model and image."""
        try:
            value = compute(*args)
        except CompareError:
            raise
        except Exception as err:
            raise CompareError(f'metric {name} failed on {model.label} {ds.name}/{image}: '
                               f'{type(err).__name__}: {err}') from err
        if not math.isfinite(value):
            raise CompareError(f'metric {name} of {model.label} on {ds.name}/{image} is {value}, not a finite '
                               f'number ({self.plan.blocks[name]})')
        self.computed_values += 1
        return value


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc='compare', unit='SR image', disable=not enabled, dynamic_ncols=True)


def compute_all(run: Run, rows: list[CompareRow], writer: RowWriter, progress: bool) -> list[CompareRow]:
    """Score every model on every image (dataset, then image, then model, so each pair is decoded once)."""
    per_image, per_dataset = run.plan.per_image(), run.plan.per_dataset()
    done = {(r.model, r.dataset, r.image, r.metric) for r in rows}
    rows = list(rows)

    def add(row: CompareRow) -> None:
        writer.add(row)
        rows.append(row)
        done.add((row.model, row.dataset, row.image, row.metric))

    with _progress(sum(len(d.images) for d in run.datasets) * len(run.models), progress) as bar:
        for ds in run.datasets:
            bar.set_postfix_str(ds.name)
            for index, image in enumerate(ds.images):
                todo = {m.label: [n for n in per_image if (m.label, ds.name, image, n) not in done]
                        for m in run.models}
                if not any(todo.values()):
                    bar.update(len(run.models))
                    continue
                lq, hr = ds.pair(index)
                for model in run.models:
                    if todo[model.label]:
                        sr = run.sr_image(model, ds, index, lq)
                        run.check_sizes(model, ds, index, sr, hr)
                        for name in todo[model.label]:
                            block = run.plan.blocks[name]
                            value = run.value(name, model, ds, image, compute_image_metric, block, sr, hr)
                            add(CompareRow(model.label, ds.name, image, name, value))
                    bar.update(1)
            for name in per_dataset:
                models = [m for m in run.models if (m.label, ds.name, DATASET_LEVEL, name) not in done]
                if not models:
                    continue
                hrs = [ds.pair(i)[1] for i in range(len(ds.images))]
                for model in models:
                    srs = [run.sr_image(model, ds, i) for i in range(len(ds.images))]
                    for i, (sr, hr) in enumerate(zip(srs, hrs)):
                        run.check_sizes(model, ds, i, sr, hr)
                    block = run.plan.blocks[name]
                    value = run.value(name, model, ds, DATASET_LEVEL, compute_dataset_metric, block, srs, hrs,
                                      ds.images, ds.name)
                    add(CompareRow(model.label, ds.name, DATASET_LEVEL, name, value))
    return rows


# -- figures and the report --------------------------------------------------------------------------------------
def parse_crop(text: str) -> tuple[str, str, int, int, int]:
    """``DATASET/IMAGE:X,Y,SIZE`` -> ``(dataset, image, x, y, size)`` (HR pixels, top-left corner)."""
    match = re.fullmatch(r'(.+?)/(.+):(\d+),(\d+),(\d+)', text.strip())
    if not match:
        raise CompareError(f'--crop {text!r}: expected DATASET/IMAGE:X,Y,SIZE, e.g. Set5/baby:120,200,96')
    dataset, image, x, y, size = match.groups()
    if int(size) < 4:
        raise CompareError(f'--crop {text!r}: the crop size must be at least 4 pixels')
    return dataset, image, int(x), int(y), int(size)


def parse_crops(crops: Sequence[str], datasets: list[Dataset]) -> list[tuple[str, str, tuple[int, int, int]]]:
    """Every ``--crop`` as ``(dataset, image, (x, y, size))``; unknown datasets and images are errors."""
    out = []
    by_name = {d.name: d for d in datasets}
    for text in crops:
        dataset, image, x, y, size = parse_crop(text)
        if dataset not in by_name:
            raise CompareError(f'--crop {text}: no dataset {dataset!r}; this run has {", ".join(by_name)}')
        if image not in by_name[dataset].images:
            raise CompareError(f'--crop {text}: {dataset} has no image {image!r}')
        out.append((dataset, image, (x, y, size)))
    return out


def auto_crop_size(h: int, w: int) -> int:
    """A fifth of the short side, at least 32 px (LPIPS' AlexNet needs that much), at most the image."""
    return min(h, w, max(32, round(min(h, w) / 5)))


def visual_choices(run: Run, means_rows: list[CompareRow], metric: Optional[str], per_dataset: int,
                   crops: Sequence[str]) -> list[tuple[str, str, Optional[tuple[int, int, int]]]]:
    """``(dataset, image, box or None)`` of each visual figure.

    With ``--crop`` exactly those; otherwise, per dataset, the images where ``metric`` differs most between
    the models (bicubic left out of the spread when two or more other models compete).
    """
    if crops:
        return parse_crops(crops, run.datasets)
    if per_dataset <= 0 or metric is None:
        return []
    learned = [m.label for m in run.models if m.kind != BICUBIC]
    spread_models = set(learned) if len(learned) >= 2 else {m.label for m in run.models}
    values: dict[tuple[str, str], list[float]] = {}
    for r in means_rows:
        if r.metric == metric and r.model in spread_models and r.image != DATASET_LEVEL:
            values.setdefault((r.dataset, r.image), []).append(r.value)
    out = []
    for ds in run.datasets:
        spread = sorted(((max(v) - min(v), image) for (d, image), v in values.items() if d == ds.name),
                        key=lambda t: (-t[0], t[1]))
        out += [(ds.name, image, None) for _, image in spread[:per_dataset]]
    return out


def draw_visual(run: Run, dataset: str, image: str, box: Optional[tuple[int, int, int]], caption_metrics: list[str],
                output: str) -> str:
    """One visual comparison figure: crops of bicubic, the models and HR with their crop metrics beneath."""
    import matplotlib.pyplot as plt

    ds = next(d for d in run.datasets if d.name == dataset)
    index = ds.images.index(image)
    lq, hr = ds.pair(index)
    ordered = [m for m in run.models if m.kind == BICUBIC] + [m for m in run.models if m.kind != BICUBIC]
    srs = {}
    for m in ordered:
        srs[m.label] = run.sr_image(m, ds, index, lq)
        run.check_sizes(m, ds, index, srs[m.label], hr)
    h, w = hr.shape[:2]
    if box is None:
        size = auto_crop_size(h, w)
        learned = [srs[m.label] for m in ordered if m.kind != BICUBIC]
        x, y = choose_crop(learned if len(learned) >= 2 else list(srs.values()), size)
    else:
        x, y, size = box
        if x + size > w or y + size > h:
            raise CompareError(f'--crop {dataset}/{image}:{x},{y},{size} leaves the {w}x{h} HR image')
    panels = []
    for label, sr in srs.items():
        cells = []
        for name in caption_metrics:
            block = dict(run.plan.blocks[name], crop_border=0)
            try:
                value = compute_image_metric(block, sr[y:y + size, x:x + size], hr[y:y + size, x:x + size])
                cells.append(format_value(value, 2 if run.plan.directions[name] == 'higher' and value > 1 else 3)
                             if math.isfinite(value) else '-')
            except Exception:  # a metric that cannot take so small a crop: shown as '-', never fatal here
                cells.append('-')
        panels.append((label, sr, ' / '.join(cells)))
    key = ' / '.join(f'{LABELS.get(n, n)}{"↑" if run.plan.directions[n] == "higher" else "↓"}' for n in caption_metrics)
    panels.append(('HR', hr, key))
    fig = plot_visual(hr, panels, (x, y, size), title=f'{dataset} / {image}', output=output)
    plt.close(fig)
    return output


def _pick_pd_metric(plan: MetricPlan, wanted: str, x_metric: str) -> tuple[Optional[str], str]:
    """The PD y metric: the wanted one if computed, else the first other per-image metric (and a note why)."""
    if wanted in plan.blocks:
        return wanted, ''
    others = [n for n in plan.blocks if n != x_metric]
    fallback = next((n for n in others if n in plan.per_image() and plan.directions[n] == 'lower'),
                    others[0] if others else None)
    reason = plan.skipped.get(wanted, 'not in this run')
    return fallback, (f'The PD plot shows {fallback} because {wanted} is not available ({reason}).'
                      if fallback else f'No PD plot: {wanted} is not available ({reason}).')


def write_outputs(run: Run, rows: list[CompareRow], command: str, x_metric: str, pd_metric: str,
                  visual_per_dataset: int, crops: Sequence[str]) -> dict[str, Any]:
    """``table.md``, ``pd.png``, ``visual/*.png`` and ``report.md`` from the rows of this run's models."""
    labels = [m.label for m in run.models]
    dataset_names = [d.name for d in run.datasets]
    current = [r for r in rows if r.model in labels and r.dataset in dataset_names and r.metric in run.plan.blocks]
    means = dataset_means(current)
    metric_names = list(run.plan.blocks)
    table = table_markdown(means, labels, dataset_names, metric_names, run.plan.directions, LABELS)
    with open(osp.join(run.out_dir, 'table.md'), 'w') as f:
        f.write(table)

    kernel = ('BasicSR MATLAB-like imresize (a = -0.5)' if run.bicubic_kernel == 'matlab'
              else 'OpenCV INTER_CUBIC (a = -0.75)')
    notes = [f'{m.label}: {kernel} upscaling of the LQ images, x{run.scale}.' for m in run.models if m.kind == BICUBIC]
    notes += [f'{m.label}: {m.describe()}.' for m in run.models if m.kind != BICUBIC]
    notes.append(f'Datasets: {", ".join(f"{d.name} ({len(d.images)} images)" for d in run.datasets)}.')
    y_metric, pd_note = _pick_pd_metric(run.plan, pd_metric, x_metric)
    pd_png = None
    if y_metric and x_metric in run.plan.blocks:
        import matplotlib.pyplot as plt

        pd_png = osp.join(run.out_dir, 'pd.png')
        fig, _ = plot_pd(means, labels, dataset_names, pd_png, x_metric, y_metric, run.plan.directions,
                         dict(LABELS, psnr='PSNR (dB)'))
        plt.close(fig)
    elif x_metric not in run.plan.blocks:
        pd_note = f'No PD plot: the x metric {x_metric} is not in this run.'

    if pd_png is None and pd_note:
        notes.append(pd_note)
    caption_metrics = [n for n in (x_metric, y_metric) if n in run.plan.per_image()]
    visual_dir = osp.join(run.out_dir, 'visual')
    if osp.isdir(visual_dir):  # figures of an earlier choice would sit beside the new ones, unreported
        for f in os.listdir(visual_dir):
            if f.endswith('.png') and any(f.startswith(d + '_') for d in dataset_names):
                os.remove(osp.join(visual_dir, f))
    visuals = []
    choice_metric = y_metric if y_metric in run.plan.per_image() else (caption_metrics[0] if caption_metrics else None)
    for dataset, image, box in visual_choices(run, current, choice_metric, visual_per_dataset, crops):
        visuals.append(draw_visual(run, dataset, image, box, caption_metrics,
                                   osp.join(visual_dir, f'{dataset}_{image}.png')))

    weights = []
    for name, block in run.plan.blocks.items():
        weights += [dict(w, metric=name) for w in metrics_lib.weight_report(block)]
    report = report_markdown(command, table, 'pd.png' if pd_png else None,
                             [osp.relpath(p, run.out_dir) for p in visuals], weights, run.plan.skipped,
                             notes, dict(run.plan.blocks), pd_caption=pd_note)
    report_path = osp.join(run.out_dir, 'report.md')
    with open(report_path, 'w') as f:
        f.write(report)
    return {'table_md': osp.join(run.out_dir, 'table.md'), 'pd_png': pd_png, 'visual': visuals,
            'report_md': report_path, 'means': means, 'weights': weights, 'pd_metric': y_metric}


# -- the entry points ------------------------------------------------------------------------------------------
def run_compare(opt_path: str, models: 'dict[str, str]', out_dir: str, *, device: str = 'auto',
                metrics: Optional[Sequence[str]] = None, default_metrics: bool = True,
                datasets: Optional[Sequence[str]] = None, pd_metric: str = 'lpips', x_metric: str = 'psnr',
                visual_per_dataset: int = 1, crops: Sequence[str] = (), bicubic: str = 'matlab', tile: int = 0,
                half: bool = False, progress: bool = True, command: Optional[str] = None) -> dict[str, Any]:
    """Compare ``models`` (label -> ``bicubic`` | checkpoint | SR folder | '' for the option file's network_g)
    on the paired datasets of ``opt_path``; write everything into ``out_dir``.

    Returns the written paths (``metrics_csv``, ``table_md``, ``pd_png``, ``visual``, ``report_md``), ``means``
    (``{dataset: {model: {metric: value}}}``), ``skipped_metrics`` (name -> reason) and ``computed``
    (``{'sr': SR images made, 'values': metric values computed}`` by this call; both 0 on a finished re-run).
    Raises ``CompareError`` on bad input; rows computed before the error stay in ``metrics.csv``.
    """
    from sfd_arch.options.preflight import check_option_file

    if not models:
        raise CompareError('no models to compare: give at least one --model')
    try:
        opt = check_option_file(opt_path, is_train=False)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise CompareError(str(err.args[0]) if err.args else str(err)) from None
    scale = int(opt.get('scale', 4))
    plan = plan_metrics(opt, opt_path, metrics, default_metrics)
    if not plan.blocks:
        raise CompareError(f'{opt_path}: no metrics to compute (val.metrics is empty and no default metric has '
                           'its weights)')
    if pd_metric not in plan.blocks and pd_metric not in DEFAULT_METRICS and pd_metric not in plan.skipped:
        raise CompareError(f'--pd {pd_metric}: not a metric of this run; it has {", ".join(plan.blocks)}')
    dsets = load_datasets(opt, opt_path, datasets)
    parse_crops(crops, dsets)  # a typo in --crop fails now, not after every model has run
    try:
        torch_device = inference.pick_device(device)
    except RuntimeError as err:
        raise CompareError(str(err)) from None
    built = build_models(dict(models), opt, opt_path, torch_device, tile, half, bicubic)
    for model in built:
        if model.kind == 'folder':
            find_folder_outputs(model, dsets)

    os.makedirs(out_dir, exist_ok=True)
    kept, rewrite, state = reconcile(out_dir, built, dsets, plan)
    writer = RowWriter(osp.join(out_dir, 'metrics.csv'), kept, rewrite)
    _write_json(osp.join(out_dir, STATE_FILE), state)
    run = Run(out_dir, built, dsets, plan, scale, bicubic)
    for name, reason in plan.skipped.items():
        print(f'compare: skipping {name}: {reason}', file=sys.stderr)
    try:
        rows = compute_all(run, kept, writer, progress)
    finally:
        writer.close()
    if command is None:  # the command line that repeats this call
        argv = ['-opt', opt_path]
        for label, spec in models.items():
            argv += ['--model', BICUBIC if (label, spec.lower()) == ('Bicubic', BICUBIC) else
                     f'{label}={spec}' if spec else label]
        argv += ['-o', out_dir]
        for flag, value, default in (('--device', device, 'auto'), ('--pd', pd_metric, 'lpips'),
                                     ('--pd-x', x_metric, 'psnr'), ('--visual', visual_per_dataset, 1),
                                     ('--bicubic', bicubic, 'matlab'), ('--tile', tile, 0)):
            argv += [flag, str(value)] if value != default else []
        argv += (['--metrics', *metrics] if metrics else []) + (['--datasets', *datasets] if datasets else [])
        argv += [a for c in crops for a in ('--crop', c)] + (['--half'] if half else [])
        argv += [] if default_metrics else ['--no-default-metrics']
        command = 'python scripts/compare.py ' + shlex.join(argv)
    outputs = write_outputs(run, rows, command, x_metric, pd_metric, visual_per_dataset, crops)
    return dict(outputs, metrics_csv=osp.join(out_dir, 'metrics.csv'), skipped_metrics=dict(plan.skipped),
                computed={'sr': run.computed_sr, 'values': run.computed_values}, metrics=list(plan.blocks))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-opt', '--opt', required=True, help='test option file: its datasets and val.metrics')
    p.add_argument('--model', action='append', required=True, metavar='NAME=CKPT|NAME=FOLDER|NAME|bicubic',
                   help='a model to compare; repeat for each (see above)')
    p.add_argument('-o', '--output', required=True, help='output folder (re-running in it skips finished work)')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N (generators; metrics choose their own)')
    p.add_argument('--metrics', nargs='+', default=None, metavar='NAME',
                   help='only these metrics (names of val.metrics or lpips, dists, fid)')
    p.add_argument('--no-default-metrics', action='store_true',
                   help="only the option file's val.metrics (no LPIPS, DISTS, FID added)")
    p.add_argument('--datasets', nargs='+', default=None, metavar='NAME', help='only these datasets (their name:)')
    p.add_argument('--pd', default='lpips', metavar='METRIC', help='y axis of pd.png (x: --pd-x)')
    p.add_argument('--pd-x', default='psnr', metavar='METRIC', help='x axis of pd.png')
    p.add_argument('--visual', type=int, default=1, metavar='N',
                   help='visual figures per dataset: the N images where the models differ most (0: none)')
    p.add_argument('--crop', action='append', default=[], metavar='DATASET/IMAGE:X,Y,SIZE',
                   help='a visual figure at this HR square instead of the automatic choice; repeatable')
    p.add_argument('--bicubic', default='matlab', choices=['matlab', 'cv2'],
                   help='bicubic baseline kernel: matlab (BasicSR imresize, as BasicSR makes LR) or cv2')
    p.add_argument('--tile', type=int, default=0, help='generator tiles of this many LQ pixels (0: whole images)')
    p.add_argument('--half', action='store_true', help='float16 generators on CUDA (default: float32)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    """Command-line entry; exits non-zero with a one-line message on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        models: OrderedDict[str, str] = OrderedDict()
        for text in args.model:
            label, spec = parse_model_arg(text)
            if label in models:
                raise CompareError(f'--model {text}: the name {label} is given twice')
            models[label] = spec or ''
        result = run_compare(args.opt, models, args.output, device=args.device, metrics=args.metrics,
                             default_metrics=not args.no_default_metrics, datasets=args.datasets, pd_metric=args.pd,
                             x_metric=args.pd_x, visual_per_dataset=args.visual, crops=args.crop,
                             bicubic=args.bicubic, tile=args.tile, half=args.half, progress=not args.no_progress,
                             command='python scripts/compare.py ' + shlex.join(argv))
    except CompareError as err:
        raise SystemExit(f'compare: error: {err}') from None
    print(f'Report: {result["report_md"]}\n' + open(result['table_md']).read())
    return result


if __name__ == '__main__':
    main()
