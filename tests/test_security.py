"""Files someone else made are data: docs/security.md, claim by claim, with hostile fixtures.

Every fixture is shown live first: read the unsafe way (BasicSR's own loader, its ``_postprocess_yml_value``,
``torch.load`` under ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, a plain path join), it does create its marker file or
land outside its folder. Then the same file goes through our code, and the marker is not created, nothing is written
outside the output folder, and the user is told, in one sentence, what was refused.
"""
import csv
import os
import os.path as osp
import re
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_clip_opt
from sfd_testutil import make_paired_dataset, tiny_clip_from_file

import sfd_arch  # noqa: F401  (BasicSR's loaders patched once BasicSR is imported)
from sfd_arch.cli import main as cli
from sfd_arch.utils.checkpoints import CheckpointError, load_checkpoint
from sfd_arch.utils.files import OutputBusyError, UnsafePathError, check_name, single_writer
from sfd_arch.utils.safe_yaml import OptionFileError, load_option_file, load_yaml, yml_value

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures('single_thread')


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'SFD_ARCH_NO_HOOK')}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', **extra)
    return env


class RunsCode:
    """Unpickled, this runs ``touch <marker>``: what a crafted ``.pth`` does to a full unpickling."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch "{self.marker}"',)


@pytest.fixture
def marker(tmp_path):
    """The file a hostile fixture creates when it runs."""
    return tmp_path / 'PWNED'


def hostile_yaml(marker: Path, body: str = 'name: hostile\nmodel_type: SRModel\n') -> str:
    return body + f'extra_keys: !!python/object/apply:os.system ["touch {marker}"]\n'


def basicsr_loader():
    from basicsr.utils.options import ordered_yaml

    return ordered_yaml._basicsr()[0]  # BasicSR's own, kept beside the safe one


def show_live_yaml(text: str, marker: Path) -> None:
    """BasicSR's loader runs the tag: the marker appears (and is removed again)."""
    assert not marker.exists()
    yaml.load(text, Loader=basicsr_loader())
    assert marker.exists(), 'the fixture must be live'
    marker.unlink()


# -- option files --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('folder', ['tests/upstream_options', 'options', 'options/demo', 'options/ablation'])
def test_safe_loader_reads_every_option_file_as_basicsr_does(folder):
    """Same values, same types, same order (OrderedDict) as BasicSR's loader, for the upstream-shaped files and ours."""
    files = sorted((REPO / folder).glob('*.yml'))
    assert files
    for path in files:
        ours, theirs = load_option_file(str(path)), yaml.load(path.read_text(), Loader=basicsr_loader())
        assert ours == theirs and type(ours) is type(theirs), path
        assert list(ours) == list(theirs)


def test_python_tag_is_refused_by_every_entry_point_before_anything_runs(tmp_path, marker, monkeypatch, capsys):
    """The tag runs through BasicSR's loader; through ours (preflight, sfd_arch/train.py and test.py, the
    comparison, export, BasicSR's own train and test pipelines and ordered_yaml) it is an error naming the file,
    the line and the tag."""
    monkeypatch.chdir(tmp_path)
    text = hostile_yaml(marker)
    show_live_yaml(text, marker)
    opt = tmp_path / 'hostile.yml'
    opt.write_text(text)
    said = re.escape('hostile.yml, line 3: the tag !!python/object/apply:os.system is not allowed')

    from sfd_arch.options import check_option_file
    with pytest.raises(OptionFileError, match=said):
        check_option_file(str(opt))

    import sfd_arch.test
    import sfd_arch.train
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(opt)])
    for main in (sfd_arch.train.main, lambda: sfd_arch.test.main(['-opt', str(opt)])):
        with pytest.raises(SystemExit, match=said):
            main()

    from sfd_arch.eval.compare import CompareError, run_compare
    with pytest.raises(CompareError, match=said):
        run_compare(str(opt), {'bicubic': 'bicubic'}, str(tmp_path / 'report'))

    experiment = tmp_path / 'experiments' / 'hostile'
    experiment.mkdir(parents=True)
    (experiment / 'hostile.yml').write_text('# GENERATE TIME: today\n# CMD:\n# train.py -opt hostile.yml\n\n' + text)
    assert cli(['export', str(experiment), '-o', str(tmp_path / 'sfd_iqa.pth')]) == 2
    assert 'hostile.yml, line 7: the tag !!python/object/apply:os.system' in capsys.readouterr().err  # 4 lines on top

    import basicsr.test
    import basicsr.train
    from basicsr.utils.options import ordered_yaml
    for pipeline in (basicsr.train.train_pipeline, basicsr.test.test_pipeline):
        with pytest.raises(SystemExit, match=said):
            pipeline(str(tmp_path))
    with pytest.raises(OptionFileError, match=said), open(opt) as f:
        yaml.load(f, Loader=ordered_yaml()[0])
    assert not marker.exists() and not (tmp_path / 'experiments' / 'hostile' / 'models').exists()
    assert sorted(os.listdir(tmp_path)) == ['experiments', 'hostile.yml']  # no results/, report/ or export


