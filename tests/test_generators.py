"""Any generator, three ways (sfd_arch.archs.generators): a bare file (spandrel), a network_g block, an experiment
folder; the authors' KAIR-layout RRDBNet (KAIRRRDBNet) against spandrel; the tiler's size requirements; the doors
(scripts/inference_sfd.py, the comparison, sfd_arch/test.py)."""
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from sfd_arch.archs import generators
from sfd_arch.archs.kair_rrdbnet_arch import KAIRRRDBNet, kair_rrdb_options
from sfd_arch.utils.upsampler import TiledUpsampler

pytestmark = pytest.mark.usefixtures('single_thread')
HAS_SPANDREL = importlib.util.find_spec('spandrel') is not None
NEEDS_SPANDREL = pytest.mark.skipif(not HAS_SPANDREL, reason='spandrel is not installed (pip install .[models])')
# BasicSR's MSRResNet, as the demo's generator (options/demo/train_sfd_demo.yml), shrunk
MSR = {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'upscale': 4}


def kair_state(scale: int, seed: int, num_feat: int = 8, num_block: int = 2, num_grow_ch: int = 32) -> dict:
    """Random weights in exactly the key layout of KAIR's (and the SFD authors') RRDBNet, scaled so every layer
    matters (the default init makes the trunk nearly an identity)."""
    torch.manual_seed(seed)
    net = KAIRRRDBNet(num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch, scale=scale)
    return {k: torch.randn_like(v) * 0.05 for k, v in net.state_dict().items()}


def expected_kair_keys(scale: int, num_block: int) -> set:
    keys = {'conv_first', 'trunk_conv', 'upconv1', 'HRconv', 'conv_last'} | ({'upconv2'} if scale == 4 else set())
    keys |= {f'RRDB_trunk.{n}.RDB{k}.conv{j}' for n in range(num_block) for k in (1, 2, 3) for j in range(1, 6)}
    return {f'{k}.{p}' for k in keys for p in ('weight', 'bias')}


