"""The demo engine's own logic: what a second run removes, its stage option files, its table and its targets.

Fast: nothing is trained; the full demo is `make demo`."""
import os
import os.path as osp
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from sfd_arch.tools import demo, demo_steps
from sfd_arch.tools.demo_report import (
    Stage,
    channel_shift,
    column_header,
    longest_path_cpu,
    quality_targets,
    results_table,
    stage_lines,
    stand_in_metrics,
    targets_text,
    time_target,
)

REPO = Path(__file__).resolve().parents[1]
MEANS = {'bicubic': {'psnr': 28.28, 'ssim': 0.80, 'lpips': 0.31},
         'PSNR_stage1': {'psnr': 28.85, 'ssim': 0.82, 'lpips': 0.28},
         'SFD_demo': {'psnr': 28.96, 'ssim': 0.83, 'lpips': 0.27}}


def test_previous_outputs_lists_the_demo_runs_and_their_archives_only(tmp_path):
    for rel in ('demo_output/x', 'experiments/sfd_demo_x4/models', 'experiments/sfd_demo_x4_archived_20261130_1',
                'experiments/psnr_demo_x4', 'experiments/sfd_demo_x4_real', 'experiments/other',
                'tb_logger/sfd_demo_x4', 'tb_logger/psnr_demo_x4_archived_2', 'experiments/esrgan_demo_x4'):
        (tmp_path / rel).mkdir(parents=True)
    found = {osp.relpath(p, tmp_path) for p in demo.previous_outputs(str(tmp_path))}
    assert found == {'demo_output', osp.join('experiments', 'sfd_demo_x4'), osp.join('experiments', 'psnr_demo_x4'),
                     osp.join('experiments', 'sfd_demo_x4_archived_20261130_1'), osp.join('tb_logger', 'sfd_demo_x4'),
                     osp.join('tb_logger', 'psnr_demo_x4_archived_2'), osp.join('experiments', 'esrgan_demo_x4')}


def test_stage_option_scales_iterations_and_milestones(tmp_path):
    src = tmp_path / 'stage.yml'
    src.write_text(yaml.safe_dump({'train': {'total_iter': 400, 'scheduler': {'milestones': [250, 350]}},
                                   'logger': {'save_checkpoint_freq': 400}}))
    assert demo.stage_option(str(src), str(tmp_path / 'out')) == str(src)
    made = demo.stage_option(str(src), str(tmp_path / 'out'), 200)
    opt = yaml.safe_load(open(made))
    assert opt['train']['total_iter'] == opt['logger']['save_checkpoint_freq'] == 200
    assert opt['train']['scheduler']['milestones'] == [125, 175]


def test_demo_option_files_chain_the_two_stages():
    """Stage 2 (SFD, and ESRGAN beside it) starts from the file stage 1 writes, and the comparison tests that
    generator. ESRGAN differs from SFD by its discriminator only."""
    psnr, sfd, esrgan, test = (yaml.safe_load(open(REPO / p))
                               for p in (demo.PSNR_OPT, demo.OPT, demo.ESRGAN_OPT, demo.TEST_OPT))
    stage1 = osp.join('experiments', psnr['name'], 'models', 'net_g_latest.pth')
    assert psnr['name'] == demo.PSNR_NAME and sfd['name'] == demo.NAME and esrgan['name'] == demo.ESRGAN_NAME
    assert sfd['path']['pretrain_network_g'] == esrgan['path']['pretrain_network_g'] == stage1
    assert psnr['network_g'] == sfd['network_g'] == esrgan['network_g'] == test['network_g']
    assert psnr['train']['total_iter'] % psnr['logger']['save_checkpoint_freq'] == 0
    assert sfd['datasets']['train'] == esrgan['datasets']['train']
    for key in ('optim_g', 'scheduler', 'total_iter', 'pixel_opt', 'net_d_iters', 'ema_decay'):
        assert sfd['train'][key] == esrgan['train'][key], key
    assert esrgan['train']['gan_opt']['loss_weight'] == sfd['train']['featd_opt']['loss_weight']
    assert esrgan['train']['optim_d'] == dict(sfd['train']['optim_featd'], weight_decay=0)


