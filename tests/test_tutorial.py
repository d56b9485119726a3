"""docs/tutorial.md end to end on toy data: its dry-run block (PSNR stage, SFD from its output, BasicSR's test
script, compare.py, sfd-iqa export and score) runs as written, from the option files the tutorial names."""
import csv
import os
import re
import subprocess

import numpy as np
import pytest
import yaml
from conftest import REPO
from sfd_testutil import write_pairs

TUTORIAL = REPO / 'docs' / 'tutorial.md'
PSNR_OPT, SFD_OPT = REPO / 'options' / 'train_rrdbnet_psnr_x4.yml', REPO / 'options' / 'train_sfd_x4.yml'
TEST_SETS = ('Set5', 'Set14', 'BSDS100', 'Urban100', 'Manga109')


def dry_run_block() -> str:
    """The bash block of the tutorial's section 9."""
    section = TUTORIAL.read_text().split('## 9. Dry run')[1]
    return re.search(r'```bash\n(.*?)```', section, re.S).group(1)


def test_psnr_stage_output_is_where_sfd_starts():
    for psnr, sfd in ((PSNR_OPT, SFD_OPT), (REPO / 'options' / 'train_rrdbnet_psnr_x2.yml',
                                           REPO / 'options' / 'train_sfd_x2.yml')):
        p, s = yaml.safe_load(psnr.read_text()), yaml.safe_load(sfd.read_text())
        want = f"experiments/{p['name']}/models/net_g_{int(p['train']['total_iter'])}.pth"
        assert s['path']['pretrain_network_g'] == want
        assert p['scale'] == s['scale'] and p['network_g']['num_block'] == s['network_g']['num_block']


def test_dry_run_uses_the_tutorials_commands_with_only_size_overrides():
    text = TUTORIAL.read_text()
    main_part = text.split('## 9. Dry run')[0]
    lines = dry_run_block().replace('\\\n', ' ').splitlines()
    # the first line makes the toy folder (the dry run's own step); the others are the tutorial's, shrunk
    toy = 'python $SFD/scripts/data_preparation/make_toy_data.py'
    assert lines[0] == f'mkdir {DRY_RUN_DIR} && cd {DRY_RUN_DIR} && {toy}'
    commands = [c for c in lines[1:] if not re.match(r'^[A-Z_]+=', c)]
    for command in commands:
        head = command.split(' --force_yml')[0].split(' --crop_size')[0].split(' --device')[0]
        head = re.sub(r'\$(PSNR|SFD_G)', 'CKPT', head)
        pattern = re.escape(re.sub(r'\s+', ' ', head)).replace('CKPT', r'\S+')
        assert re.search(pattern, re.sub(r'\s*\\\n\s*', ' ', main_part)), f'not in the tutorial above: {head}'
    for key in re.findall(r'(\S+?)=', ' '.join(re.findall(r'"(.*?)"', dry_run_block()))):
        assert key.split(':')[0] in ('num_gpu', 'datasets', 'network_g', 'train', 'logger', 'val', 'clip'), key


def lmdb_overrides() -> list[str]:
    """Section 1's documented --force_yml overrides that switch training to the LMDBs."""
    section = TUTORIAL.read_text().split('## 1. Data')[1].split('## 2.')[0]
    return re.search(r'`--force_yml ([^`]*)`', section.replace('\n', ' ')).group(1).split()