def smooth(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.random((h // 4 + 2, w // 4 + 2, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_experiment(root: Path, name: str = 'tiny_demo_x4') -> Path:
    """An experiment folder as BasicSR leaves it: the option file it copied (with the recorded command line, whose
    --force_yml shrinks num_feat from the file's 16 to 8) and models/net_g_<iter>.pth with params and params_ema."""
    from basicsr.archs.srresnet_arch import MSRResNet

    exp = root / 'experiments' / name
    (exp / 'models').mkdir(parents=True)
    for tag, seed in (('5', 1), ('latest', 2)):
        torch.manual_seed(seed)
        ema = MSRResNet(**{k: v for k, v in MSR.items() if k != 'type'}).state_dict()
        plain = {k: v + 1 for k, v in ema.items()}
        torch.save({'params': plain, 'params_ema': ema}, exp / 'models' / f'net_g_{tag}.pth')
    opt = {'name': name, 'model_type': 'SFDModel', 'scale': 4, 'network_g': dict(MSR, num_feat=16)}
    (exp / f'{name}.yml').write_text('# GENERATE TIME: Mon Jan  1 00:00:00 2024\n# CMD:\n'
                                     f'# sfd_arch/train.py -opt options/{name}.yml --force_yml network_g:num_feat=8\n\n'
                                     + yaml.safe_dump(opt, sort_keys=False))
    return exp


def msr_of(path: Path, key: str = 'params_ema'):
    from basicsr.archs.srresnet_arch import MSRResNet

    net = MSRResNet(**{k: v for k, v in MSR.items() if k != 'type'}).eval()
    net.load_state_dict(torch.load(path, weights_only=True)[key])
    return net


# -- the authors' layout ------------------------------------------------------------------------------------------
@NEEDS_SPANDREL
@pytest.mark.parametrize('scale', [2, 4])
def test_kair_layout_forward_equals_spandrel_to_the_last_bit(scale):
    from spandrel import ModelLoader

    state = kair_state(scale, seed=scale)
    assert set(state) == expected_kair_keys(scale, 2)  # the released layout: upconv2 only for x4
    ours = KAIRRRDBNet(**kair_rrdb_options(state)).eval()
    ours.load_state_dict(state, strict=True)
    theirs = ModelLoader().load_from_state_dict(state)
    assert theirs.architecture.id == 'ESRGAN' and theirs.scale == scale
    x = torch.rand(1, 3, 13, 11)
    with torch.no_grad():
        a, b = ours(x), theirs.model.eval()(x)
    assert a.shape == (1, 3, 13 * scale, 11 * scale) and torch.equal(a, b)


@NEEDS_SPANDREL
@pytest.mark.parametrize('scale', [2, 4])
def test_kair_file_by_detection_equals_the_registered_architecture(scale, tmp_path):
    """(a) a bare file, detected by spandrel, and (b) network_g: KAIRRRDBNet give the same image, bit for bit; the
    generator says which way it was read; a .safetensors copy reads the same."""
    from safetensors.torch import save_file

    state = kair_state(scale, seed=10 + scale)
    torch.save(state, tmp_path / 'sfd_x.pth')
    save_file(state, str(tmp_path / 'sfd_x.safetensors'))
    auto = generators.load_generator(str(tmp_path / 'sfd_x.pth'))
    block = {'type': 'KAIRRRDBNet', 'scale': scale, 'num_feat': 8, 'num_block': 2}
    named = generators.load_generator(str(tmp_path / 'sfd_x.pth'), network_g=yaml.safe_dump(block))
    safe = generators.load_generator(str(tmp_path / 'sfd_x.safetensors'))
    assert (auto.way, named.way, safe.way) == ('spandrel', 'network_g', 'spandrel')
    assert auto.how.startswith(f'spandrel: ESRGAN x{scale}') and 'network_g KAIRRRDBNet' in named.how
    assert auto.scale == named.scale == scale
    img = smooth(scale, 21, 17)
    outs = [g.upsampler(tile=8, tile_pad=4).enhance(img) for g in (auto, named, safe)]
    assert outs[0].shape == (21 * scale, 17 * scale, 3)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_convert_rrdb_keys_turns_a_kair_x2_file_into_kairrrdbnet_weights(tmp_path):
    from sfd_arch.tools import convert_rrdb_keys as conv

    state = kair_state(2, seed=7, num_grow_ch=4)  # any growth width: this path needs no spandrel
    torch.save({'params': {f'module.{k}': v for k, v in state.items()}}, tmp_path / 'kair_x2.pth')
    opts = conv.convert_file(str(tmp_path / 'kair_x2.pth'), str(tmp_path / 'out.pth'))
    assert opts == {'type': 'KAIRRRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 2,
                    'num_grow_ch': 4, 'scale': 2}
    assert conv.network_g_yaml(opts).startswith('network_g:\n  type: KAIRRRDBNet\n')
    ckpt = torch.load(tmp_path / 'out.pth', weights_only=True)
    gen = generators.load_generator(str(tmp_path / 'out.pth'), network_g=conv.network_g_yaml(opts))
    assert gen.param_key == 'params_ema' and gen.scale == 2
    assert all(torch.equal(ckpt['params_ema'][k], state[k]) for k in state)


# -- (b) and (c) --------------------------------------------------------------------------------------------------
def test_experiment_folder_takes_the_latest_or_iter_with_params_ema_and_the_recorded_overrides(tmp_path):
    exp = write_experiment(tmp_path)
    latest = generators.load_generator(str(exp))
    assert latest.way == 'experiment' and latest.param_key == 'params_ema'
    assert 'checkpoint net_g_latest.pth (the latest)' in latest.how and 'network_g MSRResNet' in latest.how
    assert latest.network_g['num_feat'] == 8  # the --force_yml of the recorded command line, not the file's 16
    fifth = generators.load_generator(str(exp), iteration=5)
    assert 'net_g_5.pth (iteration 5)' in fifth.how
    # a checkpoint inside models/ is read with its folder's option file too
    inside = generators.load_generator(str(exp / 'models' / 'net_g_5.pth'))
    assert inside.way == 'experiment'
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        for gen, tag in ((latest, 'latest'), (fifth, '5'), (inside, '5')):
            assert torch.equal(gen.net(x), msr_of(exp / 'models' / f'net_g_{tag}.pth')(x))
    with pytest.raises(generators.GeneratorError, match=r'no net_g_7\.pth \(saved: 5, latest\)'):
        generators.load_generator(str(exp), iteration=7)


def test_network_g_block_inline_or_yaml_and_clear_errors(tmp_path):
    exp = write_experiment(tmp_path)
    ckpt = tmp_path / 'msr.pth'
    ckpt.write_bytes((exp / 'models' / 'net_g_latest.pth').read_bytes())  # outside an experiment folder
    (tmp_path / 'net.yml').write_text(yaml.safe_dump({'network_g': MSR}))
    inline = generators.load_generator(str(ckpt), network_g=str(MSR).replace("'", ''))
    from_yaml = generators.load_generator(str(ckpt), network_g=str(tmp_path / 'net.yml'))
    assert inline.way == from_yaml.way == 'network_g' and inline.scale == 4
    assert f'({tmp_path / "net.yml"})' in from_yaml.how and 'weights params_ema of' in inline.how
    with pytest.raises(generators.GeneratorError, match="network_g.type 'MSRResNett' is not a registered"):
        generators.load_generator(str(ckpt), network_g='{type: MSRResNett}')
    with pytest.raises(generators.GeneratorError, match='do not fit network_g'):
        generators.load_generator(str(ckpt), network_g='{type: MSRResNet, num_feat: 16, num_block: 1}')
    with pytest.raises(generators.GeneratorError, match='picks a checkpoint of an experiment folder'):
        generators.load_generator(str(ckpt), iteration=5)
    bad = tmp_path / 'evil.pth'
    bad.write_bytes(b'\x80\x04cos\nsystem\nq\x00.')  # a pickle that would run code: refused, never executed
    with pytest.raises(generators.GeneratorError, match=r'holds a Python object \(os.system\).*so it is not loaded'):
        generators.load_generator(str(bad))


@NEEDS_SPANDREL
def test_random_basicsr_swinir_by_network_g_follows_its_window(tmp_path):
    """SwinIR pads inputs to its window in BasicSR's model, not in the network: the tiler must do it, for whole
    images and for every tile, and the result equals SwinIRModel's pad-run-crop."""
    from basicsr.archs.swinir_arch import SwinIR

    block = {'type': 'SwinIR', 'upscale': 2, 'in_chans': 3, 'img_size': 16, 'window_size': 4, 'img_range': 1.0,
             'depths': [1], 'embed_dim': 12, 'num_heads': [2], 'mlp_ratio': 2, 'upsampler': 'pixelshuffle',
             'resi_connection': '1conv'}
    torch.manual_seed(0)
    net = SwinIR(**{k: v for k, v in block.items() if k != 'type'}).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'swinir.pth')
    gen = generators.load_generator(str(tmp_path / 'swinir.pth'), network_g=block)
    assert gen.scale == 2 and gen.multiple_of == 4
    up = gen.upsampler()
    img = smooth(3, 14, 10)  # neither side a multiple of the window
    x = torch.from_numpy(img[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        padded = torch.nn.functional.pad(x, (0, 2, 0, 2), mode='reflect')  # SwinIRModel.pre_process
        ref = net(padded)[:, :, :28, :20].clamp(0, 1)
    assert torch.equal(up.upscale_tensor(x), ref)
    tiled = gen.upsampler(tile=6, tile_pad=2)
    assert (tiled.tile, tiled.tile_pad) == (8, 4)  # rounded up to the window
    assert tiled.enhance(img).shape == (28, 20, 3)


def test_tiler_pads_to_minimum_and_square_and_keeps_float32_without_half_support():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[2:]))
            return torch.nn.functional.interpolate(x, scale_factor=2, mode='nearest')

    up = TiledUpsampler(Probe(), 2, multiple_of=4, minimum=12, square=True, supports_half=False, half=True)
    out = up.upscale_tensor(torch.rand(1, 3, 5, 9))
    assert out.shape == (1, 3, 10, 18) and seen == [(12, 12)] and not up.half


# -- missing spandrel ---------------------------------------------------------------------------------------------
def test_without_spandrel_a_bare_file_gets_one_sentence_and_rrdbnet_still_loads(tmp_path, monkeypatch):
    from basicsr.archs.rrdbnet_arch import RRDBNet

    monkeypatch.setitem(sys.modules, 'spandrel', None)  # as if not installed
    torch.save({'params': RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4).state_dict()}, tmp_path / 'r.pth')
    assert generators.load_generator(str(tmp_path / 'r.pth')).way == 'rrdbnet'  # the core needs no spandrel
    torch.save(kair_state(2, seed=1, num_grow_ch=4), tmp_path / 'kair.pth')
    with pytest.raises(generators.GeneratorError) as err:
        generators.load_generator(str(tmp_path / 'kair.pth'))
    text = str(err.value)
    assert 'needs the optional package spandrel: pip install sfd_arch[models]' in text
    assert "use network_g {type: KAIRRRDBNet, num_in_ch: 3, num_out_ch: 3, num_feat: 8, num_block: 2, " \
           'num_grow_ch: 4, scale: 2}' in text


# -- the doors ----------------------------------------------------------------------------------------------------
def run_inference(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'scripts' / 'inference_sfd.py'), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def check_written(path: Path, img: np.ndarray, ckpt: Path) -> None:
    with torch.no_grad():
        x = torch.from_numpy(img[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
        y = msr_of(ckpt)(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1]
    assert np.abs(cv2.imread(str(path)).astype(int) - np.round(y * 255).astype(int)).max() <= 1


def test_inference_script_on_the_demo_generator_by_its_experiment_folder(tmp_path):
    """The demo's MSRResNet, which used to fail with 'not a BasicSR RRDBNet state dict', by its experiment folder
    and --iter 5; the first printed line says which way, the image is the network's."""
    exp = write_experiment(tmp_path)
    (tmp_path / 'in').mkdir()
    img = smooth(0, 12, 10)
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), img)
    run = run_inference(['-i', tmp_path / 'in', '-o', tmp_path / 'o1', '--model_path', exp, '--iter', '5',
                         '--device', 'cpu'], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f'model: experiment folder {exp}: network_g MSRResNet from tiny_demo_x4.yml, '
                                 'checkpoint net_g_5.pth (iteration 5), weights params_ema of net_g_5.pth\n')
    check_written(tmp_path / 'o1' / 'a_out.png', img, exp / 'models' / 'net_g_5.pth')


@pytest.mark.slow  # about 20 s: two more runs of the script
def test_inference_script_on_the_demo_generator_by_a_network_g_block(tmp_path):
    exp = write_experiment(tmp_path)
    (tmp_path / 'in').mkdir()
    img = smooth(0, 12, 10)
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), img)
    (tmp_path / 'net.yml').write_text(yaml.safe_dump(MSR))
    run = run_inference(['-i', tmp_path / 'in', '-o', tmp_path / 'o2', '--model_path',
                         exp / 'models' / 'net_g_latest.pth', '--network_g', tmp_path / 'net.yml', '--device', 'cpu',
                         '-s', '4'], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f'model: network_g MSRResNet ({tmp_path / "net.yml"}), weights params_ema of')
    assert '1 image(s), x4, cpu, float32' in run.stdout
    check_written(tmp_path / 'o2' / 'a_out.png', img, exp / 'models' / 'net_g_latest.pth')
    bad = run_inference(['-i', tmp_path / 'in', '--model_path', exp, '--network_g', '{type: MSRResNet}'], tmp_path)
    assert bad.returncode == 1 and 'inference_sfd: error:' in bad.stderr and 'experiment folder' in bad.stderr


