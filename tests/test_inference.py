"""sfd_arch.utils.upsampler and scripts/inference_sfd.py: checkpoints, image formats (RGBA, 16 bit, gray), tiling."""
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # appended: an installed or shimmed package on PYTHONPATH still wins
    sys.path.append(str(REPO))

from sfd_arch.compat import ensure_basicsr_importable  # noqa: E402

ensure_basicsr_importable()

from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402

from sfd_arch.utils import upsampler  # noqa: E402

TINY = {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8}
# RRDBNet with one block sees 17 LR pixels through conv_first, 15 RDB convs and conv_body, plus about one more
# through the convs after upsampling: the receptive radius in LR pixels
RECEPTIVE_RADIUS = 19


pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def inf():
    return upsampler


def run_cli(args: list, cwd: Path) -> subprocess.CompletedProcess:
    """scripts/inference_sfd.py as a user runs it, with this checkout's package first."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'scripts' / 'inference_sfd.py'), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def random_net(seed: int = 0, **overrides) -> RRDBNet:
    torch.manual_seed(seed)
    net = RRDBNet(**{**TINY, **overrides})
    with torch.no_grad():  # BasicSR's 0.1-scaled init makes the body nearly an identity; make it count
        for p in net.parameters():
            p.mul_(3.0)
    return net.eval()


def constant_net(bias_rgb=(0.2, 0.5, 0.8)) -> RRDBNet:
    """Every weight zero: the output is conv_last's bias, a known colour in RGB order, whatever the input."""
    net = RRDBNet(**TINY)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.conv_last.bias.copy_(torch.tensor(bias_rgb))
    return net.eval()


