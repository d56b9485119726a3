"""The demo engine's own logic: what a second run removes, its stage option files, its table and its targets.

Fast: nothing is trained; the full demo is `make demo`."""
import os
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from sfd_arch.tools import demo
from sfd_arch.tools.demo_report import (
    channel_shift,
    column_header,
    quality_targets,
    results_table,
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
                'tb_logger/sfd_demo_x4', 'tb_logger/psnr_demo_x4_archived_2'):
        (tmp_path / rel).mkdir(parents=True)
    found = {osp.relpath(p, tmp_path) for p in demo.previous_outputs(str(tmp_path))}
    assert found == {'demo_output', osp.join('experiments', 'sfd_demo_x4'), osp.join('experiments', 'psnr_demo_x4'),
                     osp.join('experiments', 'sfd_demo_x4_archived_20261130_1'), osp.join('tb_logger', 'sfd_demo_x4'),
                     osp.join('tb_logger', 'psnr_demo_x4_archived_2')}


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
    """Stage 2 starts from the file stage 1 writes, and the comparison tests that generator."""
    psnr, sfd, test = (yaml.safe_load(open(REPO / p))
                       for p in (demo.PSNR_OPT, demo.OPT, demo.TEST_OPT))
    stage1 = osp.join('experiments', psnr['name'], 'models', 'net_g_latest.pth')
    assert psnr['name'] == demo.PSNR_NAME and sfd['name'] == demo.NAME
    assert sfd['path']['pretrain_network_g'] == stage1
    assert psnr['network_g'] == sfd['network_g'] == test['network_g']
    assert psnr['train']['total_iter'] % psnr['logger']['save_checkpoint_freq'] == 0


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
