"""The engine of ``scripts/demo.py`` (``make demo``): demo data, the quality ladder, its scores, figures and checks.

The script runs the six steps (see its docstring); this module holds what they are made of, so that each piece
can be read and imported on its own: the paired dataset from scikit-image photographs, the distortion ladder,
SFD-IQA and NIQE of every rung, the rank correlations, the figures, and the check of the exported SFD-IQA
against the value the training process logged.
"""

import csv
import glob
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sfd_arch.utils.files import atomic_path
from sfd_arch.utils.results import LoggedMetric, logged_metrics, marked

OPT = osp.join('options', 'demo', 'train_sfd_demo.yml')
PSNR_OPT = osp.join('options', 'demo', 'train_psnr_demo.yml')
ESRGAN_OPT = osp.join('options', 'demo', 'train_esrgan_demo.yml')
TEST_OPT = osp.join('options', 'demo', 'test_sfd_demo.yml')
OUT = 'demo_output'
NAME = 'sfd_demo_x4'
PSNR_NAME = 'psnr_demo_x4'
ESRGAN_NAME = 'esrgan_demo_x4'
WEIGHTS = osp.join(OUT, 'sfd_iqa_demo.pth')
# scikit-image's `cat` is `chelsea`: it must not be in both splits
TRAIN_PHOTOS = ('rocket', 'stereo_motorcycle', 'immunohistochemistry', 'hubble_deep_field', 'colorwheel', 'coins',
                'clock', 'brick', 'gravel', 'grass')
VAL_PHOTOS = ('chelsea', 'camera', 'astronaut', 'coffee')
# the quality ladder uses two of them, a colour and a grey photo: NIQE and SFD-IQA of four photos' 60 rungs took a
# quarter of the demo's 3-minute budget
LADDER_PHOTOS = ('chelsea', 'camera')
STAND_IN = 'tiny RANDOM stand-in CLIP (not RN50): shows the pipeline, not SFD quality'
SCALE = 4


# --------------------------------------------------------------------------------------------------------
# 0. The runs of an earlier demo, and the two training stages
# --------------------------------------------------------------------------------------------------------

def previous_outputs(root: str = '.') -> list[str]:
    """What an earlier ``make demo`` left that this one replaces: ``demo_output/``, and the experiment and
    TensorBoard folders of its training runs, with any copies BasicSR archived (``<name>_archived_<time>``)."""
    found = [osp.join(root, OUT)] if osp.isdir(osp.join(root, OUT)) else []
    for top in ('experiments', 'tb_logger'):
        for name in (PSNR_NAME, NAME, ESRGAN_NAME):
            found += sorted(p for p in glob.glob(osp.join(root, top, name + '*'))
                            if osp.isdir(p) and re.fullmatch(re.escape(name) + r'(_archived_.*)?', osp.basename(p)))
    return [osp.normpath(p) for p in found]


def default_threads() -> tuple[int, str]:
    """One training thread per process, and why.

    The thread count changes the order of floating-point sums, and with it the whole training trajectory, so one
    thread keeps the printed numbers the same from run to run on a machine. The recipe's margin over bicubic is
    far larger than what the thread count moves (`python scripts/demo.py`: stage 1 29.11 dB with one thread and
    with `--threads 2`, bicubic 28.28 dB), and the two stage-2 runs (SFD and ESRGAN) train side by side, one core
    each."""
    return 1, 'one per training process: the numbers repeat run to run (--threads to change)'


def stage_option(opt_path: str, out_dir: str, iters: 'int | None' = None) -> str:
    """The option file a stage runs: ``opt_path`` itself, or a copy in ``out_dir`` with ``iters`` iterations
    (the checkpoint saved at the last one, the learning-rate milestones scaled with it)."""
    if not iters:
        return opt_path
    import yaml

    with open(opt_path) as f:
        opt = yaml.safe_load(f)
    old = int(opt['train']['total_iter'])
    opt['train']['total_iter'] = opt['logger']['save_checkpoint_freq'] = int(iters)
    scheduler = opt['train'].get('scheduler') or {}
    if 'milestones' in scheduler:
        scheduler['milestones'] = [max(1, round(m * iters / old)) for m in scheduler['milestones']]
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, osp.basename(opt_path))
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


