"""SR metrics (sfd_arch.metrics): equal to the reference packages on the same weights, offline weights, per dataset.

Random weights are written under the published file names (``write_stand_in_weights``); the reference packages
(`lpips`, `DISTS_pytorch`, `pytorch-fid`, `torch-fidelity`, installed by the `test` extra) get the very same tensors.
"""
import csv
import hashlib
import logging
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from sfd_testutil import make_paired_dataset

from sfd_arch.compat import ensure_basicsr_importable

ensure_basicsr_importable()

from basicsr.metrics import calculate_metric  # noqa: E402

import sfd_arch  # noqa: E402,F401  (registers the metrics)
from sfd_arch import metrics as M  # noqa: E402
from sfd_arch.metrics import weights as W  # noqa: E402
from sfd_arch.metrics.base import clear_metric_cache  # noqa: E402
from sfd_arch.metrics.fid_metric import inception_features, kid_from_features  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def standins(tmp_path_factory) -> Path:
    """Stand-in weights in a torch hub checkpoint folder: ``<torch_home>/hub/checkpoints/<published name>``."""
    torch_home = tmp_path_factory.mktemp('torch_home')
    folder = torch_home / 'hub' / 'checkpoints'
    M.write_stand_in_weights(str(folder), seed=0)
    return torch_home


@pytest.fixture
def hub(standins, tmp_path, monkeypatch) -> Path:
    """TORCH_HOME = the stand-ins, current directory = an empty folder (no experiments/pretrained_models)."""
    monkeypatch.setenv('TORCH_HOME', str(standins))
    monkeypatch.chdir(tmp_path)
    return standins / 'hub' / 'checkpoints'  # the network cache is kept: its keys hold the resolved file paths