def test_training_runs_side_by_side_report_exit_code_cpu_time_and_console(tmp_path, monkeypatch):
    """Two runs side by side, as stage 2 runs SFD and ESRGAN: each gets its own exit code and CPU time, and a
    console file keeps one's output off the terminal (here both fail early: their option files are missing)."""
    monkeypatch.chdir(REPO)
    console = tmp_path / 'logs' / 'run.txt'
    runs = [demo.start_training(str(tmp_path / f'{name}.yml'), 1, str(REPO), out)
            for name, out in (('a', str(console)), ('b', None))]
    for run in runs:
        code, wall, cpu = demo.finish_training(run)
        assert code != 0 and 0 < cpu and wall > 0
    assert 'a.yml' in console.read_text()


def test_stop_on_exit_kills_what_still_runs_and_leaves_finished_runs(tmp_path):
    import subprocess
    import sys
    import time

    sleeping = demo.Training('a.yml', subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']),
                             time.time())
    done = demo.Training('b.yml', subprocess.Popen([sys.executable, '-c', 'pass']), time.time())
    assert demo.finish_training(done)[0] == 0
    with pytest.raises(KeyboardInterrupt):
        with demo.stop_on_exit({'SFD': done, 'ESRGAN': sleeping}):
            raise KeyboardInterrupt
    assert sleeping.process.returncode is not None and sleeping.process.returncode < 0  # killed
    assert done.process.returncode == 0


def test_table_marks_stand_in_and_random_clip_columns():
    weights = [{'metric': 'lpips', 'status': 'stand-in'}, {'metric': 'niqe', 'status': 'published'}]
    stand_ins = stand_in_metrics(weights)
    assert stand_ins == {'lpips'}
    assert column_header('lpips', stand_ins, 'lower') == 'LPIPS [stand-in] (lower)'
    assert column_header('sfd_iqa', stand_ins) == 'SFD-IQA [random CLIP]'
    assert column_header('psnr', stand_ins) == 'PSNR (dB)'
    table = results_table(MEANS, list(MEANS), ['psnr', 'ssim', 'lpips'], stand_ins)
    lines = table.splitlines()
    assert 'LPIPS [stand-in] (lower)' in lines[0] and 'PSNR (dB) (higher)' in lines[0]
    assert lines[2].split() == ['bicubic', '28.28', '0.8000', '0.3100']
    assert len(lines) == 2 + len(MEANS)


def test_quality_targets_judge_psnr_and_colour():
    shifts = {'bicubic': 0.5, 'PSNR_stage1': 0.2, 'SFD_demo': 1.9}
    targets = quality_targets(MEANS, 'bicubic', 'PSNR_stage1', 'SFD_demo', shifts)
    assert [t.met for t in targets] == [True, True, True]
    worse = dict(MEANS, SFD_demo={'psnr': 25.73})
    cast = dict(shifts, SFD_demo=6.0)
    assert [t.met for t in quality_targets(worse, 'bicubic', 'PSNR_stage1', 'SFD_demo', cast)] == [True, False, False]
    # a shift beyond 2/255 passes when bicubic's own is larger (the held-out photo's LR already lost it)
    assert quality_targets(MEANS, 'bicubic', 'PSNR_stage1', 'SFD_demo', dict(shifts, bicubic=7.0, SFD_demo=6.0))[2].met
    text = targets_text(quality_targets(worse, 'bicubic', 'PSNR_stage1', 'SFD_demo', cast))
    assert '[NOT met] SFD above bicubic in PSNR: 25.73 vs 28.28 dB' in text and 'some targets NOT met' in text


def test_time_target_is_judged_on_cpu_time_when_the_machine_is_busy():
    assert time_target(400.0, 170.0).met  # busy: the wall time is long, the work fits
    assert not time_target(400.0, 250.0).met
    assert time_target(150.0, 250.0).met  # two threads in parallel: the wall time itself is within
    assert '85-170 s' in time_target(400.0, 170.0).measured
    # a run beside the others on the second core counts only for what it took beyond them
    assert time_target(400.0, 250.0, 170.0).met and not time_target(400.0, 250.0, 190.0).met


def test_longest_path_counts_a_run_beside_others_only_beyond_them():
    stages = [Stage('stage 1', 40, 40), Stage('sfd', 45, 45), Stage('ladder', 15, 15),
              Stage('esrgan', 0, 55, beside=('sfd', 'ladder'))]
    assert longest_path_cpu(stages) == 100  # ESRGAN's 55 s hid behind SFD + ladder (60 s)
    stages[-1] = Stage('esrgan', 10, 70, beside=('sfd', 'ladder'))
    assert longest_path_cpu(stages) == 110  # 10 s beyond them
    lines = stage_lines(stages).splitlines()
    assert len(lines) == 4 and lines[0].split()[:4] == ['stage', '1', '40', 's']