def test_basicsr_train_started_by_python_refuses_the_tag(tmp_path, marker):
    """``python -m basicsr.train`` with the package installed (the start-up hook imports sfd_arch, which patches
    BasicSR): one line, exit status non-zero, no marker, no experiments/ folder."""
    text = hostile_yaml(marker)
    show_live_yaml(text, marker)
    (tmp_path / 'hostile.yml').write_text(text)
    run = subprocess.run([sys.executable, '-m', 'basicsr.train', '-opt', 'hostile.yml'], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1].startswith(
        'error: hostile.yml, line 3: the tag !!python/object/apply:os.system is not allowed')
    assert 'Traceback' not in run.stderr
    assert not marker.exists() and sorted(os.listdir(tmp_path)) == ['hostile.yml']


def test_a_key_written_twice_is_an_error_naming_both_lines(tmp_path):
    """YAML keeps the second value silently (BasicSR's loader does: 6); the safe loader names both lines."""
    text = 'name: run\ntrain:\n  total_iter: 4\n  warmup_iter: -1\n  total_iter: 6\n'
    assert yaml.load(text, Loader=basicsr_loader())['train']['total_iter'] == 6
    opt = tmp_path / 'twice.yml'
    opt.write_text(text)
    with pytest.raises(OptionFileError, match=r'twice.yml: train.total_iter is written twice \(lines 3 and 5\)'):
        load_option_file(str(opt))
    opt.write_text('name: run\ntrain: {total_iter: 4}\nval: {val_freq: 1}\ntrain:\n  total_iter: 6\n')
    from sfd_arch.options import check_option_file
    with pytest.raises(OptionFileError, match=r'twice.yml: train is written twice \(lines 2 and 4\)'):
        check_option_file(str(opt))
    # a merge key and a repeated name in different mappings are not repeats
    assert load_yaml('a: &base {x: 1}\nb:\n  <<: *base\n  x: 2\nc: {x: 3}\n')['b']['x'] == 2


# -- --force_yml ---------------------------------------------------------------------------------------------------
def test_force_yml_values_read_as_basicsr_reads_them_without_eval(marker):
    from basicsr.utils import options

    basicsr_value = options._postprocess_yml_value._basicsr
    for value in ('1e-4', 'yes', 'no', '~', 'None', 'TRUE', 'false', '3', '3.5', '1.2.3', '.5', '!!float 2e-4',
                  '[1, 2.5]', "['a', 'b']", '[]', 'word', 'experiments/x.pth'):
        assert yml_value(value) == basicsr_value(value), value
        assert type(yml_value(value)) is type(basicsr_value(value)), value
        assert options._postprocess_yml_value(value) == basicsr_value(value)  # BasicSR's name, our rules
    hostile = f"[__import__('os').system('touch {marker}')]"
    basicsr_value(hostile)
    assert marker.exists(), 'the fixture must be live'
    marker.unlink()
    with pytest.raises(ValueError):
        yml_value(hostile)
    with pytest.raises(ValueError):
        options._postprocess_yml_value(hostile)
    assert not marker.exists()


