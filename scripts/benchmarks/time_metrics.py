"""Seconds per image of the SR evaluation metrics (LPIPS, DISTS, FID features, NIQE) and of the Fréchet distance.

    python scripts/benchmarks/time_metrics.py                     # 512x512, CPU, 3 timed images after one warm-up
    python scripts/benchmarks/time_metrics.py --device cuda --repeats 10

Random stand-in weights under the published names are written to a temporary folder (the speed does not depend
on the weights), so this runs anywhere, offline. Each metric's network is built once, in the warm-up call, as in
a test run. The Fréchet distance is timed once: it is computed once per dataset, not per image. NIQE (BasicSR's,
CPU only) is timed as the package leaves it once BasicSR is imported (its gamma table built once) and with
BasicSR's own AGGD fit.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable

os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def seconds_per_call(fn: Callable[[], object], repeats: int) -> float:
    fn()  # builds the network (cached) and warms up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=512, help='square image side in pixels (default 512)')
    parser.add_argument('--repeats', type=int, default=3, help='timed calls per metric after a warm-up (default 3)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (default cpu)")
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch default)')
    parser.add_argument('--dims', type=int, default=2048, help='Inception feature size of the Fréchet distance')
    args = parser.parse_args(argv)
    import numpy as np  # after --help and argument errors
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from sfd_arch.metrics import calculate_dists, calculate_lpips, frechet_distance, inception_features
    from sfd_arch.metrics.standins import write_stand_in_weights

    rng = np.random.default_rng(0)
    sr, hr = (rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8) for _ in range(2))
    device = args.device
    with tempfile.TemporaryDirectory() as folder:
        paths = {osp.basename(p): p for p in write_stand_in_weights(folder)}
        alex, vgg = paths['alexnet-owt-7be5be79.pth'], paths['vgg16-397923af.pth']
        inception = paths['pt_inception-2015-12-05-6726825d.pth']
        rows = [
            ('LPIPS (alex)', 'alexnet-owt-7be5be79.pth + lpips_v0.1_alex.pth', lambda: calculate_lpips(
                sr, hr, net='alex', backbone_path=alex, head_path=paths['lpips_v0.1_alex.pth'], device=device)),
            ('LPIPS (vgg)', 'vgg16-397923af.pth + lpips_v0.1_vgg.pth', lambda: calculate_lpips(
                sr, hr, net='vgg', backbone_path=vgg, head_path=paths['lpips_v0.1_vgg.pth'], device=device)),
            ('DISTS', 'vgg16-397923af.pth + dists_alpha_beta.pt', lambda: calculate_dists(
                sr, hr, backbone_path=vgg, alpha_beta_path=paths['dists_alpha_beta.pt'], device=device)),
            ('FID/KID features (SR and HR)', 'pt_inception-2015-12-05-6726825d.pth', lambda: [
                inception_features([img], inception_path=inception, device=device) for img in (sr, hr)]),
        ]
        import basicsr.metrics.niqe as niqe

        def basicsr_niqe():
            cached = niqe.estimate_aggd_param
            niqe.estimate_aggd_param = cached._basicsr
            try:
                return niqe.calculate_niqe(sr, crop_border=0)
            finally:
                niqe.estimate_aggd_param = cached

        rows += [('NIQE (CPU; gamma table built once, as sfd_arch leaves it)', '-',
                  lambda: niqe.calculate_niqe(sr, crop_border=0)),
                 ("NIQE (CPU; BasicSR's own AGGD fit)", '-', basicsr_niqe)]
        print(f'{args.size}x{args.size} image pair, device {device}, {torch.get_num_threads()} torch thread(s), '
              f'{args.repeats} timed call(s) after a warm-up')
        print("| metric | weight files | s per image |\n| --- | --- | ---: |")
        for name, files, fn in rows:
            print(f'| {name} | {files} | {seconds_per_call(fn, args.repeats):.3f} |', flush=True)
    feats = [rng.standard_normal((4 * args.dims, args.dims)) for _ in range(2)]
    stats = [(f.mean(0), np.cov(f, rowvar=False)) for f in feats]
    start = time.perf_counter()
    frechet_distance(*stats[0], *stats[1])
    print(f'| Fréchet distance, {args.dims}-d, once per dataset | - | {time.perf_counter() - start:.3f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