def images(seed: int = 0, size=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    """An SR/HR pair of uint8 BGR images: smooth content plus a different noise each."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3)).astype(np.float32)
    base = np.kron(base, np.ones((8, 8, 1), np.float32))
    hr = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    sr = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return sr, hr


def rgb01(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255


def features_into(module: torch.nn.Module, path: Path) -> None:
    """Copy a torchvision ``features.<i>.*`` file into a reference module whose keys are ``<slice>.<i>.*``."""
    source = torch.load(path, weights_only=True)
    state = {}
    for key in module.state_dict():
        parts = key.split('.')
        if parts[-1] in ('weight', 'bias'):
            state[key] = source[f'features.{parts[-2]}.{parts[-1]}']
        else:
            state[key] = module.state_dict()[key]
    module.load_state_dict(state)


# -- equal to the reference packages -------------------------------------------------------------------------------
@pytest.mark.parametrize('net,backbone', [('alex', 'alexnet-owt-7be5be79.pth'), ('vgg', 'vgg16-397923af.pth')])
def test_lpips_equals_the_lpips_package(hub, net, backbone):
    lpips = pytest.importorskip('lpips', reason='the reference package lpips is not installed (pip install .[test])')
    reference = lpips.LPIPS(net=net, version='0.1', pnet_rand=True, model_path=str(hub / f'lpips_v0.1_{net}.pth'),
                            verbose=False)
    features_into(reference.net, hub / backbone)
    for seed in range(3):
        sr, hr = images(seed)
        ours = M.calculate_lpips(sr, hr, net=net, device='cpu')
        with torch.no_grad():
            expected = reference(rgb01(sr), rgb01(hr), normalize=True).item()
        assert expected > 1e-2  # a distance the comparison can see, not a vanishing one
        assert ours == pytest.approx(expected, abs=1e-5, rel=1e-5)
    # crop_border removes the same pixels as BasicSR's metrics do
    sr, hr = images(5, size=(64, 64))
    with torch.no_grad():
        expected = reference(rgb01(sr[4:-4, 4:-4]), rgb01(hr[4:-4, 4:-4]), normalize=True).item()
    assert M.calculate_lpips(sr, hr, crop_border=4, net=net, device='cpu') == pytest.approx(expected, abs=1e-5)


def test_dists_equals_the_dists_package(hub, monkeypatch):
    dists_pt = pytest.importorskip('DISTS_pytorch.DISTS_pt',
                                   reason='the reference package dists-pytorch is not installed (pip install .[test])')
    from sfd_arch.metrics.backbones import load_features, vgg16_features

    # DISTS_pytorch builds torchvision's VGG-16 with the pretrained flag; hand it our stand-in features instead
    features = load_features(vgg16_features(), str(hub / 'vgg16-397923af.pth'))
    monkeypatch.setattr(dists_pt.models, 'vgg16', lambda *a, **k: types.SimpleNamespace(features=features))
    reference = dists_pt.DISTS(load_weights=False)
    alpha_beta = torch.load(hub / 'dists_alpha_beta.pt', weights_only=True)
    reference.alpha.data, reference.beta.data = alpha_beta['alpha'], alpha_beta['beta']
    for seed in range(3):
        sr, hr = images(seed)
        expected = reference(rgb01(sr), rgb01(hr)).item()
        assert 0.01 < expected < 1
        assert M.calculate_dists(sr, hr, device='cpu') == pytest.approx(expected, abs=1e-5, rel=1e-5)


def test_inception_features_and_frechet_distance_equal_pytorch_fid(hub):
    pytest.importorskip('pytorch_fid', reason='the reference package pytorch-fid is missing (pip install .[test])')
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3

    reference = InceptionV3([3]).eval()  # loads pt_inception-2015-12-05-6726825d.pth from TORCH_HOME, as published
    batch = [images(seed, size=(40, 56))[0] for seed in range(2)]
    ours = inception_features(batch, device='cpu')
    with torch.no_grad():
        expected = torch.cat([reference(rgb01(img))[0].flatten(1) for img in batch]).double().numpy()
    assert ours.shape == (2, 2048)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=1e-5)
    # dims=192 as pytorch-fid's --dims 192: the second max-pool block, averaged over positions
    reference_192 = InceptionV3([1]).eval()
    with torch.no_grad():
        expected = torch.cat([reference_192(rgb01(img))[0].mean((2, 3)) for img in batch]).double().numpy()
    np.testing.assert_allclose(inception_features(batch, device='cpu', dims=192), expected, atol=1e-5, rtol=1e-5)

    # the distance itself, from more samples than dimensions and from fewer (singular covariances, finite sqrtm)
    rng = np.random.default_rng(0)
    for n, d in ((60, 8), (5, 16)):
        a, b = rng.normal(size=(n, d)), rng.normal(0.3, 1.2, size=(n, d))
        stats = [np.mean(a, 0), np.cov(a, rowvar=False), np.mean(b, 0), np.cov(b, rowvar=False)]
        assert M.frechet_distance(*stats) == pytest.approx(calculate_frechet_distance(*stats), rel=1e-9, abs=1e-9)


def test_frechet_regularisation_branch_equals_pytorch_fid(caplog):
    """A singular product whose matrix square root scipy returns as NaN: both regularise the covariances with
    eps on the diagonal, and agree. Covariances of two samples (rank 1) and of three (rank 2), in 3 dimensions."""
    pytest.importorskip('pytorch_fid', reason='the reference package pytorch-fid is missing (pip install .[test])')
    from pytorch_fid.fid_score import calculate_frechet_distance
    from scipy import linalg

    sr = np.array([[1., 0, 1], [-1, 1, 1]])  # few samples, as from a small test set without crop_size
    hr = np.array([[-1., 0, 2], [2, 2, -1], [1, 2, 1]])
    stats = [np.mean(sr, 0), np.cov(sr, rowvar=False), np.mean(hr, 0), np.cov(hr, rowvar=False)]
    with np.errstate(all='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # the case reaches the branch: the plain square root is not finite
        assert not np.isfinite(linalg.sqrtm(stats[1].dot(stats[3]))).all()
        expected = calculate_frechet_distance(*stats)
        with caplog.at_level(logging.WARNING, logger='basicsr'):
            logging.getLogger('basicsr').propagate, saved = True, logging.getLogger('basicsr').propagate
            try:
                ours = M.frechet_distance(*stats)
            finally:
                logging.getLogger('basicsr').propagate = saved
    assert np.isfinite(expected) and expected > 1
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert 'singular covariance product' in caplog.text


def kid_reference(x: np.ndarray, y: np.ndarray, subset_size: int, subsets: int, seed: int) -> float:
    """torch-fidelity's KID of two feature sets, its kernel named in full: (x.y * gamma + coef0) ** degree."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

    out = kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), kid_subset_size=subset_size,
                                 kid_subsets=subsets, rng_seed=seed, kid_kernel='poly', kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=1 / x.shape[1], kid_kernel_poly_coef0=1, verbose=False)
    return out[KEY_METRIC_KID_MEAN]