def test_export_reads_the_recorded_command_line_as_data(tmp_path, marker, capsys):
    """An experiment folder whose recorded command ends in a --force_yml list that calls os.system: BasicSR's value
    reader runs it; export stops with the entry named, writes nothing and runs nothing."""
    from basicsr.utils.options import _postprocess_yml_value

    value = f"[__import__('os').system('touch {marker}')]"
    _postprocess_yml_value._basicsr(value)
    assert marker.exists(), 'the fixture must be live'
    marker.unlink()
    experiment = tmp_path / 'SFD_run'
    (experiment / 'models').mkdir(parents=True)
    opt = {'name': 'SFD_run', 'model_type': 'SFDModel', 'clip': tiny_clip_opt(), 'train': {'total_iter': 4}}
    (experiment / 'train.yml').write_text(
        '# GENERATE TIME: today\n# CMD:\n# sfd_arch/train.py -opt train.yml --force_yml '
        f'train:total_iter={value}\n\n' + yaml.safe_dump(opt))
    out = tmp_path / 'sfd_iqa.pth'
    assert cli(['export', str(experiment), '-o', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'the recorded command line cannot be applied again' in err and 'train:total_iter=[__import__' in err
    assert 'not a literal' in err
    assert not marker.exists() and not out.exists()


# -- checkpoints ---------------------------------------------------------------------------------------------------
@pytest.fixture
def hostile_pth(tmp_path, marker, monkeypatch):
    """A checkpoint whose unpickling runs a command, shown live with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (what an
    older torch, or torch.load without weights_only under that variable, does)."""
    path = tmp_path / 'net_g_1000.pth'
    torch.save({'params': {'conv_first.weight': torch.zeros(1)}, 'note': RunsCode(marker)}, path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with warnings.catch_warnings():  # torch says that it honours the variable
        warnings.simplefilter('ignore')
        torch.load(path)
    assert marker.exists(), 'the fixture must be live'
    marker.unlink()
    return path


REFUSED = r'holds a Python object \(posix.system\) that only a full unpickling would build.*not loaded'


def tiny_sr_options(pretrain: str) -> dict:
    return {'num_gpu': 0, 'is_train': False, 'dist': False, 'scale': 4,
            'network_g': {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4, 'num_block': 1,
                          'upscale': 4},
            'path': {'pretrain_network_g': pretrain, 'strict_load_g': True, 'param_key_g': 'params'}}


def test_hostile_checkpoints_are_refused_wherever_weights_are_read(hostile_pth, marker, tmp_path, monkeypatch):
    """resume_state (BasicSR's load_resume_state, our CLIP check), pretrain_network_g (BasicSR's load_network),
    BasicSR's VGG file, the SFD-IQA weights file, export's checkpoints: one sentence, no marker."""
    import basicsr.train
    from basicsr.archs.vgg_arch import VGGFeatureExtractor
    from basicsr.models.sr_model import SRModel

    from sfd_arch.archs.clip_arch import CLIPWeightsError, load_clip_state_dict
    from sfd_arch.eval.plan import CompareError
    from sfd_arch.eval.sources import load_generator
    from sfd_arch.iqa import SFDIQA
    from sfd_arch.iqa.export import ExportError, load_params
    from sfd_arch.metrics.backbones import load_features, vgg16_features

    opt = {'auto_resume': False, 'name': 'run', 'path': {'resume_state': str(hostile_pth)}}
    with pytest.raises(CheckpointError, match='this training state ' + REFUSED):
        basicsr.train.load_resume_state(opt)
    with pytest.raises(CheckpointError, match='this network checkpoint ' + REFUSED):
        SRModel(tiny_sr_options(str(hostile_pth)))
    monkeypatch.chdir(tmp_path)
    vgg = tmp_path / 'experiments' / 'pretrained_models' / 'vgg19-dcbb9e9d.pth'
    vgg.parent.mkdir(parents=True)
    vgg.write_bytes(hostile_pth.read_bytes())
    with pytest.raises(CheckpointError, match='this VGG weights file ' + REFUSED):
        VGGFeatureExtractor(['conv1_1'], vgg_type='vgg11')
    vgg.unlink()  # no file there: torchvision's cached download is read instead, weights-only too
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'vgg11-8a719046.pth'
    cached.parent.mkdir(parents=True)
    cached.write_bytes(hostile_pth.read_bytes())
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with pytest.raises(CheckpointError, match='this VGG weights file ' + REFUSED):
        VGGFeatureExtractor(['conv1_1'], vgg_type='vgg11')
    with pytest.raises(ValueError, match=REFUSED):
        SFDIQA.from_file(str(hostile_pth))
    with pytest.raises(ExportError, match=REFUSED):
        load_params(str(hostile_pth))
    with pytest.raises(CompareError, match='this generator checkpoint ' + REFUSED):
        load_generator(str(hostile_pth), {})
    with pytest.raises(CLIPWeightsError):
        load_clip_state_dict(str(hostile_pth))
    with pytest.raises(RuntimeError, match='cannot read weight file'):
        load_features(vgg16_features(), str(hostile_pth))
    assert not marker.exists()


def test_safetensors_and_plain_checkpoints_load_through_basicsr(tmp_path):
    """pretrain_network_g as .safetensors (a flat state dict) gives the same network as the .pth BasicSR saves."""
    from basicsr.archs.srresnet_arch import MSRResNet
    from basicsr.models.sr_model import SRModel
    from safetensors.torch import save_file

    torch.manual_seed(3)
    net = MSRResNet(num_in_ch=3, num_out_ch=3, num_feat=4, num_block=1, upscale=4)
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    save_file(net.state_dict(), str(tmp_path / 'net_g.safetensors'))
    for name in ('net_g.pth', 'net_g.safetensors'):
        loaded = SRModel(tiny_sr_options(str(tmp_path / name))).net_g.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items()), name
    # the generator reader of --model_path and the comparison, and export's --featd/--lpp, read it as a state dict
    from basicsr.archs.rrdbnet_arch import RRDBNet

    from sfd_arch.iqa.export import load_params
    from sfd_arch.utils.upsampler import build_generator

    rrdb = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, num_grow_ch=4)
    save_file(rrdb.state_dict(), str(tmp_path / 'g.safetensors'))
    generator, scale = build_generator(str(tmp_path / 'g.safetensors'))
    assert scale == 4 and all(torch.equal(generator.state_dict()[k], v) for k, v in rrdb.state_dict().items())
    assert set(load_params(str(tmp_path / 'g.safetensors'))) == set(rrdb.state_dict())
    png = tmp_path / 'photo.png'
    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CheckpointError, match=r'photo.png is not a network checkpoint that can be read as weights'):
        load_checkpoint(str(png), 'network checkpoint')


