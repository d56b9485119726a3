"""The option-file key check (sfd_arch.options): every key is read by someone, or an error names it, where it is
and the closest known key, before BasicSR starts.

No false alarm: the upstream shapes in tests/upstream_options/ follow BasicSR's
options/train/ESRGAN/train_ESRGAN_x4.yml and train_RRDBNet_PSNR_x4.yml and Real-ESRGAN's
options/train_realesrgan_x4plus.yml; the x2plus, finetune_realesrgan_x4plus(_pairdata) and train_realesrnet
variants are derived below the way those upstream files differ from it.
"""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sfd_testutil import write_pairs

import sfd_arch  # noqa: F401  (registers the SFD archs, losses and metrics)
from sfd_arch.options import OptionKeyError, check_metric_blocks, check_option_file, check_option_keys
from sfd_arch.tools.switch import switch_text

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = Path(__file__).resolve().parent / 'upstream_options'


def upstream(name: str) -> dict:
    return yaml.safe_load((UPSTREAM / name).read_text())


def realesrgan_variants() -> dict:
    """Real-ESRGAN's train/finetune files, each as it differs from train_realesrgan_x4plus.yml."""
    x4 = upstream('realesrgan_x4plus.yml')
    x2 = copy.deepcopy(x4)
    x2.update(name='realesrgan_shape_x2plus', scale=2)
    x2['network_g']['scale'] = 2
    finetune = copy.deepcopy(x4)
    finetune['path'].update(pretrain_network_d='experiments/pretrained_models/d.pth', param_key_d='params',
                            strict_load_d=True)
    pairdata = copy.deepcopy(finetune)
    for key in list(pairdata):
        if key in ('gt_size', 'queue_size') or key.startswith(('resize_', 'gaussian_', 'noise_', 'poisson_',
                                                                 'gray_', 'jpeg_', 'second_')):
            del pairdata[key]
    pairdata['high_order_degradation'] = False
    train = pairdata['datasets']['train']
    pairdata['datasets']['train'] = {
        'name': 'pairs', 'type': 'RealESRGANPairedDataset', 'dataroot_gt': 'datasets/pairs',
        'dataroot_lq': 'datasets/pairs', 'meta_info': 'datasets/pairs/meta_info_pair.txt',
        **{k: train[k] for k in ('io_backend', 'gt_size', 'use_hflip', 'use_rot', 'use_shuffle',
                                 'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio', 'prefetch_mode')}}
    return {'train_realesrgan_x4plus': x4, 'train_realesrgan_x2plus': x2, 'finetune_realesrgan_x4plus': finetune,
            'finetune_realesrgan_x4plus_pairdata': pairdata}


def switched(opt: dict) -> dict:
    return yaml.safe_load(switch_text(yaml.safe_dump(opt, sort_keys=False)))


def sfd_opt(**changes) -> dict:
    opt = switched(upstream('esrgan_x4.yml'))
    opt.update(changes)
    return opt


def message_of(opt: dict) -> str:
    with pytest.raises(OptionKeyError) as info:
        check_option_keys(opt, 'my.yml')
    return str(info.value)


# -- no false alarm ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('path', sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'options').rglob('*.yml')))
def test_every_option_file_of_the_project_passes(path):
    check_option_keys(yaml.safe_load((ROOT / path).read_text()), path)


@pytest.mark.parametrize('name', ['esrgan', *realesrgan_variants()])
def test_switched_upstream_files_pass_unchanged(name):
    opt = upstream('esrgan_x4.yml') if name == 'esrgan' else realesrgan_variants()[name]
    sfd = switched(opt)
    assert sfd['model_type'] in ('SFDModel', 'RealSFDModel')
    check_option_keys(sfd, name)


def test_unswitched_psnr_and_realesrnet_files_pass():
    check_option_keys(upstream('rrdbnet_psnr_x4.yml'))
    net = upstream('realesrgan_x4plus.yml')  # train_realesrnet_x4plus.yml: gt_usm instead of the three, no D
    for key in ('l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm', 'network_d'):
        del net[key]
    net.update(model_type='RealESRNetModel', gt_usm=True)
    for key in ('optim_d', 'perceptual_opt', 'gan_opt', 'net_d_iters', 'net_d_init_iters'):
        del net['train'][key]
    check_option_keys(net)


# -- the cases of a new user --------------------------------------------------------------------------------------
def test_misspelt_ablation_switch_and_amp_name_the_key_and_the_closest():
    opt = sfd_opt()
    opt['train']['tgd_optt'] = None
    assert message_of(opt) == ('my.yml: train.tgd_optt: unknown key (did you mean `tgd_opt`?); declare a key your '
                               'own code reads in the top-level `extra_keys:` list (docs/training.md "Option keys")')
    opt = sfd_opt()
    opt['train']['ampp'] = 'bf16'
    assert 'train.ampp: unknown key (did you mean `amp`?)' in message_of(opt)


