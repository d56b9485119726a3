"""Seconds per image of SFD-IQA (full-size CLIP, random weights: the speed is the same) and BasicSR's NIQE.

    python scripts/benchmarks/time_iqa.py                      # 512x384, RN50, CPU, 5 images after one warm-up image
    python scripts/benchmarks/time_iqa.py --device cuda --images 20

Both metrics score the same synthetic images (smooth content plus mild noise) in one run.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _import_the_work() -> None:
    """torch and the package, imported once the command line is parsed: ``--help`` and argument errors
    answer at once. The names are this module's globals, as top-level imports would make them."""
    global cv2, np, torch, FeatD, PromptLearner, build_clip, SFDIQA, tile_boxes
    import cv2
    import numpy as np
    import torch

    from sfd_arch import FeatD, PromptLearner, build_clip
    from sfd_arch.iqa import SFDIQA, tile_boxes


def synthetic_images(n: int, width: int, height: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        low = rng.random((height // 16, width // 16, 3)).astype(np.float32)
        img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC) * 255
        img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
        images.append(img)  # treated as RGB by SFD-IQA and as BGR by NIQE: same pixels, the order does not matter
    return images


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', type=int, default=5)
    p.add_argument('--size', default='512x384', help='WxH')
    p.add_argument('--model', default='RN50')
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--skip-niqe', action='store_true')
    args = p.parse_args()
    _import_the_work()
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split('x'))

    torch.manual_seed(0)
    clip = build_clip({'model': args.model, 'pretrained': None})
    scorer = SFDIQA(clip, FeatD(clip=clip), PromptLearner(clip=clip), tile=args.tile, batch_size=args.batch_size,
                    device=args.device)
    scorer.to(args.device)
    images = synthetic_images(args.images + 1, width, height)
    scorer.score_arrays(images[:1])  # warm-up: allocator, kernels, text features
    if args.device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for img in images[1:]:
        scorer.score_arrays([img])
    sfd = (time.perf_counter() - start) / args.images
    tiles = len(tile_boxes(height, width, args.tile))
    print(f'device {args.device} ({torch.get_num_threads()} CPU threads), {args.images} images of {width}x{height}')
    print(f'SFD-IQA ({args.model}, tile {args.tile}: {tiles} crops/image): {sfd:.3f} s/image')

    if not args.skip_niqe:
        from basicsr.metrics.niqe import calculate_niqe

        calculate_niqe(images[0].astype(np.float32), crop_border=0)
        start = time.perf_counter()
        for img in images[1:]:
            calculate_niqe(img.astype(np.float32), crop_border=0)
        niqe = (time.perf_counter() - start) / args.images
        print(f'BasicSR calculate_niqe (CPU, NumPy): {niqe:.3f} s/image')


if __name__ == '__main__':
    main()