def test_a_real_training_state_needs_nothing_beyond_weights_only(tmp_path):
    """BasicSR's training state (Adam, MultiStepRestartLR with its Counter, CosineAnnealingRestartLR) plus the SFD
    fields loads weights-only as saved."""
    from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR

    params = [torch.nn.Parameter(torch.randn(3))]
    optimizer = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.99))
    params[0].sum().backward()
    optimizer.step()
    schedulers = [MultiStepRestartLR(optimizer, [10, 20]),
                  CosineAnnealingRestartLR(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), periods=[10])]
    state = {'epoch': 0, 'iter': 2, 'optimizers': [optimizer.state_dict()],
             'schedulers': [s.state_dict() for s in schedulers], 'optimizer_names': ['g'],
             'clip': load_yaml('model: RN50\nlayers: [layer1]\n'),
             'scalers': {'g': torch.amp.GradScaler('cpu').state_dict()}, 'rng': torch.get_rng_state()}
    torch.save(state, tmp_path / '2.state')
    loaded = load_checkpoint(str(tmp_path / '2.state'), 'training state')
    assert loaded['schedulers'][0]['milestones'] == state['schedulers'][0]['milestones']
    assert torch.equal(loaded['optimizers'][0]['state'][0]['exp_avg'], state['optimizers'][0]['state'][0]['exp_avg'])


