"""Data preparation (sub-images, bicubic LR, meta info, LMDB) and the ESRGAN/KAIR -> BasicSR key converter."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

os.environ.setdefault('HF_HUB_OFFLINE', '1')
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # appended: an installed or shimmed package on PYTHONPATH still wins
    sys.path.append(str(REPO))

from sfd_arch.compat import ensure_basicsr_importable  # noqa: E402

ensure_basicsr_importable()

from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402
from basicsr.data.paired_image_dataset import PairedImageDataset  # noqa: E402
from basicsr.utils.matlab_functions import imresize  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')


def script_env() -> dict:
    """A script's environment as a user of this checkout has it: the checkout's package first."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
                OMP_NUM_THREADS='1')


def smooth_image(rng: np.random.Generator, h: int, w: int, channels: int, dtype=np.uint8) -> np.ndarray:
    """A natural-ish image: coarse noise upsampled (bicubic), so downscaling has something to do."""
    coarse = rng.random((h // 8 + 2, w // 8 + 2, channels)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    img = np.clip(img, 0, 1) * np.iinfo(dtype).max
    img = np.round(img).astype(dtype)
    return img[:, :, 0] if channels == 1 else img


# -- prepare_data ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """Run prepare_data once on two colour images, one 16-bit gray image and two unreadable files."""
    from sfd_arch.tools import prepare_data as prep

    root = tmp_path_factory.mktemp('prep')
    src = root / 'hr'
    src.mkdir()
    rng = np.random.default_rng(0)
    images = {'a': smooth_image(rng, 100, 90, 3), 'b': smooth_image(rng, 72, 64, 3),
              'c': smooth_image(rng, 50, 52, 1, np.uint16)}
    for name, img in images.items():
        assert cv2.imwrite(str(src / f'{name}.png'), img)
    (src / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n this is not an image')
    (src / 'empty.jpg').write_bytes(b'')
    out = root / 'out'
    argv = {'name': 'T', 'scales': [2, 4], 'crop_size': 48, 'step': 24, 'lmdb': True, 'n_thread': 1}
    result = prep.prepare_data([str(src)], str(out), **argv)
    return {'prep': prep, 'src': src, 'out': out, 'images': images, 'result': result, 'argv': argv}


def test_prepare_data_writes_aligned_subimages_and_bicubic_lr(prepared):
    out, images = prepared['out'], prepared['images']
    # BasicSR's recipe on the image cropped to a multiple of lcm(2, 4) = 4: a is 100x88, b 72x64, c 48x52
    expected_boxes = {
        'a': [(t, left) for t in (0, 24, 48, 52) for left in (0, 24, 40)],
        'b': [(t, left) for t in (0, 24) for left in (0, 16)],
        'c': [(0, 0), (0, 4)],
    }
    for name, boxes in expected_boxes.items():
        img = images[name]
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        hr_mod = img[:h, :w]
        written = sorted(p.name for p in (out / 'T_HR_sub').glob(f'{name}_s*.png'))
        assert written == [f'{name}_s{i:03d}.png' for i in range(1, len(boxes) + 1)]
        for scale in (2, 4):
            # the LR of the whole image, as the official DIV2K LR: BasicSR's MATLAB-like bicubic, rounded
            lr_full = np.clip(np.round(imresize(hr_mod.astype(np.float32) / np.iinfo(img.dtype).max, 1 / scale)
                                       * np.iinfo(img.dtype).max), 0, np.iinfo(img.dtype).max).astype(img.dtype)
            for i, (top, left) in enumerate(boxes, start=1):
                sub = f'{name}_s{i:03d}.png'
                hr = cv2.imread(str(out / 'T_HR_sub' / sub), cv2.IMREAD_UNCHANGED)
                np.testing.assert_array_equal(hr, hr_mod[top:top + 48, left:left + 48])
                lr = cv2.imread(str(out / 'T_LR_bicubic' / f'X{scale}_sub' / sub), cv2.IMREAD_UNCHANGED)
                assert lr.dtype == img.dtype  # 16-bit stays 16-bit
                lr_size = 48 // scale
                np.testing.assert_array_equal(
                    lr, lr_full[top // scale:top // scale + lr_size, left // scale:left // scale + lr_size])

    meta = (out / 'meta_info_T_sub_GT.txt').read_text().splitlines()
    assert len(meta) == 12 + 4 + 2 == prepared['result']['images']
    assert meta[0] == 'a_s001.png (48,48,3)' and meta[-1] == 'c_s002.png (48,48,1)'
    assert meta == sorted(meta)


def test_prepare_data_reports_unreadable_images_and_writes_nothing_for_them(prepared):
    out = prepared['out']
    failed = sorted(Path(p).name for p in prepared['result']['failed'])
    assert failed == ['broken.png', 'empty.jpg']
    for folder in ('T_HR_sub', 'T_LR_bicubic/X2_sub', 'T_LR_bicubic/X4_sub'):
        names = [p.name for p in (out / folder).iterdir()]
        assert not [n for n in names if n.startswith(('broken', 'empty'))]
        assert all(p.stat().st_size > 0 for p in (out / folder).iterdir())


def test_lmdb_reads_back_the_same_pixels_in_paired_image_dataset(prepared):
    out = prepared['out']

    def dataset(backend: str) -> PairedImageDataset:
        # the paths of BasicSR's option files: folders on disk, *_sub.lmdb beside them
        if backend == 'lmdb':
            gt, lq = 'T_HR_sub.lmdb', 'T_LR_bicubic_X4_sub.lmdb'
        else:
            gt, lq = 'T_HR_sub', 'T_LR_bicubic/X4_sub'
        opt = {'name': 'T', 'type': 'PairedImageDataset', 'phase': 'val', 'scale': 4,
               'dataroot_gt': str(out / gt), 'dataroot_lq': str(out / lq),
               'io_backend': {'type': backend}, 'filename_tmpl': '{}'}
        if backend == 'disk':
            opt['meta_info_file'] = str(out / 'meta_info_T_sub_GT.txt')
        return PairedImageDataset(opt)

    from_lmdb, from_disk = dataset('lmdb'), dataset('disk')
    assert len(from_lmdb) == len(from_disk) == 18
    for i in range(len(from_lmdb)):
        a, b = from_lmdb[i], from_disk[i]
        assert a['gt_path'] == Path(b['gt_path']).stem  # LMDB keys are the names without extension
        assert a['gt'].shape == (3, 48, 48) and a['lq'].shape == (3, 12, 12)
        assert torch.equal(a['gt'], b['gt']) and torch.equal(a['lq'], b['lq'])
    for folder in ('T_HR_sub.lmdb', 'T_LR_bicubic_X2_sub.lmdb', 'T_LR_bicubic_X4_sub.lmdb'):
        lines = (out / folder / 'meta_info.txt').read_text().splitlines()
        assert len(lines) == 18 and lines[0].startswith('a_s001.png (')


def test_prepare_data_rerun_skips_finished_work(prepared, capsys):
    out = prepared['out']
    files = sorted(p for p in out.rglob('*') if p.is_file() and p.suffix in ('.png', '.mdb'))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    result = prepared['prep'].prepare_data([str(prepared['src'])], str(prepared['out']), **prepared['argv'])
    assert result['processed'] == 0 and result['skipped'] == 3 and result['images'] == 18
    assert {p: p.stat().st_mtime_ns for p in files} == stamps  # nothing rewritten, LMDBs included
    assert 'LMDB up to date' in capsys.readouterr().out

    # a deleted output is noticed: that one source image is done again
    (out / 'T_LR_bicubic' / 'X2_sub' / 'b_s003.png').unlink()
    result = prepared['prep'].prepare_data([str(prepared['src'])], str(prepared['out']), **prepared['argv'])
    assert result['processed'] == 1 and result['skipped'] == 2
    assert (out / 'T_LR_bicubic' / 'X2_sub' / 'b_s003.png').stat().st_size > 0


def test_prepare_data_missing_input_folder_exits_nonzero_naming_it(tmp_path):
    missing = tmp_path / 'no_such_folder'
    run = subprocess.run([sys.executable, str(REPO / 'scripts' / 'data_preparation' / 'prepare_data.py'), '-i',
                          str(missing), '-o', str(tmp_path / 'out')], env=script_env(), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1  # SystemExit with a message: printed to stderr, status 1
    assert run.stderr.startswith('prepare_data: error:')
    assert str(missing) in run.stderr and 'not found' in run.stderr
    assert not (tmp_path / 'out').exists()


def test_prepare_data_rejects_crop_not_divisible_by_scale(tmp_path):
    (tmp_path / 'hr').mkdir()
    from sfd_arch.tools.prepare_data import PrepareError, prepare_data

    with pytest.raises(PrepareError, match='multiples of every scale'):
        prepare_data([str(tmp_path / 'hr')], str(tmp_path / 'o'), scales=[3], crop_size=100, step=50)


# -- convert_rrdb_keys ----------------------------------------------------------------------------------------
class OldRDB(nn.Module):
    """ESRGAN's old-arch ResidualDenseBlock_5C: each conv wrapped in nn.Sequential (conv, lrelu)."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.conv1 = nn.Sequential(nn.Conv2d(nf, gc, 3, 1, 1), act)
        self.conv2 = nn.Sequential(nn.Conv2d(nf + gc, gc, 3, 1, 1), act)
        self.conv3 = nn.Sequential(nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1), act)
        self.conv4 = nn.Sequential(nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1), act)
        self.conv5 = nn.Sequential(nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1))

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(torch.cat((x, x1), 1))
        x3 = self.conv3(torch.cat((x, x1, x2), 1))
        x4 = self.conv4(torch.cat((x, x1, x2, x3), 1))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)) * 0.2 + x


class OldRRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = OldRDB(nf, gc), OldRDB(nf, gc), OldRDB(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class Shortcut(nn.Module):
    def __init__(self, sub: nn.Module):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


class OldESRGAN(nn.Module):
    """The original ESRGAN old arch: ``model.0``, ``model.1.sub.N.RDBk.convj.0``, ``model.3/6/8/10``."""

    def __init__(self, nf: int = 8, nb: int = 2, gc: int = 4):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(3, nf, 3, 1, 1),
            Shortcut(nn.Sequential(*[OldRRDB(nf, gc) for _ in range(nb)], nn.Conv2d(nf, nf, 3, 1, 1))),
            nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, 3, 3, 1, 1))

    def forward(self, x):
        return self.model(x)


def test_convert_old_esrgan_arch_gives_identical_outputs(tmp_path):
    from sfd_arch.tools import convert_rrdb_keys as conv

    torch.manual_seed(0)
    old = OldESRGAN(nf=8, nb=2, gc=4).eval()
    keys = list(old.state_dict())
    assert 'model.1.sub.0.RDB1.conv1.0.weight' in keys and 'model.1.sub.2.weight' in keys and 'model.10.bias' in keys
    src, dst = tmp_path / 'old.pth', tmp_path / 'new.pth'
    torch.save(old.state_dict(), src)

    opts = conv.convert_file(str(src), str(dst))
    assert opts == {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 8, 'num_block': 2, 'num_grow_ch': 4}
    ckpt = torch.load(dst, weights_only=True)
    assert set(ckpt) == {'params', 'params_ema'}
    net = RRDBNet(**opts).eval()
    net.load_state_dict(ckpt['params_ema'], strict=True)
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        expected, got = old(x), net(x)
    assert got.shape == (1, 3, 48, 40)
    assert torch.allclose(got, expected, atol=1e-6), (got - expected).abs().max()


def test_convert_esrgan_kair_naming_and_wrapped_checkpoints(tmp_path):
    from sfd_arch.tools import convert_rrdb_keys as conv

    torch.manual_seed(1)
    ref = RRDBNet(3, 3, scale=4, num_feat=8, num_block=3, num_grow_ch=4).state_dict()
    to_esrgan = [('conv_body.', 'trunk_conv.'), ('conv_up1.', 'upconv1.'), ('conv_up2.', 'upconv2.'),
                 ('conv_hr.', 'HRconv.')]
    esrgan = {}
    for k, v in ref.items():
        for new, old in to_esrgan:
            k = k.replace(new, old) if k.startswith(new) else k
        if k.startswith('body.'):
            _, n, rdb, c, p = k.split('.')
            k = f'RRDB_trunk.{n}.RDB{rdb[-1]}.{c}.{p}'
        esrgan[k] = v
    assert 'RRDB_trunk.2.RDB3.conv5.weight' in esrgan and 'HRconv.bias' in esrgan
    # KAIR/ESRGAN training checkpoints: wrapped in 'params' with a DataParallel prefix
    torch.save({'params': {f'module.{k}': v for k, v in esrgan.items()}}, tmp_path / 'kair.pth')
    opts = conv.convert_file(str(tmp_path / 'kair.pth'), str(tmp_path / 'kair_basicsr.pth'))
    assert opts['num_block'] == 3 and opts['num_feat'] == 8 and opts['num_grow_ch'] == 4
    ckpt = torch.load(tmp_path / 'kair_basicsr.pth', weights_only=True)
    for name in ('params', 'params_ema'):
        assert list(ckpt[name]) == list(ref)
        assert all(torch.equal(ckpt[name][k], ref[k]) for k in ref)


def test_convert_rejects_unknown_layout_naming_file_and_keys(tmp_path):
    bad = tmp_path / 'not_rrdb.pth'
    torch.save({'encoder.0.weight': torch.zeros(2), 'decoder.head.bias': torch.zeros(2)}, bad)
    run = subprocess.run([sys.executable, str(REPO / 'scripts' / 'convert_rrdb_keys.py'), str(bad)],
                         env=script_env(), capture_output=True, text=True, timeout=300)  # the README's path
    assert run.returncode == 1 and run.stderr.startswith('convert_rrdb_keys: error:')
    message = run.stderr
    assert str(bad) in message and 'encoder.0.weight' in message and 'decoder.head.bias' in message
    assert not (tmp_path / 'not_rrdb_basicsr.pth').exists()