@dataclass
class Training:
    """A training run started in a child process: ``python sfd_arch/train.py -opt <option file>``."""

    opt_path: str
    process: 'subprocess.Popen'
    start: float
    console: 'str | None' = None  # where its console output goes (None: this process's own)


def start_training(opt_path: str, threads: int, repo: str, console: 'str | None' = None) -> Training:
    """Starts ``python sfd_arch/train.py -opt opt_path`` with ``threads`` CPU threads, as a user runs it (BasicSR's
    logging and option parsing are made for one run per process); ``console``: a file for its output, so that
    two runs side by side do not interleave on the terminal (BasicSR also writes its log under experiments/)."""
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = None
    if console:
        os.makedirs(osp.dirname(console) or '.', exist_ok=True)
        out = open(console, 'w')
    try:
        process = subprocess.Popen([sys.executable, osp.join('sfd_arch', 'train.py'), '-opt', opt_path], env=env,
                                   stdout=out, stderr=subprocess.STDOUT if out else None)
    finally:
        if out:
            out.close()  # the child holds its own copy
    return Training(opt_path, process, time.time(), console)


def finish_training(run: Training) -> tuple[int, float, float]:
    """Waits for ``run``; returns (exit code, wall s, CPU s). The CPU time is the child's own (user + system, all
    its threads, from ``os.wait4``), so two runs side by side each get theirs."""
    _, status, usage = os.wait4(run.process.pid, 0)
    run.process.returncode = code = os.waitstatus_to_exitcode(status)
    return code, time.time() - run.start, usage.ru_utime + usage.ru_stime


@contextmanager
def stop_on_exit(runs: 'dict[str, Training]'):
    """Kills the runs still going when the block ends: an error, Ctrl-C or an early return of the demo leaves no
    training process behind (finished runs are left alone)."""
    try:
        yield runs
    finally:
        for run in runs.values():
            if run.process.returncode is None:
                run.process.kill()
                run.process.wait()


# --------------------------------------------------------------------------------------------------------
# 1. Data
# --------------------------------------------------------------------------------------------------------

def _photo(name: str) -> np.ndarray:
    """A scikit-image sample as uint8 BGR (what cv2 writes)."""
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo pairs
        img = img[0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = (255 * (img.astype(np.float64) / max(float(img.max()), 1.0))).astype(np.uint8)
    return np.ascontiguousarray(img[..., ::-1])


def _matlab_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """uint8 -> uint8 resized by ``scale`` with BasicSR's MATLAB-like bicubic (how DIV2K's LR images are made)."""
    from basicsr.utils.matlab_functions import imresize

    out = imresize(img.astype(np.float64) / 255.0, scale)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def bicubic_down(hr: np.ndarray) -> np.ndarray:
    return _matlab_bicubic(hr, 1 / SCALE)


def bicubic_up(lr: np.ndarray) -> np.ndarray:
    """The interpolation baseline: the LR photo upscaled x4 with the same kernel."""
    return _matlab_bicubic(lr, SCALE)


def build_dataset(root: str, crop: int = 128, step: int = 96) -> tuple[int, int]:
    """HR sub-images + bicubic LR for training, whole photos (cropped to a multiple of 4) for validation."""
    import cv2

    counts = []
    for split, photos in (('train', TRAIN_PHOTOS), ('val', VAL_PHOTOS)):
        hr_dir, lr_dir = osp.join(root, split, 'HR'), osp.join(root, split, f'LR_bicubic_X{SCALE}')
        os.makedirs(hr_dir, exist_ok=True)
        os.makedirs(lr_dir, exist_ok=True)
        n = 0
        for name in photos:
            img = _photo(name)
            if split == 'val':
                h, w = (s - s % SCALE for s in img.shape[:2])
                patches = [(name, img[:h, :w])]
            else:
                h, w = img.shape[:2]
                corners = [(y, x) for y in range(0, h - crop + 1, step) for x in range(0, w - crop + 1, step)]
                patches = [(f'{name}_s{i:03d}', img[y:y + crop, x:x + crop]) for i, (y, x) in enumerate(corners)]
            for stem, hr in patches:
                cv2.imwrite(osp.join(hr_dir, f'{stem}.png'), hr)
                cv2.imwrite(osp.join(lr_dir, f'{stem}.png'), bicubic_down(hr))
                n += 1
        counts.append(n)
    return counts[0], counts[1]


# --------------------------------------------------------------------------------------------------------
# 4. The ladder
# --------------------------------------------------------------------------------------------------------

# Levels fixed up front from common IQA practice (geometric steps from barely visible to strong), not tuned.
LADDERS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    'blur': ('Gaussian blur', 'sigma (px)', (0.5, 1.0, 2.0, 4.0)),
    'noise': ('Gaussian noise', 'sigma (of 255)', (5.0, 10.0, 20.0, 40.0)),
    'jpeg': ('JPEG', 'quality', (75.0, 50.0, 25.0, 10.0)),
}


