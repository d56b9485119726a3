"""A new user's mistakes in values and files stop a run before BasicSR starts, each with one message naming the
file, the key, the value and the fix, and nothing written (no experiment folder, no archived copy, no
tb_logger).

The file shape is the README's: a tiny ESRGAN option file switched to SFD by ``scripts/switch_to_sfd.py``
(``sfd_testutil.write_switched_sfd_run``'s recipe), with a validation set. Each row of the table of mistakes is
checked in-process by ``check_option_file`` (what ``sfd_arch/train.py`` runs first); one row runs the training
script itself in the default run, every row does under ``-m slow``.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO
from sfd_testutil import esrgan_style_options, make_paired_dataset, save_tiny_clip, tiny_clip_line, write_pairs

from sfd_arch.options import check_option_file
from sfd_arch.tools.switch import switch_text

NAME = 'row'
VGG = Path('experiments') / 'pretrained_models' / 'vgg19-dcbb9e9d.pth'


@pytest.fixture(scope='module')
def run_root(tmp_path_factory):
    """Data (4 training pairs 64/16 px, 2 validation pairs), the tiny CLIP file, a VGG19 file where BasicSR
    looks (its presence is what the check sees), and the switched option file as text."""
    root = tmp_path_factory.mktemp('preflight')
    gt, lq = make_paired_dataset(str(root / 'data' / 'train'), n=4, size=64)
    write_pairs(str(root / 'data' / 'val' / 'gt'), str(root / 'data' / 'val' / 'lq'), n=2, size=64)
    clip_file = save_tiny_clip(str(root / 'tiny_clip.pt'))
    (root / VGG).parent.mkdir(parents=True)
    torch.save({}, root / VGG)
    opt = yaml.safe_load(switch_text(esrgan_style_options(NAME, gt, lq, perceptual=True),
                                     clip_line=tiny_clip_line(clip_file)))
    opt['datasets']['val'] = {'name': 'val', 'type': 'PairedImageDataset', 'dataroot_gt': str(root / 'data/val/gt'),
                              'dataroot_lq': str(root / 'data/val/lq'), 'io_backend': {'type': 'disk'}}
    opt['val'] = {'val_freq': 2, 'save_img': False,
                  'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}}}
    return root, yaml.safe_dump(opt, sort_keys=False)


def nothing_written(root: Path) -> bool:
    return not (root / 'experiments' / NAME).exists() and not (root / 'tb_logger').exists() and not any(
        p.name.startswith(f'{NAME}_archived') for p in (root / 'experiments').iterdir())


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _yaml_edit(change):
    def apply(text: str, root: Path) -> str:
        opt = yaml.safe_load(text)
        change(opt, root)
        return yaml.safe_dump(opt, sort_keys=False)
    return apply


def _empty_folder(opt, root):
    (root / 'empty').mkdir(exist_ok=True)
    opt['datasets']['train']['dataroot_gt'] = str(root / 'empty')


def _val_sizes(opt, root):
    write_pairs(str(root / 'val_bad' / 'gt'), str(root / 'val_bad' / 'lq'), n=2, size=64, lq_size=20)
    opt['datasets']['val'].update(dataroot_gt=str(root / 'val_bad' / 'gt'), dataroot_lq=str(root / 'val_bad' / 'lq'))


# (id, edit of the option text, exception type, the message after "<file>: ")
ROWS = [
    ('lr_yaml_string', lambda t, r: _edit(t, 'lr: 0.0001', 'lr: 1e-4'), ValueError,
     "train.optim_g.lr: expected a number > 0, got '1e-4' (YAML read 1e-4 as a string: a YAML number needs a dot, "
     'write `!!float 1e-4` or `1.0e-4`)'),
    ('lr_text', lambda t, r: _edit(t, 'lr: 0.0001', 'lr: abc'), ValueError,
     "train.optim_g.lr: expected a number > 0, got 'abc'"),
    ('batch_zero', lambda t, r: _edit(t, 'batch_size_per_gpu: 2', 'batch_size_per_gpu: 0'), ValueError,
     'datasets.train.batch_size_per_gpu: expected an integer >= 1, got 0'),
    ('scale_vs_network', lambda t, r: _edit(t, 'scale: 4', 'scale: 3'), ValueError,
     'scale: 3, but network_g (RRDBNet) upscales x4 (network_g.scale, its default): make them equal'),
    ('gt_size_too_large', lambda t, r: _edit(t, 'gt_size: 64', 'gt_size: 128'), ValueError,
     'datasets.train.gt_size: 128 is larger than the smallest training image, {root}/data/train/gt/0000.png (64x64, '
     'its LQ 16 px on the short side < 32): set gt_size to at most 64, or drop the small images'),
    ('empty_dataset', _yaml_edit(_empty_folder), ValueError,
     'datasets.train.dataroot_gt: no images in {root}/empty (an empty folder)'),
    ('val_sizes', _yaml_edit(_val_sizes), ValueError,
     'datasets.val: 2 GT/LQ pair(s) are not x4 apart (GT must be 4 x LQ, or up to 3 px more that BasicSR crops off; '
     'width x height): {root}/val_bad/gt/0000.png is 64x64 but {root}/val_bad/lq/0000.png is 20x20, '
     '{root}/val_bad/gt/0001.png is 64x64 but {root}/val_bad/lq/0001.png is 20x20'),
    ('val_niqe_too_small', _yaml_edit(lambda o, r: o['val']['metrics'].update(
        niqe={'type': 'calculate_niqe', 'crop_border': 4})), ValueError,
     'val.metrics.niqe: calculate_niqe cannot measure 2 of the 2 image(s) of datasets.val (SR size = LQ x 4), e.g. '
     '{root}/data/val/lq/0000.png: 64x64 leaves 56x56 after crop_border 4: 0 96 px blocks, NIQE needs 2; use larger '
     'images or take niqe out of val.metrics'),
    ('total_iter_negative', lambda t, r: _edit(t, 'total_iter: 2', 'total_iter: -1'), ValueError,
     'train.total_iter: expected an iteration count >= 1, got -1'),
    ('pretrain_nowhere', lambda t, r: _edit(t, 'pretrain_network_g: null', 'pretrain_network_g: nowhere/net_g.pth'),
     FileNotFoundError, 'path.pretrain_network_g: not found: nowhere/net_g.pth'),
    ('clip_weights_missing', _yaml_edit(lambda o, r: o['clip'].update(
        pretrained='experiments/pretrained_models/clip/RN50.pt')),
     FileNotFoundError, 'clip.pretrained: CLIP weights file not found: `clip.pretrained: '
                        'experiments/pretrained_models/clip/RN50.pt` (resolved to '
                        '{root}/experiments/pretrained_models/clip/RN50.pt)'),
]


def write_row(root: Path, text: str, edit) -> Path:
    path = root / f'{NAME}.yml'
    path.write_text(edit(text, root))
    return path


def test_the_readme_shape_passes(run_root, monkeypatch):
    root, text = run_root
    monkeypatch.chdir(root)
    path = write_row(root, text, lambda t, r: t)
    opt = check_option_file(str(path), argv=['-opt', str(path)])
    assert opt['model_type'] == 'SFDModel' and nothing_written(root)


@pytest.mark.parametrize('edit, error, message', [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_each_mistake_is_one_message_before_basicsr_starts(run_root, monkeypatch, edit, error, message):
    root, text = run_root
    monkeypatch.chdir(root)
    path = write_row(root, text, edit)
    with pytest.raises(error) as info:
        check_option_file(str(path), argv=['-opt', str(path)])
    assert str(info.value.args[0]) == f'{path}: ' + message.format(root=root)
    assert nothing_written(root)


def test_perceptual_loss_without_vgg19_names_the_file_and_both_places(run_root, tmp_path, monkeypatch):
    """The same file run from a folder without experiments/pretrained_models/vgg19-dcbb9e9d.pth, and an empty
    torch hub: torchvision would start a download; the check names the file, BasicSR's and torchvision's place."""
    root, text = run_root
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    path = write_row(tmp_path, text, lambda t, r: t)
    with pytest.raises(FileNotFoundError) as info:
        check_option_file(str(path), argv=['-opt', str(path)])
    hub = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'vgg19-dcbb9e9d.pth'
    assert info.value.args[0] == (
        f'{path}: train.perceptual_opt: the vgg19 weights vgg19-dcbb9e9d.pth are not on this machine; torchvision '
        f'would try to download them while BasicSR builds the model. Put the file at {tmp_path / VGG} or {hub} '
        '(published at https://download.pytorch.org/models/vgg19-dcbb9e9d.pth)')
    assert not (tmp_path / 'experiments').exists() and not (tmp_path / 'tb_logger').exists()


def test_pretrained_weights_of_another_network_and_a_resume_state_without_its_networks(run_root, monkeypatch):
    root, text = run_root
    monkeypatch.chdir(root)
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.save({'params': RRDBNet(3, 3, num_feat=16, num_block=1, num_grow_ch=4).state_dict()}, root / 'wide.pth')
    path = write_row(root, text, lambda t, r: _edit(t, 'pretrain_network_g: null', 'pretrain_network_g: wide.pth'))
    with pytest.raises(ValueError, match=r'path\.pretrain_network_g: wide\.pth does not fit network_g as the file '
                                         r'sets it \(\d+ shape\(s\) differ: conv_first\.weight \(16, 3, 3, 3\) in '
                                         r'the file, \(8, 3, 3, 3\) in the network'):
        check_option_file(str(path), argv=['-opt', str(path)])
    torch.save({'iter': 6, 'epoch': 0, 'optimizers': [], 'schedulers': []}, root / '6.state')
    path = write_row(root, text, lambda t, r: _edit(t, 'resume_state: null', 'resume_state: 6.state'))
    with pytest.raises(FileNotFoundError, match=re.escape(
            'path.resume_state: 6.state is iteration 6, but experiments/row/models/net_g_6.pth is not there')):
        check_option_file(str(path), argv=['-opt', str(path)])
    assert nothing_written(root)


def test_a_clip_tag_offline_and_uncached_fails_in_the_check(run_root, monkeypatch):
    """`pretrained: openai` without RN50.pt on disk: the check says where to put it, before BasicSR starts (it
    used to come from build_model, after the data loaders; online and unreachable, after 46 s of retries)."""
    root, text = run_root
    monkeypatch.chdir(root)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    path = write_row(root, text, _yaml_edit(lambda o, r: o.update(clip={'model': 'RN50', 'pretrained': 'openai'})))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"clip\.pretrained: CLIP weights for 'RN50' \(pretrained: openai\) "
                                                r'are not cached and this process is offline .*put it at '
                                                r'experiments/pretrained_models/clip/RN50\.pt'):
        check_option_file(str(path), argv=['-opt', str(path)])
    assert time.perf_counter() - start < 10 and nothing_written(root)


def test_the_test_script_on_an_empty_folder_says_no_images(tmp_path, monkeypatch):
    from sfd_arch import test as test_script

    monkeypatch.chdir(tmp_path)
    (tmp_path / 'gt').mkdir()
    write_pairs(str(tmp_path / 'unused'), str(tmp_path / 'lq'))
    opt = {'name': 'empty', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Set5', 'type': 'PairedImageDataset', 'dataroot_gt': 'gt',
                                   'dataroot_lq': 'lq', 'io_backend': {'type': 'disk'}}},
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1},
           'path': {'pretrain_network_g': None}, 'val': {'metrics': {}}}
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(opt))
    with pytest.raises(SystemExit) as info:
        test_script.main(['-opt', 'test.yml'])
    assert str(info.value) == 'error: test.yml: datasets.test_1.dataroot_gt: no images in gt (an empty folder)'
    assert not (tmp_path / 'results').exists()


def test_the_test_script_on_photos_too_small_for_niqe_stops_before_basicsr(tmp_path, monkeypatch):
    """LQ photos without ground truth (SingleImageDataset): their sizes come from the headers, x scale."""
    from sfd_arch import test as test_script

    monkeypatch.chdir(tmp_path)
    write_pairs(str(tmp_path / 'unused'), str(tmp_path / 'lq'), n=2, size=96, lq_size=24)
    write_pairs(str(tmp_path / 'unused2'), str(tmp_path / 'lq'), n=1, size=400, lq_size=100, start=2)  # 0002: large
    opt = {'name': 'small', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'photos', 'type': 'SingleImageDataset', 'dataroot_lq': 'lq',
                                   'io_backend': {'type': 'disk'}}},
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1},
           'path': {'pretrain_network_g': None},
           'val': {'metrics': {'niqe': {'type': 'calculate_niqe', 'crop_border': 0}}}}
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(opt))
    with pytest.raises(SystemExit) as info:
        test_script.main(['-opt', 'test.yml'])
    assert str(info.value) == ('error: test.yml: val.metrics.niqe: calculate_niqe cannot measure 2 of the 3 image(s) '
                               'of datasets.test_1 (SR size = LQ x 4), e.g. lq/0000.png: 96x96 leaves 96x96 after '
                               'crop_border 0: 1 96 px block, NIQE needs 2; use larger images or take niqe out of '
                               'val.metrics')
    assert not (tmp_path / 'results').exists()


# -- the training script itself: exit status, message, and nothing written (an existing folder left in place) ----
def run_training_script(root: Path, path: Path) -> subprocess.CompletedProcess:
    (root / 'experiments' / NAME).mkdir(parents=True, exist_ok=True)
    (root / 'experiments' / NAME / 'keep.txt').write_text('an earlier run')
    return subprocess.run([sys.executable, str(REPO / 'sfd_arch' / 'train.py'), '-opt', str(path)], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(REPO)})


def _script_refuses(root: Path, text: str, row: tuple) -> None:
    _, edit, _, message = row
    path = write_row(root, text, edit)
    try:
        run = run_training_script(root, path)
        assert run.returncode == 1, run.stderr[-2000:]
        assert run.stderr.strip().splitlines()[-1].startswith(f'error: {path}: ' + message.format(root=root)[:60])
        assert (root / 'experiments' / NAME / 'keep.txt').read_text() == 'an earlier run'
        assert not (root / 'tb_logger').exists()
        assert not [p for p in (root / 'experiments').iterdir() if p.name.startswith(f'{NAME}_archived')]
    finally:
        (root / 'experiments' / NAME / 'keep.txt').unlink()
        (root / 'experiments' / NAME).rmdir()


def test_the_training_script_stops_on_a_yaml_string_lr_and_moves_nothing(run_root):
    root, text = run_root
    _script_refuses(root, text, ROWS[0])


@pytest.mark.slow
@pytest.mark.parametrize('row', ROWS[1:], ids=[r[0] for r in ROWS[1:]])
def test_the_training_script_stops_on_every_mistake_and_moves_nothing(run_root, row):
    root, text = run_root
    _script_refuses(root, text, row)


# -- more values that cannot run together, and datasets on disk ------------------------------------------------------
def _lmdb(folder: Path, names: list, size: int) -> str:
    folder.mkdir(parents=True)
    (folder / 'data.mdb').write_bytes(b'')
    (folder / 'meta_info.txt').write_text(''.join(f'{n}.png ({size},{size},3) 1\n' for n in names))
    return str(folder)


def _lmdb_edit(gt_names, lq_names, lq_size=16):
    def change(opt, root):
        suffix = f'{len(gt_names)}_{len(lq_names)}_{lq_size}'
        train = opt['datasets']['train']
        train.update(dataroot_gt=_lmdb(root / f'gt_{suffix}.lmdb', gt_names, 64), io_backend={'type': 'lmdb'},
                     dataroot_lq=_lmdb(root / f'lq_{suffix}.lmdb', lq_names, lq_size))
    return _yaml_edit(change)


@pytest.mark.parametrize('edit, message', [
    (_yaml_edit(lambda o, r: o['train']['scheduler'].update(milestones=[1, 5])),
     'train.scheduler.milestones: [5] after the last iteration (total_iter 2): the rate never drops there'),
    (_yaml_edit(lambda o, r: o['train'].update(warmup_iter=2)),
     'train.warmup_iter: 2 is not shorter than the run (total_iter 2): the learning rate would never reach its '
     'value'),
    (_yaml_edit(lambda o, r: o['train'].update(scheduler={'type': 'CosineAnnealingRestartLR', 'periods': [1],
                                                          'restart_weights': [1]})),
     'train.scheduler.periods: they add up to 1, fewer than total_iter 2 (BasicSR fails at the first iteration '
     'past them)'),
    (_yaml_edit(lambda o, r: o['datasets']['train'].update(batch_size_per_gpu=8)),
     'datasets.train.batch_size_per_gpu: 8 is more than the 4 training image(s) x dataset_enlarge_ratio 1 give per '
     'epoch (BasicSR drops the incomplete batch, so no iteration would run): lower it, or raise '
     'dataset_enlarge_ratio'),
    (_lmdb_edit(['a', 'b'], ['a', 'c']),
     'datasets.train: the LMDBs hold different images: only in dataroot_gt: b; only in dataroot_lq: c'),
    (_lmdb_edit(['a', 'b'], ['a', 'b'], lq_size=15),
     'datasets.train: 2 GT/LQ pair(s) are not x4 apart (GT must be exactly 4 x LQ for training; width x height): '
     '{root}/gt_2_2_15.lmdb image a is 64x64 but {root}/lq_2_2_15.lmdb image a is 15x15, {root}/gt_2_2_15.lmdb '
     'image b is 64x64 but {root}/lq_2_2_15.lmdb image b is 15x15'),
    (_lmdb_edit([], []), 'datasets.train.dataroot_gt: no images in {root}/gt_0_0_16.lmdb (its meta_info.txt lists '
                         'none)'),
], ids=['milestone_late', 'warmup_long', 'periods_short', 'batch_too_big', 'lmdb_keys', 'lmdb_sizes', 'lmdb_empty'])
def test_values_together_and_datasets_on_disk(run_root, monkeypatch, edit, message):
    root, text = run_root
    monkeypatch.chdir(root)
    path = write_row(root, text, edit)
    with pytest.raises(ValueError) as info:
        check_option_file(str(path), argv=['-opt', str(path)])
    assert info.value.args[0] == f'{path}: ' + message.format(root=root)
    assert nothing_written(root)


def test_an_unreachable_hub_fails_at_once_not_after_the_retries(monkeypatch, tmp_path):
    """Without HF_HUB_OFFLINE, an uncached tag used to go to huggingface_hub, whose five retries of 1-8 s for each
    of two file names took about 46 s on a machine without network; one connection attempt decides now."""
    import socket

    from sfd_arch.archs.clip_arch import CLIPWeightsError, resolve_pretrained

    def refuse(address, *args, **kwargs):
        raise OSError(101, 'Network is unreachable')

    monkeypatch.chdir(tmp_path)
    for name in ('HF_HUB_OFFLINE', 'SFD_OFFLINE', 'TRANSFORMERS_OFFLINE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    start = time.perf_counter()
    with pytest.raises(CLIPWeightsError, match=r"CLIP weights for 'RN50' \(pretrained: openai\) are not on this "
                                               r'machine and huggingface\.co cannot be reached \(Network is '
                                               r'unreachable\)\. .*put it at experiments/pretrained_models/clip/'
                                               r'RN50\.pt'):
        resolve_pretrained('RN50', 'openai', cache_dir=str(tmp_path / 'cache'))
    assert time.perf_counter() - start < 5
