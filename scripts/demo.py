#!/usr/bin/env python
"""The embedded demo behind `make demo`: the whole SFD story on CPU, offline, in a few minutes.

1. Data: a small paired x4 dataset from photographs that ship inside scikit-image (128 px sub-images of the
   training photos; LR made with BasicSR's MATLAB-like bicubic ``imresize``) under ``demo_output/datasets``.
   Four other photos are held out for validation and for the quality ladder.
2. Training: ``SFDModel`` with ``options/demo/train_sfd_demo.yml`` (small RRDBNet, tiny random CLIP, no VGG)
   through ``sfd_arch/train.py``. The log shows the game: ``acc_featd_real`` / ``acc_featd_fake`` (share of
   HR / SR positions Feat-D gets right) and ``p_pos_real`` / ``p_pos_fake`` (TG-D's positive-prompt probability).
3. SFD-IQA: the run's own Feat-D and LPP exported to one weights file (``sfd-iqa export``), then checked in
   this process against the SFD-IQA the training process logged for the same images (same random CLIP).
4. A quality ladder of each held-out photo: HR, the demo model's SR, bicubic x4, Gaussian blur, Gaussian
   noise and JPEG at 4 levels each, scored by SFD-IQA and by BasicSR's NIQE.
5. The Spearman correlation between distortion level and score, per distortion, for both metrics; figures of
   the ladder and its scores.
6. The comparison of bicubic, the demo model and HR: ``scripts/compare.py``'s table, PD plot and visual
   comparison (LPIPS on random stand-in weights, marked as such in the report).

The CLIP here is a tiny random stand-in for RN50: the numbers show that the pipeline works and that the
discriminators learn something, not what SFD achieves with real CLIP weights.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # the demo runs the checkout it sits in
os.environ.setdefault('HF_HUB_OFFLINE', '1')  # before anything imports huggingface_hub

from sfd_arch.tools.demo import (  # noqa: E402
    NAME,
    OPT,
    OUT,
    STAND_IN,
    TEST_OPT,
    TRAIN_PHOTOS,
    VAL_PHOTOS,
    WEIGHTS,
    build_dataset,
    build_ladder,
    check_export,
    correlation_table,
    logged_validation,
    plot_ladder_images,
    plot_ladder_scores,
    score_ladder,
    write_csv,
)


def train(opt_path: str, exp_dir: str, threads: int) -> int:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, osp.join('sfd_arch', 'train.py'), '-opt', opt_path], env=env)
    if proc.returncode != 0:
        print(f'error: training failed (exit {proc.returncode}); the log is in {exp_dir}', file=sys.stderr)
    return proc.returncode


def final_comparison() -> list[str]:
    """Step 6: scripts/compare.py's report (table, PD plot, visual comparison) of bicubic, the demo model and HR.

    LPIPS runs on a random stand-in AlexNet and random heads written under the published names in
    ``demo_output/pretrained_models`` (the option file points there, so a user's real files are never shadowed);
    the report marks them as stand-ins."""
    from sfd_arch.eval.compare import run_compare
    from sfd_arch.metrics.standins import write_stand_in_weights

    write_stand_in_weights(osp.join(OUT, 'pretrained_models'), ['lpips'])
    ckpt = osp.join('experiments', NAME, 'models', 'net_g_latest.pth')
    report_dir = osp.join(OUT, 'compare')
    out = run_compare(TEST_OPT, {'bicubic': 'bicubic', 'SFD_demo': ckpt}, report_dir, device='cpu',
                      pd_metric='sfd_iqa_random_clip',
                      command=f'python scripts/compare.py -opt {TEST_OPT} --model bicubic '
                              f'--model SFD_demo={ckpt} -o {report_dir} --pd sfd_iqa_random_clip')
    return [str(p) for key, p in out.items() if key in ('table_md', 'pd_png', 'report_md')]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=None, help='override train.total_iter (default: the option file)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads for training and scoring (default 1: these networks are tiny, and on a busy '
                             '2-core machine one thread ran 300 iterations in about 1 minute where two took over 10)')
    parser.add_argument('--keep', action='store_true',
                        help='reuse the data and trained model of a previous demo run: only export, score and plot')
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error('--threads must be >= 1')
    start = time.time()
    os.chdir(REPO)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch

    import sfd_arch  # noqa: F401  (makes basicsr importable before the helpers above use it)

    torch.set_num_threads(args.threads)

    def stamp() -> str:
        return f'[{time.time() - start:5.0f} s]'

    print(f'SFD demo on CPU. The CLIP is a {STAND_IN}.', flush=True)
    exp_dir, tb_dir = osp.join('experiments', NAME), osp.join('tb_logger', NAME)
    data_root, figures, ladder_dir = osp.join(OUT, 'datasets'), osp.join(OUT, 'figures'), osp.join(OUT, 'ladder')
    trained = osp.isfile(osp.join(exp_dir, 'models', 'net_g_latest.pth'))
    if args.keep and not trained:
        print(f'error: --keep needs a finished demo run in {exp_dir}; run without --keep', file=sys.stderr)
        return 2
    if not args.keep:
        for path in (OUT, exp_dir, tb_dir):
            shutil.rmtree(path, ignore_errors=True)
        print(f'[1/6] Building the demo dataset from scikit-image photographs in {data_root} ...', flush=True)
        n_train, n_val = build_dataset(data_root)
        print(f'      {n_train} training pairs (128 px HR crops of {len(TRAIN_PHOTOS)} photos), {n_val} held-out '
              f'photos ({", ".join(VAL_PHOTOS)})  {stamp()}', flush=True)

        opt_path = OPT
        if args.iters:
            import yaml

            with open(OPT) as f:
                opt = yaml.safe_load(f)
            opt['train']['total_iter'] = opt['logger']['save_checkpoint_freq'] = args.iters
            os.makedirs(OUT, exist_ok=True)
            opt_path = osp.join(OUT, 'train_sfd_demo.yml')
            with open(opt_path, 'w') as f:
                yaml.safe_dump(opt, f, sort_keys=False)
        print(f'[2/6] Training SFDModel on CPU: python sfd_arch/train.py -opt {opt_path}', flush=True)
        code = train(opt_path, exp_dir, args.threads)
        if code != 0:
            return code
        print(f'      done  {stamp()}', flush=True)
    os.makedirs(figures, exist_ok=True)

    print(f'[3/6] Exporting SFD-IQA from the run: sfd-iqa export {exp_dir} -o {WEIGHTS}', flush=True)
    from sfd_arch.iqa.export import export_experiment

    payload = export_experiment(exp_dir, WEIGHTS, overwrite=True)
    clip = payload['clip']
    print(f"      CLIP recorded in the file: {clip['model']}, pretrained={clip['pretrained']}, seed={clip['seed']}, "
          f"taps {clip['layers']} (iteration {payload['source'].get('iteration')})", flush=True)

    print(f'[4/6] Scoring the quality ladder of the held-out photos ({ladder_dir}) with SFD-IQA and NIQE ...',
          flush=True)
    shutil.rmtree(ladder_dir, ignore_errors=True)
    rungs = build_ladder(data_root, exp_dir, ladder_dir)
    score_ladder(rungs, WEIGHTS)
    write_csv(rungs, osp.join(OUT, 'ladder_scores.csv'))
    logged = logged_validation(exp_dir)
    print(f'      {len(rungs)} images scored  {stamp()}', flush=True)
    print(f'      {check_export(rungs, logged)}', flush=True)

    print('[5/6] Does SFD-IQA follow the distortion level?', flush=True)
    table, means = correlation_table(rungs)
    print('\n' + table + '\n', flush=True)
    made = [plot_ladder_scores(rungs, means, osp.join(figures, 'ladder_scores.png')),
            plot_ladder_images(rungs, VAL_PHOTOS[0], osp.join(figures, f'ladder_{VAL_PHOTOS[0]}.png'))]

    print('[6/6] Bicubic vs the demo model vs HR', flush=True)
    made += final_comparison()
    wall = time.time() - start
    print(f'''
Where everything is
  data:             {data_root}
  checkpoints:      {exp_dir}/models   (net_g / net_featd / net_lpp, no CLIP weights inside)
  training log:     {exp_dir}/train_{NAME}_*.log   (acc_featd_*, p_pos_*: the discriminators learning)
  tensorboard:      {tb_dir}
  SFD-IQA weights:  {WEIGHTS}   (sfd-iqa score {ladder_dir} -w {WEIGHTS} --csv scores.csv)
  ladder scores:    {OUT}/ladder_scores.csv
  figures:          {chr(10).join(('' if i == 0 else ' ' * 20) + p for i, p in enumerate(made))}

Validation of the demo model: PSNR (Y) {logged.get('psnr', float('nan')):.2f} dB on the held-out photos.
Wall time of this demo: {wall:.0f} s.

Note: the CLIP in this demo is a {STAND_IN}.
Feat-D and LPP learn to tell HR from the generator's smooth output on its random features, so SFD-IQA ranks
blur well but calls noise "detail"; it has never seen noise or JPEG. For real training put OpenAI's RN50.pt in
experiments/pretrained_models/clip/ (or set `clip: {{model: RN50, pretrained: /path/to/RN50.pt}}`)
and use options/train_sfd_x4.yml.''')
    return 0


if __name__ == '__main__':
    sys.exit(main())