def test_kid_equals_torch_fidelity():
    """Subset for subset (same seed, same draws) and on one subset of all samples, to 1e-6."""
    pytest.importorskip('torch_fidelity', reason='torch-fidelity is missing (pip install .[test])')
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 16)), rng.normal(0.3, 1.2, size=(30, 16))
    for subset_size, subsets, seed in ((10, 7, 3), (30, 4, 0), (25, 1, 5)):
        expected = kid_reference(x, y, subset_size, subsets, seed)
        assert abs(expected) > 1e-2  # a distance the comparison can see
        assert kid_from_features(x, y, subset_size, subsets, seed) == pytest.approx(expected, abs=1e-6, rel=1e-9)
    # as many samples on both sides as the subset: one subset of all, whatever the seed and the number of subsets
    expected = kid_reference(x[:30], y, 30, 3, 0)
    assert kid_from_features(x[:30], y, 1000, 100, seed=9) == pytest.approx(expected, abs=1e-6, rel=1e-9)
    # the same set twice: the unbiased estimate is tiny, not exactly 0, in both
    assert kid_from_features(x, x, 40) == pytest.approx(kid_reference(x, x, 40, 1, 0), abs=1e-6)


def test_dataset_metrics_equal_pytorch_fid_and_torch_fidelity(hub, caplog):
    """FID and KID of a dataset from lists of images: pytorch-fid's network on the same 32x32 crops, then
    pytorch-fid's statistics and distance, and torch-fidelity's KID."""
    pytest.importorskip('pytorch_fid', reason='the reference package pytorch-fid is missing (pip install .[test])')
    pytest.importorskip('torch_fidelity', reason='torch-fidelity is missing (pip install .[test])')
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3

    pairs = [images(seed, size=(64, 64)) for seed in range(3)]
    srs, hrs = [p[0] for p in pairs], [p[1] for p in pairs]
    # dims 64 keeps the matrix square root small (2048 takes minutes on a busy CPU); the formula is the same
    opt = {'type': 'calculate_fid', 'crop_size': 32, 'dims': 64}
    with caplog.at_level(logging.WARNING, logger='basicsr'):
        logging.getLogger('basicsr').propagate, saved = True, logging.getLogger('basicsr').propagate
        try:
            value = M.compute_dataset_metric(opt, srs, hrs, dataset='Tiny')
        finally:
            logging.getLogger('basicsr').propagate = saved
    assert 'from 12 samples (< 50)' in caplog.text and 'Tiny' in caplog.text

    # pytorch-fid's --dims 64: the first block's output averaged over positions, of each crop, row-major
    reference = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]]).eval()

    def features(imgs: list) -> np.ndarray:
        crops = [img[y:y + 32, x:x + 32] for img in imgs for y in (0, 32) for x in (0, 32)]
        with torch.no_grad():
            return torch.cat([reference(rgb01(c))[0].mean((2, 3)) for c in crops]).double().numpy()

    sr_feats, hr_feats = features(srs), features(hrs)
    assert sr_feats.shape == (12, 64)  # 4 non-overlapping 32x32 crops of each 64x64 image
    expected = calculate_frechet_distance(np.mean(sr_feats, 0), np.cov(sr_feats, rowvar=False),
                                          np.mean(hr_feats, 0), np.cov(hr_feats, rowvar=False))
    assert value == pytest.approx(expected, rel=1e-5) and value > 0
    kid = M.compute_dataset_metric({'type': 'calculate_kid', 'crop_size': 32, 'dims': 64}, srs, hrs)
    expected_kid = kid_reference(sr_feats, hr_feats, 12, 1, 0)  # fewer samples than 1000: one subset of all
    assert abs(expected_kid) > 1e-6
    assert kid == pytest.approx(expected_kid, rel=1e-4, abs=1e-8)