@pytest.mark.parametrize('block, line', [
    ({'type': 'calculate_psnr', 'crop_border': 4, 'test_y_chanel': True},
     'val.metrics.m.test_y_chanel: unknown key of calculate_psnr (did you mean `test_y_channel`?)'),
    ({'type': 'calculate_lpips', 'nett': 'vgg'}, 'val.metrics.m.nett: unknown key of calculate_lpips '
                                                 '(did you mean `net`?)'),
    ({'type': 'calculate_fid', 'crop_sise': 64}, 'val.metrics.m.crop_sise: unknown key of calculate_fid '
                                                  '(did you mean `crop_size`?)'),
    ({'type': 'calculate_sfd_iqa', 'alpah': 1}, 'val.metrics.m.alpah: unknown key of calculate_sfd_iqa '
                                                '(did you mean `alpha`?)'),
    ({'type': 'calculate_niqe', 'crop_border': 4, 'convert_too': 'y'},
     'val.metrics.m.convert_too: unknown key of calculate_niqe (did you mean `convert_to`?)'),
    ({'type': 'calculate_psnrr', 'crop_border': 4},
     "val.metrics.m.type: unknown metric type 'calculate_psnrr' (did you mean `calculate_psnr`?)"),
])
def test_metric_blocks_name_the_metric_the_key_and_the_closest(block, line):
    with pytest.raises(OptionKeyError, match='^' + re.escape(line)):
        check_metric_blocks({'m': block})
    assert line in message_of(sfd_opt(val={'val_freq': 10, 'metrics': {'m': block}}))


def test_metric_keys_that_are_read_pass():
    check_metric_blocks({'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True, 'better':
                                  'higher'},
                         'kid': {'type': 'calculate_kid', 'crop_size': 64, 'subsets': 2, 'better': 'lower'},
                         'iqa': {'type': 'calculate_sfd_iqa', 'weights': 'w.pth', 'alpha': 1, 'tile': 256}})


def test_the_training_script_refuses_before_basicsr_starts(tmp_path):
    opt = sfd_opt()
    opt['train']['tgd_optt'] = None
    path = tmp_path / 'ablation.yml'
    path.write_text(yaml.safe_dump(opt))
    run = subprocess.run([sys.executable, str(ROOT / 'sfd_arch' / 'train.py'), '-opt', str(path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env={**os.environ, 'HF_HUB_OFFLINE': '1'})
    assert run.returncode != 0
    assert f'error: {path}: train.tgd_optt: unknown key (did you mean `tgd_opt`?)' in run.stderr
    assert not (tmp_path / 'experiments').exists()


# -- every level ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('edit, line', [
    (lambda o: o['network_g'].update(num_blocks=23), 'network_g.num_blocks: unknown key of RRDBNet '
                                                     '(did you mean `num_block`?)'),
    (lambda o: o.update(network_featd={'num_feats': 32}), 'network_featd.num_feats: unknown key of FeatD '
                                                          '(did you mean `num_feat`?)'),
    (lambda o: o.update(network_lpp={'learnable': False, 'clip': {}}), 'network_lpp.clip: set by the top-level'),
    (lambda o: o.update(network_d={'type': 'VGGStyleDiscriminatr'}),
     "network_d.type: unknown architecture type 'VGGStyleDiscriminatr' (did you mean "
     '`VGGStyleDiscriminator`?)'),
    (lambda o: o['datasets']['train'].update(dataroot_gtt='x'), 'datasets.train.dataroot_gtt: unknown key of '
                                                                'PairedImageDataset (did you mean `dataroot_gt`?)'),
    (lambda o: o['datasets']['val'].update(type='PairedImageDatset'), "datasets.val.type: unknown dataset type "
                                                                      "'PairedImageDatset' (did you mean"),
    (lambda o: o['datasets']['train']['io_backend'].update(tpye='disk'), 'datasets.train.io_backend.tpye: unknown '
                                                                          'key (did you mean `type`?)'),
    (lambda o: o['path'].update(pretrain_network_featdd='f.pth'), 'path.pretrain_network_featdd: unknown key '
                                                                  '(did you mean `pretrain_network_featd`?)'),
    (lambda o: o['logger']['wandb'].update(projct='p'), 'logger.wandb.projct: unknown key (did you mean `project`?)'),
    (lambda o: o['dist_params'].update(prot=1), 'dist_params.prot: unknown key (did you mean `port`?)'),
    (lambda o: o['train']['optim_g'].update(beta=[0.9, 0.99]), 'train.optim_g.beta: unknown key of torch.optim.Adam '
                                                               '(did you mean `betas`?)'),
    (lambda o: o['train']['scheduler'].update(gama=0.5), 'train.scheduler.gama: unknown key of MultiStepRestartLR '
                                                         '(did you mean `gamma`?)'),
    (lambda o: o['train'].update(featd_opt={'loss_weigth': 1}), 'train.featd_opt.loss_weigth: unknown key of '
                                                                'FeatureGANLoss (did you mean `loss_weight`?)'),
    (lambda o: o.update(clip={'layer': [1]}), 'clip.layer: unknown key (did you mean `layers`?)'),
    (lambda o: o.update(keep_image_dd=True), 'keep_image_dd: unknown key (did you mean `keep_image_d`?)'),
    (lambda o: o.update(resize_prob=[0.2, 0.7, 0.1]), 'resize_prob: unknown key'),  # RealSFDModel's, not SFDModel's
    (lambda o: o.update(keep_image_d='maybe'), "keep_image_d: expected true or false, got 'maybe'"),
])
def test_each_level_names_the_key_where_it_is_and_the_closest(edit, line):
    opt = sfd_opt()
    edit(opt)
    assert line in message_of(opt)