@pytest.mark.parametrize('opt', [PSNR_OPT, SFD_OPT])
def test_force_yml_lmdb_switch_passes_the_check_and_a_misspelt_key_fails(opt, tmp_path, monkeypatch):
    """The check before BasicSR sees the tutorial's --force_yml LMDB switch: only the LMDBs exist here, so the
    file's own disk folders fail, the overridden ones pass, and a misspelt override key is named."""
    from sfd_arch.options import OptionKeyError
    from sfd_arch.options.preflight import check_option_file

    monkeypatch.chdir(tmp_path)
    overrides = lmdb_overrides()
    for folder in [o.split('=')[1] for o in overrides if 'dataroot' in o]:  # LMDBs as prepare_data.py writes
        os.makedirs(folder)
        size = 480 if 'HR' in folder else 120
        (tmp_path / folder / 'data.mdb').write_bytes(b'')
        (tmp_path / folder / 'meta_info.txt').write_text(''.join(f'{i:04d}_s001.png ({size},{size},3) 1\n'
                                                                 for i in range(16)))
    for name in ('Set5', 'Set14'):
        write_pairs(f'datasets/{name}/GTmod12', f'datasets/{name}/LRbicx4')
    argv = ['-opt', str(opt), '--force_yml', *overrides]
    with pytest.raises(FileNotFoundError, match='datasets.train.dataroot_gt: not found: datasets/DF2K/'
                                                'DF2K_train_HR_sub$'):
        check_option_file(str(opt), argv=['-opt', str(opt)], check_metrics=False, check_weights=False)
    forced = check_option_file(str(opt), argv=argv, check_metrics=False, check_weights=False)
    assert forced['datasets']['train']['dataroot_gt'] == 'datasets/DF2K/DF2K_train_HR_sub.lmdb'
    assert forced['datasets']['train']['io_backend']['type'] == 'lmdb'
    with pytest.raises(OptionKeyError, match=r'datasets\.train\.dataroot_gtt: unknown key .*dataroot_gt.*'
                                             r'\(set by --force_yml\)'):
        check_option_file(str(opt), argv=[*argv, 'datasets:train:dataroot_gtt=x'], check_metrics=False,
                          check_weights=False)


def step0_weights() -> list[str]:
    """The weight files step 0 says nothing downloads, as it names them (under experiments/pretrained_models/)."""
    section = TUTORIAL.read_text().split('## 0. Set up')[1].split('## 1.')[0]
    return re.findall(r'`([\w./-]+\.pth?)`', section)


def test_step0_names_the_weight_files_the_check_needs():
    assert step0_weights() == ['clip/RN50.pt', 'vgg19-dcbb9e9d.pth', 'alexnet-owt-7be5be79.pth', 'lpips_v0.1_alex.pth']


@pytest.mark.parametrize('missing', ['clip/RN50.pt', 'vgg19-dcbb9e9d.pth', 'alexnet-owt-7be5be79.pth',
                                     'lpips_v0.1_alex.pth'])
def test_step0_a_missing_weight_file_stops_training_before_basicsr_naming_it_and_where(missing, tmp_path,
                                                                                      monkeypatch):
    """Step 0 as written: train_sfd_x4.yml in a work folder with its data and every weight file of step 0 but
    one (an empty torch hub, no package copies): the check names that file and the folder to put it in, and
    nothing of the run is written. The network is shrunk as in the dry run, so its checkpoint is small."""
    import torch
    from basicsr.archs.rrdbnet_arch import RRDBNet

    import sfd_arch.metrics.weights as weights
    from sfd_arch.metrics import write_stand_in_weights
    from sfd_arch.options.preflight import check_option_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setattr(weights, '_package_copy', lambda spec: None)
    folder = tmp_path / 'experiments' / 'pretrained_models'
    write_stand_in_weights(str(folder), ['lpips'])
    (folder / 'clip').mkdir()
    for name in ('clip/RN50.pt', 'vgg19-dcbb9e9d.pth'):
        (folder / name).write_bytes(b'')  # the check looks for the files; BasicSR and open_clip read them
    (folder / missing).unlink()
    write_pairs('datasets/DF2K/DF2K_train_HR_sub', 'datasets/DF2K/DF2K_train_LR_bicubic/X4_sub')
    for name in ('Set5', 'Set14'):
        write_pairs(f'datasets/{name}/GTmod12', f'datasets/{name}/LRbicx4')
    psnr = tmp_path / 'net_g_psnr.pth'
    torch.save({'params': RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4).state_dict()}, psnr)
    argv = ['-opt', str(SFD_OPT), '--force_yml', 'network_g:num_feat=8', 'network_g:num_block=1',
            'network_g:num_grow_ch=4', f'path:pretrain_network_g={psnr}']
    with pytest.raises(FileNotFoundError) as info:
        check_option_file(str(SFD_OPT), argv=argv)
    message = info.value.args[0]
    assert message.startswith(f'{SFD_OPT}: ') and os.path.basename(missing) in message
    assert os.path.join('experiments', 'pretrained_models', missing) in message  # where to put it
    assert sorted(p.name for p in (tmp_path / 'experiments').iterdir()) == ['pretrained_models']
    assert not (tmp_path / 'tb_logger').exists()


DRY_RUN_DIR = 'dry_run'  # the folder the block makes and works in


