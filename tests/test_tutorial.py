"""docs/tutorial.md end to end on toy data: its dry-run block (PSNR stage, SFD from its output, BasicSR's test
script, compare.py, sfd-iqa export and score) runs as written, from the option files the tutorial names."""
import csv
import json
import os
import re
import subprocess

import cv2
import numpy as np
import pytest
import yaml
from conftest import REPO, TINY_RN_CFG
from sfd_testutil import write_pairs, write_random_vgg19

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
    commands = [c for c in dry_run_block().replace('\\\n', ' ').splitlines() if not re.match(r'^[A-Z_]+=', c)]
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


TRAIN_PHOTOS = {'datasets/DIV2K/DIV2K_train_HR': {'0001': 'coffee', '0002': 'rocket'},
                'datasets/Flickr2K/Flickr2K_HR': {'000001': 'immunohistochemistry', '000002': 'colorwheel'}}
TEST_PHOTOS = ('chelsea', 'astronaut')
TEST_HW = (108, 204)  # BasicSR's NIQE needs two 96 px blocks after crop_border 4 (one gives "SVD did not converge")


def _photo_crop(name: str, hw: tuple[int, int], offset: int = 0) -> np.ndarray:
    """A crop of a scikit-image sample photo (as the demo uses), uint8 BGR: texture the toy generator can learn."""
    from skimage import data

    img = getattr(data, name)()[offset:offset + hw[0], offset:offset + hw[1], :3]
    assert img.shape[:2] == hw, (name, img.shape)
    return np.ascontiguousarray(img[..., ::-1])


def _toy_data(root) -> None:
    """Photo crops in the tutorial's folders: DF2K's two HR folders, the five test sets and DIV2K100."""
    from sfd_arch.tools.demo import bicubic_down

    for folder, names in TRAIN_PHOTOS.items():
        os.makedirs(root / folder)
        for stem, name in names.items():
            cv2.imwrite(str(root / folder / f'{stem}.png'), _photo_crop(name, (128, 128), 100))
    lr_dirs = {name: (f'datasets/{name}/GTmod12', f'datasets/{name}/LRbicx4', '{}') for name in TEST_SETS}
    lr_dirs['DIV2K100'] = ('datasets/DIV2K/DIV2K_valid_HR', 'datasets/DIV2K/DIV2K_valid_LR_bicubic/X4', '{}x4')
    for k, (gt_dir, lq_dir, tmpl) in enumerate(lr_dirs.values()):  # test_sfd_x4.yml's filename_tmpl
        os.makedirs(root / gt_dir)
        os.makedirs(root / lq_dir)
        for i, name in enumerate(TEST_PHOTOS):
            hr = _photo_crop(name, TEST_HW, 12 * k)
            cv2.imwrite(str(root / gt_dir / f'{i:04d}.png'), hr)
            cv2.imwrite(str(root / lq_dir / f"{tmpl.format(f'{i:04d}')}.png"), bicubic_down(hr))


@pytest.mark.slow
def test_tutorial_dry_run_end_to_end(tmp_path):
    from sfd_arch.metrics import write_stand_in_weights

    _toy_data(tmp_path)
    write_stand_in_weights(str(tmp_path / 'experiments' / 'pretrained_models'), sets=['lpips', 'dists', 'fid'])
    write_random_vgg19(str(tmp_path / 'experiments' / 'pretrained_models' / 'vgg19-dcbb9e9d.pth'))
    (tmp_path / 'tiny_clip').mkdir()
    (tmp_path / 'tiny_clip' / 'open_clip_config.json').write_text(json.dumps(TINY_RN_CFG))
    env = dict(os.environ, SFD=str(REPO), PYTHONPATH=str(REPO), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    out = subprocess.run(['bash', '-ex', '-c', dry_run_block()], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=1800)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]

    psnr = tmp_path / re.search(r'^PSNR=(\S+)$', dry_run_block(), re.M).group(1)
    assert psnr.parent.parent.name == yaml.safe_load(PSNR_OPT.read_text())['name']
    sfd_name = yaml.safe_load(SFD_OPT.read_text())['name']
    sfd_models = tmp_path / 'experiments' / sfd_name / 'models'
    assert psnr.is_file() and assert_files(sfd_models, 'net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth')
    sfd_log = next((tmp_path / 'experiments' / sfd_name).glob('train_*.log')).read_text()
    assert f'{psnr.relative_to(tmp_path)}' in sfd_log  # the SFD stage loaded the PSNR stage's output
    for val_set in ('Set5', 'Set14'):  # both validation sets, the three metrics, BasicSR's best record
        block = sfd_log.split(f'Validation {val_set}')[1][:400]
        for metric in ('psnr', 'lpips', 'sfd_iqa'):
            mark = r'( \((stand-in weights|random CLIP)\))?'  # a metric on stand-in weights says so
            assert re.search(rf'# {metric}{mark}: [-\d.]+\s+Best: [-\d.]+ @ \d+ iter', block), (val_set, metric, block)
    with open(tmp_path / 'results' / 'SFD_x4_f64b23_DIV2K' / 'metrics.csv') as f:
        niqe = [float(r['value']) for r in csv.DictReader(f) if r['metric'] == 'niqe']
    assert len(niqe) == len(TEST_PHOTOS) * (len(TEST_SETS) + 1) and all(np.isfinite(niqe)), niqe  # every image
    report = (tmp_path / 'reports' / 'x4' / 'report.md').read_text()
    assert 'PSNR' in report and 'SFD' in report
    with open(tmp_path / 'sfd_scores.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(TEST_PHOTOS) * (len(TEST_SETS) + 1)  # every SR image compare.py wrote for the SFD model
    assert all(0 <= float(r['score']) <= 1 for r in rows)


def assert_files(folder, *names) -> bool:
    missing = [n for n in names if not (folder / n).is_file()]
    assert not missing, missing
    return True