def test_inference_script_refuses_a_hostile_model_path_in_one_line(hostile_pth, marker, tmp_path):
    """`scripts/inference_sfd.py --model_path` on the hostile file, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 set: one line
    (before: a full unpickling, so the command ran), no marker, no output folder."""
    photos = tmp_path / 'photos'
    photos.mkdir()
    cv2.imwrite(str(photos / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    script = str(REPO / 'scripts' / 'inference_sfd.py')
    run = subprocess.run([sys.executable, script, '-i', 'photos', '-o', 'out', '--model_path', str(hostile_pth)],
                         cwd=tmp_path, env=_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1'), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 1, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('inference_sfd: error: ') and 'posix.system' in lines[0], lines
    assert not marker.exists() and not (tmp_path / 'out').exists()


@pytest.mark.slow  # about 15 s: two runs of the script
def test_inference_script_names_a_non_checkpoint_and_refuses_to_write_over_inputs(tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    cv2.imwrite(str(photos / 'a.png'), np.full((8, 8, 3), 7, np.uint8))
    before = (photos / 'a.png').read_bytes()
    script = str(REPO / 'scripts' / 'inference_sfd.py')
    for args, said in ((['-o', 'out', '--model_path', 'photos/a.png'], 'photos/a.png is not a generator checkpoint'),
                       (['-o', 'photos', '--suffix', '', '--model_path', 'nope.pth'],
                        'output photos/a.png is the input')):
        run = subprocess.run([sys.executable, script, '-i', 'photos', *args], cwd=tmp_path, env=_env(),
                             capture_output=True, text=True, timeout=600)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 1 and len(lines) == 1 and said in lines[0], run.stderr[-2000:]
    assert (photos / 'a.png').read_bytes() == before and not (tmp_path / 'out').exists()


def test_inference_outputs_over_inputs_are_found_before_any_image_is_read(tmp_path):
    from sfd_arch.utils.upsampler import output_path, refuse_outputs_over_inputs

    photos = tmp_path / 'photos'
    photos.mkdir()
    inputs = [str(photos / 'a.jpg'), str(photos / 'b.png')]
    for p in inputs:
        Path(p).write_bytes(b'')
    refuse_outputs_over_inputs(inputs, str(photos), 'out', 'auto')  # a_out.jpg, b_out.png: fine
    refuse_outputs_over_inputs(inputs, str(tmp_path / 'results'), '', 'auto')
    for ext, clash in (('auto', 'a.jpg'), ('png', 'b.png')):  # with png, a.jpg -> a.png is new, b.png is b.png
        with pytest.raises(UnsafePathError, match=f'output .*photos/{clash} is the input'):
            refuse_outputs_over_inputs(inputs, str(photos), '', ext)
    with pytest.raises(UnsafePathError, match="--suffix / --ext: 'a_../../x.png' cannot be used"):
        output_path(str(tmp_path / 'results'), inputs[0], '../../x', 'png')


# -- names that become paths ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ['..', '../escape', '../../../x', '/tmp/abs', 'a/b', 'a\\b', '', '.'])
def test_names_that_leave_their_folder_are_refused(name):
    with pytest.raises(UnsafePathError, match='cannot be used as a file or folder name'):
        check_name(name, 'x.yml: name')
    assert check_name('SFD_x4-v1.2', 'name') == 'SFD_x4-v1.2'


@pytest.fixture
def paired(tmp_path):
    make_paired_dataset(str(tmp_path / 'data'), n=2, size=32)
    return tmp_path


def test_option_names_cannot_put_files_outside_their_folders(paired, monkeypatch, capsys):
    """`datasets.test_1.name: ../../../x` (the comparison, BasicSR's test) and `name: ../escape` (training: our
    entry point and BasicSR's) are refused before anything is written."""
    from sfd_arch.eval.compare import CompareError, run_compare

    root = paired
    monkeypatch.chdir(root)
    out = root / 'deep' / 'report'
    assert not osp.realpath(osp.join(out, 'sr', 'bicubic', '../../../x')).startswith(str(out))  # live: it escapes
    test_opt = {'name': 'cmp', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
                'datasets': {'test_1': {'name': '../../../x', 'type': 'PairedImageDataset', 'dataroot_gt': 'data/gt',
                                        'dataroot_lq': 'data/lq', 'io_backend': {'type': 'disk'}}},
                'path': {}, 'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}}
    (root / 'test.yml').write_text(yaml.safe_dump(test_opt))
    with pytest.raises(CompareError, match=r"test.yml: datasets.test_1.name: '../../../x' cannot be used"):
        run_compare('test.yml', {'bicubic': 'bicubic'}, str(out))
    test_opt['datasets']['test_1']['name'] = 'set5'
    (root / 'ok.yml').write_text(yaml.safe_dump(test_opt))
    with pytest.raises(CompareError, match=r"--model: '..' cannot be used"):
        run_compare('ok.yml', {'..': 'bicubic'}, str(out))

    import basicsr.test
    import basicsr.train

    import sfd_arch.train
    (root / 'train.yml').write_text(yaml.safe_dump({**test_opt, 'name': '../escape'}))
    for argv, run in ((['-opt', 'train.yml'], sfd_arch.train.main),
                      (['-opt', 'train.yml'], lambda: basicsr.train.train_pipeline(str(root))),
                      (['-opt', 'test.yml'], lambda: basicsr.test.test_pipeline(str(root)))):
        monkeypatch.setattr(sys, 'argv', ['x.py', *argv])
        with pytest.raises(SystemExit, match=r"(train|test).yml: (name|datasets.test_1.name): '(../escape|../../../x)' "
                                             'cannot be used as a file or folder name'):
            run()
    assert sorted(os.listdir(root)) == ['data', 'ok.yml', 'test.yml', 'train.yml']
    assert not (root.parent / 'escape').exists() and not (root.parent / 'x').exists()


def test_basicsr_force_yml_keys_must_be_names_and_values_literals(tmp_path, marker, monkeypatch):
    """BasicSR exec()s `opt["<key>"]=value` for every --force_yml entry (live: its parse_options runs the command);
    through the patched one a key that is not a name, or a list value that is not a literal, stops first."""
    import basicsr.train
    from basicsr.utils.options import parse_options

    (tmp_path / 'train.yml').write_text('name: run\nmodel_type: SRModel\nnum_gpu: 0\ndatasets: {}\npath: {}\n')
    key = f'name"];__import__("os").system("touch {marker}");opt["name'
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(tmp_path / 'train.yml'), '--force_yml', f'{key}=run'])
    parse_options._basicsr(str(tmp_path), True)
    assert marker.exists(), 'the fixture must be live'
    marker.unlink()
    with pytest.raises(SystemExit, match='keys are names joined by ":"'):
        basicsr.train.train_pipeline(str(tmp_path))
    hostile = f"[__import__('os').system('touch {marker}')]"
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(tmp_path / 'train.yml'), '--force_yml',
                                      f'name={hostile}'])
    with pytest.raises(SystemExit, match=r'--force_yml name=\[__import__.*: the value is not a literal'):
        basicsr.train.train_pipeline(str(tmp_path))
    assert not marker.exists() and sorted(os.listdir(tmp_path)) == ['train.yml']


# -- outputs never replace inputs ----------------------------------------------------------------------------------
def test_score_eval_and_bench_refuse_an_output_on_an_input(tmp_path, capsys):
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    for i in range(2):
        cv2.imwrite(str(imgs / f'{i}.png'), np.full((16, 16, 3), 40 * i, np.uint8))
    photo = (imgs / '0.png').read_bytes()
    weights = tmp_path / 'w.pth'
    weights.write_bytes(b'unused: refused before the weights are read')
    for flag, target in (('--csv', imgs / '0.png'), ('--json', weights), ('--csv', imgs)):
        assert cli(['score', str(imgs), '-w', str(weights), flag, str(target), '--overwrite']) == 2
        assert f'{flag} {target} is the input' in capsys.readouterr().err
    assert (imgs / '0.png').read_bytes() == photo

    mos = tmp_path / 'out' / 'scores.csv'
    mos.parent.mkdir()
    mos.write_text('image,mos\n0.png,1.0\n1.png,2.0\n')
    assert cli(['eval', str(imgs), '--mos', str(mos), '--metric', 'niqe', '--out-dir', str(mos.parent),
                '--overwrite', '--no-progress']) == 2
    assert f'output {mos} is the input' in capsys.readouterr().err
    assert mos.read_text().startswith('image,mos')

    table = tmp_path / 'report' / 'mine' / 'mine.csv'  # the bench writes report/mine/scores.csv
    table.parent.mkdir(parents=True)
    table.write_text('image,mos\n' + ''.join(f'{imgs / f"{i}.png"},{i}\n' for i in range(2)))
    assert cli(['bench', '--dataset-dir', f'mine={table}', '--metric', 'niqe', '-o', str(tmp_path / 'report'),
                '--no-progress']) == 2
    assert f'output {tmp_path / "report" / "mine"} holds the input' in capsys.readouterr().err
    assert cli(['bench', '--dataset-dir', f'../up={table}', '--metric', 'niqe', '-o', str(tmp_path / 'r2')]) == 2
    assert "'../up' cannot be used as a file or folder name" in capsys.readouterr().err


def test_comparison_refuses_an_output_folder_on_its_inputs(paired, monkeypatch):
    from sfd_arch.eval.compare import CompareError, run_compare

    root = paired
    monkeypatch.chdir(root)
    opt = {'name': 'cmp', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'set', 'type': 'PairedImageDataset', 'dataroot_gt': 'data/gt',
                                   'dataroot_lq': 'data/lq', 'io_backend': {'type': 'disk'}}},
           'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}}
    (root / 'test.yml').write_text(yaml.safe_dump(opt))
    listing = sorted(os.listdir(root / 'data' / 'gt'))
    with pytest.raises(CompareError, match=r'-o data/gt is the input'):
        run_compare('test.yml', {'bicubic': 'bicubic'}, 'data/gt', default_metrics=False, progress=False)
    sr_folder = root / 'mine' / 'sr' / 'theirs'  # SR images of an earlier comparison, compared again under -o mine
    make_paired_dataset(str(sr_folder), n=2, size=32)
    with pytest.raises(CompareError, match=r'output mine/sr/theirs holds the input'):
        run_compare('test.yml', {'theirs': str(sr_folder / 'gt')}, 'mine', default_metrics=False, progress=False)
    assert sorted(os.listdir(root / 'data' / 'gt')) == listing and sorted(os.listdir(root / 'mine')) == ['sr']