def test_toy_work_folder_never_replaces_a_file(tmp_path):
    """The block's first command writes nothing where one of its files exists (a user's real data or weights)."""
    from sfd_arch.tools.toy_data import planned_files, write_toy_work_folder

    files = planned_files()
    assert 'experiments/pretrained_models/vgg19-dcbb9e9d.pth' in files and 'tiny_clip/open_clip_config.json' in files
    real = tmp_path / 'experiments' / 'pretrained_models' / 'vgg19-dcbb9e9d.pth'
    real.parent.mkdir(parents=True)
    real.write_bytes(b'the real VGG19')
    with pytest.raises(FileExistsError, match='vgg19-dcbb9e9d.pth exists .*use an empty folder'):
        write_toy_work_folder(str(tmp_path))
    assert real.read_bytes() == b'the real VGG19'
    assert sorted(p.name for p in tmp_path.rglob('*') if p.is_file()) == ['vgg19-dcbb9e9d.pth']


@pytest.mark.slow  # the training tests with a perceptual loss (test_training.py) load this file through BasicSR too
def test_random_vgg19_loads_into_basicsrs_perceptual_network(tmp_path, monkeypatch):
    """The toy VGG19 (classifier stored as one expanded zero) is a full state dict BasicSR loads strictly."""
    import basicsr.archs.vgg_arch as vgg_arch
    import torch

    from sfd_arch.tools.toy_data import write_random_vgg19

    path = write_random_vgg19(str(tmp_path / 'vgg19.pth'))
    assert os.path.getsize(path) < 45e6
    monkeypatch.setattr(vgg_arch, 'VGG_PRETRAIN_PATH', path)
    features = vgg_arch.VGGFeatureExtractor(['conv5_4'], 'vgg19')(torch.rand(1, 3, 32, 32))['conv5_4']
    assert torch.isfinite(features).all() and features.abs().sum() > 0


@pytest.mark.slow
def test_tutorial_dry_run_end_to_end(tmp_path):
    """The block of docs/tutorial.md section 9, exactly as written, from an empty folder (step 0 sets SFD)."""
    env = dict(os.environ, SFD=str(REPO), PYTHONPATH=str(REPO), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    out = subprocess.run(['bash', '-e', '-x', '-c', dry_run_block()], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=1800)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    work = tmp_path / DRY_RUN_DIR
    from sfd_arch.tools.toy_data import TEST_PHOTOS, TEST_SETS

    psnr = work / re.search(r'^PSNR=(\S+)$', dry_run_block(), re.M).group(1)
    assert psnr.parent.parent.name == yaml.safe_load(PSNR_OPT.read_text())['name']
    sfd_name = yaml.safe_load(SFD_OPT.read_text())['name']
    sfd_models = work / 'experiments' / sfd_name / 'models'
    assert psnr.is_file() and assert_files(sfd_models, 'net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth')
    sfd_log = next((work / 'experiments' / sfd_name).glob('train_*.log')).read_text()
    assert f'{psnr.relative_to(work)}' in sfd_log  # the SFD stage loaded the PSNR stage's output
    for val_set in ('Set5', 'Set14'):  # both validation sets, the three metrics, BasicSR's best record
        block = sfd_log.split(f'Validation {val_set}')[1][:400]
        for metric in ('psnr', 'lpips', 'sfd_iqa'):
            mark = r'( \((stand-in weights|random CLIP)\))?'  # a metric on stand-in weights says so
            assert re.search(rf'# {metric}{mark}: [-\d.]+\s+Best: [-\d.]+ @ \d+ iter', block), (val_set, metric, block)
    with open(work / 'results' / 'SFD_x4_f64b23_DIV2K' / 'metrics.csv') as f:
        niqe = [float(r['value']) for r in csv.DictReader(f) if r['metric'] == 'niqe']
    assert len(niqe) == len(TEST_PHOTOS) * (len(TEST_SETS) + 1) and all(np.isfinite(niqe)), niqe  # every image
    report = (work / 'reports' / 'x4' / 'report.md').read_text()
    assert 'PSNR' in report and 'SFD' in report
    with open(work / 'sfd_scores.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(TEST_PHOTOS) * (len(TEST_SETS) + 1)  # every SR image compare.py wrote for the SFD model
    assert all(0 <= float(r['score']) <= 1 for r in rows)


def assert_files(folder, *names) -> bool:
    missing = [n for n in names if not (folder / n).is_file()]
    assert not missing, missing
    return True
