"""The steps of ``scripts/demo.py`` (``make demo``) as they run and print: the training stages, the export and its
check, the ladder, the comparison, and the closing summary.

Each step prints one line when it starts and a short result when it ends; what the training processes print (their
options, their networks, BasicSR's progress) goes to a console file under ``demo_output/logs/`` that the step names,
beside BasicSR's own log under ``experiments/<name>/``. The pieces the steps are made of (data, ladder, scores,
figures, the table and the targets) are in :mod:`sfd_arch.tools.demo` and :mod:`sfd_arch.tools.demo_report`.
"""
from __future__ import annotations

import os
import os.path as osp
import shutil
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

from sfd_arch.tools.demo import (
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
    VAL_PHOTOS,
    WEIGHTS,
    Training,
    build_ladder,
    correlation_table,
    export_step,
    finish_training,
    plot_ladder_images,
    plot_ladder_scores,
    previous_outputs,
    score_ladder,
    stage_option,
    start_training,
    write_csv,
)
from sfd_arch.tools.demo_report import (
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

if TYPE_CHECKING:
    from sfd_arch.eval.comparison import CompareResult

LABELS = {'bicubic': 'bicubic', 'stage1': 'PSNR_stage1', 'sfd': 'SFD_demo', 'esrgan': 'ESRGAN_demo'}
LOGS = osp.join(OUT, 'logs')
INDENT = ' ' * 6  # a step's result lines, under its [n/7] line
Stamp = Callable[[], str]  # the time since the demo started, as printed after a step's result


def say(*lines: str) -> None:
    """Print a step's result lines, indented under the step (flushed: the training runs print to files)."""
    for line in lines:
        print(f'{INDENT}{line}', flush=True)


def console_file(name: str) -> str:
    """Where the training run ``name`` prints (options, networks, progress): ``demo_output/logs/<name>.console.txt``."""
    return osp.join(LOGS, f'{name}.console.txt')


def console_tail(path: str, lines: int = 25) -> str:
    """The end of a training run's console file: what a failed run printed last (its error)."""
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def report_failure(what: str, code: int, name: str, console: str) -> None:
    print(f'error: {what} failed (exit {code}); the end of its console ({console}), its log in experiments/{name}:\n'
          f'{console_tail(console)}', file=sys.stderr, flush=True)


def clear_previous() -> None:
    """A second `make demo` replaces the first: say what goes before it goes."""
    old = previous_outputs()
    if old:
        print('Replacing the previous demo run; removing:', flush=True)
    for path in old:
        say(path)
        shutil.rmtree(path)


def train_stage1(psnr_iters: Optional[int], threads: int, repo: str, stages: list[Stage], stamp: Stamp) -> int:
    """Stage 1: the PSNR-oriented generator, pixel loss only. Returns the training's exit code."""
    opt_path = stage_option(PSNR_OPT, OUT, psnr_iters)
    console = console_file(PSNR_NAME)
    print(f'[2/7] Training stage 1 (SRModel, MSRResNet, L1 loss only) on CPU, {threads} thread(s): '
          f'python sfd_arch/train.py -opt {opt_path}', flush=True)
    say(f'its console (options, network, progress): {console}')
    code, wall, cpu = finish_training(start_training(opt_path, threads, repo, console))
    if code != 0:
        report_failure('stage 1', code, PSNR_NAME, console)
        return code
    stages.append(Stage('stage 1', wall, cpu))
    say(f'stage 1 done: {wall:.0f} s wall, {cpu:.0f} s CPU  {stamp()}')
    return 0


def start_stage2(iters: Optional[int], threads: int, esrgan: bool, repo: str) -> dict[str, Training]:
    """Stage 2 from stage 1's net_g: SFD and, on the other core, ESRGAN with the same recipe and an image
    discriminator; each prints to its own console file."""
    # side by side, the two runs share the threads (one each at least): more threads than cores make OpenMP's
    # threads wait on each other (docs/benchmarks.md, "Machine load matters more than usual here")
    split = {'SFD': max(1, (threads + 1) // 2) if esrgan else threads, 'ESRGAN': max(1, threads // 2)}
    runs = {'SFD': start_training(stage_option(OPT, OUT, iters), split['SFD'], repo, console_file(NAME))}
    what = f"SFDModel from stage 1's net_g, {split['SFD']} thread(s)"
    if esrgan:
        runs['ESRGAN'] = start_training(stage_option(ESRGAN_OPT, OUT, iters), split['ESRGAN'], repo,
                                        console_file(ESRGAN_NAME))
        what += (f"; beside it ESRGANModel from the same start, {split['ESRGAN']} thread(s), going on beside the "
                 'export and the ladder')
    print(f'[3/7] Training stage 2 ({what}): '
          + ', '.join(f'python sfd_arch/train.py -opt {run.opt_path}' for run in runs.values()), flush=True)
    say(f'their consoles: {", ".join(run.console for run in runs.values())}')
    return runs


def finish_stage2(key: str, run: Training, stamp: Stamp) -> Optional[Stage]:
    """Waits for one stage-2 run; None (and the end of its console printed) when it failed."""
    waited = time.time()
    code, wall, cpu = finish_training(run)
    if code != 0:
        report_failure(f'stage 2 {key}', code, ESRGAN_NAME if key == 'ESRGAN' else NAME, run.console)
        return None
    say(f'stage 2 {key} done: {wall:.0f} s wall, {cpu:.0f} s CPU  {stamp()}')
    if key == 'SFD':
        return Stage('stage 2: SFD', wall, cpu)
    return Stage('stage 2: ESRGAN', time.time() - waited, cpu, f'{wall:.0f} s on the other core beside SFD, the '
                 'export and the ladder; wall: the wait for it', beside=('stage 2: SFD', 'export + ladder'))


def export_and_check(exp_dir: str, weights: str = WEIGHTS) -> None:
    """Step 4: export SFD-IQA from the SFD run and compare it, in this process, with the SFD-IQA the training
    process logged for the same SR images (an error when they differ, or when the log has nothing to compare)."""
    print(f'[4/7] Exporting SFD-IQA from the run and checking it against its training log: sfd-iqa export {exp_dir} '
          f'-o {weights}', flush=True)
    say(*export_step(exp_dir, weights))


def ladder_steps(data_root: str, stamp: Stamp) -> list[str]:
    """Steps 4 to 6: export SFD-IQA from the SFD run and check it, score the quality ladder, correlate and plot.
    Returns the figures made."""
    exp_dir, figures, ladder_dir = osp.join('experiments', NAME), osp.join(OUT, 'figures'), osp.join(OUT, 'ladder')
    os.makedirs(figures, exist_ok=True)
    export_and_check(exp_dir)
    print(f'[5/7] Scoring the quality ladder of {" and ".join(LADDER_PHOTOS)} ({ladder_dir}) with SFD-IQA and NIQE',
          flush=True)
    shutil.rmtree(ladder_dir, ignore_errors=True)
    rungs = build_ladder(data_root, exp_dir, ladder_dir)
    score_ladder(rungs, WEIGHTS)
    write_csv(rungs, osp.join(OUT, 'ladder_scores.csv'))
    say(f'{len(rungs)} images scored  {stamp()}')

    print('[6/7] Does SFD-IQA follow the distortion level?', flush=True)
    table, means = correlation_table(rungs)
    print('\n' + table + '\n', flush=True)
    return [plot_ladder_scores(rungs, means, osp.join(figures, 'ladder_scores.png')),
            plot_ladder_images(rungs, LADDER_PHOTOS[0], osp.join(figures, f'ladder_{LADDER_PHOTOS[0]}.png'))]


def final_comparison(checkpoints: dict[str, str]) -> CompareResult:
    """Step 7: the compare engine's report (table, PD plot, visual comparison, report.html) of bicubic, the stage-1
    model, SFD and (when trained) ESRGAN on the held-out photos.

    LPIPS runs on a random stand-in AlexNet and random heads written under the published names in
    ``demo_output/pretrained_models`` (the option file points there, so a user's real files are never shadowed);
    the report marks them as stand-ins."""
    from sfd_arch.eval.compare import run_compare
    from sfd_arch.metrics.standins import write_stand_in_weights

    shown = ' vs '.join(['bicubic', 'stage 1', 'SFD'] + ['ESRGAN'] * osp.isfile(checkpoints.get('esrgan', '')))
    print(f'[7/7] {shown} vs HR on the held-out photos (the compare engine)', flush=True)
    write_stand_in_weights(osp.join(OUT, 'pretrained_models'), ['lpips'])
    models = {LABELS['bicubic']: 'bicubic'}
    models.update((LABELS[key], path) for key, path in checkpoints.items() if osp.isfile(path))
    return run_compare(TEST_OPT, models, osp.join(OUT, 'compare'), device='cpu', pd_metric='sfd_iqa')


def results(out: CompareResult, data_root: str, stages: list[Stage], elapsed: float) -> str:
    """The printed table of the comparison, the time of each stage and the demo's targets with their verdicts
    (``elapsed``: the demo's wall time so far)."""
    means = out.means['demo_val']
    models = [m for m in LABELS.values() if m in means]
    metrics = [m for m in out.metrics if m in HEADERS]
    table = results_table(means, models, metrics, stand_in_metrics(out.weights))
    hr = [osp.join(data_root, 'val', 'HR', f'{p}.png') for p in VAL_PHOTOS]
    compare_dir = osp.join(OUT, 'compare')
    shifts = {m: channel_shift(sr_paths(compare_dir, m, 'demo_val', VAL_PHOTOS), hr) for m in models}
    targets = quality_targets(means, LABELS['bicubic'], LABELS['stage1'], LABELS['sfd'], shifts)
    if any(s.name == 'stage 1' for s in stages):  # a --keep run trains nothing: its time says nothing of make demo
        # the stages hold all CPU time: this process's from its start, and each training process's own
        cpu = sum(s.cpu for s in stages)
        targets.append(time_target(elapsed, cpu, longest_path_cpu(stages)))
    esrgan = (f'\n{LABELS["esrgan"]}: ESRGAN from stage 1 (U-Net image discriminator), the same data, iterations and '
              'loss weights.\nWith a random CLIP, SFD against ESRGAN shows both pipelines running, not which '
              'discriminator is better.' if LABELS['esrgan'] in means else '')
    return (f'Held-out photos ({", ".join(VAL_PHOTOS)}), mean over the {len(VAL_PHOTOS)} photos; PSNR and SSIM '
            f'on Y, border 4.\n{LABELS["stage1"]}: stage 1 (L1 only); {LABELS["sfd"]}: SFD from it.{esrgan}\n'
            'LPIPS [stand-in]: random AlexNet and heads. SFD-IQA [random CLIP]: this run\'s Feat-D and LPP on the '
            f'random CLIP.\n\n{table}\n\nTime of each stage (this machine; CPU = user + system of all threads):\n'
            f'{stage_lines(stages)}\n\nTargets:\n{targets_text(targets)}')


def where(made: list[str], data_root: str) -> str:
    """Where the demo put its outputs, and what its numbers can and cannot say."""
    exp_dir, ladder_dir = osp.join('experiments', NAME), osp.join(OUT, 'ladder')
    figures = '\n'.join(('' if i == 0 else ' ' * 20) + p for i, p in enumerate(made))
    return f'''Where everything is
  data:             {data_root}
  checkpoints:      experiments/{PSNR_NAME}/models (stage 1); {exp_dir}/models (stage 2: net_g, net_featd,
                    net_lpp; no CLIP weights inside); experiments/{ESRGAN_NAME}/models (ESRGAN beside it)
  training log:     {exp_dir}/train_{NAME}_*.log   (acc_featd_*, p_pos_*: the discriminators learning)
  consoles:         {LOGS}/   (each training run's options, networks and progress)
  tensorboard:      {osp.join('tb_logger', NAME)}
  SFD-IQA weights:  {WEIGHTS}   (sfd-iqa score {ladder_dir} -w {WEIGHTS} --csv scores.csv)
  ladder scores:    {OUT}/ladder_scores.csv
  figures:          {figures}

Note: the CLIP in this demo is a {STAND_IN}.
Feat-D and LPP learn to tell HR from the generator's smooth output on its random features, so SFD-IQA ranks
blur well but calls noise "detail"; it has never seen noise or JPEG. The generator is a small MSRResNet, not
the paper's RRDBNet (a tiny RRDBNet from random weights stays below bicubic with a colour cast in this budget).
For real training put OpenAI's RN50.pt in experiments/pretrained_models/clip/ and use options/train_sfd_x4.yml.'''


def spent(name: str, wall0: float, cpu0: float) -> Stage:
    """The time this process spent since ``wall0`` / ``cpu0`` (``time.process_time``)."""
    return Stage(name, time.time() - wall0, time.process_time() - cpu0)