# -- one writer per output -----------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def weights_and_images(tmp_path_factory):
    """A real SFD-IQA weights file (random tiny networks) and three small images."""
    from sfd_arch.archs import FeatD, PromptLearner
    from sfd_arch.iqa import SFDIQA

    root = tmp_path_factory.mktemp('writer')
    torch.manual_seed(0)
    clip, _ = tiny_clip_from_file(root)
    weights = SFDIQA(clip, FeatD(clip=clip, num_feat=8, depth=1), PromptLearner(clip=clip, n_ctx=2)).save(
        str(root / 'sfd_iqa.pth'))
    imgs = root / 'imgs'
    imgs.mkdir()
    for i in range(3):
        cv2.imwrite(str(imgs / f'{i}.png'), np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    return weights, imgs


def rows_of(path: Path) -> list[str]:
    with open(path, newline='') as f:
        return [row['path'] for row in csv.DictReader(f)]


def test_a_second_writer_on_the_same_csv_stops_and_rows_stay_one_per_image(weights_and_images, tmp_path, capsys):
    """Two resumed writers on one CSV both see the same images left to score (the race that wrote 100 rows for 60
    images); with the lock held the second run stops at once, and the rows stay one per image."""
    from filelock import FileLock

    from sfd_arch.cli import RowWriter

    weights, imgs = weights_and_images
    out = tmp_path / 'scores.csv'
    args = ['score', str(imgs), '-w', weights, '--csv', str(out), '--resume', '--no-progress', '--workers', '0']
    first, second = RowWriter(str(out), None, 'resume'), RowWriter(str(out), None, 'resume')
    assert first.done == second.done == set()  # live: each would score all three images into the same file
    first.close()
    second.close()

    holder = FileLock(f'{out}.lock')
    holder.acquire(timeout=0)
    try:
        assert cli(args) == 2
        assert f'{out} is being written by another process (it holds {out}.lock)' in capsys.readouterr().err
    finally:
        holder.release()
    assert rows_of(out) == []  # the stopped run wrote nothing
    assert cli(args) == 0 and cli(args) == 0
    assert sorted(rows_of(out)) == sorted(str(imgs / f'{i}.png') for i in range(3))
    assert cli([a if a != '--resume' else '--overwrite' for a in args]) == 0
    assert len(rows_of(out)) == 3


def test_the_lock_goes_when_its_holder_is_killed(tmp_path):
    out = str(tmp_path / 'scores.csv')
    code = (f'import time\nfrom filelock import FileLock\nlock = FileLock({out + ".lock"!r})\nlock.acquire()\n'
            'print("held", flush=True)\ntime.sleep(120)')
    holder = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(OutputBusyError, match='being written by another process'):
            with single_writer(out):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=60)
    with single_writer(out) as lock:
        assert lock == out + '.lock'