# -- weights, offline ----------------------------------------------------------------------------------------------
def test_weight_report_tells_published_from_stand_ins_and_missing(hub, tmp_path, monkeypatch):
    report = M.weight_report({'type': 'calculate_lpips', 'net': 'alex'})
    assert [(r['name'], r['status']) for r in report] == [('alexnet-owt-7be5be79.pth', 'stand-in'),
                                                          ('lpips_v0.1_alex.pth', 'stand-in')]
    assert report[0]['path'] == str(hub / 'alexnet-owt-7be5be79.pth')
    assert M.weight_report({'type': 'calculate_psnr', 'crop_border': 0}) == []

    # experiments/pretrained_models comes first; the block's path key overrides both
    local = tmp_path / 'experiments' / 'pretrained_models'
    local.mkdir(parents=True)
    heads = torch.load(hub / 'lpips_v0.1_alex.pth', weights_only=True)
    torch.save(heads, local / 'lpips_v0.1_alex.pth')
    assert M.weight_report({'type': 'calculate_lpips'})[1]['path'] == str(local / 'lpips_v0.1_alex.pth')
    explicit = M.weight_report({'type': 'calculate_lpips', 'head_path': str(hub / 'lpips_v0.1_alex.pth')})
    assert explicit[1]['path'] == str(hub / 'lpips_v0.1_alex.pth')
    missing = M.weight_report({'type': 'calculate_fid', 'inception_path': str(tmp_path / 'nowhere.pth')})
    assert missing[0]['status'] == 'missing' and missing[0]['path'] == str(tmp_path / 'nowhere.pth')

    # the heads the lpips package ships are the published ones (their SHA-256 is recorded in weights.py)
    import importlib.util

    if importlib.util.find_spec('lpips') is not None:
        (local / 'lpips_v0.1_alex.pth').unlink()
        monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty_home'))
        shipped = M.weight_report({'type': 'calculate_lpips'})[1]
        assert shipped['status'] == 'published' and shipped['path'].endswith(os.path.join('v0.1', 'alex.pth'))

    # hash-named files: published iff the file's SHA-256 starts with the hex digits in its name
    blob = b'published bytes'
    prefix = hashlib.sha256(blob).hexdigest()[:8]
    (local / f'net-{prefix}.pth').write_bytes(blob)
    (local / 'net-0badc0de.pth').write_bytes(blob)
    assert W.weight_status(W.WeightFile(f'net-{prefix}.pth', 'u'), str(local / f'net-{prefix}.pth')) == 'published'
    assert W.weight_status(W.WeightFile('net-0badc0de.pth', 'u'), str(local / 'net-0badc0de.pth')) == 'stand-in'