def distort(hr: np.ndarray, kind: str, level: float, seed: int = 0) -> np.ndarray:
    """uint8 BGR (H, W, 3) -> the same image distorted at one ladder level (uint8 BGR, same size)."""
    import cv2

    if kind == 'blur':
        return cv2.GaussianBlur(hr, (0, 0), sigmaX=float(level), borderType=cv2.BORDER_REFLECT)
    if kind == 'noise':
        rng = np.random.default_rng(seed)  # the same noise on every run
        noisy = hr.astype(np.float64) + rng.normal(0.0, float(level), hr.shape)
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if kind == 'jpeg':
        ok, buf = cv2.imencode('.jpg', hr, [cv2.IMWRITE_JPEG_QUALITY, int(level)])
        if not ok:
            raise RuntimeError(f'JPEG encoding at quality {level} failed')
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    raise ValueError(f'unknown distortion {kind!r}; known: {", ".join(LADDERS)}')


@dataclass
class Rung:
    """One image of the ladder and its scores (SFD-IQA: higher is better; NIQE: lower is better)."""

    photo: str
    kind: str       # 'hr', 'sr', 'bicubic', or a LADDERS key
    index: int      # 0 = HR, 1..4 = the distortion levels in order of severity
    level: float    # the distortion parameter (0 for hr / sr / bicubic)
    path: str
    sfd_iqa: float = float('nan')
    q_feat: float = float('nan')
    p_pos: float = float('nan')
    niqe: float = float('nan')


def sr_image(exp_dir: str, photo: str) -> str:
    """The demo model's SR of a validation photo, as BasicSR's end-of-training validation saved it."""
    found = sorted(glob.glob(osp.join(exp_dir, 'visualization', photo, f'{photo}_*.png')),
                   key=lambda p: int(re.findall(r'_(\d+)\.png$', p)[0]) if re.findall(r'_(\d+)\.png$', p) else -1)
    if not found:
        raise FileNotFoundError(f'no SR image of {photo} in {exp_dir}/visualization/{photo}/ (validation did not run?)')
    return found[-1]


