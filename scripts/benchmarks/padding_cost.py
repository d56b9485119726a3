"""What ``sfd-iqa score``'s batching costs on a folder of mixed sizes: crops through CLIP, forward passes, seconds.

    python scripts/benchmarks/padding_cost.py                   # 16 images of 16 sizes, RN50 (random), CPU
    python scripts/benchmarks/padding_cost.py --images 32 --sizes 8 --device cuda

Three ways over the same PNG files (smooth content plus grain, written to a temporary folder):

* ``score``: as ``sfd-iqa score`` batches (one process or torchrun alike): fixed windows of ``--batch-size``
  inputs, crops of one size share a batch, nothing padded (``SFDIQA.iter_files(group=batch_size)``);
* ``unpadded``: every image alone (``group=1``): its crops and nothing else, the reference cost;
* ``padded``: the crops the earlier design forwarded, which filled every batch up to ``--batch-size`` with
  zeros (counted from the same windows, not run).

The verdict line gives score / unpadded for crops and seconds (target: at most 1.2x).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import tempfile
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

TARGET = 1.2


def _import_the_work() -> None:
    """torch and the package, imported once the command line is parsed: ``--help`` and argument errors
    answer at once. The names are this module's globals, as top-level imports would make them."""
    global cv2, np, torch, FeatD, PromptLearner, build_clip, SFDIQA, tile_boxes
    import cv2
    import numpy as np
    import torch

    from sfd_arch import FeatD, PromptLearner, build_clip
    from sfd_arch.iqa import SFDIQA, tile_boxes


def mixed_sizes(n_images: int, n_sizes: int, seed: int = 0) -> list[tuple[int, int]]:
    """``n_images`` (height, width) pairs cycling over ``n_sizes`` distinct sizes between 64 and 320 px."""
    rng = np.random.default_rng(seed)
    sizes: list[tuple[int, int]] = []
    while len(sizes) < n_sizes:
        size = (int(rng.integers(64, 321)), int(rng.integers(64, 321)))
        if size not in sizes:
            sizes.append(size)
    return [sizes[i % n_sizes] for i in range(n_images)]


def write_folder(root: str, sizes: list[tuple[int, int]], seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for i, (h, w) in enumerate(sizes):
        low = rng.random((max(h // 16, 2), max(w // 16, 2), 3)).astype(np.float32)
        img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * 255
        img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
        paths.append(osp.join(root, f'img{i:03d}.png'))
        cv2.imwrite(paths[-1], img)
    return paths


def padded_crops(sizes: list[tuple[int, int]], tile: int, batch: int) -> int:
    """Crops the zero-padding design forwarded: per window of ``batch`` inputs, every size group rounded up to
    whole batches of ``batch``."""
    total = 0
    for start in range(0, len(sizes), batch):
        groups: dict[tuple[int, int], int] = {}
        for h, w in sizes[start:start + batch]:
            for box in tile_boxes(h, w, tile):
                groups[box[2:]] = groups.get(box[2:], 0) + 1
        total += sum(-(-n // batch) * batch for n in groups.values())
    return total


def run(scorer: SFDIQA, paths: list[str], group: int) -> tuple[int, int, float]:
    """(crops forwarded, forward passes, seconds) of scoring ``paths`` in windows of ``group`` inputs."""
    scorer.forwarded = scorer.passes = 0
    if scorer.device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    results = list(scorer.iter_files(paths, workers=0, group=group))
    if scorer.device.type == 'cuda':
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise SystemExit(f'scoring failed: {bad[0]}')
    return scorer.forwarded, scorer.passes, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', type=int, default=16)
    p.add_argument('--sizes', type=int, default=16, help='distinct image sizes among them')
    p.add_argument('--model', default='RN50')
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument('--repeats', type=int, default=2, help='timed runs of each way (the fastest is reported)')
    args = p.parse_args()
    _import_the_work()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clip = build_clip({'model': args.model, 'pretrained': None})
    scorer = SFDIQA(clip, FeatD(clip=clip), PromptLearner(clip=clip), tile=args.tile, batch_size=args.batch_size,
                    device=args.device)
    scorer.to(args.device)
    sizes = mixed_sizes(args.images, min(args.sizes, args.images))
    with tempfile.TemporaryDirectory() as root:
        paths = write_folder(root, sizes)
        run(scorer, paths[:2], 1)  # warm-up: allocator, kernels, text features
        measured = {}
        for name, group in (('score', args.batch_size), ('unpadded', 1)):
            runs = [run(scorer, paths, group) for _ in range(max(1, args.repeats))]
            measured[name] = min(runs, key=lambda r: r[2])
    crops = sum(len(tile_boxes(h, w, args.tile)) for h, w in sizes)
    print(f'{args.images} images of {len(set(sizes))} sizes, {crops} crops, {args.model} on {args.device}, '
          f'batch size {args.batch_size}')
    print(f'{"way":10s} {"crops":>7s} {"passes":>7s} {"seconds":>9s}')
    for name, (forwarded, passes, seconds) in measured.items():
        print(f'{name:10s} {forwarded:7d} {passes:7d} {seconds:9.3f}')
    print(f'{"padded":10s} {padded_crops(sizes, args.tile, args.batch_size):7d} {"-":>7s} {"(not run)":>9s}')
    (f_score, _, t_score), (f_ref, _, t_ref) = measured['score'], measured['unpadded']
    ratio = f_score / f_ref
    verdict = 'PASS' if ratio <= TARGET else 'FAIL'
    print(f'score / unpadded: {ratio:.2f}x crops, {t_score / t_ref:.2f}x seconds (target <= {TARGET}x crops): '
          f'{verdict}')


if __name__ == '__main__':
    main()
