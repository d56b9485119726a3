"""Evaluation protocols (sfd_arch.metrics.protocols): each preset's numbers equal the reference code path its source
names, on the demo's images; the presets give different numbers where their settings differ; the docs print the
records themselves.

The reference paths: the `lpips` package (the network BasicSR's ``scripts/metrics/calculate_lpips.py`` and pyiqa's
``lpips_arch.py`` follow) on the same stand-in weights, fed as each source feeds it; BasicSR's own metric functions
called as its option files and scripts call them. pyiqa itself is compared in tests/test_pyiqa.py (make test-pyiqa).
"""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO

from sfd_arch.compat import ensure_basicsr_importable

ensure_basicsr_importable()

from basicsr.metrics import calculate_niqe, calculate_psnr, calculate_ssim  # noqa: E402
from basicsr.utils import img2tensor  # noqa: E402
from torchvision.transforms.functional import normalize  # noqa: E402

import sfd_arch.metrics as M  # noqa: E402
from sfd_arch.eval.plan import CompareError, compute_image_metric, plan_metrics  # noqa: E402
from sfd_arch.metrics import protocols  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def stand_ins(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('torch_home') / 'hub' / 'checkpoints'
    M.write_stand_in_weights(str(folder), ['lpips', 'lpips_vgg'], seed=0)
    return folder


@pytest.fixture
def hub(stand_ins, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv('TORCH_HOME', str(stand_ins.parent.parent))
    monkeypatch.chdir(tmp_path)
    return stand_ins


@pytest.fixture(scope='module')
def demo_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 96x128 part of the demo's first held-out photo (small: fast) and its bicubic x4 round trip, as the demo
    makes its LR images and its bicubic baseline: uint8 BGR SR and HR."""
    return demo_round_trip(96, 192, 128, 256)


def demo_round_trip(top: int, bottom: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    from sfd_arch.tools import demo

    hr = np.ascontiguousarray(demo._photo(demo.VAL_PHOTOS[0])[top:bottom, left:right])
    return demo.bicubic_up(demo.bicubic_down(hr)), hr


def reference_lpips(net: str, hub: Path):
    """The `lpips` package's LPIPS v0.1 on the stand-in backbone and heads (as tests/test_metrics.py builds it)."""
    lpips = pytest.importorskip('lpips', reason='the reference package lpips is not installed (pip install .[test])')
    from test_metrics import features_into

    model = lpips.LPIPS(net=net, version='0.1', pnet_rand=True, model_path=str(hub / f'lpips_v0.1_{net}.pth'),
                        verbose=False)
    features_into(model.net, hub / ('alexnet-owt-7be5be79.pth' if net == 'alex' else 'vgg16-397923af.pth'))
    return model.eval()


def rgb01(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)[None].float() / 255


def preset_value(protocol: str, metric: str, sr: np.ndarray, hr: np.ndarray) -> float:
    """A metric computed through the preset, as the comparison computes it (plan, then the metric library)."""
    plan = plan_metrics({'scale': 4}, 'test.yml', [metric], protocol=protocol)
    assert plan.origins[metric].startswith(f'protocol {protocol}')
    return compute_image_metric(plan.blocks[metric], sr, hr)


def test_three_protocols_give_three_lpips_values_each_equal_to_its_reference(hub, demo_pair, tmp_path):
    sr, hr = demo_pair
    ours = {p: preset_value(p, 'lpips', sr, hr) for p in ('sfd', 'basicsr', 'pyiqa')}
    alex, vgg = reference_lpips('alex', hub), reference_lpips('vgg', hub)
    with torch.no_grad():
        # sfd: AlexNet after BasicSR's border crop of `scale` pixels, inputs in [0, 1] (normalize=True)
        expected = {'sfd': alex(rgb01(sr[4:-4, 4:-4]), rgb01(hr[4:-4, 4:-4]), normalize=True).item()}
        # basicsr: scripts/metrics/calculate_lpips.py, step for step: cv2 files, /255, img2tensor(bgr2rgb=True),
        # normalize(mean = std = 0.5) to [-1, 1], lpips.LPIPS(net='vgg')(restored, gt) on whole images
        cv2.imwrite(str(tmp_path / 'gt.png'), hr)
        cv2.imwrite(str(tmp_path / 'sr.png'), sr)
        img_gt = cv2.imread(str(tmp_path / 'gt.png'), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.
        img_restored = cv2.imread(str(tmp_path / 'sr.png'), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.
        img_gt, img_restored = img2tensor([img_gt, img_restored], bgr2rgb=True, float32=True)
        normalize(img_gt, [0.5] * 3, [0.5] * 3, inplace=True)
        normalize(img_restored, [0.5] * 3, [0.5] * 3, inplace=True)
        expected['basicsr'] = vgg(img_restored.unsqueeze(0), img_gt.unsqueeze(0)).item()
        # pyiqa: `lpips` = net alex, version 0.1, whole images, inputs in [0, 1] (its forward's normalize=True)
        expected['pyiqa'] = alex(rgb01(sr), rgb01(hr), normalize=True).item()
    for name in ours:
        assert ours[name] == pytest.approx(expected[name], abs=1e-5), name
    values = sorted(ours.values())
    assert min(b - a for a, b in zip(values, values[1:])) > 1e-3, ours  # three different numbers
    # pyiqa's lpips-vgg: the same network as BasicSR's script, whole images: the same number
    assert preset_value('pyiqa', 'lpips_vgg', sr, hr) == pytest.approx(expected['basicsr'], abs=1e-5)


def test_psnr_ssim_niqe_of_each_preset_equal_their_sources(demo_pair):
    sr, hr = demo_pair
    # sfd: options/test_sfd_x4.yml's blocks; basicsr: BasicSR's test option files (RGB, crop_border = scale)
    for protocol, y in (('sfd', True), ('basicsr', False)):
        assert preset_value(protocol, 'psnr', sr, hr) == pytest.approx(
            calculate_psnr(sr, hr, crop_border=4, test_y_channel=y), abs=1e-9)
        assert preset_value(protocol, 'ssim', sr, hr) == pytest.approx(
            calculate_ssim(sr, hr, crop_border=4, test_y_channel=y), abs=1e-9)
    # basicsr NIQE: scripts/metrics/calculate_niqe.py's call, crop_border = scale (on the whole photo: NIQE fits
    # its statistics over 96 px blocks)
    whole_sr, whole_hr = demo_round_trip(0, 296, 0, 448)
    assert preset_value('basicsr', 'niqe', whole_sr, whole_hr) == pytest.approx(
        calculate_niqe(whole_sr, 4, input_order='HWC', convert_to='y'), abs=1e-9)
    # pyiqa's PSNR: 10 log10(1 / (mse + 1e-8)) on RGB in [0, 1], float32, no crop (pyiqa/archs/psnr_arch.py)
    x, y = rgb01(sr), rgb01(hr)
    expected = (10 * torch.log10(1 / (torch.mean((x - y) ** 2) + 1e-8))).item()
    assert preset_value('pyiqa', 'psnr', sr, hr) == pytest.approx(expected, abs=1e-5)
    psnr = {p: preset_value(p, 'psnr', sr, hr) for p in ('sfd', 'basicsr', 'pyiqa')}
    assert len({round(v, 4) for v in psnr.values()}) == 3, psnr  # Y vs RGB, crop vs none
    ssim = {p: preset_value(p, 'ssim', sr, hr) for p in ('sfd', 'basicsr', 'pyiqa')}
    assert len({round(v, 5) for v in ssim.values()}) == 3, ssim


def test_pyiqa_ssim_convention_is_yiq_luma_rounded_and_clamped():
    """pyiqa's SSIM, written out with numpy/scipy from its source's description (not from our module): Y of YIQ,
    x255, rounded; 11x11 Gaussian (sigma 1.5) over the valid region; the contrast term clamped at 0."""
    from scipy import signal

    rng = np.random.default_rng(3)
    hr = cv2.resize(rng.integers(0, 256, (6, 8, 3)).astype(np.uint8), (40, 30), interpolation=cv2.INTER_CUBIC)
    sr = np.clip(hr.astype(np.int16) + rng.integers(-40, 41, hr.shape), 0, 255).astype(np.uint8)
    weights = np.array([0.114, 0.587, 0.299])  # BGR order

    def tie(img):  # luma exactly halfway between integers: float32 sums may round it either way
        return np.abs((img.astype(np.float64) @ weights) % 1 - 0.5) < 1e-3

    for img in (sr, hr):
        while tie(img).any():  # nudge the blue value of such pixels, so the rounding is the same in any order
            img[tie(img), 0] ^= 1

    def luma(img):
        return np.round(img.astype(np.float64) @ weights)

    ax = np.arange(11) - 5.0
    g = np.exp(-(ax[:, None] ** 2 + ax[None] ** 2) / (2 * 1.5 ** 2))
    window = (g / g.sum()).astype(np.float32).astype(np.float64)

    def blur(a):
        return signal.correlate2d(a, window, mode='valid')

    x, y = luma(sr), luma(hr)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = np.maximum((2 * cxy + c2) / (vx + vy + c2), 0)
    expected = float(np.mean((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs))
    assert M.calculate_ssim_pyiqa(sr, hr) == pytest.approx(expected, abs=1e-9)


def test_the_file_wins_and_the_plan_says_where_each_setting_came_from(hub):
    opt = {'scale': 4, 'protocol': 'basicsr',
           'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': True},
                               'lp': {'type': 'calculate_lpips', 'net': 'alex'}}}}
    plan = plan_metrics(opt, 'test.yml')
    assert plan.protocol.name == 'basicsr' and plan.protocol_from == 'the option file'
    assert plan.blocks['psnr'] == opt['val']['metrics']['psnr']  # the file's block, untouched
    assert 'lpips' not in plan.blocks  # the file's `lp` is its LPIPS
    assert plan.blocks['ssim'] == {'type': 'calculate_ssim', 'crop_border': 4, 'test_y_channel': False}
    assert plan.origins['psnr'] == ("the option file, in place of protocol basicsr's (crop_border 0 (protocol: 4), "
                                    'test_y_channel True (protocol: False))')
    assert plan.origins['lp'] == ("the option file, in place of protocol basicsr's lpips (crop_border (absent) "
                                  '(protocol: 0), net alex (protocol: vgg))')
    assert plan.origins['ssim'] == 'protocol basicsr (XPixelGroup/BasicSR: options/test/ESRGAN/test_ESRGAN_x4.yml)'
    record = plan.protocol_record()
    rows = {r['metric']: r for r in record['metrics']}
    assert rows['psnr']['colour'] == 'y-ycbcr' and rows['psnr']['crop'] == 0 and rows['psnr']['source'] == 'test.yml'
    assert rows['ssim']['colour'] == 'rgb' and rows['ssim']['crop'] == 4
    assert rows['niqe']['colour'] == 'y-ycbcr' and 'fid' in record['omitted']
    # --protocol wins over the file's key; an unknown name lists the presets
    assert plan_metrics(opt, 'test.yml', protocol='pyiqa').protocol_from == '--protocol'
    with pytest.raises(CompareError, match=r"test.yml: protocol: unknown protocol 'pyqia'; .*sfd, basicsr, pyiqa"):
        plan_metrics(dict(opt, protocol='pyqia'), 'test.yml')


def test_every_preset_names_its_files_and_the_docs_print_the_records():
    for preset in protocols.PROTOCOLS.values():
        for m in preset.metrics:
            assert m.source.repo and m.source.path and m.source.what, (preset.name, m.name)
            d = m.describe()
            block = m.block(4)
            # the record's colour, crop and backbone are what its block computes
            assert d['colour'] == m.colour and d['crop'] == (4 if m.crop == protocols.SCALE else m.crop)
            assert d['backbone'] == (m.backbone or '-') and block['type'] in M.known_metrics()
    for preset in protocols.BENCH_PROTOCOLS.values():
        assert preset.sources and all(s.repo and s.path for s in preset.sources)
    assert protocols.protocols_markdown() in (REPO / 'docs' / 'benchmarks.md').read_text()
    assert protocols.bench_protocols_markdown() in (REPO / 'docs' / 'iqa.md').read_text()
    # the source files of this repository that the presets name exist
    for preset in protocols.PROTOCOLS.values():
        for source in preset.sources():
            if source.repo == protocols.THIS_PROJECT:
                assert (REPO / source.path).is_file(), source
    options = (REPO / 'options' / 'test_sfd_x4.yml').read_text()
    assert re.search(r'psnr:\s*\n\s*type: calculate_psnr\s*\n\s*crop_border: 4\s*\n\s*test_y_channel: true', options)
    # the option file names its protocol and, as every preset, scores FID on whole images (no patch size)
    import yaml

    opt = yaml.safe_load(options)
    assert opt['protocol'] == 'sfd' and 'crop_size' not in opt['val']['metrics']['fid']
    assert all('crop_size' not in m.block(4) for p in protocols.PROTOCOLS.values() for m in p.metrics)


def test_sfd_test_adds_the_protocol_metrics_of_its_option_file(hub, tmp_path):
    """`protocol: pyiqa` in a test option file: sfd_arch/test.py scores the preset's metrics beside the file's own
    (the file's psnr kept), with the values the preset gives in the comparison."""
    import csv

    import yaml
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from sfd_testutil import make_paired_dataset
    from test_metrics import TINY_RRDB, sr_and_hr, write_sr_test_options

    import sfd_arch.test as sfd_test

    gt_dir, lq_dir = make_paired_dataset(str(tmp_path / 'data'), n=2, size=64)
    torch.manual_seed(0)
    net = RRDBNet(scale=4, **TINY_RRDB).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    path = write_sr_test_options(tmp_path, 'protocol_test', gt_dir, lq_dir,
                                 {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}})
    opt = yaml.safe_load(open(path))
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(dict(opt, protocol='pyiqa'), sort_keys=False))
    sfd_test.run(['-opt', path])
    with open(tmp_path / 'results' / 'protocol_test' / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    by_image = {}
    for row in rows:
        by_image.setdefault(row['metric'], {})[row['image']] = float(row['value'])
    values = {m: [v[img] for img in sorted(v)] for m, v in by_image.items()}  # sr_and_hr's order: sorted names
    assert set(values) == {'psnr', 'ssim', 'lpips', 'lpips_vgg', 'dists'}
    srs, hrs = sr_and_hr(net, gt_dir, lq_dir)
    assert values['psnr'] == pytest.approx([calculate_psnr(s, h, 4, test_y_channel=True) for s, h in zip(srs, hrs)],
                                           abs=1e-9)
    assert values['ssim'] == pytest.approx([M.calculate_ssim_pyiqa(s, h) for s, h in zip(srs, hrs)], abs=1e-9)
    assert values['lpips_vgg'] == pytest.approx([M.calculate_lpips(s, h, net='vgg') for s, h in zip(srs, hrs)],
                                                abs=1e-6)
    assert values['dists'] == pytest.approx([M.calculate_dists(s, h) for s, h in zip(srs, hrs)], abs=1e-6)


def test_the_protocol_key_is_checked_in_any_option_file():
    from sfd_arch.options import OptionKeyError, check_option_keys

    for model_type in ('SRModel', 'SFDModel'):
        check_option_keys({'model_type': model_type, 'protocol': 'basicsr'}, 'x.yml')
        with pytest.raises(OptionKeyError, match=r"x.yml: protocol: input should be 'sfd', 'basicsr' or 'pyiqa', "
                                                 r"got 'BasicSR'"):
            check_option_keys({'model_type': model_type, 'protocol': 'BasicSR'}, 'x.yml')