def build_ladder(data_root: str, exp_dir: str, out_dir: str, photos: 'tuple[str, ...]' = LADDER_PHOTOS) -> list[Rung]:
    """Write every ladder image of each of ``photos`` (held-out photos) under ``out_dir/<photo>/`` and list them."""
    import cv2

    rungs = []
    for n, photo in enumerate(photos):
        folder = osp.join(out_dir, photo)
        os.makedirs(folder, exist_ok=True)
        hr = cv2.imread(osp.join(data_root, 'val', 'HR', f'{photo}.png'))
        lr = cv2.imread(osp.join(data_root, 'val', f'LR_bicubic_X{SCALE}', f'{photo}.png'))
        if hr is None or lr is None:
            raise FileNotFoundError(f'validation photo {photo} missing in {data_root}/val (run without --keep)')
        images = {('hr', 0, 0.0): hr, ('bicubic', 0, 0.0): bicubic_up(lr)}
        sr = cv2.imread(sr_image(exp_dir, photo))
        images[('sr', 0, 0.0)] = sr
        for kind, (_, _, levels) in LADDERS.items():
            for i, level in enumerate(levels, start=1):
                images[(kind, i, level)] = distort(hr, kind, level, seed=1000 * n + i)
        for (kind, index, level), img in images.items():
            path = osp.join(folder, f'{kind}.png' if index == 0 else f'{kind}_{index}.png')
            cv2.imwrite(path, img)  # PNG: the JPEG rungs keep exactly their decoded pixels
            rungs.append(Rung(photo, kind, index, level, path))
    return rungs


def score_ladder(rungs: list[Rung], weights: str) -> None:
    """SFD-IQA (the exported file, in this process) and BasicSR's NIQE of every rung, in place."""
    import cv2
    from basicsr.metrics.niqe import calculate_niqe
    from tqdm import tqdm

    from sfd_arch.iqa import SFDIQA

    scorer = SFDIQA.from_file(weights, device='cpu')
    results = scorer.score_files([r.path for r in rungs])
    for rung, res in zip(rungs, results):
        if not res.ok:
            raise RuntimeError(f'SFD-IQA could not score {rung.path}: {res.error}')
        rung.sfd_iqa, rung.q_feat, rung.p_pos = res.score, res.q_feat, res.p_pos
    for rung in tqdm(rungs, desc='      NIQE', unit='img', leave=False):
        # BasicSR's protocol: Y channel of the uint8 image, no border crop (the whole ladder image is the input)
        with warnings.catch_warnings():
            # flat blocks (e.g. camera's sky) give empty slices inside BasicSR's NIQE; it skips them itself
            warnings.filterwarnings('ignore', message='Mean of empty slice')
            warnings.filterwarnings('ignore', message='invalid value encountered')
            value = calculate_niqe(cv2.imread(rung.path), crop_border=0, input_order='HWC', convert_to='y')
        rung.niqe = float(value)


def write_csv(rungs: list[Rung], path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['photo', 'kind', 'index', 'level', 'sfd_iqa', 'q_feat', 'p_pos', 'niqe', 'path'])
        for r in rungs:
            writer.writerow([r.photo, r.kind, r.index, r.level, f'{r.sfd_iqa:.6f}', f'{r.q_feat:.6f}',
                             f'{r.p_pos:.6f}', f'{r.niqe:.4f}', r.path])


def _series(rungs: list[Rung], photo: str, kind: str) -> list[Rung]:
    """HR then the distortion's levels, in order of severity."""
    base = [r for r in rungs if r.photo == photo and r.kind == 'hr']
    return base + sorted((r for r in rungs if r.photo == photo and r.kind == kind), key=lambda r: r.index)


def agreement(rungs: list[Rung], photo: str, kind: str, field: str) -> float:
    """Spearman correlation between quality order (HR best) and a metric, signed so that +1 is perfect.

    SFD-IQA, q_feat and p_pos are higher-is-better: SRCC(-level, value). NIQE is lower-is-better: SRCC(level, value).
    """
    from scipy.stats import spearmanr

    series = _series(rungs, photo, kind)
    index = np.array([r.index for r in series], dtype=float)
    values = np.array([getattr(r, field) for r in series], dtype=float)
    if np.ptp(values) == 0:
        return float('nan')  # a constant score ranks nothing
    sign = 1.0 if field == 'niqe' else -1.0
    return float(spearmanr(index, sign * values)[0])


def hf_energy(path: str) -> float:
    """Mean absolute Laplacian of the gray image: how much fine detail (or noise) an image holds."""
    import cv2

    gray = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY).astype(np.float64)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_64F)).mean())


