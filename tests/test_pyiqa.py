"""SFD-IQA in pyiqa: the network wrapper, the registration run when pyiqa loads, and the real pyiqa when installed.

pyiqa is optional. The tests of the real package skip, saying so, where it is not installed; stand-in packages
with the two objects registration touches (``DEFAULT_CONFIGS``, ``ARCH_REGISTRY``) cover the rest everywhere.
"""
import importlib.util
import json
import os
import subprocess
import sys

import cv2
import pytest
import torch
import torch.nn.functional as F
from sfd_testutil import tiny_clip_from_file

from sfd_arch.archs import FeatD, PromptLearner
from sfd_arch.iqa import SFDIQA, pyiqa_plugin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TILE = 64
PYIQA_INSTALLED = importlib.util.find_spec('pyiqa') is not None
# `make test-pyiqa` sets SFD_REQUIRE_PYIQA=1 in the environment that has pyiqa: a missing pyiqa fails there
NEEDS_PYIQA = pytest.mark.skipif(not PYIQA_INSTALLED and os.environ.get('SFD_REQUIRE_PYIQA') != '1',
                                 reason='pyiqa is not installed (optional: pip install .[pyiqa]; make test-pyiqa)')


def hide_pyiqa(monkeypatch) -> None:
    """Make pyiqa unimportable for one test, installed or not (None in sys.modules stops an import)."""
    for name in [m for m in sys.modules if m.startswith('pyiqa.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'pyiqa', None)


@pytest.fixture(scope='module')
def scorer(single_thread, tmp_path_factory):
    """Random tiny Feat-D and LPP over a tiny CLIP saved to a file, so a subprocess rebuilds the same networks."""
    root = tmp_path_factory.mktemp('pyiqa')
    clip, clip_file = tiny_clip_from_file(root)
    featd, lpp = FeatD(clip=clip, num_feat=16, depth=1).eval(), PromptLearner(clip=clip, n_ctx=4).eval()
    return SFDIQA(clip, featd, lpp, tile=TILE, batch_size=8)


@pytest.fixture(scope='module')
def weights_file(scorer, tmp_path_factory):
    return scorer.save(str(tmp_path_factory.mktemp('weights') / 'sfd_iqa.pth'))


def smooth_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 6, 6, generator=g), size=(h, w), mode='bicubic').clamp(0, 1)


def write_stand_in_pyiqa(root, lazy: bool) -> None:
    """A package named pyiqa with pyiqa's ``DEFAULT_CONFIGS`` and an ARCH registry that, like pyiqa's, refuses a
    second registration of a name; ``register_lazy`` (pyiqa >= 0.1.16) only when ``lazy``."""
    pkg = root / 'pyiqa'
    (pkg / 'utils').mkdir(parents=True)
    (pkg / '__init__.py').write_text('from . import default_model_configs, utils\n')
    (pkg / 'default_model_configs.py').write_text('DEFAULT_CONFIGS = {}\n')
    (pkg / 'utils' / '__init__.py').write_text('from . import registry\n')
    registry = ('class Registry:\n'
                '    def __init__(self):\n        self._obj_map = {}\n'
                '    def register(self, obj):\n'
                '        assert obj.__name__ not in self._obj_map, "already registered"\n'
                '        self._obj_map[obj.__name__] = obj\n        return obj\n')
    if lazy:
        registry += ('    def register_lazy(self, name, path):\n'
                     '        assert name not in self._lazy_map, "already registered"\n'
                     '        self._lazy_map[name] = path\n')
        registry = registry.replace('self._obj_map = {}\n', 'self._obj_map = {}\n        self._lazy_map = {}\n')
    (pkg / 'utils' / 'registry.py').write_text(registry + 'ARCH_REGISTRY = Registry()\n')


# -- the network -------------------------------------------------------------------------------------------------
def test_pyiqa_network_wraps_the_scorer(weights_file, scorer):
    net = pyiqa_plugin.SFDIQANet(weights=weights_file, tile=TILE)
    img = smooth_images(2, 64, 64, seed=80)
    out = net(img)
    assert out.shape == (2, 1) and out.dtype == torch.float32
    torch.testing.assert_close(out[:, 0].double(), scorer.score_tensor(img)[0], atol=1e-6, rtol=0)
    gray = img[:, 1:2]
    torch.testing.assert_close(net(gray)[:, 0].double(), scorer.score_tensor(gray.expand(-1, 3, -1, -1))[0],
                               atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match='needs weights'):
        pyiqa_plugin.SFDIQANet()


