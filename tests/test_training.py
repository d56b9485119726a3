"""SFDModel and RealSFDModel through BasicSR's real training pipeline (CPU, tiny sizes)."""
import hashlib
import os
import subprocess
import sys

import pytest
import torch
import yaml
from sfd_testutil import (
    esrgan_style_options,
    save_tiny_clip,
    tiny_clip_line,
    write_switched_sfd_run,
)

import sfd_arch  # noqa: F401  (registration)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'scripts'))
from switch_to_sfd import switch_text  # noqa: E402


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    env.pop('CUDA_VISIBLE_DEVICES', None)
    return env


def run(args, cwd, check=True):
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    if check:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def build_model(opt_path: str, root: str, auto_resume: bool = False, launcher: str = 'none'):
    """What train_pipeline does up to the first iteration: options, resume state, model, resume_training."""
    from basicsr.models import build_model as basicsr_build_model
    from basicsr.utils.options import parse_options

    import sfd_arch.compat  # noqa: F401
    load_resume_state = sys.modules['basicsr.train'].load_resume_state
    argv = sys.argv
    sys.argv = ['train.py', '-opt', opt_path, '--launcher', launcher] + (['--auto_resume'] if auto_resume else [])
    try:
        opt, _ = parse_options(root, is_train=True)
    finally:
        sys.argv = argv
    cwd = os.getcwd()
    os.chdir(root)
    try:
        state = load_resume_state(opt)
        for key in ('models', 'training_states'):
            os.makedirs(opt['path'][key], exist_ok=True)
        model = basicsr_build_model(opt)
        if state is not None:
            model.resume_training(state)
    finally:
        os.chdir(cwd)
    return model, state


def _flat(net) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@pytest.fixture
def sfd_run(tmp_path, monkeypatch):
    """A tiny ESRGAN option file switched by the README diff, and its data (in tmp_path, the run's root)."""
    write_switched_sfd_run(tmp_path, 'sfd_tiny')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_diff_changes_three_lines():
    base = esrgan_style_options('x', 'gt', 'lq')
    switched = switch_text(base, clip_weights='experiments/pretrained_models/clip/RN50.pt')
    import difflib

    changed = [line for line in difflib.unified_diff(base.splitlines(), switched.splitlines(), lineterm='', n=0)
               if line[:1] in '+-' and not line.startswith(('+++', '---'))]
    assert changed == ['-model_type: ESRGANModel', '+model_type: SFDModel', '+' + switched.splitlines()[2],
                       '+clip: {pretrained: experiments/pretrained_models/clip/RN50.pt}']
    for shipped in ('train_sfd_x4.yml', 'train_realsfd_x4plus.yml'):
        opt = yaml.safe_load(open(os.path.join(REPO, 'options', shipped)))
        assert opt['model_type'] in ('SFDModel', 'RealSFDModel') and opt['keep_image_d'] is False