def write_tiny_test(tmp_path: Path, name: str, **blocks) -> None:
    """``tmp_path/test.yml``: a test run ``name`` (x4, CPU) over two 32 px pairs, PSNR with a 4 px border, plus
    ``blocks`` (top-level keys; ``val`` is merged)."""
    from sfd_testutil import make_paired_dataset

    make_paired_dataset(str(tmp_path / 'data'), n=2, size=32, seed=0)
    val = {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}, **blocks.pop('val', {})}
    opt = {'name': name, 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset',
                                   'dataroot_gt': str(tmp_path / 'data' / 'gt'),
                                   'dataroot_lq': str(tmp_path / 'data' / 'lq'), 'io_backend': {'type': 'disk'}}},
           **blocks, 'val': val}
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(opt))


def test_compare_takes_the_demo_generator_by_block_and_by_folder(tmp_path, monkeypatch):
    from sfd_arch.eval import compare

    exp = write_experiment(tmp_path)
    write_tiny_test(tmp_path, 'c')
    monkeypatch.chdir(tmp_path)
    ckpt = str(exp / 'models' / 'net_g_latest.pth')
    plain = tmp_path / 'latest_copy.pth'
    plain.write_bytes(Path(ckpt).read_bytes())
    result = compare.run_compare('test.yml', {'Folder': str(exp), 'Block': str(plain)}, 'out', progress=False,
                                 visual_per_dataset=0, default_metrics=False, network_g={'Block': str(MSR)})
    with open(result.metrics_csv, newline='') as f:
        rows = {(r['model'], r['image']): float(r['value']) for r in csv.DictReader(f)}
    assert rows[('Folder', '0000')] == rows[('Block', '0000')]  # the same weights, found two ways
    report = Path(result.report_md).read_text()
    assert f'Folder: checkpoint {exp}, read as experiment folder {exp}: network_g MSRResNet' in report
    assert 'Block: checkpoint ' in report and 'read as network_g MSRResNet (the command line)' in report
    with pytest.raises(compare.CompareError, match='--network_g Nope=...: no --model named Nope'):
        compare.run_compare('test.yml', {'Block': str(plain)}, 'out2', network_g={'Nope': str(MSR)}, progress=False)