def test_channel_shift_sees_a_colour_cast_not_a_blur(tmp_path):
    rng = np.random.default_rng(0)
    hr = rng.integers(40, 200, (32, 32, 3)).astype(np.uint8)
    paths = {}
    for name, img in (('hr', hr), ('blur', cv2.GaussianBlur(hr, (0, 0), 2.0)),
                      ('cast', np.clip(hr.astype(int) + [0, 0, 6], 0, 255).astype(np.uint8))):
        paths[name] = str(tmp_path / f'{name}.png')
        cv2.imwrite(paths[name], img)
    assert channel_shift([paths['blur']], [paths['hr']]) < 0.5
    assert channel_shift([paths['cast']], [paths['hr']]) == pytest.approx(6.0, abs=0.01)
    with pytest.raises(FileNotFoundError):
        channel_shift([os.fspath(tmp_path / 'missing.png')], [paths['hr']])


def test_default_threads_are_one_whatever_the_load(monkeypatch):
    """The demo's printed numbers depend on the thread count (see default_threads): the default must not follow the
    machine's load."""
    monkeypatch.setattr(os, 'cpu_count', lambda: 16)
    monkeypatch.setattr(os, 'getloadavg', lambda: (0.0, 0.0, 0.0))
    assert demo.default_threads()[0] == 1