# -- registration, stand-in pyiqa ----------------------------------------------------------------------------------
def test_loading_pyiqa_adds_only_the_config_entry_and_a_lazy_reference(tmp_path):
    """What runs when pyiqa loads imports nothing of ours: no sfd_arch, no torch. A user's own ``sfd_iqa`` entry
    is kept, and registering again (any route) is harmless."""
    write_stand_in_pyiqa(tmp_path, lazy=True)
    code = (f'import sys; sys.path[:0] = [{str(tmp_path)!r}, {REPO!r}]\n'
            'import _sfd_arch_hook\n'  # what sfd_arch_hook.pth does at start-up
            'import pyiqa\n'
            'from pyiqa.default_model_configs import DEFAULT_CONFIGS\n'
            'from pyiqa.utils.registry import ARCH_REGISTRY\n'
            'assert _sfd_arch_hook.register_pyiqa() is True\n'
            'print(" ".join(m for m in ("sfd_arch", "torch", "open_clip") if m in sys.modules) or "-")\n'
            'print(DEFAULT_CONFIGS["sfd_iqa"] == _sfd_arch_hook.PYIQA_CONFIG, ARCH_REGISTRY._lazy_map["SFDIQANet"],\n'
            '      ARCH_REGISTRY._obj_map)\n'
            'del sys.modules["pyiqa"], sys.modules["pyiqa.default_model_configs"]\n'
            'import pyiqa.default_model_configs as c; c.DEFAULT_CONFIGS["sfd_iqa"] = "mine"\n'
            'import pyiqa; print(c.DEFAULT_CONFIGS["sfd_iqa"])\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'SFD_ARCH_NO_HOOK')}
    out = subprocess.run([sys.executable, '-S', '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split('\n')[:3] == ['-', 'True sfd_arch.iqa.pyiqa_plugin:SFDIQANet {}', 'mine']


def test_import_hook_registers_a_builder_in_pyiqa_without_register_lazy(tmp_path, monkeypatch, weights_file, scorer):
    """Where the .pth is absent, ``import sfd_arch.iqa`` installs the same finder (``install_import_hook``); in a
    pyiqa without ``register_lazy`` the registered ``SFDIQANet`` builds the real network when called."""
    for name in [m for m in sys.modules if m == 'pyiqa' or m.startswith('pyiqa.')]:
        monkeypatch.delitem(sys.modules, name)  # a real pyiqa imported earlier comes back after the test
    write_stand_in_pyiqa(tmp_path, lazy=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, 'meta_path', [f for f in sys.meta_path if type(f).__name__ != 'SFDFinder'])
    pyiqa_plugin.install_import_hook()
    assert 'pyiqa' in sys.meta_path[0].targets
    try:
        import pyiqa  # noqa: F401
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
        from pyiqa.utils.registry import ARCH_REGISTRY

        assert DEFAULT_CONFIGS['sfd_iqa'] == pyiqa_plugin.METRIC_CONFIG == {
            'metric_opts': {'type': 'SFDIQANet'}, 'metric_mode': 'NR', 'lower_better': False, 'score_range': '0, 1'}
        build = ARCH_REGISTRY._obj_map['SFDIQANet']
        assert pyiqa_plugin.register() is True and ARCH_REGISTRY._obj_map == {'SFDIQANet': build}
        net = build(weights=weights_file, tile=TILE)
        assert isinstance(net, pyiqa_plugin.SFDIQANet)
        img = smooth_images(1, 64, 64, seed=81)
        torch.testing.assert_close(net(img)[:, 0].double(), scorer.score_tensor(img)[0], atol=1e-6, rtol=0)
    finally:
        for name in [m for m in sys.modules if m == 'pyiqa' or m.startswith('pyiqa.')]:
            del sys.modules[name]


def test_register_without_pyiqa_says_so(monkeypatch):
    hide_pyiqa(monkeypatch)
    assert pyiqa_plugin.register() is False


# -- the real pyiqa ------------------------------------------------------------------------------------------------
REAL_PYIQA = '''import json, sys
import _sfd_arch_hook  # what sfd_arch_hook.pth does at start-up (nothing more where it ran already)
import pyiqa
from pyiqa.default_model_configs import DEFAULT_CONFIGS
report = {{'modules': sorted(sys.modules), 'registered': 'sfd_iqa' in DEFAULT_CONFIGS}}
if report['registered']:
    metric = pyiqa.create_metric('sfd_iqa', weights={weights!r}, tile={tile}, device='cpu')
    net = type(metric.net)
    report.update(score=float(metric({image!r})), net=f'{{net.__module__}}.{{net.__name__}}',
                  lower_better=metric.lower_better, listed='sfd_iqa' in pyiqa.list_models(metric_mode='NR'))
print(json.dumps(report))
'''


@NEEDS_PYIQA
def test_real_pyiqa_loads_nothing_of_ours_and_create_metric_equals_the_scorer(weights_file, scorer, tmp_path):
    """``import pyiqa`` loads exactly the modules it loads with the hook turned off; the first
    ``create_metric('sfd_iqa', weights=...)`` of a process builds SFDIQANet and scores like ``SFDIQA.from_file``."""
    image = str(tmp_path / 'img.png')
    rgb = (smooth_images(1, 80, 72, seed=90)[0].permute(1, 2, 0).numpy() * 255).round().astype('uint8')
    cv2.imwrite(image, rgb[:, :, ::-1])
    code = REAL_PYIQA.format(weights=weights_file, tile=TILE, image=image)
    reports = {}
    for no_hook in ('', '1'):
        env = {**os.environ, 'PYTHONPATH': REPO, 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1',
               'SFD_ARCH_NO_HOOK': no_hook}
        run = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        reports[no_hook] = json.loads(run.stdout.strip().splitlines()[-1])
    with_hook, without_hook = reports[''], reports['1']
    assert with_hook['registered'] and not without_hook['registered']
    assert 'sfd_arch' not in with_hook['modules'] and 'open_clip' not in with_hook['modules']
    assert set(with_hook['modules']) == set(without_hook['modules'])
    assert with_hook['net'] == 'sfd_arch.iqa.pyiqa_plugin.SFDIQANet'
    assert with_hook['lower_better'] is False and with_hook['listed'] is True
    expected = SFDIQA.from_file(weights_file, device='cpu', tile=TILE).score_file(image).score
    assert with_hook['score'] == pytest.approx(expected, abs=1e-6)


# -- the pyiqa protocol (sfd_arch.metrics.protocols) against pyiqa itself --------------------------------------------
def protocol_pair(seed: int) -> tuple:
    """An SR/HR pair of uint8 BGR images (smooth content, different noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (6, 8, 3)).astype(np.float32), np.ones((8, 8, 1), np.float32))
    hr = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    sr = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return sr, hr


def rgb_tensor(img) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)[None].float() / 255


@NEEDS_PYIQA
@pytest.mark.parametrize('name,ours', [('psnr', {}), ('psnry', {'test_y_channel': True}), ('ssim', {}),
                                       ('ssimc', {'test_y_channel': False})])
def test_pyiqa_protocol_psnr_ssim_equal_pyiqa(name, ours, single_thread):
    """pyiqa's conventions as the `pyiqa` protocol computes them without pyiqa equal pyiqa.create_metric(name)."""
    import pyiqa

    from sfd_arch.metrics import calculate_psnr_pyiqa, calculate_ssim_pyiqa

    fn = calculate_psnr_pyiqa if name.startswith('psnr') else calculate_ssim_pyiqa
    metric = pyiqa.create_metric(name, device='cpu')
    for seed in range(3):
        sr, hr = protocol_pair(seed)
        assert fn(sr, hr, **ours) == pytest.approx(float(metric(rgb_tensor(sr), rgb_tensor(hr))), abs=1e-5)


@NEEDS_PYIQA
def test_pyiqa_protocol_lpips_equals_pyiqas_lpips_on_stand_in_weights(tmp_path, monkeypatch, single_thread):
    """pyiqa's `lpips` / `lpips-vgg` (its LPIPS arch: net alex / vgg, version 0.1, whole images) on the stand-in
    weights equal the `pyiqa` protocol's lpips / lpips_vgg through the comparison's plan."""
    from pyiqa.archs import lpips_arch
    from torchvision import models

    import sfd_arch.metrics as M
    from sfd_arch.eval.plan import compute_image_metric, plan_metrics

    folder = tmp_path / 'hub' / 'checkpoints'
    M.write_stand_in_weights(str(folder), ['lpips', 'lpips_vgg'])
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # pyiqa's trunks always ask torchvision for the ImageNet weights: hand them untrained ones, then the stand-ins
    untrained = {'alexnet': models.alexnet, 'vgg16': models.vgg16}
    for arch, build in untrained.items():
        monkeypatch.setattr(lpips_arch.models, arch, lambda *a, _build=build, **k: _build())
    sr, hr = protocol_pair(0)
    for name, net, backbone in (('lpips', 'alex', 'alexnet-owt-7be5be79.pth'),
                                ('lpips_vgg', 'vgg', 'vgg16-397923af.pth')):
        reference = lpips_arch.LPIPS(net=net, version='0.1', pnet_rand=True,
                          pretrained_model_path=str(folder / f'lpips_v0.1_{net}.pth')).eval()
        features = torch.load(folder / backbone, weights_only=True)
        state = reference.net.state_dict()
        # pyiqa's slices keep torchvision's feature indices: slice<k>.<i>.weight <- features.<i>.weight
        reference.net.load_state_dict({k: features[f'features.{k.split(".")[-2]}.{k.split(".")[-1]}']
                                       for k in state})
        plan = plan_metrics({'scale': 4}, 'test.yml', [name], protocol='pyiqa')
        with torch.no_grad():
            expected = reference(rgb_tensor(sr), rgb_tensor(hr)).item()
        assert compute_image_metric(plan.blocks[name], sr, hr) == pytest.approx(expected, abs=1e-5)


@NEEDS_PYIQA
def test_pyiqa_protocol_statistics_equal_pyiqas_correlations():
    """The bench's `pyiqa` protocol: SRCC / PLCC (no fit) / KRCC equal pyiqa's calculate_srcc / plcc / krcc."""
    import numpy as np
    from pyiqa.metrics import calculate_krcc, calculate_plcc, calculate_srcc

    from sfd_arch.iqa_bench.bench import evaluate_metrics

    rng = np.random.default_rng(0)
    mos = rng.uniform(1, 5, 40)
    scores = mos ** 2 + rng.normal(0, 3, 40)
    got = evaluate_metrics({'m': scores}, mos, 0, 0, plcc='raw')['m']
    assert got.plcc == pytest.approx(calculate_plcc(scores, mos), abs=1e-12)
    assert got.srcc == pytest.approx(calculate_srcc(scores, mos), abs=1e-12)
    assert got.krcc == pytest.approx(calculate_krcc(scores, mos), abs=1e-12)
# -- real-world images without ground truth: pyiqa's no-reference metrics in the comparison -------------------------
@NEEDS_PYIQA
def test_lq_only_comparison_scores_pyiqa_no_reference_metrics_and_names_missing_weights(tmp_path, monkeypatch):
    """On a dataset without ground truth, a pyiqa metric counts as no-reference exactly when pyiqa says so; one that
    needs no weights (entropy) is computed; the default MUSIQ / MANIQA / CLIP-IQA are added where their weights are
    present and otherwise listed as skipped with the reason."""
    import pyiqa
    import yaml

    from sfd_arch.eval import compare
    from sfd_arch.metrics import is_no_reference

    for name in ('entropy', 'musiq', 'lpips'):
        mode = pyiqa.DEFAULT_CONFIGS[name]['metric_mode'] if hasattr(pyiqa, 'DEFAULT_CONFIGS') else None
        if mode is None:
            from pyiqa.default_model_configs import DEFAULT_CONFIGS

            mode = DEFAULT_CONFIGS[name]['metric_mode']
        assert is_no_reference({'type': 'calculate_pyiqa', 'metric': name}) == (mode == 'NR'), name
    photos = tmp_path / 'photos'
    photos.mkdir()
    for i in range(2):
        img = (smooth_images(1, 64, 64, seed=i)[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype('uint8')
        cv2.imwrite(str(photos / f'p{i}.png'), img)
    opt = {'name': 'lq', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Photos', 'type': 'SingleImageDataset', 'dataroot_lq': str(photos),
                                   'io_backend': {'type': 'disk'}}},
           'val': {'metrics': {'entropy': {'type': 'calculate_pyiqa', 'metric': 'entropy'},
                               'lpips_pyiqa': {'type': 'calculate_pyiqa', 'metric': 'lpips'}}}}
    (tmp_path / 'lq.yml').write_text(yaml.safe_dump(opt))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    result = compare.run_compare('lq.yml', {'bicubic': 'bicubic'}, 'out', progress=False, visual_per_dataset=0,
                                 metrics=None)
    with open(result.metrics_csv) as f:
        scored = {line.split(',')[3] for line in f.read().splitlines()[1:]}
    assert 'entropy' in scored and 'lpips_pyiqa' not in scored  # full-reference: n/a without HR
    for name in ('musiq', 'maniqa', 'clipiqa'):
        assert (name in scored) != (name in result.skipped_metrics), name
        if name in result.skipped_metrics:
            assert result.skipped_metrics[name].startswith('weights missing'), result.skipped_metrics[name]
    assert '| Photos | bicubic |' in open(result.table_md).read()
