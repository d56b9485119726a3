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
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # the demo runs the checkout it sits in
os.environ.setdefault('HF_HUB_OFFLINE', '1')  # before anything imports huggingface_hub

from sfd_arch.tools.demo import (  # noqa: E402
    LADDER_PHOTOS,
    NAME,
    OPT,
    OUT,
    PSNR_NAME,
    PSNR_OPT,
    STAND_IN,
    TEST_OPT,
    TRAIN_PHOTOS,
    VAL_PHOTOS,
    WEIGHTS,
    build_dataset,
    build_ladder,
    check_export,
    correlation_table,
    default_threads,
    logged_validation,
    plot_ladder_images,
    plot_ladder_scores,
    previous_outputs,
    run_training,
    score_ladder,
    sr_sfd_iqa,
    stage_option,
    write_csv,
)
from sfd_arch.tools.demo_report import (  # noqa: E402
    HEADERS,
    channel_shift,
    quality_targets,
    results_table,
    sr_paths,
    stand_in_metrics,
    targets_text,
    time_target,
)

LABELS = {'bicubic': 'bicubic', 'stage1': 'PSNR_stage1', 'sfd': 'SFD_demo'}


def final_comparison(checkpoints: dict[str, str]) -> dict:
    """Step 7: the compare engine's report (table, PD plot, visual comparison, report.html) of bicubic, the stage-1
    model and SFD on the held-out photos.

    LPIPS runs on a random stand-in AlexNet and random heads written under the published names in
    ``demo_output/pretrained_models`` (the option file points there, so a user's real files are never shadowed);
    the report marks them as stand-ins."""
    from sfd_arch.eval.compare import run_compare
    from sfd_arch.metrics.standins import write_stand_in_weights

    write_stand_in_weights(osp.join(OUT, 'pretrained_models'), ['lpips'])
    models = {LABELS['bicubic']: 'bicubic', LABELS['stage1']: checkpoints['stage1'], LABELS['sfd']: checkpoints['sfd']}
    return run_compare(TEST_OPT, models, osp.join(OUT, 'compare'), device='cpu', pd_metric='sfd_iqa')


def results(out: dict, data_root: str, times: dict[str, tuple[float, float]]) -> str:
    """The printed table of the comparison and the demo's targets with their verdicts."""
    means = out['means']['demo_val']
    metrics = [m for m in out['metrics'] if m in HEADERS]
    table = results_table(means, list(LABELS.values()), metrics, stand_in_metrics(out['weights']))
    hr = [osp.join(data_root, 'val', 'HR', f'{p}.png') for p in VAL_PHOTOS]
    compare_dir = osp.join(OUT, 'compare')
    shifts = {m: channel_shift(sr_paths(compare_dir, m, 'demo_val', VAL_PHOTOS), hr) for m in LABELS.values()}
    targets = quality_targets(means, LABELS['bicubic'], LABELS['stage1'], LABELS['sfd'], shifts)
    if 'stage 1' in times:  # a --keep run trains nothing: its time says nothing about make demo
        targets.append(time_target(sum(w for w, _ in times.values()), sum(c for _, c in times.values())))
    stages = '\n'.join(f'  {name:<18}{wall:6.0f} s wall {cpu:6.0f} s CPU' for name, (wall, cpu) in times.items())
    return (f'Held-out photos ({", ".join(VAL_PHOTOS)}), mean over the {len(VAL_PHOTOS)} photos; PSNR and SSIM '
            f'on Y, border 4.\n{LABELS["stage1"]}: stage 1 (L1 only); {LABELS["sfd"]}: SFD from it. '
            'LPIPS [stand-in]: random AlexNet and heads.\nSFD-IQA [random CLIP]: this run\'s Feat-D and LPP on the '
            f'random CLIP.\n\n{table}\n\nTime of each stage (this machine; CPU = user + system of all threads):\n'
            f'{stages}\n\nTargets:\n{targets_text(targets)}')


def clear_previous() -> None:
    """A second `make demo` replaces the first: say what goes before it goes."""
    old = previous_outputs()
    if old:
        print('Replacing the previous demo run; removing:', flush=True)
    for path in old:
        print(f'  {path}', flush=True)
        shutil.rmtree(path)


def train_stages(args: argparse.Namespace, times: dict[str, tuple[float, float]], stamp) -> int:
    """Stage 1 (pixel loss only) then stage 2 (SFD from stage 1's net_g), each timed."""
    stages = (('stage 1', PSNR_OPT, PSNR_NAME, args.psnr_iters, 'SRModel, MSRResNet, L1 loss only'),
              ('stage 2', OPT, NAME, args.iters, "SFDModel from stage 1's net_g"))
    for n, (stage, opt_file, name, iters, what) in enumerate(stages, start=2):
        opt_path = stage_option(opt_file, OUT, iters)
        print(f'[{n}/7] Training {stage} ({what}) on CPU, {args.threads} thread(s): '
              f'python sfd_arch/train.py -opt {opt_path}', flush=True)
        code, wall, cpu = run_training(opt_path, args.threads, REPO)
        if code != 0:
            print(f'error: training failed (exit {code}); the log is in experiments/{name}', file=sys.stderr)
            return code
        times[stage] = (wall, cpu)
        print(f'      {stage} done: {wall:.0f} s wall, {cpu:.0f} s CPU  {stamp()}', flush=True)
    return 0