def detail_agreement(rungs: list[Rung], photo: str, field: str) -> float:
    """SRCC, over every image of a photo's ladder, between high-frequency energy and a metric (signed as in
    :func:`agreement`: +1 = the metric calls the image with more fine detail better)."""
    from scipy.stats import spearmanr

    series = [r for r in rungs if r.photo == photo]
    sign = -1.0 if field == 'niqe' else 1.0
    return float(spearmanr([hf_energy(r.path) for r in series], [sign * getattr(r, field) for r in series])[0])


COLUMNS = (('sfd_iqa', 'SFD-IQA'), ('q_feat', 'Feat-D q_feat'), ('p_pos', 'LPP p_pos'), ('niqe', 'NIQE'))


def correlation_table(rungs: list[Rung]) -> tuple[str, dict[str, dict[str, float]]]:
    """The printed table and ``{kind: {field: mean SRCC over the photos}}``."""
    photos = sorted({r.photo for r in rungs}, key=VAL_PHOTOS.index)
    lines = textwrap.wrap(f'Spearman correlation between distortion level and score, HR + 4 levels per photo, mean '
                          f'over {len(photos)} held-out photos [min]. Signed so that +1 = every stronger distortion '
                          'scored worse (NIQE is lower-is-better, so its sign is flipped). SFD-IQA uses the '
                          f"demo's own Feat-D and LPP on a {STAND_IN}.", 110) + ['']
    head = f'{"distortion":<16}{"levels":<27}' + ''.join(f'{title:>16}' for _, title in COLUMNS)
    lines += [head, '-' * len(head)]
    means: dict[str, dict[str, float]] = {}
    for kind, (title, unit, levels) in LADDERS.items():
        cells, means[kind] = [], {}
        for field, _ in COLUMNS:
            values = np.array([agreement(rungs, p, kind, field) for p in photos])
            means[kind][field] = float(np.nanmean(values)) if np.isfinite(values).any() else float('nan')
            cells.append(f'{means[kind][field]:+.2f} [{np.nanmin(values):+.2f}]' if np.isfinite(values).any()
                         else 'n/a')
        level_text = f'{unit} ' + ','.join(f'{v:g}' for v in levels)
        lines.append(f'{title:<16}{level_text:<27}' + ''.join(f'{c:>16}' for c in cells))
    detail = [f'{float(np.mean([detail_agreement(rungs, p, field) for p in photos])):+.2f}' for field, _ in COLUMNS]
    lines.append(f'{"fine detail":<16}{"all 15 images of a photo":<27}' + ''.join(f'{c:>16}' for c in detail))
    lines += [''] + textwrap.wrap(
        'fine detail: SRCC between the score and high-frequency energy (mean |Laplacian|) over every image of a '
        "photo's ladder, mean over photos. Feat-D and LPP only ever saw HR against the generator's smooth output, so "
        'they learn "more fine detail = real"; noise adds fine detail, which is why it is scored up.', 110)
    lines += ['', 'x4 upscaling, per photo (SFD-IQA higher is better, NIQE lower is better):',
              f'{"photo":<12}' + ''.join(f'{k + " SFD-IQA":>17}' for k in ('HR', 'demo SR', 'bicubic'))
              + ''.join(f'{k + " NIQE":>14}' for k in ('HR', 'demo SR', 'bicubic'))]
    for photo in photos:
        by = {r.kind: r for r in rungs if r.photo == photo and r.index == 0}
        lines.append(f'{photo:<12}' + ''.join(f'{by[k].sfd_iqa:>17.4f}' for k in ('hr', 'sr', 'bicubic'))
                     + ''.join(f'{by[k].niqe:>14.3f}' for k in ('hr', 'sr', 'bicubic')))
    return '\n'.join(lines), means


# --------------------------------------------------------------------------------------------------------
# Figures (paper-column sized; each says the CLIP is a stand-in)
# --------------------------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    plt.rcParams.update({'font.size': 7, 'axes.titlesize': 7, 'axes.labelsize': 7, 'legend.fontsize': 6,
                         'xtick.labelsize': 6, 'ytick.labelsize': 6})
    return plt