def smooth_image(seed: int, h: int, w: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 6 + 2, w // 6 + 2, channels)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


# -- weights ----------------------------------------------------------------------------------------------------
def test_checkpoint_prefers_params_ema_then_params_then_raw(inf, tmp_path):
    ema, plain = random_net(1).state_dict(), random_net(2).state_dict()
    torch.save({'params': plain, 'params_ema': ema}, tmp_path / 'both.pth')
    torch.save({'params': plain}, tmp_path / 'params.pth')
    torch.save({f'module.{k}': v for k, v in ema.items()}, tmp_path / 'raw.pth')
    for file, expected in (('both.pth', ema), ('params.pth', plain), ('raw.pth', ema)):
        net, scale = inf.build_generator(str(tmp_path / file))
        assert scale == 4
        assert all(torch.equal(net.state_dict()[k], expected[k]) for k in expected), file


def test_generator_shape_is_read_from_the_checkpoint_and_flags_are_checked(inf, tmp_path):
    torch.save({'params': random_net(0, scale=2, num_block=2).state_dict()}, tmp_path / 'x2.pth')
    net, scale = inf.build_generator(str(tmp_path / 'x2.pth'))
    assert scale == 2 and len(net.body) == 2 and net.conv_first.out_channels == 8
    with pytest.raises(ValueError, match='num_feat=8'):
        inf.build_generator(str(tmp_path / 'x2.pth'), num_feat=64)
    esrgan = {'RRDB_trunk.0.RDB1.conv1.weight': torch.zeros(1), 'conv_first.weight': torch.zeros(1)}
    torch.save(esrgan, tmp_path / 'esrgan.pth')
    with pytest.raises(ValueError, match='convert_rrdb_keys'):
        inf.build_generator(str(tmp_path / 'esrgan.pth'))


# -- formats ------------------------------------------------------------------------------------------------------
def test_rgba_16bit_and_gray_keep_channels_bit_depth_and_colour(inf):
    """A constant-output generator makes the expected pixel values exact: bit depth and channel order show."""
    up = inf.RRDBUpsampler(constant_net((0.2, 0.5, 0.8)), scale=4)
    bgr8 = np.array([0.8, 0.5, 0.2]) * 255
    gray = 0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.8  # OpenCV's BGR2GRAY of the constant colour

    rgba = smooth_image(0, 12, 10, 4)
    out = up.enhance(rgba, alpha_upsampler='bicubic')
    assert out.shape == (48, 40, 4) and out.dtype == np.uint8
    assert np.abs(out[:, :, :3].astype(float) - np.round(bgr8)).max() <= 1
    alpha = np.clip(cv2.resize(rgba[:, :, 3].astype(np.float32) / 255, (40, 48), interpolation=cv2.INTER_CUBIC), 0, 1)
    np.testing.assert_allclose(out[:, :, 3], np.round(alpha * 255), atol=1)  # the alpha of the input, upscaled
    out = up.enhance(rgba, alpha_upsampler='model')  # alpha through the network, as a gray image
    assert out.shape == (48, 40, 4) and np.abs(out[:, :, 3].astype(float) - gray * 255).max() <= 1

    rgb16 = smooth_image(1, 12, 10, 3).astype(np.uint16) * 257
    out = up.enhance(rgb16)
    assert out.shape == (48, 40, 3) and out.dtype == np.uint16
    assert np.abs(out.astype(float) - np.array([0.8, 0.5, 0.2]) * 65535).max() <= 1

    for dtype, peak in ((np.uint8, 255), (np.uint16, 65535)):
        gray_in = (smooth_image(2, 12, 10, 1)[:, :, 0].astype(np.float64) / 255 * peak).astype(dtype)
        out = up.enhance(gray_in)
        assert out.shape == (48, 40) and out.dtype == dtype
        assert np.abs(out.astype(float) - gray * peak).max() <= 1


def test_formats_carry_the_image_content_like_the_rgb_path(inf):
    """With a real (random) generator: RGBA's colour = the RGB result, 16 bit = 8 bit, gray = gray of the RGB."""
    up = inf.RRDBUpsampler(random_net(3), scale=4)
    bgr = smooth_image(4, 16, 14, 3)
    ref = up.enhance(bgr)
    assert ref.std() > 5  # the generator does something image-dependent, or the comparisons below say little

    rgba = np.dstack([bgr, smooth_image(5, 16, 14, 1)])
    np.testing.assert_array_equal(up.enhance(rgba, alpha_upsampler='linear')[:, :, :3], ref)

    out16 = up.enhance(bgr.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16
    assert np.abs(out16.astype(float) / 65535 - ref.astype(float) / 255).max() <= 1 / 255 + 1e-6

    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    via_rgb = cv2.cvtColor(up.enhance(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)), cv2.COLOR_BGR2GRAY)
    assert np.abs(up.enhance(gray).astype(int) - via_rgb.astype(int)).max() <= 1


# -- tiling -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scale', [4, 2])
def test_tiled_matches_untiled_away_from_seams(inf, scale):
    net = random_net(5, scale=scale)
    img = smooth_image(6, 96, 80, 3)
    whole = inf.RRDBUpsampler(net, scale=scale, tile=0).enhance(img).astype(int)
    tile, pad = 48, 4
    tiled = inf.RRDBUpsampler(net, scale=scale, tile=tile, tile_pad=pad).enhance(img).astype(int)
    assert tiled.shape == whole.shape == (96 * scale, 80 * scale, 3)

    # a pixel whose receptive field stays inside its padded tile sees exactly what the untiled pass sees
    margin = (RECEPTIVE_RADIUS - pad) * scale
    ys, xs = np.arange(96 * scale), np.arange(80 * scale)
    far_y = np.abs(ys[:, None] - tile * scale) >= margin
    far_x = np.abs(xs[None, :] - tile * scale) >= margin
    away = far_y & far_x
    assert away.mean() > 0.3
    assert np.abs(tiled - whole)[away].max() <= 1  # within 1/255

    # enough padding to cover the receptive field: the seams vanish everywhere
    padded = inf.RRDBUpsampler(net, scale=scale, tile=tile, tile_pad=RECEPTIVE_RADIUS + 1).enhance(img)
    assert np.abs(padded.astype(int) - whole).max() <= 1
    # and the check has teeth: without any padding the seams do show
    bare = inf.RRDBUpsampler(net, scale=scale, tile=tile, tile_pad=0).enhance(img).astype(int)
    assert np.abs(bare - whole).max() > 1


def test_pre_pad_and_odd_sizes_keep_the_output_size(inf):
    for scale in (4, 2, 1):
        up = inf.RRDBUpsampler(random_net(7, scale=scale), scale=scale, tile=16, tile_pad=3, pre_pad=5)
        out = up.enhance(smooth_image(8, 23, 19, 3))
        assert out.shape == (23 * scale, 19 * scale, 3)


# -- command line -------------------------------------------------------------------------------------------------
def test_cli_on_a_folder_writes_named_outputs_in_the_right_formats(tmp_path):
    torch.save({'params_ema': constant_net().state_dict()}, tmp_path / 'net_g.pth')
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'rgba.png'), smooth_image(0, 12, 10, 4))
    cv2.imwrite(str(src / 'deep.png'), smooth_image(1, 12, 10, 3).astype(np.uint16) * 257)
    cv2.imwrite(str(src / 'gray.png'), smooth_image(2, 12, 10, 1)[:, :, 0])
    cv2.imwrite(str(src / 'photo.jpg'), smooth_image(3, 12, 10, 3))
    (src / 'notes.txt').write_text('not an image')

    run = run_cli(['-i', src, '-o', tmp_path / 'out', '--model_path', tmp_path / 'net_g.pth', '--suffix', 'sfd',
                   '--ext', 'jpg', '--tile', '8', '--device', 'cpu'], tmp_path)
    assert run.returncode == 0, run.stderr
    assert 'cannot keep the alpha channel' in run.stderr and 'cannot keep 16 bits' in run.stderr
    assert '4 image(s), x4, cpu, float32, tiles of 8' in run.stdout
    names = sorted(p.name for p in (tmp_path / 'out').iterdir())
    # jpg was asked for; RGBA and 16-bit images fall back to png so that alpha and bit depth survive
    assert names == ['deep_sfd.png', 'gray_sfd.jpg', 'photo_sfd.jpg', 'rgba_sfd.png']
    rgba = cv2.imread(str(tmp_path / 'out' / 'rgba_sfd.png'), cv2.IMREAD_UNCHANGED)
    deep = cv2.imread(str(tmp_path / 'out' / 'deep_sfd.png'), cv2.IMREAD_UNCHANGED)
    gray = cv2.imread(str(tmp_path / 'out' / 'gray_sfd.jpg'), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (48, 40, 4) and deep.dtype == np.uint16 and gray.ndim == 2

    run = run_cli(['-i', src / 'photo.jpg', '-o', tmp_path / 'out2', '--model_path', tmp_path / 'net_g.pth',
                   '--suffix', '', '--outscale', '2'], tmp_path)
    assert run.returncode == 0, run.stderr
    assert [p.name for p in (tmp_path / 'out2').iterdir()] == ['photo.jpg']
    assert cv2.imread(str(tmp_path / 'out2' / 'photo.jpg')).shape == (24, 20, 3)


def test_cli_errors_name_the_missing_file(tmp_path):
    run = run_cli(['-i', tmp_path, '--model_path', tmp_path / 'no_such.pth'], tmp_path)
    assert run.returncode != 0 and 'inference_sfd: error: model file not found' in run.stderr
    assert 'no_such.pth' in run.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_half_precision_on_cuda_matches_cpu_float32(inf):
    net = random_net(9)
    img = smooth_image(10, 64, 48, 3)
    cpu = inf.RRDBUpsampler(net, scale=4, device=torch.device('cpu')).enhance(img).astype(int)
    half = inf.RRDBUpsampler(random_net(9), scale=4, half=True, device=torch.device('cuda'))
    assert half.half and next(half.model.parameters()).dtype == torch.float16
    out = half.enhance(img).astype(int)
    assert np.abs(out - cpu).mean() < 0.5 and np.abs(out - cpu).max() <= 4
    tiled = inf.RRDBUpsampler(random_net(9), scale=4, tile=32, tile_pad=RECEPTIVE_RADIUS + 1, half=False,
                              device=torch.device('cuda')).enhance(img).astype(int)
    assert np.abs(tiled - cpu).max() <= 1


@pytest.mark.parametrize('script', ['inference_sfd.py', 'data_preparation/prepare_data.py'])
def test_help_states_a_default_once_and_none_for_a_required_option(script):
    import runpy

    parser = runpy.run_path(str(REPO / 'scripts' / script), run_name='help_check')['build_parser']()
    text = ' '.join(parser.format_help().split())  # argparse wraps lines at the terminal's width
    assert '(default: None)' not in text and '(default: False)' not in text
    assert text.count('(default:') == len(re.findall(r'\(default: [^)]*\)', text))
    assert not re.search(r'\(default: [^)]*\) \(default:', text)  # never two in a row
    if script == 'inference_sfd.py':
        assert 'or experiment folder (experiments/<name>) --network_g' in text  # required: nothing after its help
        assert 'blocks (checked against the generator when given) --num_feat' in text
        assert 'context around each tile (default: 10)' in text and 'no tiling (default: 0)' in text
