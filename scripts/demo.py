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
by hand. The CLIP here is a tiny random stand-in for RN50: the numbers show that the pipeline works and that the
discriminators learn something, not what SFD achieves with real CLIP weights.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import sys
import time

STARTED = time.time()  # before the imports below (torch, basicsr: about 10 s here), which the demo's time includes
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # the demo runs the checkout it sits in
os.environ.setdefault('HF_HUB_OFFLINE', '1')  # before anything imports huggingface_hub

from sfd_arch.tools.demo import (  # noqa: E402
    ESRGAN_NAME,
    ESRGAN_OPT,
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
    Training,
    build_dataset,
    build_ladder,
    correlation_table,
    default_threads,
    export_step,
    finish_training,
    plot_ladder_images,
    plot_ladder_scores,
    previous_outputs,
    score_ladder,
    stage_option,
    start_training,
    stop_on_exit,
    write_csv,
)
from sfd_arch.tools.demo_report import (  # noqa: E402
    HEADERS,
    Stage,
    channel_shift,
    longest_path_cpu,
    quality_targets,
    results_table,
    sr_paths,
    stage_lines,
    stand_in_metrics,
    targets_text,
    time_target,
)

LABELS = {'bicubic': 'bicubic', 'stage1': 'PSNR_stage1', 'sfd': 'SFD_demo', 'esrgan': 'ESRGAN_demo'}


def final_comparison(checkpoints: dict[str, str]) -> dict:
    """Step 7: the compare engine's report (table, PD plot, visual comparison, report.html) of bicubic, the stage-1
    model, SFD and (when trained) ESRGAN on the held-out photos.

    LPIPS runs on a random stand-in AlexNet and random heads written under the published names in
    ``demo_output/pretrained_models`` (the option file points there, so a user's real files are never shadowed);
    the report marks them as stand-ins."""
    from sfd_arch.eval.compare import run_compare
    from sfd_arch.metrics.standins import write_stand_in_weights

    write_stand_in_weights(osp.join(OUT, 'pretrained_models'), ['lpips'])
    models = {LABELS['bicubic']: 'bicubic'}
    models.update((LABELS[key], path) for key, path in checkpoints.items() if osp.isfile(path))
    return run_compare(TEST_OPT, models, osp.join(OUT, 'compare'), device='cpu', pd_metric='sfd_iqa')


def results(out: dict, data_root: str, stages: list[Stage]) -> str:
    """The printed table of the comparison, the time of each stage and the demo's targets with their verdicts."""
    means = out['means']['demo_val']
    models = [m for m in LABELS.values() if m in means]
    metrics = [m for m in out['metrics'] if m in HEADERS]
    table = results_table(means, models, metrics, stand_in_metrics(out['weights']))
    hr = [osp.join(data_root, 'val', 'HR', f'{p}.png') for p in VAL_PHOTOS]
    compare_dir = osp.join(OUT, 'compare')
    shifts = {m: channel_shift(sr_paths(compare_dir, m, 'demo_val', VAL_PHOTOS), hr) for m in models}
    targets = quality_targets(means, LABELS['bicubic'], LABELS['stage1'], LABELS['sfd'], shifts)
    if any(s.name == 'stage 1' for s in stages):  # a --keep run trains nothing: its time says nothing of make demo
        # the stages hold all CPU time: this process's from its start, and each training process's own
        cpu = sum(s.cpu for s in stages)
        targets.append(time_target(time.time() - STARTED, cpu, longest_path_cpu(stages)))
    esrgan = (f'\n{LABELS["esrgan"]}: ESRGAN from stage 1 (U-Net image discriminator), the same data, iterations and '
              'loss weights.\nWith a random CLIP, SFD against ESRGAN shows both pipelines running, not which '
              'discriminator is better.' if LABELS['esrgan'] in means else '')
    return (f'Held-out photos ({", ".join(VAL_PHOTOS)}), mean over the {len(VAL_PHOTOS)} photos; PSNR and SSIM '
            f'on Y, border 4.\n{LABELS["stage1"]}: stage 1 (L1 only); {LABELS["sfd"]}: SFD from it.{esrgan}\n'
            'LPIPS [stand-in]: random AlexNet and heads. SFD-IQA [random CLIP]: this run\'s Feat-D and LPP on the '
            f'random CLIP.\n\n{table}\n\nTime of each stage (this machine; CPU = user + system of all threads):\n'
            f'{stage_lines(stages)}\n\nTargets:\n{targets_text(targets)}')


