#!/usr/bin/env python
"""The embedded demo behind `make demo`: train SFDModel for a few hundred iterations on CPU, offline.

1. Builds a small paired x4 dataset from photographs that ship inside scikit-image (sub-images of the HR
   photos, LR made with BasicSR's MATLAB-like bicubic ``imresize``) under ``demo_output/datasets``.
2. Trains ``SFDModel`` with ``options/demo/train_sfd_demo.yml`` (small RRDBNet, tiny random CLIP, no VGG)
   through ``sfd_arch/train.py``; BasicSR logs progress with an ETA every 25 iterations.
3. Validates (PSNR on Y from BasicSR; NIQE computed here, guarded: BasicSR's NIQE raises on flat images),
   keeps the visual results, and prints where everything is.

The CLIP here is a random stand-in: the numbers show the pipeline works, not what SFD can do.
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OPT = osp.join('options', 'demo', 'train_sfd_demo.yml')
OUT = 'demo_output'
NAME = 'sfd_demo_x4'
TRAIN_PHOTOS = ('astronaut', 'coffee', 'rocket', 'immunohistochemistry', 'hubble_deep_field', 'colorwheel',
                'stereo_motorcycle', 'cat')
VAL_PHOTOS = ('chelsea', 'camera')


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


def _bicubic_lr(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    from basicsr.utils.matlab_functions import imresize

    lr = imresize(hr.astype(np.float64) / 255.0, 1 / scale)
    return np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8)


def build_dataset(root: str, crop: int = 128, step: int = 96, scale: int = 4) -> tuple[int, int]:
    """HR sub-images + bicubic LR for training, two whole photos (cropped to a multiple of 4) for validation."""
    counts = []
    for split, photos in (('train', TRAIN_PHOTOS), ('val', VAL_PHOTOS)):
        hr_dir, lr_dir = osp.join(root, split, 'HR'), osp.join(root, split, f'LR_bicubic_X{scale}')
        os.makedirs(hr_dir, exist_ok=True)
        os.makedirs(lr_dir, exist_ok=True)
        n = 0
        for name in photos:
            img = _photo(name)
            if split == 'val':
                h, w = (s - s % scale for s in img.shape[:2])
                patches = [(name, img[:h, :w])]
            else:
                h, w = img.shape[:2]
                patches = [(f'{name}_s{n_:03d}', img[y:y + crop, x:x + crop])
                           for n_, (y, x) in enumerate((y, x) for y in range(0, h - crop + 1, step)
                                                       for x in range(0, w - crop + 1, step))]
            for stem, hr in patches:
                cv2.imwrite(osp.join(hr_dir, f'{stem}.png'), hr)
                cv2.imwrite(osp.join(lr_dir, f'{stem}.png'), _bicubic_lr(hr, scale))
                n += 1
        counts.append(n)
    return counts[0], counts[1]


def guarded_niqe(path: str) -> str:
    from basicsr.metrics.niqe import calculate_niqe

    img = cv2.imread(path)
    try:
        return f'{calculate_niqe(img, crop_border=4):.3f}'
    except Exception as err:  # noqa: BLE001 - NIQE fails on flat or tiny images
        return f'n/a ({type(err).__name__})'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=None, help='override train.total_iter (default: 300)')
    parser.add_argument('--keep', action='store_true', help='keep a previous demo run instead of starting over')
    args = parser.parse_args(argv)
    os.chdir(REPO)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    sys.path.insert(0, REPO)
    import sfd_arch  # noqa: F401  (makes basicsr importable before the helpers above use it)

    exp_dir, tb_dir = osp.join('experiments', NAME), osp.join('tb_logger', NAME)
    if not args.keep:
        for path in (OUT, exp_dir, tb_dir):
            shutil.rmtree(path, ignore_errors=True)
    print(f'[1/3] Building the demo dataset from scikit-image photographs in {OUT}/datasets ...', flush=True)
    n_train, n_val = build_dataset(osp.join(OUT, 'datasets'))
    print(f'      {n_train} training pairs (128 px HR crops), {n_val} validation photos', flush=True)

    opt_path = OPT
    if args.iters:
        import yaml

        with open(OPT) as f:
            opt = yaml.safe_load(f)
        opt['train']['total_iter'] = opt['logger']['save_checkpoint_freq'] = args.iters
        opt_path = osp.join(OUT, 'train_sfd_demo.yml')
        with open(opt_path, 'w') as f:
            yaml.safe_dump(opt, f, sort_keys=False)

    print(f'[2/3] Training SFDModel on CPU: python sfd_arch/train.py -opt {opt_path}', flush=True)
    start = time.time()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, osp.join('sfd_arch', 'train.py'), '-opt', opt_path], env=env)
    train_seconds = time.time() - start
    if proc.returncode != 0:
        print(f'error: training failed (exit {proc.returncode}); the log is in {exp_dir}', file=sys.stderr)
        return proc.returncode
    print(f'      training + validation took {train_seconds:.0f} s', flush=True)

    print('[3/3] Results', flush=True)
    logs = sorted(glob.glob(osp.join(exp_dir, f'train_{NAME}_*.log')))
    psnr = [line.strip() for line in open(logs[-1]) if '# psnr:' in line] if logs else []
    results = sorted(glob.glob(osp.join(exp_dir, 'visualization', '*', '*.png')))
    print(f'      PSNR (Y, validation): {psnr[-1].split("# psnr:")[-1].strip() if psnr else "see the log"}')
    for path in results:
        print(f'      NIQE {guarded_niqe(path):>18}  {path}')
    print(f'''
Where everything is
  data:             {OUT}/datasets
  checkpoints:      {exp_dir}/models   (net_g / net_featd / net_lpp, no CLIP weights inside)
  training states:  {exp_dir}/training_states   (python sfd_arch/train.py -opt {opt_path} --auto_resume)
  log:              {logs[-1] if logs else exp_dir}
  visual results:   {exp_dir}/visualization
  tensorboard:      {tb_dir}

Note: the CLIP in this demo is a tiny RANDOM stand-in, so the discriminators judge meaningless features.
For real training put OpenAI's RN50.pt in experiments/pretrained_models/clip/ (or set
`clip: {{model: RN50, pretrained: /path/to/RN50.pt}}`) and use options/train_sfd_x4.yml.''')
    return 0


if __name__ == '__main__':
    sys.exit(main())