def test_several_unknown_keys_are_listed_together():
    opt = sfd_opt()
    opt['train']['ampp'] = 'bf16'
    opt['val']['val_frek'] = 10
    message = message_of(opt)
    assert message.startswith('my.yml: option keys nothing reads:\n')
    assert '  train.ampp: unknown key' in message
    assert '  val.val_frek: unknown key (did you mean `val_freq`?)' in message


def test_a_registered_dataset_type_outside_the_table_is_checked_only_for_loader_keys():
    opt = sfd_opt()
    opt['datasets']['train'].update(type='FFHQDataset', any_key_ffhq_reads=1)
    check_option_keys(opt)


def test_extra_keys_declares_keys_of_ones_own_code():
    opt = sfd_opt()
    opt['train']['my_weight'] = 0.5
    opt['datasets']['train']['my_flag'] = True
    opt['val']['metrics']['psnr']['my_note'] = 'x'
    assert 'train.my_weight: unknown key' in message_of(opt)
    opt['extra_keys'] = ['train.my_weight', 'datasets.train.my_flag', 'val.metrics.psnr.my_note']
    check_option_keys(opt)


# -- the command line BasicSR will parse --------------------------------------------------------------------------
def write_runnable(tmp_path: Path) -> Path:
    """A runnable file but for its training GT folder, which is not there (``real_gt``: the one that is)."""
    opt = sfd_opt()
    for phase in ('train', 'val'):
        write_pairs(str(tmp_path / phase / 'gt'), str(tmp_path / phase / 'lq'))
        opt['datasets'][phase].update(dataroot_gt=str(tmp_path / phase / 'gt'),
                                      dataroot_lq=str(tmp_path / phase / 'lq'))
    write_pairs(str(tmp_path / 'real_gt'), str(tmp_path / 'unused_lq'))
    opt['datasets']['train']['dataroot_gt'] = str(tmp_path / 'not_here')
    opt['path']['pretrain_network_g'] = None
    path = tmp_path / 'train.yml'
    path.write_text(yaml.safe_dump(opt))
    return path


def test_force_yml_is_applied_before_the_check(tmp_path):
    path = write_runnable(tmp_path)
    with pytest.raises(FileNotFoundError, match='dataroot_gt: not found:'):
        check_option_file(str(path), argv=['-opt', str(path)])
    real = tmp_path / 'real_gt'
    opt = check_option_file(str(path), argv=['-opt', str(path), '--auto_resume', '--debug', '--force_yml',
                                             f'datasets:train:dataroot_gt={real}', 'train:ema_decay=0.99'],
                            check_weights=False)
    assert opt['datasets']['train']['dataroot_gt'] == str(real)
    assert opt['train']['ema_decay'] == 0.99 and opt['auto_resume'] is True
    assert opt['name'].startswith('debug_')


def test_a_misspelt_force_yml_key_fails_naming_it(tmp_path):
    path = write_runnable(tmp_path)
    real = tmp_path / 'real_gt'
    argv = ['-opt', str(path), '--force_yml', f'datasets:train:dataroot_gt={real}', 'train:ema_decy=0.99']
    with pytest.raises(OptionKeyError, match=r'train\.ema_decy: unknown key \(did you mean .ema_decay.\?\) '
                                             r'\(set by --force_yml\)'):
        check_option_file(str(path), argv=argv)
    with pytest.raises(KeyError, match='`trian` is not in the option file'):
        check_option_file(str(path), argv=['-opt', str(path), '--force_yml', 'trian:ema_decay=0.99'])