def test_preflight_names_the_missing_file_where_to_put_it_and_its_url(tmp_path, monkeypatch):
    from sfd_arch.options.preflight import check_option_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    opt = tmp_path / 'test.yml'
    opt.write_text('name: t\nmodel_type: SRModel\nval:\n  metrics:\n'
                   '    psnr: {type: calculate_psnr, crop_border: 4}\n'
                   '    fid: {type: calculate_fid, crop_size: 64}\n')
    with pytest.raises(M.MissingWeightsError) as err:
        check_option_file(str(opt), is_train=False)
    message = str(err.value)
    assert 'metrics.fid' in message and 'pt_inception-2015-12-05-6726825d.pth' in message
    assert str(tmp_path / 'experiments' / 'pretrained_models' / 'pt_inception-2015-12-05-6726825d.pth') in message
    assert 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/' in message
    assert str(opt) in message

    opt.write_text('name: t\nval:\n  metrics:\n    l: {type: calculate_lpipz}\n')
    with pytest.raises(KeyError) as err:
        check_option_file(str(opt), is_train=False)
    assert "unknown metric type 'calculate_lpipz'" in err.value.args[0] and 'calculate_lpips' in err.value.args[0]

    # the command exits non-zero with that message, before BasicSR makes any folder
    import sfd_arch.test as sfd_test

    with pytest.raises(SystemExit) as exit_info:
        sfd_test.main(['-opt', str(opt)])
    assert 'calculate_lpipz' in str(exit_info.value.code)
    assert not (tmp_path / 'results').exists()


def test_each_network_is_built_once_per_settings_and_device(hub, monkeypatch):
    from sfd_arch.metrics import lpips_metric

    built = []
    original = lpips_metric.LPIPSNet.__init__

    def counting(self, *args, **kwargs):
        built.append(args[0])
        original(self, *args, **kwargs)

    monkeypatch.setattr(lpips_metric.LPIPSNet, '__init__', counting)
    clear_metric_cache()
    opt = {'type': 'calculate_lpips', 'net': 'alex', 'device': 'cpu', 'better': 'lower'}
    values = [calculate_metric({'img': sr, 'img2': hr}, opt) for sr, hr in (images(s) for s in range(4))]
    assert built == ['alex'] and len(set(values)) == 4
    M.calculate_lpips(*images(0), net='vgg', device='cpu')
    assert built == ['alex', 'vgg']


# -- bad input -----------------------------------------------------------------------------------------------------
def test_bad_input_gets_clear_errors(hub, tmp_path):
    sr, hr = images(0)
    with pytest.raises(M.MetricInputError, match=r'SR image is 64x48 \(WxH\) but HR image is 56x48'):
        M.calculate_lpips(sr, hr[:, :56], device='cpu')
    with pytest.raises(M.MetricInputError, match='b.png: calculate_fid: SR image is 64x48'):
        M.compute_dataset_metric({'type': 'calculate_fid', 'dims': 64}, [sr, sr], [hr, hr[:40]],
                                 names=['a.png', 'b.png'])
    with pytest.raises(KeyError, match='unknown option'):
        M.calculate_lpips(sr, hr, nett='vgg')
    with pytest.raises(KeyError, match=r"unknown metric type 'calculate_fidd'; known: .*calculate_fid"):
        M.metric_direction({'type': 'calculate_fidd'})
    # FID has no per-image value: called outside a dataset collection it refuses instead of returning one
    with pytest.raises(M.DatasetMetricError, match='dataset-level'):
        calculate_metric({'img': sr, 'img2': hr}, {'type': 'calculate_fid'})
    # a corrupt head file (NaN) gives a clear error, not a NaN in a table
    nan_heads = {k: torch.full_like(v, float('nan'))
                 for k, v in torch.load(hub / 'lpips_v0.1_alex.pth', weights_only=True).items()}
    torch.save(nan_heads, tmp_path / 'nan_heads.pth')
    with pytest.raises(FloatingPointError, match='calculate_lpips returned nan'):
        M.calculate_lpips(sr, hr, head_path=str(tmp_path / 'nan_heads.pth'), device='cpu')
    with pytest.raises(M.MissingWeightsError, match='dists_alpha_beta.pt'):
        M.calculate_dists(sr, hr, alpha_beta_path=str(tmp_path / 'none.pt'))