def test_sfd_train_then_auto_resume(sfd_run):
    root = str(sfd_run)
    # BasicSR's own entry point, as in a BasicSR clone (root = the clone): the start-up hook must register
    # SFDModel, with no sfd_arch import by the caller and no PYTHONPATH to the checkout.
    import shutil

    import basicsr.train

    (sfd_run / 'basicsr').mkdir()
    shutil.copy(basicsr.train.__file__, sfd_run / 'basicsr' / 'train.py')
    env = {k: v for k, v in _env().items() if k != 'PYTHONPATH'}
    out = subprocess.run([sys.executable, 'basicsr/train.py', '-opt', 'train_sfd.yml'], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    models = sfd_run / 'experiments' / 'sfd_tiny' / 'models'
    for name in ('net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth'):
        assert (models / name).is_file(), name
    state_file = sfd_run / 'experiments' / 'sfd_tiny' / 'training_states' / '2.state'
    assert state_file.is_file()
    assert not list(models.glob('*.tmp'))
    lpp_ckpt = torch.load(models / 'net_lpp_2.pth')
    assert set(lpp_ckpt['params']) == {'ctx', 'tokens'}  # no CLIP weights in checkpoints
    featd_ckpt = torch.load(models / 'net_featd_2.pth')
    assert all(k.startswith('heads.') for k in featd_ckpt['params'])
    g_ckpt = torch.load(models / 'net_g_2.pth')
    assert set(g_ckpt) == {'params', 'params_ema'}

    # --auto_resume restores every network, optimiser and scheduler tensor as saved
    model, state = build_model('train_sfd.yml', root, auto_resume=True)
    assert state['iter'] == 2
    for net, ckpt, key in ((model.net_g, g_ckpt, 'params'), (model.net_g_ema, g_ckpt, 'params_ema'),
                           (model.net_featd, featd_ckpt, 'params'), (model.net_lpp, lpp_ckpt, 'params')):
        live = model.get_bare_model(net).state_dict()
        assert set(live) == set(ckpt[key])
        assert all(torch.equal(live[k], ckpt[key][k]) for k in live)
    saved = torch.load(state_file)
    assert len(model.optimizers) == len(saved['optimizers']) == 3  # G, Feat-D, LPP (image D dropped)
    for optimizer, saved_opt in zip(model.optimizers, saved['optimizers']):
        live = optimizer.state_dict()
        assert live['param_groups'] == saved_opt['param_groups']
        for idx, st in saved_opt['state'].items():
            for k, v in st.items():
                assert torch.equal(torch.as_tensor(live['state'][idx][k]), torch.as_tensor(v))
    assert [s.state_dict() for s in model.schedulers] == saved['schedulers']

    # the same run goes on from iteration 2 with SFD's own launcher
    opt = yaml.safe_load((sfd_run / 'train_sfd.yml').read_text())
    opt['train']['total_iter'] = 4
    (sfd_run / 'train_sfd.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    out = run([os.path.join(REPO, 'sfd_arch', 'train.py'), '-opt', 'train_sfd.yml', '--auto_resume'], cwd=root)
    assert 'Resuming training from epoch: 0, iter: 2' in out.stdout + out.stderr
    g4, featd4, lpp4 = (torch.load(models / f'net_{n}_4.pth')['params'] for n in ('g', 'featd', 'lpp'))
    assert any(not torch.equal(g4[k], g_ckpt['params'][k]) for k in g4)
    assert any(not torch.equal(featd4[k], featd_ckpt['params'][k]) for k in featd4 if k.endswith('weight_orig'))
    assert not torch.equal(lpp4['ctx'], lpp_ckpt['params']['ctx'])


def test_clip_runs_twice_per_iteration_and_never_changes(sfd_run):
    model, _ = build_model('train_sfd.yml', str(sfd_run))
    clip_before = _flat(model.clip.clip_model)
    calls = []
    model.clip.register_forward_hook(lambda m, inp, out: calls.append(inp[0].requires_grad))
    torch.manual_seed(0)
    for it in range(1, 4):
        model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
        model.optimize_parameters(it)
    assert len(calls) == 6
    assert calls == [True, False] * 3  # SR with grad, HR without
    log = model.get_current_log()
    for key in ('l_g_featd', 'l_g_tgd', 'l_d_featd_real', 'l_d_featd_fake', 'l_d_tgd', 'p_pos_real', 'p_pos_fake',
                'out_featd_real', 'out_featd_fake', 'l_g_pix', 'l_g_percep', 'acc_featd_real', 'acc_featd_fake',
                'acc_tgd'):
        assert key in log, key
    assert 0 <= log['p_pos_real'] <= 1
    for key in ('acc_featd_real', 'acc_featd_fake', 'acc_tgd'):
        assert 0 <= log[key] <= 1, key
    after = _flat(model.clip.clip_model)
    assert all(torch.equal(clip_before[k], after[k]) for k in after)


def test_hybrid_keeps_the_image_discriminator(sfd_run):
    opt = yaml.safe_load((sfd_run / 'train_sfd.yml').read_text())
    opt['keep_image_d'] = True
    opt['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8}  # any patch size
    (sfd_run / 'hybrid.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('hybrid.yml', str(sfd_run))
    assert model.net_d is not None and len(model.optimizers) == 4
    model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
    model.optimize_parameters(1)
    assert {'l_g_gan', 'l_d_real', 'l_d_fake'} <= set(model.get_current_log())


def test_realsfd_trains_and_resumes_on_cpu(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    monkeypatch.chdir(tmp_path)
    hr = tmp_path / 'hr'
    hr.mkdir()
    rng = np.random.default_rng(0)
    names = []
    for i in range(4):
        img = cv2.resize(rng.random((12, 12, 3)).astype(np.float32), (96, 96), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(hr / f'{i}.png'), (img * 255).clip(0, 255).astype(np.uint8))
        names.append(f'{i}.png')
    (tmp_path / 'meta.txt').write_text('\n'.join(names) + '\n')
    clip_file = save_tiny_clip(str(tmp_path / 'tiny_clip.pt'))
    upstream = yaml.safe_load(open(os.path.join(REPO, 'options', 'train_realsfd_x4plus.yml')))
    upstream.update(name='realsfd_tiny', num_gpu=0, gt_size=64, queue_size=4, model_type='RealESRGANModel')
    upstream.pop('keep_image_d')
    upstream.pop('val'), upstream['datasets'].pop('val')  # Real-ESRGAN's file ships without validation
    train = upstream['datasets']['train']
    train.update(dataroot_gt=str(hr), meta_info=str(tmp_path / 'meta.txt'), gt_size=64, num_worker_per_gpu=0,
                 batch_size_per_gpu=2, blur_kernel_size=7, blur_kernel_size2=7)
    upstream['network_g'].update(num_feat=8, num_block=1, num_grow_ch=4)
    upstream['network_d'].update(num_feat=8)
    upstream['path']['pretrain_network_g'] = None
    upstream['train'].pop('perceptual_opt')
    upstream['train'].update(total_iter=2, amp='bf16')  # the shared SFD step in mixed precision, as in SFDModel
    upstream['train']['scheduler']['milestones'] = [1]  # within the 2 iterations (the check refuses later ones)
    upstream['logger'].update(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False)
    text = switch_text(yaml.safe_dump(upstream, sort_keys=False), clip_line=tiny_clip_line(clip_file))
    (tmp_path / 'real.yml').write_text(text)

    run([os.path.join(REPO, 'sfd_arch', 'train.py'), '-opt', 'real.yml'], cwd=str(tmp_path))
    models = tmp_path / 'experiments' / 'realsfd_tiny' / 'models'
    assert {'net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth'} <= {p.name for p in models.iterdir()}
    model, state = build_model('real.yml', str(tmp_path), auto_resume=True)
    assert type(model).__name__ == 'RealSFDModel' and state['iter'] == 2
    assert model.amp_dtype == torch.bfloat16 and state['scalers'] == {'g': {}, 'd': {}}
    lpp = torch.load(models / 'net_lpp_2.pth')['params']
    assert torch.equal(model.net_lpp.ctx, lpp['ctx'])
    assert model.jpeger is not None and next(model.usm_sharpener.buffers(), torch.zeros(1)).device.type == 'cpu'


# ---------------------------------------------------------------------------------------------- bad input

def _sha(path) -> str:
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


@pytest.mark.slow  # about 50 s: one BasicSR start per bad option
def test_bad_options_fail_clearly_and_keep_what_was_saved(sfd_run):
    root = str(sfd_run)
    run([os.path.join(REPO, 'sfd_arch', 'train.py'), '-opt', 'train_sfd.yml'], cwd=root)
    exp = sfd_run / 'experiments' / 'sfd_tiny'
    saved = {p: _sha(p) for p in exp.rglob('*.pth')} | {p: _sha(p) for p in exp.rglob('*.state')}
    base = yaml.safe_load((sfd_run / 'train_sfd.yml').read_text())

    def attempt(mutate, *expected):
        opt = yaml.safe_load(yaml.safe_dump(base))
        mutate(opt)
        (sfd_run / 'bad.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
        out = run([os.path.join(REPO, 'sfd_arch', 'train.py'), '-opt', 'bad.yml', '--auto_resume'], cwd=root,
                  check=False)
        assert out.returncode != 0
        for text in expected:
            assert text in out.stderr, out.stderr[-3000:]

    attempt(lambda o: o['datasets']['train'].update(dataroot_gt='data/no_such_folder'),
            'datasets.train.dataroot_gt: not found: data/no_such_folder')

    def write(mutate) -> str:
        opt = yaml.safe_load(yaml.safe_dump(base))
        mutate(opt)
        (sfd_run / 'bad.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
        return str(sfd_run / 'bad.yml')

    from sfd_arch.options.preflight import check_option_file

    with pytest.raises(KeyError, match=r"'pretrianed' \(did you mean 'pretrained'\?\)"):
        check_option_file(write(lambda o: o['clip'].update(pretrianed='x.pt')))
    with pytest.raises(ValueError, match=r'network_featd.in_channels \[32, 64\] does not match the CLIP taps'):
        build_model(write(lambda o: o.update(network_featd={'type': 'FeatD', 'in_channels': [32, 64]})), root)

    def inf_loss(o):
        # a weight float32 cannot hold: the loss overflows at the first step (a NaN weight is refused by the check)
        o['train']['pixel_opt']['loss_weight'] = 1.0e+39
        o['train']['total_iter'] = 4

    attempt(inf_loss, 'l_g_total is inf at iteration 3', 'Last good checkpoint:', '2.state')
    assert saved == {p: _sha(p) for p in exp.rglob('*.pth')} | {p: _sha(p) for p in exp.rglob('*.state')}
    assert not list(exp.rglob('*.tmp'))


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    from sfd_arch.models.sfd_model import atomic_torch_save

    target = tmp_path / '5.state'
    atomic_torch_save({'a': torch.ones(2)}, str(target))

    def dies(obj, path):
        open(path, 'wb').write(b'partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', dies)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({'a': torch.zeros(2)}, str(target))
    assert torch.equal(torch.load(target)['a'], torch.ones(2))  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ['5.state']


# ---------------------------------------------------------------------------------------------- distributed

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world: int, root: str, port: int) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), HF_HUB_OFFLINE='1')
    torch.set_num_threads(1)
    model, _ = build_model(os.path.join(root, 'train_sfd.yml'), root, launcher='pytorch')
    assert model.opt['dist'] and torch.distributed.get_backend() == 'gloo'
    torch.manual_seed(100 + rank)  # each process sees different data, as with a DistributedSampler
    for it in range(1, 3):
        model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
        model.optimize_parameters(it)
    nets = {'g': model.net_g, 'featd': model.net_featd, 'lpp': model.net_lpp}
    params = {k: [p.detach().clone() for p in model.get_bare_model(n).parameters()] for k, n in nets.items()}
    torch.save(params, os.path.join(root, f'rank{rank}.pt'))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # two spawned processes
def test_two_process_cpu_ddp_keeps_parameters_equal(sfd_run):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(sfd_run), _free_port()), nprocs=2, join=True)
    rank0, rank1 = (torch.load(sfd_run / f'rank{r}.pt') for r in (0, 1))
    for name in ('g', 'featd', 'lpp'):
        assert all(torch.equal(a, b) for a, b in zip(rank0[name], rank1[name])), f'net_{name} diverged'


@pytest.mark.slow  # torchrun with two processes
def test_torchrun_launcher_on_cpu(sfd_run):
    out = run(['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', str(_free_port()),
               os.path.join(REPO, 'sfd_arch', 'train.py'), '-opt', 'train_sfd.yml', '--launcher', 'pytorch'],
              cwd=str(sfd_run))
    assert 'world_size: 2' in out.stdout + out.stderr
    models = sfd_run / 'experiments' / 'sfd_tiny' / 'models'
    assert {'net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth'} <= {p.name for p in models.iterdir()}


def test_validation_reports_sfd_iqa_of_the_model_itself(sfd_run):
    import numpy as np
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.utils import tensor2img

    from sfd_arch.iqa import SFDIQA

    opt = yaml.safe_load((sfd_run / 'train_sfd.yml').read_text())
    opt['val'] = {'save_img': False, 'metrics': {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 4},
        'sfd_iqa': {'type': 'calculate_sfd_iqa', 'weights': 'model', 'better': 'higher'}}}
    (sfd_run / 'val.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('val.yml', str(sfd_run))
    data = opt['datasets']['train']
    val_set = build_dataset({'name': 'val', 'type': 'PairedImageDataset', 'dataroot_gt': data['dataroot_gt'],
                             'dataroot_lq': data['dataroot_lq'], 'io_backend': {'type': 'disk'}, 'phase': 'val',
                             'scale': 4})
    loader = build_dataloader(val_set, {'phase': 'val'}, num_gpu=0, dist=False)
    model.validation(loader, current_iter=1, tb_logger=None, save_img=False)
    value = model.metric_results['sfd_iqa']
    assert 0.0 <= value <= 1.0
    # the same number as scoring the SR outputs with the model's own (EMA-generator) networks directly
    scorer = SFDIQA(model.clip, model.net_featd, model.net_lpp)
    scores = []
    for batch in loader:
        with torch.no_grad():
            sr = model.net_g_ema(batch['lq'])
        rgb = tensor2img(sr, rgb2bgr=False)
        scores.append(scorer.score_arrays([rgb])[0].score)
    assert value == pytest.approx(float(np.mean(scores)), abs=1e-6)
    assert model.net_featd.training  # validation hands the discriminators back in train mode


def test_discriminator_accuracies_are_shares_of_right_calls(sfd_run, monkeypatch):
    """acc_featd_real / acc_featd_fake: share of HR / SR positions Feat-D calls real / fake (mean over taps);
    acc_tgd: share of the HR and SR images TG-D sends to the right prompt. Checked against rigged logits."""
    model, _ = build_model('train_sfd.yml', str(sfd_run))
    featd, lpp = model.get_bare_model(model.net_featd), model.net_lpp
    n = 2

    def rigged_featd(feats):
        # HR half: 3 of 4 rows positive on tap 0, all positive elsewhere; SR half: all negative on every tap
        out = []
        for i, f in enumerate(feats):
            m = torch.ones(f.shape[0], 1, 4, 4) + 0 * (f.mean() + sum(p.sum() for p in featd.parameters()))
            m[n:] = -1.0
            if i == 0 and f.shape[0] == 2 * n:
                m[:n, :, 3] = -1.0
            out.append(m)
        return out

    def rigged_lpp(emb, text=None):
        logits = torch.zeros(emb.shape[0], 2) + 0 * (emb.mean() + lpp.ctx.sum())
        if emb.shape[0] == 2 * n:
            logits[0, 0], logits[1, 1] = 1.0, 1.0  # HR: one right, one wrong
            logits[2, 1], logits[3, 1] = 1.0, 1.0  # SR: both right
        return logits

    monkeypatch.setattr(featd, 'forward', rigged_featd)
    monkeypatch.setattr(lpp, 'forward', rigged_lpp)
    model.feed_data({'lq': torch.rand(n, 3, 16, 16), 'gt': torch.rand(n, 3, 64, 64)})
    model.optimize_parameters(1)
    log = model.get_current_log()
    n_taps = len(model.clip.layers)
    assert log['acc_featd_real'] == pytest.approx((0.75 + (n_taps - 1)) / n_taps)
    assert log['acc_featd_fake'] == pytest.approx(1.0)
    assert log['acc_tgd'] == pytest.approx(0.75)

    # BasicSR's MessageLogger puts them in the log line and in tensorboard, beside out_featd_* and p_pos_*
    from basicsr.utils.logger import MessageLogger

    scalars = {}

    class FakeTensorboard:
        def add_scalar(self, tag, value, step):
            scalars[tag] = value

    opt = dict(model.opt, logger=dict(model.opt['logger'], use_tb_logger=True))
    MessageLogger(opt, 0, FakeTensorboard())({'epoch': 0, 'iter': 1, 'lrs': [1e-4], **log})
    for key in ('acc_featd_real', 'acc_featd_fake', 'acc_tgd', 'out_featd_real', 'p_pos_real'):
        assert scalars[key] == log[key], key


def test_resume_checks_the_clip_block_and_the_switches(sfd_run):
    root = str(sfd_run)
    model, _ = build_model('train_sfd.yml', root)
    model.save(0, 2)
    state = torch.load(sfd_run / 'experiments' / 'sfd_tiny' / 'training_states' / '2.state')
    assert state['clip'] == model.clip_opt and state['clip']['seed'] == 0  # the normalised block, seed included
    assert state['optimizer_names'] == ['optimizer_g', 'optimizer_featd', 'optimizer_lpp']
    base = yaml.safe_load((sfd_run / 'train_sfd.yml').read_text())

    def resume_with(mutate):
        opt = yaml.safe_load(yaml.safe_dump(base))
        mutate(opt)
        (sfd_run / 'resume.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
        return build_model('resume.yml', root, auto_resume=True)

    with pytest.raises(ValueError, match=r"clip\.quick_gelu \(state: absent, option file: True\)") as err:
        resume_with(lambda o: o['clip'].update(quick_gelu=True))
    assert 'clip.layers' not in str(err.value)  # only the keys that differ are named
    with pytest.raises(ValueError, match=r"clip\.quick_gelu \(state: absent, option file: False\); "
                                         r"clip\.seed \(state: 0, option file: 3\)"):
        resume_with(lambda o: o['clip'].update(seed=3, quick_gelu=False))
    with pytest.raises(ValueError, match=r"clip\.layers \(state: \['layer1', 'layer2', 'layer3'\], option file: "
                                         r"\['layer3'\]\)"):
        resume_with(lambda o: o['clip'].update(layers=['layer3']))
    with pytest.raises(ValueError, match=r"optimisers \['optimizer_g', 'optimizer_featd', 'optimizer_lpp'\] but this "
                                         r"option file trains \['optimizer_g', 'optimizer_featd'\]"):
        resume_with(lambda o: o['train'].update(tgd_opt=None))
    model, state = resume_with(lambda o: None)  # the same file resumes
    assert state['iter'] == 2