# -- step 4: the exported SFD-IQA against the value the training process logged -------------------------------------
@pytest.fixture
def sfd_demo_run(tmp_path, single_thread):
    """``experiments/sfd_demo_x4`` as the demo's SFD run leaves it, on the tiny random CLIP: option file, Feat-D and
    LPP checkpoints, SR images of the held-out photos, and a training log whose validation line is written by
    SFDModel's own marked log (``# sfd_iqa (random CLIP): ...``) with the SFD-IQA the run's networks give the
    images. Returns (experiment folder, that SFD-IQA)."""
    import logging

    import torch
    from conftest import tiny_clip_opt

    from sfd_arch import build_clip
    from sfd_arch.archs import FeatD, PromptLearner
    from sfd_arch.iqa import SFDIQA
    from sfd_arch.models.sfd_model import SFDModel

    exp = tmp_path / 'experiments' / demo.NAME
    (exp / 'models').mkdir(parents=True)
    clip_opt = tiny_clip_opt()
    metrics = {'psnr': {'type': 'calculate_psnr', 'crop_border': 4},
               'sfd_iqa': {'type': 'calculate_sfd_iqa', 'weights': 'model'}}
    opt = {'name': demo.NAME, 'model_type': 'SFDModel', 'scale': 4, 'clip': clip_opt,
           'network_featd': {'type': 'FeatD', 'num_feat': 8}, 'network_lpp': {'type': 'PromptLearner', 'n_ctx': 2},
           'val': {'metrics': metrics}}
    (exp / f'train_{demo.NAME}.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    clip = build_clip(clip_opt)
    torch.manual_seed(1)
    featd, lpp = FeatD(clip=clip, num_feat=8).eval(), PromptLearner(clip=clip, n_ctx=2).eval()
    torch.save({'params': featd.state_dict()}, exp / 'models' / 'net_featd_5.pth')
    torch.save({'params': lpp.state_dict()}, exp / 'models' / 'net_lpp_5.pth')
    rng = np.random.default_rng(0)
    paths = []
    for photo in demo.VAL_PHOTOS:
        (exp / 'visualization' / photo).mkdir(parents=True)
        paths.append(str(exp / 'visualization' / photo / f'{photo}_5.png'))
        cv2.imwrite(paths[-1], cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (48, 48)))
    live = float(np.mean([r.score for r in SFDIQA(clip, featd, lpp, device='cpu').score_files(paths)]))

    model = object.__new__(SFDModel)  # only what the log line reads: no networks are built
    model.opt, model.clip_opt = opt, clip_opt
    model.metric_results = {'psnr': 27.5, 'sfd_iqa': live}
    model.best_metric_results = {'demo_val': {m: {'val': v, 'iter': 5} for m, v in model.metric_results.items()}}
    logger, handler = logging.getLogger('basicsr'), logging.FileHandler(exp / f'train_{demo.NAME}_20260101.log')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        model._log_validation_metric_values(5, 'demo_val', None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
    return exp, live


def test_export_step_prints_the_logged_and_the_exported_sfd_iqa(sfd_demo_run, tmp_path, capsys):
    exp, live = sfd_demo_run
    log = next(exp.glob('train_*.log')).read_text()
    assert f'# sfd_iqa (random CLIP): {live:.4f}' in log  # the mark the comparison must see through
    demo_steps.export_and_check(str(exp), str(tmp_path / 'sfd_iqa.pth'))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('[4/7] Exporting SFD-IQA') and 'pretrained=None' in lines[1]
    compared = re.search(r'^      SR validation images: SFD-IQA \(random CLIP\) (\d\.\d{4}) logged by the training '
                         r'process, (\d\.\d{6}) from the exported file here', lines[2])
    assert compared, lines
    assert float(compared.group(1)) == round(live, 4)
    assert float(compared.group(2)) == pytest.approx(live, abs=1e-6)


def test_export_step_fails_when_the_log_has_nothing_to_compare(sfd_demo_run, tmp_path):
    exp, _ = sfd_demo_run
    log = next(exp.glob('train_*.log'))
    log.write_text('\n'.join(line for line in log.read_text().splitlines() if 'sfd_iqa' not in line))
    with pytest.raises(RuntimeError, match=r'has no sfd_iqa validation value \(found: psnr\)'):
        demo.export_step(str(exp), str(tmp_path / 'sfd_iqa.pth'))
    log.unlink()
    with pytest.raises(FileNotFoundError, match=r'no training log train_sfd_demo_x4_\*\.log'):
        demo.export_step(str(exp), str(tmp_path / 'sfd_iqa.pth'))


def test_logged_metrics_read_back_what_the_marked_log_wrote():
    from sfd_arch.utils.results import RANDOM_CLIP, STAND_IN_WEIGHTS, logged_metrics, marked, unmarked

    for note in ('', STAND_IN_WEIGHTS, RANDOM_CLIP):
        assert unmarked(marked('lpips', note)) == ('lpips', note)
    values = logged_metrics(['Validation demo_val', f'\t # {marked("sfd_iqa", RANDOM_CLIP)}: 0.5015\tBest: 0.5015 @ '
                             '150 iter', '\t # psnr: 27.1826\tBest: 27.2 @ 100 iter', '\t # niqe: nan'])
    assert values['sfd_iqa'].value == 0.5015 and values['sfd_iqa'].note == RANDOM_CLIP
    assert values['psnr'].value == 27.1826 and values['psnr'].note == ''
    assert np.isnan(values['niqe'].value)


def test_a_training_stage_prints_to_its_console_file_and_a_failure_shows_its_end(tmp_path, monkeypatch, capsys):
    """The demo's console has the step's lines; the training process's output goes to the file it names, and when
    the run fails the end of that file (its error) is printed. The process is a stand-in that prints like a failing
    train.py (a real one starting: test_training_runs_side_by_side_report_exit_code_cpu_time_and_console)."""
    import subprocess
    import sys
    import time

    def fake_training(opt_path, threads, repo, console):
        os.makedirs(osp.dirname(console), exist_ok=True)
        with open(console, 'w') as out:
            script = ('print("Network [MSRResNet] is created."); print("option dump " * 50); '
                      f'raise SystemExit("option file not found: {opt_path}")')
            process = subprocess.Popen([sys.executable, '-c', script], stdout=out, stderr=subprocess.STDOUT)
        return demo.Training(opt_path, process, time.time(), console)

    monkeypatch.setattr(demo_steps, 'LOGS', str(tmp_path / 'logs'))
    monkeypatch.setattr(demo_steps, 'PSNR_OPT', str(tmp_path / 'missing_stage1.yml'))
    monkeypatch.setattr(demo_steps, 'start_training', fake_training)
    stages = []
    code = demo_steps.train_stage1(None, 1, str(REPO), stages, lambda: '[0 s]')
    out, err = capsys.readouterr()
    console = tmp_path / 'logs' / f'{demo.PSNR_NAME}.console.txt'
    assert code != 0 and stages == []
    assert out.splitlines() == [
        f'[2/7] Training stage 1 (SRModel, MSRResNet, L1 loss only) on CPU, 1 thread(s): python sfd_arch/train.py '
        f'-opt {tmp_path / "missing_stage1.yml"}', f'      its console (options, network, progress): {console}']
    assert 'option dump' in console.read_text() and 'option dump' not in out
    assert err.startswith(f'error: stage 1 failed (exit {code}); the end of its console ({console})')
    assert f'option file not found: {tmp_path / "missing_stage1.yml"}' in err