def _stand_in_note(fig, extra: str = '', y: float = 0.004) -> None:
    text = f'CLIP: {STAND_IN}' + (f'\n{extra}' if extra else '')
    fig.text(0.5, y, text, ha='center', va='bottom', fontsize=5.5, color='#b00000', linespacing=1.2)


def plot_ladder_scores(rungs: list[Rung], means: dict[str, dict[str, float]], path: str) -> str:
    """Change of each score from the photo's HR against distortion level: one column per distortion, SFD-IQA on
    top, NIQE below, one line per held-out photo. Titles give the mean SRCC of the table (+1: perfect order)."""
    plt = _pyplot()
    photos = sorted({r.photo for r in rungs}, key=VAL_PHOTOS.index)
    fig, axes = plt.subplots(2, len(LADDERS), figsize=(7.0, 3.5), sharex='col')
    colors = plt.get_cmap('tab10')
    rows = (('sfd_iqa', 'SFD-IQA', 'SFD-IQA minus HR\'s\n(higher = better)', 1000.0),
            ('niqe', 'NIQE', 'NIQE minus HR\'s\n(lower = better)', 1.0))
    for col, (kind, (title, unit, levels)) in enumerate(LADDERS.items()):
        for row, (field, name, label, factor) in enumerate(rows):
            ax = axes[row, col]
            for n, photo in enumerate(photos):
                series = _series(rungs, photo, kind)
                base = getattr(series[0], field)
                ax.plot([r.index for r in series], [factor * (getattr(r, field) - base) for r in series], marker='o',
                        ms=2.5, lw=1, color=colors(n), label=photo)
            ax.axhline(0.0, color='0.6', lw=0.6, zorder=0)
            ax.set_title(f'{title}: {name} SRCC {means[kind][field]:+.2f}')
            ax.set_xticks(range(len(levels) + 1))
            ax.set_xticklabels(['HR'] + [f'{v:g}' for v in levels])
            ax.grid(alpha=0.3, lw=0.5)
            if col == 0:
                ax.set_ylabel(label + (' x1e-3' if factor != 1.0 else ''))
            if row == 1:
                ax.set_xlabel(unit)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='upper center', ncol=len(photos), frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0.045, 1, 0.95), h_pad=0.5, w_pad=0.6)
    _stand_in_note(fig)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _crop_box(img_shape: tuple[int, ...], size: int) -> tuple[int, int]:
    """Top-left of a centred ``size`` crop."""
    h, w = img_shape[:2]
    return max((h - size) // 2, 0), max((w - size) // 2, 0)


def plot_ladder_images(rungs: list[Rung], photo: str, path: str, crop: int = 96) -> str:
    """The ladder of one photo as centred crops, each titled with its SFD-IQA (S) and NIQE (N)."""
    import cv2

    plt = _pyplot()
    rows = [('x4 upscaling', [('hr', 0), ('sr', 0), ('bicubic', 0)])]
    rows += [(title, [('hr', 0)] + [(kind, i) for i in range(1, len(levels) + 1)])
             for kind, (title, _, levels) in LADDERS.items()]
    ncol = max(len(items) for _, items in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.4, 0.82 * len(rows) + 0.25))
    by = {(r.kind, r.index): r for r in rungs if r.photo == photo}
    for row, (title, items) in enumerate(rows):
        for col in range(ncol):
            ax = axes[row, col]
            ax.axis('off')
            if col >= len(items):
                continue
            rung = by[items[col]]
            img = cv2.imread(rung.path)
            top, left = _crop_box(img.shape, crop)
            ax.imshow(img[top:top + crop, left:left + crop, ::-1], interpolation='nearest')
            name = {'hr': 'HR', 'sr': 'demo SR', 'bicubic': 'bicubic'}.get(rung.kind)
            if name is None:
                _, unit, levels = LADDERS[rung.kind]
                name = f'{unit.split()[0]} {rung.level:g}'
            ax.set_title(f'{name}\nS {rung.sfd_iqa:.4f} N {rung.niqe:.1f}', fontsize=5, pad=1.5, linespacing=1.1)
        axes[row, 0].text(-0.08, 0.5, title, transform=axes[row, 0].transAxes, rotation=90, ha='right',
                          va='center', fontsize=5.5)
    fig.subplots_adjust(left=0.05, right=0.995, top=0.955, bottom=0.075, wspace=0.04, hspace=0.42)
    _stand_in_note(fig, f'{photo}, centre crops. S: SFD-IQA (higher = better), N: NIQE (lower = better)')
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def training_log(exp_dir: str, name: str = NAME) -> str:
    """The newest log BasicSR wrote for the run ``name`` in ``exp_dir`` (``train_<name>_<time>.log``)."""
    logs = sorted(glob.glob(osp.join(exp_dir, f'train_{name}_*.log')), key=osp.getmtime)
    if not logs:
        raise FileNotFoundError(f'no training log train_{name}_*.log in {exp_dir}: the SFD run did not log, so the '
                                'exported SFD-IQA cannot be checked against it')
    return logs[-1]