def test_sfd_test_runs_the_demo_generator_by_block_and_by_folder(tmp_path, monkeypatch):
    from sfd_arch import test as sfd_test

    exp = write_experiment(tmp_path)
    write_tiny_test(tmp_path, 'bring_your_own',
                    network_g={'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3},  # replaced by --model
                    path={'pretrain_network_g': None}, val={'save_img': False})
    monkeypatch.chdir(tmp_path)
    values = []
    for extra in (['--model', str(exp), '--iter', '5'],
                  ['--model', str(exp / 'models' / 'net_g_5.pth'), '--network_g', str(MSR)]):
        recorder = sfd_test.run(['-opt', 'test.yml', *extra])
        values.append(sorted((r.image, r.value) for r in recorder.records if r.metric == 'psnr'))
    assert len(values[0]) == 2 and values[0] == values[1]
    # the same numbers as the network itself makes
    from basicsr.metrics import calculate_psnr

    lq, hr = cv2.imread('data/lq/0000.png'), cv2.imread('data/gt/0000.png')
    with torch.no_grad():
        x = torch.from_numpy(lq[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
        y = msr_of(exp / 'models' / 'net_g_5.pth')(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1]
    sr = np.round(y * 255).astype(np.uint8)
    assert dict(values[0])['0000'] == pytest.approx(calculate_psnr(sr, hr, 4), abs=1e-6)
    with pytest.raises(ValueError, match='describe the generator of --model'):
        sfd_test.run(['-opt', 'test.yml', '--iter', '5'])


@NEEDS_SPANDREL
def test_the_authors_layout_in_sfd_test_by_detection_and_as_a_training_start(tmp_path, monkeypatch):
    """sfd_arch/test.py --model on a KAIR-layout file (SpandrelNet inside BasicSR's pipeline) scores what
    KAIRRRDBNet makes; the converted file loads into KAIRRRDBNet as BasicSR loads path.pretrain_network_g."""
    from types import SimpleNamespace

    from basicsr.archs import build_network
    from basicsr.metrics import calculate_psnr
    from basicsr.models.base_model import BaseModel
    from sfd_testutil import make_paired_dataset

    from sfd_arch import test as sfd_test
    from sfd_arch.tools import convert_rrdb_keys as conv

    state = kair_state(4, seed=3)
    torch.save(state, tmp_path / 'SFD_x4.pth')
    make_paired_dataset(str(tmp_path / 'data'), n=1, size=32, seed=1)
    opt = {'name': 'authors', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset',
                                   'dataroot_gt': str(tmp_path / 'data' / 'gt'),
                                   'dataroot_lq': str(tmp_path / 'data' / 'lq'), 'io_backend': {'type': 'disk'}}},
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3}, 'path': {'pretrain_network_g': None},
           'val': {'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}}
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(opt))
    monkeypatch.chdir(tmp_path)
    recorder = sfd_test.run(['-opt', 'test.yml', '--model', 'SFD_x4.pth'])
    value = next(r.value for r in recorder.records if r.metric == 'psnr')
    ours = KAIRRRDBNet(**kair_rrdb_options(state)).eval()
    ours.load_state_dict(state)
    lq, hr = cv2.imread('data/lq/0000.png'), cv2.imread('data/gt/0000.png')
    with torch.no_grad():
        x = torch.from_numpy(lq[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
        y = ours(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1]
    assert value == pytest.approx(calculate_psnr(np.round(y * 255).astype(np.uint8), hr, 4), abs=1e-6)

    x2 = kair_state(2, seed=4)  # an x4 file converts to BasicSR's RRDBNet; x2 has only KAIRRRDBNet
    torch.save(x2, tmp_path / 'SFD_x2.pth')
    opts = conv.convert_file('SFD_x2.pth', 'SFD_x2_kair.pth')
    net = build_network(yaml.safe_load(conv.network_g_yaml(opts))['network_g'])
    model = SimpleNamespace(get_bare_model=lambda n: n, _print_different_keys_loading=lambda *a: None)
    BaseModel.load_network(model, net, 'SFD_x2_kair.pth', True, 'params_ema')  # as SFDModel loads its start
    assert type(net).__name__ == 'KAIRRRDBNet' and all(torch.equal(net.state_dict()[k], x2[k]) for k in x2)


@NEEDS_SPANDREL
@pytest.mark.slow  # about 30 s: docs/inference.md's three command lines, each a run of the script
def test_inference_page_shows_the_three_ways_in_three_lines_that_run(tmp_path):
    import re
    import shlex

    from basicsr.archs.srresnet_arch import MSRResNet

    text = (REPO / 'docs' / 'inference.md').read_text()
    block = text.split('# Upscale your own images')[1].split('```bash\n')[1].split('```')[0]
    lines = [line.split('  #')[0].strip() for line in block.strip().splitlines()]
    assert len(lines) == 3 and all(line.startswith('python scripts/inference_sfd.py') for line in lines)
    # the files the three lines name, made here: a KAIR x4 file, an MSRResNet of the block given, an experiment
    torch.save(kair_state(4, seed=2), tmp_path / '4x_any_model.pth')
    net_g = yaml.safe_load(re.search(r'--network_g "([^"]+)"', lines[1]).group(1))
    torch.save({'params': MSRResNet(**{k: v for k, v in net_g.items() if k != 'type'}).state_dict()},
               tmp_path / 'net_g.pth')
    exp = write_experiment(tmp_path, 'sfd_demo_x4')
    os.rename(exp / 'models' / 'net_g_5.pth', exp / 'models' / 'net_g_5000.pth')
    (tmp_path / 'photos').mkdir()
    cv2.imwrite(str(tmp_path / 'photos' / 'p.png'), smooth(1, 12, 10))
    ways = ['model: spandrel: ESRGAN x4', 'model: network_g MSRResNet (the command line)',
            'model: experiment folder experiments/sfd_demo_x4: network_g MSRResNet']
    for line, way in zip(lines, ways):
        run = run_inference(shlex.split(line)[2:] + ['--device', 'cpu'], tmp_path)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(way), run.stdout
        assert cv2.imread(str(tmp_path / 'out' / 'p_out.png')).shape == (48, 40, 3)