def where(made: list[str], data_root: str) -> str:
    """Where the demo put its outputs, and what its numbers can and cannot say."""
    exp_dir, ladder_dir = osp.join('experiments', NAME), osp.join(OUT, 'ladder')
    figures = '\n'.join(('' if i == 0 else ' ' * 20) + p for i, p in enumerate(made))
    return f'''Where everything is
  data:             {data_root}
  checkpoints:      experiments/{PSNR_NAME}/models (stage 1); {exp_dir}/models (stage 2: net_g, net_featd,
                    net_lpp; no CLIP weights inside)
  training log:     {exp_dir}/train_{NAME}_*.log   (acc_featd_*, p_pos_*: the discriminators learning)
  tensorboard:      {osp.join('tb_logger', NAME)}
  SFD-IQA weights:  {WEIGHTS}   (sfd-iqa score {ladder_dir} -w {WEIGHTS} --csv scores.csv)
  ladder scores:    {OUT}/ladder_scores.csv
  figures:          {figures}

Note: the CLIP in this demo is a {STAND_IN}.
Feat-D and LPP learn to tell HR from the generator's smooth output on its random features, so SFD-IQA ranks
blur well but calls noise "detail"; it has never seen noise or JPEG. The generator is a small MSRResNet, not
the paper's RRDBNet (a tiny RRDBNet from random weights stays below bicubic with a colour cast in this budget).
For real training put OpenAI's RN50.pt in experiments/pretrained_models/clip/ and use options/train_sfd_x4.yml.'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=None, help='override stage 2 (SFD) train.total_iter')
    parser.add_argument('--psnr-iters', type=int, default=None, help='override stage 1 (PSNR) train.total_iter')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads for training and scoring (default 1: the printed numbers depend on it)')
    parser.add_argument('--keep', action='store_true',
                        help='reuse the data and trained models of a previous demo run: only export, score and plot')
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    threads, why = (args.threads, 'set by --threads') if args.threads else default_threads()
    args.threads = threads
    start, cpu_start = time.time(), time.process_time()
    os.chdir(REPO)
    import torch

    import sfd_arch  # noqa: F401  (makes basicsr importable before the helpers above use it)

    torch.set_num_threads(args.threads)

    def stamp() -> str:
        return f'[{time.time() - start:5.0f} s]'

    print(f'SFD demo on CPU, {threads} thread(s) ({why}). The CLIP is a {STAND_IN}.', flush=True)
    exp_dir = osp.join('experiments', NAME)
    data_root, figures, ladder_dir = osp.join(OUT, 'datasets'), osp.join(OUT, 'figures'), osp.join(OUT, 'ladder')
    checkpoints = {'stage1': osp.join('experiments', PSNR_NAME, 'models', 'net_g_latest.pth'),
                   'sfd': osp.join(exp_dir, 'models', 'net_g_latest.pth')}
    times: dict[str, tuple[float, float]] = {}
    if args.keep and not all(osp.isfile(p) for p in checkpoints.values()):
        print('error: --keep needs a finished demo run (both stages); run without --keep', file=sys.stderr)
        return 2
    if not args.keep:
        clear_previous()
        print(f'[1/7] Building the demo dataset from scikit-image photographs in {data_root} ...', flush=True)
        n_train, n_val = build_dataset(data_root)
        print(f'      {n_train} training pairs (128 px HR crops of {len(TRAIN_PHOTOS)} photos), {n_val} held-out '
              f'photos ({", ".join(VAL_PHOTOS)})  {stamp()}', flush=True)
        times['start + data'] = (time.time() - start, time.process_time() - cpu_start)
        code = train_stages(args, times, stamp)
        if code != 0:
            return code
    os.makedirs(figures, exist_ok=True)
    wall0, cpu0 = time.time(), time.process_time()

    print(f'[4/7] Exporting SFD-IQA from the run: sfd-iqa export {exp_dir} -o {WEIGHTS}', flush=True)
    from sfd_arch.iqa.export import export_experiment

    payload = export_experiment(exp_dir, WEIGHTS, overwrite=True)
    clip = payload['clip']
    print(f"      CLIP recorded in the file: {clip['model']}, pretrained={clip['pretrained']}, seed={clip['seed']}, "
          f"taps {clip['layers']} (iteration {payload['source'].get('iteration')})", flush=True)

    print(f'[5/7] Scoring the quality ladder of {" and ".join(LADDER_PHOTOS)} ({ladder_dir}) with SFD-IQA and NIQE',
          flush=True)
    shutil.rmtree(ladder_dir, ignore_errors=True)
    rungs = build_ladder(data_root, exp_dir, ladder_dir)
    score_ladder(rungs, WEIGHTS)
    write_csv(rungs, osp.join(OUT, 'ladder_scores.csv'))
    logged = logged_validation(exp_dir)
    print(f'      {len(rungs)} images scored  {stamp()}', flush=True)
    print(f'      {check_export(sr_sfd_iqa(exp_dir, WEIGHTS), logged)}', flush=True)

    print('[6/7] Does SFD-IQA follow the distortion level?', flush=True)
    table, means = correlation_table(rungs)
    print('\n' + table + '\n', flush=True)
    made = [plot_ladder_scores(rungs, means, osp.join(figures, 'ladder_scores.png')),
            plot_ladder_images(rungs, LADDER_PHOTOS[0], osp.join(figures, f'ladder_{LADDER_PHOTOS[0]}.png'))]
    times['export + ladder'] = (time.time() - wall0, time.process_time() - cpu0)
    wall0, cpu0 = time.time(), time.process_time()

    print('[7/7] Bicubic vs stage 1 vs SFD vs HR on the held-out photos (the compare engine)', flush=True)
    out = final_comparison(checkpoints)
    made += [str(out[k]) for k in ('table_md', 'pd_png', 'report_md') if out.get(k)] + [str(p) for p in out['visual']]
    times['comparison'] = (time.time() - wall0, time.process_time() - cpu0)
    print(f'\n{where(made, data_root)}\n\n{results(out, data_root, times)}', flush=True)
    print(f"\nReport: {osp.abspath(out['report_html'])}", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
