#!/usr/bin/env python
"""The embedded demo behind `make demo`: the recipe a user follows, on CPU, offline, in under three minutes.

1. Data: a small paired x4 dataset from photographs that ship inside scikit-image (128 px sub-images of ten
   training photos; LR made with BasicSR's MATLAB-like bicubic ``imresize``) under ``demo_output/datasets``.
   Four other photos are held out for the comparison and the quality ladder.
2. Stage 1: BasicSR's ``SRModel`` trains a small MSRResNet with the L1 loss alone
   (``options/demo/train_psnr_demo.yml``), the PSNR-oriented start that ESRGAN's recipe also uses.
3. Stage 2, from stage 1's ``net_g``: ``SFDModel`` (``options/demo/train_sfd_demo.yml``, tiny random CLIP, no
   VGG) and, side by side with it on the other core, ESRGAN's ``ESRGANModel`` with the same data, iterations and
   loss weights and an image discriminator (``options/demo/train_esrgan_demo.yml``; ``--no-esrgan`` skips it).
   SFD's log shows the game: ``acc_featd_real`` / ``acc_featd_fake`` (share of HR / SR positions Feat-D gets
   right) and ``p_pos_real`` / ``p_pos_fake`` (TG-D's positive-prompt probability).
4. SFD-IQA: the run's own Feat-D and LPP exported to one weights file (``sfd-iqa export``), then checked in
   this process against the SFD-IQA the training process logged for the same images (same random CLIP).
5. A quality ladder of two held-out photos: HR, the SFD model's SR, bicubic x4, Gaussian blur, Gaussian noise and
   JPEG at 4 levels each, scored by SFD-IQA and by BasicSR's NIQE.
6. The Spearman correlation between distortion level and score, per distortion; figures of the ladder and its
   scores.
7. The comparison of bicubic, stage 1, SFD and ESRGAN with HR by the compare engine (as ``scripts/compare.py``):
   table, PD plot, visual comparison, ``report.html`` (LPIPS on random stand-in weights, marked as such), then
   the demo's targets with a verdict.

Training runs in child processes, one thread each by default (``--threads``), as ``sfd_arch/train.py`` is run
by hand; each prints to ``demo_output/logs/<run name>.console.txt``, so the demo's console shows its steps, tables
and targets (the steps are in ``sfd_arch.tools.demo_steps``). The CLIP here is a tiny random stand-in for RN50:
the numbers show that the pipeline works and that the discriminators learn something, not what SFD achieves
with real CLIP weights.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

STARTED = time.time()  # before the imports below (torch, basicsr: about 10 s here), which the demo's time includes
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # the demo runs the checkout it sits in
os.environ.setdefault('HF_HUB_OFFLINE', '1')  # before anything imports huggingface_hub

from sfd_arch.tools.demo import (  # noqa: E402
    ESRGAN_NAME,
    NAME,
    OUT,
    PSNR_NAME,
    STAND_IN,
    TRAIN_PHOTOS,
    VAL_PHOTOS,
    Training,
    build_dataset,
    default_threads,
    stop_on_exit,
)
from sfd_arch.tools.demo_report import Stage  # noqa: E402
from sfd_arch.tools.demo_steps import (  # noqa: E402
    clear_previous,
    final_comparison,
    finish_stage2,
    ladder_steps,
    results,
    spent,
    start_stage2,
    train_stage1,
    where,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=None,
                        help='override stage 2 train.total_iter (SFD, and ESRGAN beside it)')
    parser.add_argument('--psnr-iters', type=int, default=None, help='override stage 1 (PSNR) train.total_iter')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads for training and scoring (default 1 per training process: the printed '
                        "numbers depend on it); stage 2's two runs side by side share them, one each at least")
    parser.add_argument('--no-esrgan', dest='esrgan', action='store_false',
                        help="skip ESRGAN's side-by-side run in stage 2 (its image discriminator from the same start)")
    parser.add_argument('--keep', action='store_true',
                        help='reuse the data and trained models of a previous demo run: only export, score and plot')
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    threads, why = (args.threads, 'set by --threads') if args.threads else default_threads()
    args.threads = threads
    os.chdir(REPO)
    import torch

    import sfd_arch  # noqa: F401  (makes basicsr importable before the helpers above use it)

    torch.set_num_threads(args.threads)

    def stamp() -> str:
        return f'[{time.time() - STARTED:5.0f} s]'

    print(f'SFD demo on CPU, {threads} thread(s) ({why}). The CLIP is a {STAND_IN}.', flush=True)
    data_root = osp.join(OUT, 'datasets')
    checkpoints = {'stage1': osp.join('experiments', PSNR_NAME, 'models', 'net_g_latest.pth'),
                   'sfd': osp.join('experiments', NAME, 'models', 'net_g_latest.pth')}
    if args.esrgan:  # the comparison takes ESRGAN when its checkpoint is there (a --keep run: when it was trained)
        checkpoints['esrgan'] = osp.join('experiments', ESRGAN_NAME, 'models', 'net_g_latest.pth')
    stages: list[Stage] = []
    runs: dict[str, Training] = {}
    if args.keep and not all(osp.isfile(checkpoints[k]) for k in ('stage1', 'sfd')):
        print('error: --keep needs a finished demo run (both stages); run without --keep', file=sys.stderr)
        return 2
    if not args.keep:
        clear_previous()
        print(f'[1/7] Building the demo dataset from scikit-image photographs in {data_root} ...', flush=True)
        n_train, n_val = build_dataset(data_root)
        print(f'      {n_train} training pairs (128 px HR crops of {len(TRAIN_PHOTOS)} photos), {n_val} held-out '
              f'photos ({", ".join(VAL_PHOTOS)})  {stamp()}', flush=True)
        stages.append(Stage('start + data', time.time() - STARTED, time.process_time()))
        code = train_stage1(args.psnr_iters, args.threads, REPO, stages, stamp)
        if code != 0:
            return code
        runs = start_stage2(args.iters, args.threads, args.esrgan, REPO)
    with stop_on_exit(runs):  # ESRGAN goes on beside the ladder; nothing is left running if the demo stops
        if 'SFD' in runs:
            sfd = finish_stage2('SFD', runs['SFD'], stamp)
            if sfd is None:
                return 1
            stages.append(sfd)
        wall0, cpu0 = time.time(), time.process_time()
        made = ladder_steps(data_root, stamp)
        stages.append(spent('export + ladder', wall0, cpu0))
        for key in [k for k in runs if k != 'SFD']:
            stage = finish_stage2(key, runs[key], stamp)
            if stage is None:
                return 1
            stages.append(stage)

    wall0, cpu0 = time.time(), time.process_time()
    out = final_comparison(checkpoints)
    made += [str(p) for p in (out.table_md, out.pd_png, out.report_md) if p] + [str(p) for p in out.visual]
    stages.append(spent('comparison', wall0, cpu0))
    print(f'\n{where(made, data_root)}\n\n{results(out, data_root, stages, time.time() - STARTED)}', flush=True)
    print(f'\nReport: {osp.abspath(out.report_html)}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
