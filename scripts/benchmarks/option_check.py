#!/usr/bin/env python
"""How long the check before BasicSR starts takes on a DF2K-sized run, and what the image-file checks cost.

    python scripts/benchmarks/option_check.py                 # 140,000 LMDB entries, 800 validation pairs, limit 2 s
    python scripts/benchmarks/option_check.py --entries 20000 --val 100 --max-s 1

In a temporary work folder it writes what ``options/train_sfd_x4.yml`` reads after the tutorial's LMDB switch:
two fake DF2K sub-image LMDBs (``data.mdb`` empty, ``meta_info.txt`` with ``--entries`` lines each, 480 px GT and
120 px LQ, as ``scripts/data_preparation/prepare_data.py --lmdb`` records them), ``--val`` paired PNG files for
validation, the PSNR stage's RRDBNet checkpoint (64 features, 23 blocks, saved by this script) and the weight
files the check looks for (CLIP RN50, VGG19, LPIPS: stand-ins, only their presence is checked). Then it times
``check_option_file`` on that file in this process, as ``sfd_arch/train.py`` runs it after its imports: the first
call (what a user waits for) and the median of ``--runs`` more, in wall time and in CPU time (on a machine
shared with other work the wall time grows with the load; the CPU time is the check's own). The files are
freshly written, so they are in the page cache, as a second start of a run finds them.

Also printed: the per-image cost of the truncation check (``sfd_arch.utils.imagefiles.incomplete``) on a
512x384 JPEG and PNG held in memory, beside what decoding the same bytes costs, and of reading one image header.
The exit status is 1 when the first call takes more than ``--max-s`` seconds of CPU.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from pathlib import Path

# cv2, numpy, torch and BasicSR are imported in the functions that use them: --help answers at once
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's package, not an installed one

REPO = Path(__file__).resolve().parents[2]


def write_lmdb(folder: str, entries: int, size: int) -> None:
    os.makedirs(folder)
    open(osp.join(folder, 'data.mdb'), 'wb').close()
    with open(osp.join(folder, 'meta_info.txt'), 'w') as f:
        f.writelines(f'{i // 40 + 1:04d}_s{i % 40 + 1:03d}.png ({size},{size},3) 1\n' for i in range(entries))


def write_work_folder(root: str, entries: int, val: int) -> str:
    """The work folder of a DF2K LMDB run; returns the option file's path."""
    import cv2
    import numpy as np
    import torch
    import yaml
    from basicsr.archs.rrdbnet_arch import RRDBNet

    from sfd_arch.metrics.standins import write_stand_in_weights

    write_lmdb(osp.join(root, 'datasets/DF2K/DF2K_train_HR_sub.lmdb'), entries, 480)
    write_lmdb(osp.join(root, 'datasets/DF2K/DF2K_train_LR_bicubic_X4_sub.lmdb'), entries, 120)
    gt_dir, lq_dir = osp.join(root, 'datasets/val/GT'), osp.join(root, 'datasets/val/LR')
    os.makedirs(gt_dir)
    os.makedirs(lq_dir)
    rng = np.random.default_rng(0)
    for i in range(val):
        hr = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(gt_dir, f'{i:04d}.png'), hr)
        cv2.imwrite(osp.join(lq_dir, f'{i:04d}.png'), hr[::4, ::4])
    opt = yaml.safe_load((REPO / 'options' / 'train_sfd_x4.yml').read_text())
    train = opt['datasets']['train']
    train.update(dataroot_gt='datasets/DF2K/DF2K_train_HR_sub.lmdb', io_backend={'type': 'lmdb'},
                 dataroot_lq='datasets/DF2K/DF2K_train_LR_bicubic_X4_sub.lmdb')
    opt['datasets'] = {'train': train, 'val_1': dict(opt['datasets']['val_1'], name='val800', dataroot_gt=gt_dir,
                                                     dataroot_lq=lq_dir)}
    pretrained = osp.join(root, opt['path']['pretrain_network_g'])
    os.makedirs(osp.dirname(pretrained))
    torch.save({'params': RRDBNet(3, 3, num_feat=64, num_block=23).state_dict()}, pretrained)
    weights = osp.join(root, 'experiments', 'pretrained_models')
    os.makedirs(osp.join(weights, 'clip'))
    open(osp.join(weights, 'clip', 'RN50.pt'), 'wb').close()
    open(osp.join(weights, 'vgg19-dcbb9e9d.pth'), 'wb').close()
    write_stand_in_weights(weights, ['lpips'])
    path = osp.join(root, 'train_sfd_x4_lmdb.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


def per_image_costs() -> list[str]:
    import cv2
    import numpy as np

    from sfd_arch.utils.imagefiles import image_size, incomplete

    rng = np.random.default_rng(1)
    img = cv2.resize(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (512, 384), interpolation=cv2.INTER_CUBIC)
    lines = []
    for ext in ('.jpg', '.png'):
        data = cv2.imencode(ext, img)[1].tobytes()
        check = _median_us(lambda data=data: incomplete(data), 200)
        decode = _median_us(lambda data=data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), 20)
        lines.append(f'truncation check of a 512x384 {ext[1:].upper()} ({len(data) // 1024} KiB): {check:.1f} us '
                     f'per image (decoding it: {decode:.0f} us)')
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, 'x.png')
        cv2.imwrite(path, img)
        lines.append(f'image header (Pillow, no decode): {_median_us(lambda: image_size(path), 200):.0f} us per file')
    return lines


def _median_us(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--entries', type=int, default=140_000, help='meta_info.txt lines of each LMDB (default '
                                                                     '%(default)s: DF2K cut into 480 px sub-images)')
    parser.add_argument('--val', type=int, default=800, help='validation pairs (default %(default)s)')
    parser.add_argument('--runs', type=int, default=5, help='timed calls after the first (default %(default)s)')
    parser.add_argument('--max-s', type=float, default=2.0, help='limit on the first call (default %(default)s s)')
    args = parser.parse_args(argv)

    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import sfd_arch  # noqa: F401  (what train.py imports before it checks: not part of the check's time)
    from sfd_arch.options import check_option_file

    with tempfile.TemporaryDirectory() as root:
        path = write_work_folder(root, args.entries, args.val)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            argv_run = ['-opt', path]
            first = timed(lambda: check_option_file(path, argv=argv_run))
            again = [timed(lambda: check_option_file(path, argv=argv_run)) for _ in range(args.runs)]
        finally:
            os.chdir(cwd)
    wall, cpu = statistics.median(t[0] for t in again), statistics.median(t[1] for t in again)
    print(f'option check of train_sfd_x4.yml on LMDBs of {args.entries} entries + {args.val} validation pairs '
          f'({os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}):\n'
          f'  first call: {first[0]:.2f} s wall, {first[1]:.2f} s CPU\n'
          f'  median of {args.runs} more: {wall:.2f} s wall, {cpu:.2f} s CPU\n'
          f'  limit: {args.max_s:g} s of CPU for the first call (the wall time grows with other work on the machine)')
    for line in per_image_costs():
        print(line)
    return 0 if first[1] <= args.max_s else 1


def timed(func) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU is this process's, threads included."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == '__main__':
    sys.exit(main())