def logged_validation(log: str) -> dict[str, LoggedMetric]:
    """The last validation metrics the training log ``log`` holds, by metric name, with the mark the run logged
    them under (``# sfd_iqa (random CLIP): 0.5015`` -> ``sfd_iqa``, note ``random CLIP``)."""
    with open(log) as f:
        return logged_metrics(f)


def sr_sfd_iqa(exp_dir: str, weights: str) -> float:
    """Mean SFD-IQA, from the exported file in this process, of the SR images of every held-out photo."""
    from sfd_arch.iqa import SFDIQA

    results = SFDIQA.from_file(weights, device='cpu').score_files([sr_image(exp_dir, p) for p in VAL_PHOTOS])
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise RuntimeError(f'SFD-IQA could not score an SR image: {bad[0]}')
    return float(np.mean([r.score for r in results]))


def check_export(here: float, logged: dict[str, LoggedMetric], log: str, weights: str = WEIGHTS) -> str:
    """The exported file, in this process, must give the SR images (``here``: :func:`sr_sfd_iqa`) the SFD-IQA
    the training process logged in ``log``. A log with no SFD-IQA value is an error too: a check that finds
    nothing to compare must not pass for one that compared."""
    if 'sfd_iqa' not in logged:
        found = ', '.join(logged) or 'no validation metric at all'
        raise RuntimeError(f'{log} has no sfd_iqa validation value (found: {found}), so the exported SFD-IQA '
                           'cannot be checked against the training process: did the option file drop sfd_iqa from '
                           'val.metrics, or BasicSR change its log line?')
    value = logged['sfd_iqa']
    label = marked('SFD-IQA', value.note)
    if abs(here - value.value) > 1e-4:  # the log rounds to 4 decimals
        raise RuntimeError(f'{label} of the SR validation images: {value.value:.4f} in the training process, '
                           f'{here:.6f} from {weights} here: the exported networks do not see the CLIP they were '
                           'trained on')
    return (f'SR validation images: {label} {value.value:.4f} logged by the training process, {here:.6f} from '
            'the exported file here (the same CLIP: clip.seed is recorded in the file)')


def export_step(exp_dir: str, weights: str = WEIGHTS) -> list[str]:
    """Step 4: export SFD-IQA from the SFD run ``exp_dir`` to ``weights`` and check it against the training log.
    Returns the lines the demo prints; raises when the check fails or finds nothing to compare."""
    from sfd_arch.iqa.export import export_experiment

    payload = export_experiment(exp_dir, weights, overwrite=True)
    clip = payload['clip']
    log = training_log(exp_dir)
    return [f"CLIP recorded in the file: {clip['model']}, pretrained={clip['pretrained']}, seed={clip['seed']}, "
            f"taps {clip['layers']} (iteration {payload['source'].get('iteration')})",
            check_export(sr_sfd_iqa(exp_dir, weights), logged_validation(log), log, weights)]