def clear_previous() -> None:
    """A second `make demo` replaces the first: say what goes before it goes."""
    old = previous_outputs()
    if old:
        print('Replacing the previous demo run; removing:', flush=True)
    for path in old:
        print(f'  {path}', flush=True)
        shutil.rmtree(path)


def train_stage1(args: argparse.Namespace, stages: list[Stage], stamp) -> int:
    """Stage 1: the PSNR-oriented generator, pixel loss only."""
    opt_path = stage_option(PSNR_OPT, OUT, args.psnr_iters)
    print(f'[2/7] Training stage 1 (SRModel, MSRResNet, L1 loss only) on CPU, {args.threads} thread(s): '
          f'python sfd_arch/train.py -opt {opt_path}', flush=True)
    code, wall, cpu = finish_training(start_training(opt_path, args.threads, REPO))
    if code != 0:
        print(f'error: stage 1 failed (exit {code}); the log is in experiments/{PSNR_NAME}', file=sys.stderr)
        return code
    stages.append(Stage('stage 1', wall, cpu))
    print(f'      stage 1 done: {wall:.0f} s wall, {cpu:.0f} s CPU  {stamp()}', flush=True)
    return 0


def start_stage2(args: argparse.Namespace) -> dict[str, Training]:
    """Stage 2 from stage 1's net_g: SFD and, on the other core, ESRGAN with the same recipe and an image
    discriminator (its console goes to a file; BasicSR's log of both is under experiments/)."""
    # side by side, the two runs share the threads (one each at least): more threads than cores make OpenMP's
    # threads wait on each other (docs/benchmarks.md, "Machine load matters more than usual here")
    threads = {'SFD': max(1, (args.threads + 1) // 2) if args.esrgan else args.threads,
               'ESRGAN': max(1, args.threads // 2)}
    runs = {'SFD': start_training(stage_option(OPT, OUT, args.iters), threads['SFD'], REPO)}
    what = f"SFDModel from stage 1's net_g, {threads['SFD']} thread(s)"
    if args.esrgan:
        console = osp.join(OUT, 'logs', f'{ESRGAN_NAME}.console.txt')
        runs['ESRGAN'] = start_training(stage_option(ESRGAN_OPT, OUT, args.iters), threads['ESRGAN'], REPO, console)
        what += (f"; beside it ESRGANModel from the same start, {threads['ESRGAN']} thread(s), its console in "
                 f'{console}; it goes on beside the export and the ladder')
    print(f'[3/7] Training stage 2 ({what}): '
          + ', '.join(f'python sfd_arch/train.py -opt {run.opt_path}' for run in runs.values()), flush=True)
    return runs


def finish_stage2(key: str, run: Training, stamp) -> 'Stage | None':
    """Waits for one stage-2 run; None (and the error printed) when it failed."""
    waited = time.time()
    code, wall, cpu = finish_training(run)
    name = ESRGAN_NAME if key == 'ESRGAN' else NAME
    if code != 0:
        print(f'error: stage 2 {key} failed (exit {code}); the log is in experiments/{name}'
              + (f' and {run.console}' if run.console else ''), file=sys.stderr)
        return None
    print(f'      stage 2 {key} done: {wall:.0f} s wall, {cpu:.0f} s CPU  {stamp()}', flush=True)
    if key == 'SFD':
        return Stage('stage 2: SFD', wall, cpu)
    return Stage('stage 2: ESRGAN', time.time() - waited, cpu, f'{wall:.0f} s on the other core beside SFD, the '
                 'export and the ladder; wall: the wait for it', beside=('stage 2: SFD', 'export + ladder'))


def where(made: list[str], data_root: str) -> str:
    """Where the demo put its outputs, and what its numbers can and cannot say."""
    exp_dir, ladder_dir = osp.join('experiments', NAME), osp.join(OUT, 'ladder')
    figures = '\n'.join(('' if i == 0 else ' ' * 20) + p for i, p in enumerate(made))
    return f'''Where everything is
  data:             {data_root}
  checkpoints:      experiments/{PSNR_NAME}/models (stage 1); {exp_dir}/models (stage 2: net_g, net_featd,
                    net_lpp; no CLIP weights inside); experiments/{ESRGAN_NAME}/models (ESRGAN beside it)
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


def _spent(name: str, wall0: float, cpu0: float) -> Stage:
    """The time this process spent since ``wall0`` / ``cpu0`` (``time.process_time``)."""
    return Stage(name, time.time() - wall0, time.process_time() - cpu0)


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
        code = train_stage1(args, stages, stamp)
        if code != 0:
            return code
        runs = start_stage2(args)
    with stop_on_exit(runs):  # ESRGAN goes on beside the ladder; nothing is left running if the demo stops
        if 'SFD' in runs:
            sfd = finish_stage2('SFD', runs['SFD'], stamp)
            if sfd is None:
                return 1
            stages.append(sfd)
        wall0, cpu0 = time.time(), time.process_time()
        made = ladder_steps(data_root, stamp)
        stages.append(_spent('export + ladder', wall0, cpu0))
        for key in [k for k in runs if k != 'SFD']:
            stage = finish_stage2(key, runs[key], stamp)
            if stage is None:
                return 1
            stages.append(stage)

    wall0, cpu0 = time.time(), time.process_time()
    shown = ' vs '.join(['bicubic', 'stage 1', 'SFD'] + ['ESRGAN'] * osp.isfile(checkpoints.get('esrgan', '')))
    print(f'[7/7] {shown} vs HR on the held-out photos (the compare engine)', flush=True)
    out = final_comparison(checkpoints)
    made += [str(out[k]) for k in ('table_md', 'pd_png', 'report_md') if out.get(k)] + [str(p) for p in out['visual']]
    stages.append(_spent('comparison', wall0, cpu0))
    print(f'\n{where(made, data_root)}\n\n{results(out, data_root, stages)}', flush=True)
    print(f"\nReport: {osp.abspath(out['report_html'])}", flush=True)
    return 0


def ladder_steps(data_root: str, stamp) -> list[str]:
    """Steps 4 to 6: export SFD-IQA from the SFD run and check it, score the quality ladder, correlate and plot.
    Returns the figures made."""
    exp_dir, figures, ladder_dir = osp.join('experiments', NAME), osp.join(OUT, 'figures'), osp.join(OUT, 'ladder')
    os.makedirs(figures, exist_ok=True)
    print(f'[4/7] Exporting SFD-IQA from the run and checking it against its training log: sfd-iqa export {exp_dir} '
          f'-o {WEIGHTS}', flush=True)
    for line in export_step(exp_dir, WEIGHTS):
        print(f'      {line}', flush=True)

    print(f'[5/7] Scoring the quality ladder of {" and ".join(LADDER_PHOTOS)} ({ladder_dir}) with SFD-IQA and NIQE',
          flush=True)
    shutil.rmtree(ladder_dir, ignore_errors=True)
    rungs = build_ladder(data_root, exp_dir, ladder_dir)
    score_ladder(rungs, WEIGHTS)
    write_csv(rungs, osp.join(OUT, 'ladder_scores.csv'))
    print(f'      {len(rungs)} images scored  {stamp()}', flush=True)

    print('[6/7] Does SFD-IQA follow the distortion level?', flush=True)
    table, means = correlation_table(rungs)
    print('\n' + table + '\n', flush=True)
    return [plot_ladder_scores(rungs, means, osp.join(figures, 'ladder_scores.png')),
            plot_ladder_images(rungs, LADDER_PHOTOS[0], osp.join(figures, f'ladder_{LADDER_PHOTOS[0]}.png'))]


if __name__ == '__main__':
    sys.exit(main())