def test_pyiqa_is_optional_and_says_how_to_install_it(monkeypatch):
    for name in [m for m in sys.modules if m == 'pyiqa' or m.startswith('pyiqa.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'pyiqa', None)  # unimportable here, installed or not
    with pytest.raises(ImportError, match=r'pip install \.\[pyiqa\]'):
        M.calculate_pyiqa(images(0)[0], metric='musiq')
    # and the option-file check says so before anything runs
    with pytest.raises(ValueError, match=r'metrics.musiq: calculate_pyiqa needs .* pip install \.\[pyiqa\]'):
        M.check_metric_weights({'musiq': {'type': 'calculate_pyiqa', 'metric': 'musiq'}})


def test_pyiqa_metric_equals_pyiqa_and_never_downloads(tmp_path, monkeypatch):
    """With pyiqa installed: a weight-free metric equals pyiqa's own call on the same RGB tensors, and a metric
    whose weights are absent fails naming the file instead of downloading it."""
    if os.environ.get('SFD_REQUIRE_PYIQA') == '1':  # make test-pyiqa: pyiqa must be there
        import pyiqa
    else:
        pyiqa = pytest.importorskip('pyiqa', reason='pyiqa is not installed (optional: pip install .[pyiqa])')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    sr, hr = images(0)[:2]
    ours = M.calculate_pyiqa(sr, hr, metric='psnr', device='cpu')

    def rgb(img):
        return torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)[None].float() / 255

    reference = float(pyiqa.create_metric('psnr', device='cpu')(rgb(sr), rgb(hr)))
    assert ours == pytest.approx(reference, abs=1e-5)
    with pytest.raises(M.MissingWeightsError, match=r'musiq_koniq_ckpt-.*\.pth not found.*nothing is downloaded'):
        M.calculate_pyiqa(sr, metric='musiq', device='cpu')
    assert not list((tmp_path / 'torch_home').rglob('*.pth'))


def test_directions_and_known_metrics():
    known = M.known_metrics()
    for name in ('calculate_lpips', 'calculate_dists', 'calculate_fid', 'calculate_kid', 'calculate_pyiqa',
                 'calculate_psnr', 'calculate_sfd_iqa'):
        assert name in known
    assert M.metric_direction({'type': 'calculate_lpips'}) == 'lower'
    assert M.metric_direction({'type': 'calculate_psnr'}) == 'higher'
    assert M.metric_direction({'type': 'calculate_fid'}) == 'lower'
    assert M.metric_direction({'type': 'calculate_niqe'}) == 'lower'
    assert M.metric_direction({'type': 'calculate_pyiqa', 'metric': 'musiq'}) == 'higher'
    assert M.metric_direction({'type': 'calculate_pyiqa', 'metric': 'niqe'}) == 'lower'
    assert M.metric_direction({'type': 'calculate_psnr', 'better': 'lower'}) == 'lower'
    assert M.is_dataset_metric({'type': 'calculate_fid'}) and not M.is_dataset_metric({'type': 'calculate_lpips'})


# -- per dataset in sfd_arch/test.py ------------------------------------------------------------------------------
TINY_RRDB = {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8}


def sr_and_hr(net, gt_dir: str, lq_dir: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``net``'s SR outputs of a paired set and its HR images, uint8 BGR, in file-name order."""
    import cv2
    from basicsr.utils import img2tensor, tensor2img

    srs, hrs = [], []
    for name in sorted(os.listdir(gt_dir)):
        lq = cv2.imread(os.path.join(lq_dir, name)).astype(np.float32) / 255
        with torch.no_grad():
            srs.append(tensor2img(net(img2tensor(lq).unsqueeze(0))))
        hrs.append(cv2.imread(os.path.join(gt_dir, name)))
    return srs, hrs


def write_sr_test_options(root, name: str, gt_dir: str, lq_dir: str, metrics: dict) -> str:
    """``root/test.yml``: BasicSR's SRModel test of ``root/net_g.pth`` (a tiny RRDBNet) on one paired set 'Tiny',
    with ``metrics`` in that order."""
    import yaml

    opt = {'name': name, 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
           'datasets': {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset', 'dataroot_gt': gt_dir,
                                   'dataroot_lq': lq_dir, 'io_backend': {'type': 'disk'}}},
           'network_g': {'type': 'RRDBNet', **TINY_RRDB},
           'path': {'pretrain_network_g': str(root / 'net_g.pth'), 'strict_load_g': True, 'param_key_g': 'params'},
           'val': {'save_img': False, 'metrics': metrics}}
    (root / 'test.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    return str(root / 'test.yml')


def test_sfd_test_reports_fid_per_dataset(hub, tmp_path):
    from basicsr.archs.rrdbnet_arch import RRDBNet

    import sfd_arch.test as sfd_test

    gt_dir, lq_dir = make_paired_dataset(str(tmp_path / 'data'), n=3, size=64)
    torch.manual_seed(0)
    net = RRDBNet(scale=4, **TINY_RRDB).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    fid_opt = {'type': 'calculate_fid', 'crop_size': 32, 'dims': 64, 'better': 'lower'}
    write_sr_test_options(tmp_path, 'fid_test', gt_dir, lq_dir, {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
        'fid': fid_opt,
        'kid': {'type': 'calculate_kid', 'crop_size': 32, 'dims': 64},
        'lpips': {'type': 'calculate_lpips', 'better': 'lower'}})
    recorder = sfd_test.run(['-opt', str(tmp_path / 'test.yml')])

    results = tmp_path / 'results' / 'fid_test'
    with open(results / 'metrics.csv', newline='') as f:
        rows = list(csv.reader(f))[1:]
    by_metric = {}
    for _, image, metric, value, *_note in rows:  # a note column marks LPIPS on stand-in weights
        by_metric.setdefault(metric, []).append((image, float(value)))
    assert [img for img, _ in by_metric['fid']] == ['*'] and [img for img, _ in by_metric['kid']] == ['*']
    assert len(by_metric['psnr']) == 3 and len(by_metric['lpips']) == 3

    # the dataset value is the FID of all SR against all HR images, as compute_dataset_metric gives it
    expected = M.compute_dataset_metric(fid_opt, *sr_and_hr(net, gt_dir, lq_dir))
    fid = by_metric['fid'][0][1]
    assert fid == pytest.approx(expected, rel=1e-6) and fid > 0
    assert recorder.logged['Tiny']['fid'] == pytest.approx(fid, rel=1e-12)  # what BasicSR logged and tracked
    summary = (results / 'summary.md').read_text()
    assert '| Tiny | 3 |' in summary and f'{fid:.4f}' in summary and 'fid, kid: one value over all images' in summary


def test_sfd_test_stops_on_a_nan_metric_and_keeps_what_it_computed(hub, tmp_path):
    from basicsr.archs.rrdbnet_arch import RRDBNet

    import sfd_arch.test as sfd_test

    gt_dir, lq_dir = make_paired_dataset(str(tmp_path / 'data'), n=2, size=64)
    torch.save({'params': RRDBNet(scale=4, **TINY_RRDB).state_dict()}, tmp_path / 'net_g.pth')
    nan_heads = {k: torch.full_like(v, float('nan'))
                 for k, v in torch.load(hub / 'lpips_v0.1_alex.pth', weights_only=True).items()}
    torch.save(nan_heads, tmp_path / 'nan_heads.pth')
    write_sr_test_options(tmp_path, 'nan_test', gt_dir, lq_dir, {  # psnr first, then lpips fails
        'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
        'lpips': {'type': 'calculate_lpips', 'head_path': str(tmp_path / 'nan_heads.pth')}})
    with pytest.raises(SystemExit) as exit_info:
        sfd_test.main(['-opt', str(tmp_path / 'test.yml')])
    assert 'calculate_lpips returned nan' in str(exit_info.value.code)
    with open(tmp_path / 'results' / 'nan_test' / 'metrics.csv', newline='') as f:
        rows = list(csv.reader(f))
    # the value computed before the failure (the first image the loader gave)
    assert len(rows) == 2 and rows[1][0] == 'Tiny' and rows[1][1] in ('0000', '0001') and rows[1][2] == 'psnr'


def test_sfd_model_validation_reports_fid_per_dataset(hub, tmp_path):
    """Training-time validation (SFDModel.nondist_validation): the logged and tracked FID is the dataset value."""
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model

    gt_dir, lq_dir = make_paired_dataset(str(tmp_path / 'data'), n=3, size=64, seed=1)
    net_opt = {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8}
    torch.manual_seed(1)
    net = RRDBNet(scale=4, **net_opt).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    fid_opt = {'type': 'calculate_fid', 'crop_size': 32, 'dims': 64, 'better': 'lower'}
    opt = {'name': 'v', 'model_type': 'SFDModel', 'scale': 4, 'num_gpu': 0, 'is_train': False, 'dist': False,
           'rank': 0, 'world_size': 1, 'network_g': {'type': 'RRDBNet', **net_opt},
           'path': {'pretrain_network_g': str(tmp_path / 'net_g.pth'), 'strict_load_g': True, 'param_key_g': 'params',
                    'results_root': str(tmp_path / 'r'), 'visualization': str(tmp_path / 'r' / 'vis')},
           'val': {'save_img': False,
                   'metrics': {'fid': fid_opt, 'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}}}
    model = build_model(opt)
    dataset = build_dataset({'name': 'Tiny', 'type': 'PairedImageDataset', 'dataroot_gt': gt_dir,
                             'dataroot_lq': lq_dir, 'io_backend': {'type': 'disk'}, 'phase': 'val', 'scale': 4})
    model.validation(build_dataloader(dataset, {'phase': 'val'}, num_gpu=0, dist=False), 7, None, False)

    expected = M.compute_dataset_metric(fid_opt, *sr_and_hr(net, gt_dir, lq_dir))
    assert model.metric_results['fid'] == pytest.approx(expected, rel=1e-6) and expected > 0
    assert model.best_metric_results['Tiny']['fid'] == {'better': 'lower', 'val': model.metric_results['fid'],
                                                        'iter': 7}
    assert '_update_best_metric_result' not in vars(model)  # the hook is gone after the dataset


def test_option_file_carries_the_paper_metrics():
    import yaml

    opt = yaml.safe_load((REPO / 'options' / 'test_sfd_x4.yml').read_text())
    metrics = opt['val']['metrics']
    types_ = {m['type'] for m in metrics.values()}
    assert {'calculate_lpips', 'calculate_dists', 'calculate_fid'} <= types_
    for block in metrics.values():
        M.metric_direction(block)  # every block is a known metric with a direction


def test_niqe_with_its_table_computed_once_is_basicsr_niqe_bit_for_bit():
    """sfd_arch.compat.cache_niqe_gamma_table replaces BasicSR's AGGD fit by one that builds its constant table once:
    features and NIQE must stay exactly BasicSR's."""
    import basicsr.metrics.niqe as niqe

    fast = niqe.estimate_aggd_param
    slow = fast._basicsr
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((96, 96)), rng.laplace(size=(48, 96)) * 0.3, rng.standard_normal((96, 96)) ** 3]
    for block in blocks:
        assert fast(block) == slow(block)
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[100:340, 120:312, ::-1])  # a photo: NIQE needs natural statistics
    patched = niqe.calculate_niqe(img, crop_border=0)
    try:
        niqe.estimate_aggd_param = slow
        original = niqe.calculate_niqe(img, crop_border=0)
    finally:
        niqe.estimate_aggd_param = fast
    assert patched == original