@pytest.mark.slow  # about 30 s: two sfd-iqa processes started together
def test_two_concurrent_resumed_runs_leave_one_row_per_image(weights_and_images, tmp_path):
    weights, imgs = weights_and_images
    many = tmp_path / 'many'
    many.mkdir()
    for i in range(24):
        cv2.imwrite(str(many / f'{i:02d}.png'), cv2.imread(str(imgs / f'{i % 3}.png')))
    out = tmp_path / 'scores.csv'
    command = [sys.executable, '-m', 'sfd_arch.cli', 'score', str(many), '-w', weights, '--csv', str(out), '--resume',
               '--no-progress', '--workers', '0', '--batch-size', '1']
    runs = [subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(r.wait(timeout=600), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    if codes == [0, 2]:
        assert any('is being written by another process' in err for _, err in results)
    paths = rows_of(out)
    assert len(paths) == len(set(paths)) == 24


def test_setup_declares_what_safe_loading_needs():
    """torch >= 2.4 (Counter in the weights-only defaults), safetensors and filelock are install requirements."""
    text = (REPO / 'setup.py').read_text()
    for requirement in ("'torch>=2.4'", "'safetensors'", "'filelock>=3.0'"):
        assert requirement in text


def test_under_torchrun_rank_0_holds_the_lock(monkeypatch, tmp_path):
    """The ranks write their own part files; rank 0, which merges into the output, holds the output's lock."""
    import sfd_arch.cli.distributed as distributed  # `sfd-iqa score` imports score_sharded from it when it runs

    out = str(tmp_path / 'scores.csv')
    seen = {}

    def sharded(args, found, env, mode):
        try:
            with single_writer(out):
                seen[env.rank] = 'free'
        except OutputBusyError:
            seen[env.rank] = 'held'
        return 0

    monkeypatch.setattr(distributed, 'score_sharded', sharded)
    weights = tmp_path / 'w.pth'
    weights.write_bytes(b'')
    for rank in (0, 1):
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', '2')
        assert cli(['score', str(tmp_path / 'nothing.png'), '-w', str(weights), '--csv', out]) == 0
    assert seen == {0: 'held', 1: 'free'}


def test_our_entry_points_say_a_refused_checkpoint_in_one_line(hostile_pth, marker, paired, monkeypatch):
    """sfd_arch/train.py with a hostile resume_state, sfd_arch/test.py with a hostile pretrain_network_g: one line."""
    from sfd_testutil import esrgan_style_options

    import sfd_arch.test
    import sfd_arch.train

    root = paired
    monkeypatch.chdir(root)
    train = yaml.safe_load(esrgan_style_options('run', 'data/gt', 'data/lq'))
    train['path']['resume_state'] = str(hostile_pth)
    train['datasets']['train']['gt_size'] = 32  # the images of `paired`
    (root / 'train.yml').write_text(yaml.safe_dump(train))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', 'train.yml'])
    with pytest.raises(SystemExit, match='^error: .*net_g_1000.pth: this training state ' + REFUSED):
        sfd_arch.train.main()
    test = {**tiny_sr_options(str(hostile_pth)), 'name': 'run', 'model_type': 'SRModel',
            'datasets': {'test_1': {'name': 'set', 'type': 'PairedImageDataset', 'dataroot_gt': 'data/gt',
                                    'dataroot_lq': 'data/lq', 'io_backend': {'type': 'disk'}}}}
    for key in ('is_train', 'dist'):
        del test[key]
    (root / 'test.yml').write_text(yaml.safe_dump(test))
    with pytest.raises(SystemExit, match='^error: .*net_g_1000.pth: this network checkpoint ' + REFUSED):
        sfd_arch.test.main(['-opt', 'test.yml'])
    assert not marker.exists() and not (root / 'experiments').exists()


@pytest.mark.slow  # about 20 s: BasicSR's training script in a fresh process
def test_basicsr_train_as_main_reads_the_resume_state_weights_only(hostile_pth, marker, tmp_path):
    """`python -m basicsr.train` runs BasicSR's file as __main__, with its own copy of load_resume_state: replaced
    too, so a hostile resume_state ends in the sentence, with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 set."""
    (tmp_path / 'train.yml').write_text(yaml.safe_dump(
        {'name': 'run', 'model_type': 'SRModel', 'num_gpu': 0, 'manual_seed': 0, 'datasets': {},
         'path': {'resume_state': str(hostile_pth)}}))
    run = subprocess.run([sys.executable, '-m', 'basicsr.train', '-opt', 'train.yml'], cwd=tmp_path,
                         env=_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1'), capture_output=True, text=True, timeout=600)
    assert run.returncode == 1
    assert re.search('CheckpointError: .*net_g_1000.pth: this training state ' + REFUSED,
                     run.stderr.strip().splitlines()[-1]), run.stderr[-2000:]
    assert not marker.exists()


def test_readme_links_this_page():
    assert '[docs/security.md](docs/security.md)' in (REPO / 'README.md').read_text()
    assert (REPO / 'docs' / 'security.md').is_file()


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    """One helper writes every whole output file: to a temporary name beside it, then os.replace; a writer that
    fails mid-way leaves the earlier file as it was and no temporary file."""
    from sfd_arch.utils.files import atomic_path, drop_cut_line, write_atomic

    target = tmp_path / 'sub' / 'table.md'
    write_atomic(str(target), 'old\n')
    with pytest.raises(RuntimeError, match='disk gone'):
        with atomic_path(str(target)) as tmp:
            open(tmp, 'w').write('half')
            raise RuntimeError('disk gone')
    assert target.read_text() == 'old\n' and sorted(p.name for p in target.parent.iterdir()) == ['table.md']
    with atomic_path(str(tmp_path / 'fig.png'), keep_extension=True) as tmp:
        assert tmp.endswith('fig.tmp.png')  # writers that read the format from the name still see .png
        open(tmp, 'wb').write(b'png')
    assert (tmp_path / 'fig.png').read_bytes() == b'png'
    rows = tmp_path / 'rows.jsonl'
    rows.write_bytes(b'{"a": 1}\n{"a": 2')  # an interrupted run's half-written last line
    drop_cut_line(str(rows))
    assert rows.read_bytes() == b'{"a": 1}\n'
