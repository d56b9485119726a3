"""A run killed by SIGKILL and restarted with --auto_resume is the uninterrupted run, bit for bit (CPU).

Each case trains a tiny SFD run (the tiny CLIP of conftest.py, 16 images of 96 px cropped to 64 px, shuffling, flips
and rotations on) for 8 iterations through ``sfd_arch/train.py`` three times at once: uninterrupted; with another
seed; and killed with SIGKILL as soon as ``<k>.state`` appears, then restarted with ``--auto_resume``. States and
checkpoints are written every iteration; those the killed run wrote after ``k`` before the signal landed are removed,
as if it had died right after writing ``k``. Every network (``net_g`` and its EMA, ``net_featd``, ``net_lpp``) and
the whole training state at iteration 8 (optimisers, schedulers, random states, queue) must be equal by
``torch.equal``; the run with another seed must differ, so the comparison can fail.
"""
import glob
import logging
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from sfd_testutil import (
    basicsr_log,
    esrgan_style_options,
    make_paired_dataset,
    save_tiny_clip,
    tiny_clip_line,
    write_pairs,
)

import sfd_arch  # noqa: F401  (registration and the BasicSR patches)
from sfd_arch import exact_resume
from sfd_arch.tools.switch import switch_text

TOTAL = 8
TRAIN = os.path.join(REPO, 'sfd_arch', 'train.py')


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------- runs
def _sfd_options(root, clip_file: str) -> dict:
    gt, lq = make_paired_dataset(os.path.join(root, 'data'), n=16, size=96)
    return yaml.safe_load(switch_text(esrgan_style_options('x', gt, lq, total_iter=TOTAL),
                                      clip_line=tiny_clip_line(clip_file)))


def _realsfd_options(root, clip_file: str) -> dict:
    """Real-ESRGAN's x4plus file made tiny: 16 HR images, queue of 4 pairs (full after two batches, so the
    later batches are drawn from it), GT crops of 64 px, 7 px blur kernels."""
    import cv2

    hr = os.path.join(root, 'hr')
    os.makedirs(hr, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(16):
        img = cv2.resize(rng.random((12, 12, 3)).astype(np.float32), (96, 96), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(hr, f'{i:02d}.png'), (img * 255).clip(0, 255).astype(np.uint8))
    with open(os.path.join(root, 'meta.txt'), 'w') as f:
        f.write(''.join(f'{i:02d}.png\n' for i in range(16)))
    opt = yaml.safe_load(open(os.path.join(REPO, 'options', 'train_realsfd_x4plus.yml')))
    opt.update(model_type='RealESRGANModel', gt_size=64, queue_size=4)
    for key in ('keep_image_d', 'val'):
        opt.pop(key)
    opt['datasets'].pop('val')
    opt['datasets']['train'].update(dataroot_gt=hr, meta_info=os.path.join(root, 'meta.txt'), gt_size=64,
                                    blur_kernel_size=7, blur_kernel_size2=7, use_hflip=True, use_rot=True)
    opt['network_g'].update(num_feat=8, num_block=1, num_grow_ch=4)
    opt['network_d'].update(num_feat=8)
    opt['path']['pretrain_network_g'] = None
    opt['train'].pop('perceptual_opt')
    opt['train'].update(total_iter=TOTAL)
    opt['train']['scheduler'].update(milestones=[TOTAL])  # within the run, as the option check asks
    opt['logger'] = {'print_freq': 1, 'use_tb_logger': False, 'wandb': {'project': None, 'resume_id': None}}
    return yaml.safe_load(switch_text(yaml.safe_dump(opt, sort_keys=False), clip_line=tiny_clip_line(clip_file)))


def _write_runs(root, real: bool = False, batch: int = 2, workers: int = 0, amp=None) -> dict[str, str]:
    """Option files ``full`` (seed 0), ``other`` (seed 1) and ``cut`` (seed 0) in ``root``; returns their paths."""
    clip_file = save_tiny_clip(os.path.join(root, 'tiny_clip.pt'))
    base = _realsfd_options(root, clip_file) if real else _sfd_options(root, clip_file)
    base.update(num_gpu=0)
    base['datasets']['train'].update(batch_size_per_gpu=batch, num_worker_per_gpu=workers, use_hflip=True,
                                     use_rot=True, use_shuffle=True)
    base['logger'].update(save_checkpoint_freq=1)
    if amp:
        base['train']['amp'] = amp
    paths = {}
    for name, seed in (('full', 0), ('other', 1), ('cut', 0)):
        opt = dict(base, name=name, manual_seed=seed)
        paths[name] = os.path.join(root, f'{name}.yml')
        with open(paths[name], 'w') as f:
            yaml.safe_dump(opt, f, sort_keys=False)
    return paths


def _start(root, opt_path: str, procs: int = 1, resume: bool = False) -> subprocess.Popen:
    args = [TRAIN, '-opt', opt_path] + (['--auto_resume'] if resume else [])
    if procs > 1:
        args = ['-m', 'torch.distributed.run', '--nproc_per_node', str(procs), '--master_port', str(_free_port()),
                *args, '--launcher', 'pytorch']
    # a session of its own: SIGKILL reaches every process of the run (torchrun's ranks too)
    return subprocess.Popen([sys.executable, *args], cwd=str(root), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return out


def _kill_when_saved(proc: subprocess.Popen, root, name: str, k: int) -> None:
    """SIGKILL the run (all its processes) once ``<k>.state`` is on disk; drop what it wrote after ``k``."""
    exp = os.path.join(str(root), 'experiments', name)
    deadline = time.time() + 600
    while not os.path.exists(os.path.join(exp, 'training_states', f'{k}.state')):
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        assert time.time() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    for path in glob.glob(os.path.join(exp, '*', '*')):
        label = os.path.basename(path).split('.')[0].rsplit('_', 1)[-1]
        if label.isdigit() and int(label) > k:
            os.remove(path)


def _final(root, name: str) -> dict:
    """Every network and the whole training state at the last iteration, read weights-only as a resume reads."""
    exp = os.path.join(str(root), 'experiments', name)
    nets = {n: torch.load(os.path.join(exp, 'models', f'net_{n}_{TOTAL}.pth'), weights_only=True)
            for n in ('g', 'featd', 'lpp')}
    state = torch.load(os.path.join(exp, 'training_states', f'{TOTAL}.state'), weights_only=True)
    return {'nets': nets, 'state': state}


def _differences(a, b, where: str = '') -> list[str]:
    """Where two nested structures of tensors, numbers and strings differ (tensors by torch.equal)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f'{where} keys']
        return [d for k in a for d in _differences(a[k], b[k], f'{where}.{k}')]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f'{where} length']
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f'{where}[{i}]')]
    return [] if a == b else [where]


def _check_case(root, k: int, epoch: int, procs: int = 1, **options) -> str:
    """Run the three runs, compare; returns the resumed run's output."""
    paths = _write_runs(root, **options)
    full, other, cut = (_start(root, paths[n], procs) for n in ('full', 'other', 'cut'))
    _kill_when_saved(cut, root, 'cut', k)
    resumed = _start(root, paths['cut'], procs, resume=True)
    for proc in (full, other):
        _finish(proc)
    out = _finish(resumed)
    assert f'Resuming training from epoch: {epoch}, iter: {k}.' in out, out[-3000:]
    assert 'not be bit-exact' not in out and 'not bit-exact' not in out, out[-3000:]
    reference, again, reseeded = (_final(root, n) for n in ('full', 'cut', 'other'))
    assert set(reference['nets']['g']) == {'params', 'params_ema'}
    assert reference['state']['optimizers'] and all(o['state'] for o in reference['state']['optimizers'])
    assert _differences(reference, again) == []
    changed = _differences(reference['nets'], reseeded['nets'])
    assert any(d.startswith(f'.{n}.') for d in changed for n in ('g', 'featd', 'lpp')), changed
    return out


# ---------------------------------------------------------------------------------------------- the cases
def test_sfd_resumes_bit_for_bit_after_sigkill(tmp_path):
    """SFDModel, no workers, fp32, killed after iteration 3 (mid-epoch: 8 batches of 2 per epoch)."""
    _check_case(tmp_path, k=3, epoch=0)


@pytest.mark.slow
def test_sfd_resumes_bit_for_bit_with_two_workers(tmp_path):
    _check_case(tmp_path, k=5, epoch=0, workers=2)


@pytest.mark.slow
def test_sfd_resumes_bit_for_bit_in_bf16(tmp_path):
    _check_case(tmp_path, k=3, epoch=0, amp='bf16')


@pytest.mark.slow
def test_sfd_resumes_bit_for_bit_from_an_epoch_boundary(tmp_path):
    """Batches of 4: 4 iterations per epoch; the state of iteration 4 closes epoch 0."""
    out = _check_case(tmp_path, k=4, epoch=0, batch=4)
    assert 'Total epochs: 2; iters: 8' in out


@pytest.mark.slow
def test_realsfd_resumes_bit_for_bit_with_its_queue(tmp_path):
    """Real-ESRGAN's degradations and its training-pair queue, killed after iteration 5 (the queue full)."""
    _check_case(tmp_path, k=5, epoch=0, real=True, workers=2)
    state = _final(tmp_path, 'cut')['state']
    queue = state[exact_resume.STATE_KEY]['ranks'][0]['queue']
    assert queue['ptr'] == 4 and queue['gt']['uint8'].shape == (4, 3, 64, 64)  # 8-bit data kept as uint8


@pytest.mark.slow
def test_sfd_resumes_bit_for_bit_under_torchrun_on_two_processes(tmp_path):
    """torchrun, gloo: 16 images over 2 ranks in batches of 2, 4 iterations per epoch; killed after 3."""
    out = _check_case(tmp_path, k=3, epoch=0, procs=2)
    assert 'world_size: 2' in out
    ranks = _final(tmp_path, 'cut')['state'][exact_resume.STATE_KEY]['ranks']
    assert len(ranks) == 2 and not torch.equal(ranks[0]['rng']['torch'], ranks[1]['rng']['torch'])


# ---------------------------------------------------------------------------------------------- the parts
class _Draws(torch.utils.data.Dataset):
    """Each item: its index and a draw from random, NumPy and torch; ``loaded`` lists the indices loaded."""

    def __init__(self, n: int) -> None:
        self.n, self.loaded = n, []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        self.loaded.append(index)
        return {'index': index, 'draws': torch.tensor([random.random(), np.random.rand(), torch.rand(()).item()])}


def _epoch(sampler, dataset, epoch: int, **loader_opt) -> list[dict]:
    loader_opt = {'phase': 'train', 'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0, **loader_opt}
    loader = exact_resume.build_dataloader(dataset, loader_opt, num_gpu=0, sampler=sampler, seed=7)
    sampler.set_epoch(epoch)
    return list(loader)


def test_resumed_sampler_skips_without_loading_and_samples_are_keyed():
    torch.manual_seed(0)
    dataset = _Draws(10)
    full = _epoch(exact_resume.KeyedSampler(dataset, 1, 0, ratio=2), dataset, epoch=3)
    assert len(full) == 10 and [b['sample_key'][0, 0].item() for b in full] == [3] * 10
    assert sorted(torch.cat([b['sample_key'][:, 1] for b in full]).tolist()) == list(range(20))
    # an image repeated by dataset_enlarge_ratio gets other draws at its other position
    draws = {}
    for batch in full:
        for index, row in zip(batch['index'].tolist(), batch['draws']):
            draws.setdefault(index, []).append(row)
    assert all(len(rows) == 2 and not torch.equal(rows[0], rows[1]) for rows in draws.values())

    # resumed after 3 batches of epoch 3: the 6 samples already trained on are never loaded
    exact_resume.adopt_resume_state({'manual_seed': 7}, {exact_resume.STATE_KEY: {
        'manual_seed': 7, 'data': {'epoch': 3, 'samples': 6, 'batches': 3}}})
    dataset.loaded.clear()
    resumed_sampler = exact_resume.KeyedSampler(dataset, 1, 0, ratio=2)
    torch.rand(5)  # the main process's stream moved: the samples do not care
    rest = _epoch(resumed_sampler, dataset, epoch=3)
    assert len(dataset.loaded) == 14
    assert [sorted(dataset.loaded)] == [sorted(torch.cat([b['index'] for b in full[3:]]).tolist())]
    assert _differences(rest, full[3:]) == []
    # loading moved none of the main process's random states (no workers: it ran here)
    before = exact_resume.rng_state()
    _epoch(exact_resume.KeyedSampler(dataset, 1, 0), dataset, epoch=0)
    assert _differences(exact_resume.rng_state(), before) == []
    # the next epoch is whole again
    assert len(_epoch(resumed_sampler, dataset, epoch=4)) == 10
    # two workers load the same samples (each sample's draws are its key's, whichever process loads it)
    assert _differences(_epoch(exact_resume.KeyedSampler(dataset, 1, 0, ratio=2), dataset, 3, num_worker_per_gpu=2),
                        full) == []


def test_prefetch_thread_without_workers_is_warned_about():
    with basicsr_log() as records:
        _epoch(exact_resume.KeyedSampler(_Draws(4), 1, 0), _Draws(4), 0, prefetch_mode='cpu')
    assert any('prefetch_mode: cpu with num_worker_per_gpu: 0' in r.getMessage() and 'not bit-exact' in r.getMessage()
               for r in records)


def test_random_states_round_trip_weights_only(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # NumPy holds a cached Gaussian
    saved = exact_resume.rng_state()
    torch.save(saved, tmp_path / 'rng.pt')
    expected = random.random(), np.random.randn(), torch.rand(3)
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    assert exact_resume.set_rng_state(torch.load(tmp_path / 'rng.pt', weights_only=True)) == []
    got = random.random(), np.random.randn(), torch.rand(3)
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_images_pack_as_uint8_only_when_lossless():
    levels = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    exact = levels.float() / 255
    packed = exact_resume.pack_images(exact)
    assert set(packed) == {'uint8', 'dtype'} and torch.equal(packed['uint8'], levels)
    assert torch.equal(exact_resume.unpack_images(packed, torch.device('cpu')), exact)
    inexact = exact.clone()
    inexact[0, 0, 0, 0] += 1e-3
    packed = exact_resume.pack_images(inexact)
    assert set(packed) == {'tensor'} and torch.equal(exact_resume.unpack_images(packed, torch.device('cpu')), inexact)


def _saved_at_iteration_2(tmp_path, name: str) -> tuple[dict, str, dict]:
    """An SFD run ``name`` built in ``tmp_path`` (the working folder) and saved at iteration 2: its options, its
    training-state file and the state read back."""
    from test_training import build_model

    opt = dict(_sfd_options(tmp_path, save_tiny_clip(str(tmp_path / 'clip.pt'))), name=name, num_gpu=0)
    (tmp_path / f'{name}.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model(f'{name}.yml', str(tmp_path))
    model.save(0, 2)
    state_file = tmp_path / 'experiments' / name / 'training_states' / '2.state'
    return opt, state_file, torch.load(state_file, weights_only=True)


def test_a_state_of_an_older_version_resumes_with_a_warning(tmp_path, monkeypatch, single_thread):
    from test_training import build_model

    monkeypatch.chdir(tmp_path)
    _, state_file, state = _saved_at_iteration_2(tmp_path, 'old')
    assert state[exact_resume.STATE_KEY]['manual_seed'] == 0
    del state[exact_resume.STATE_KEY]
    torch.save(state, state_file)
    with basicsr_log() as records:
        resumed, loaded = build_model('old.yml', str(tmp_path), auto_resume=True)
    assert loaded['iter'] == 2 and resumed.data_progress.state() is None
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any('saved by an older version of sfd_arch' in w and 'the continuation will not be bit-exact' in w
               for w in warnings), warnings


def test_resumed_model_restores_the_random_states_at_its_first_batch(tmp_path, monkeypatch, single_thread):
    """Draws of training itself (a network with dropout, say) continue where the saved run stood, whatever set-up
    drew; the batch's own draws (feed_data) leave that stream alone."""
    from test_training import build_model

    monkeypatch.chdir(tmp_path)
    opt = dict(_sfd_options(tmp_path, save_tiny_clip(str(tmp_path / 'clip.pt'))), name='rng', num_gpu=0)
    (tmp_path / 'rng.yml').write_text(yaml.safe_dump(opt, sort_keys=False))

    def batch(epoch, first):
        g = torch.Generator().manual_seed(first)
        return {'lq': torch.rand(2, 3, 16, 16, generator=g), 'gt': torch.rand(2, 3, 64, 64, generator=g),
                exact_resume.SAMPLE_KEY: torch.tensor([[epoch, first], [epoch, first + 1]])}

    def draws():
        return torch.rand(4), random.random(), np.random.rand()

    model, _ = build_model('rng.yml', str(tmp_path))
    model.feed_data(batch(0, 0))
    model.optimize_parameters(1)
    draws()  # training drew from the stream
    model.save(0, 1)
    expected = draws()

    resumed, _ = build_model('rng.yml', str(tmp_path), auto_resume=True)
    torch.rand(7), random.random(), np.random.rand(3)  # set-up drew something else
    assert resumed.data_progress.state() == {'epoch': 0, 'samples': 2, 'batches': 1}
    resumed.feed_data(batch(0, 2))
    got = draws()
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]
    assert resumed.data_progress.state() == {'epoch': 0, 'samples': 4, 'batches': 2}


def test_resume_on_another_process_count_batch_or_seed_warns(tmp_path, monkeypatch, single_thread):
    from test_training import build_model

    monkeypatch.chdir(tmp_path)
    opt, state_file, state = _saved_at_iteration_2(tmp_path, 'moved')
    exact = state[exact_resume.STATE_KEY]
    exact['ranks'] = exact['ranks'] * 2  # as two processes save it
    exact['world_size'] = 2
    exact['data'] = {'epoch': 0, 'samples': 4, 'batches': 2}  # in batches of 2
    torch.save(state, state_file)
    (tmp_path / 'moved.yml').write_text(yaml.safe_dump(dict(opt, manual_seed=5), sort_keys=False))
    with basicsr_log() as records:
        resumed, _ = build_model('moved.yml', str(tmp_path), auto_resume=True)
        resumed.feed_data({'lq': torch.rand(3, 3, 16, 16), 'gt': torch.rand(3, 3, 64, 64),
                           exact_resume.SAMPLE_KEY: torch.tensor([[0, 4], [0, 5], [0, 6]])})
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert resumed.opt['manual_seed'] == 0
    assert any('trained with batches of 2 per process, it resumes with 3: the continuation will not be bit-exact'
               in w for w in warnings), warnings
    assert any('keeps the seed it started with (manual_seed: 0; the option file now gives 5)' in w for w in warnings)
    assert any('saved by 2 process(es) and resumes on 1: the continuation will not be bit-exact' in w
               for w in warnings), warnings


def test_validation_leaves_the_training_random_states_alone(tmp_path, monkeypatch, single_thread):
    from test_training import build_model

    monkeypatch.chdir(tmp_path)
    opt = dict(_sfd_options(tmp_path, save_tiny_clip(str(tmp_path / 'clip.pt'))), name='val', num_gpu=0)
    (tmp_path / 'val.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('val.yml', str(tmp_path))
    drawn = []
    monkeypatch.setattr(model, 'nondist_validation',  # a validation that draws (random crops, a sampled metric)
                        lambda *a: drawn.append((torch.rand(2), random.random(), np.random.rand())))
    before = exact_resume.rng_state()
    model.validation(None, 1, None, False)
    assert len(drawn) == 1 and _differences(exact_resume.rng_state(), before) == []


def test_queue_cost_at_real_esrgan_settings():
    """docs/design.md: 37.6 MB per process at Real-ESRGAN's settings, as uint8 (8-bit data), 150 MB as float32."""
    opt = yaml.safe_load(open(os.path.join(REPO, 'options', 'train_realsfd_x4plus.yml')))
    n, gt = opt['queue_size'], opt['gt_size']
    elements = n * 3 * (gt * gt + (gt // opt['scale']) ** 2)
    assert exact_resume.pack_images(torch.zeros(2, 3, 4, 4))['uint8'].element_size() == 1
    assert round(elements / 1e6, 1) == 37.6 and round(elements * 4 / 1e6) == 150


def test_resume_keeps_the_seed_the_run_started_with():
    opt = {'manual_seed': 4321}  # BasicSR drew it: the file's manual_seed was empty
    exact_resume.adopt_resume_state(opt, {exact_resume.STATE_KEY: {'manual_seed': 17, 'data': None}})
    assert opt['manual_seed'] == 17
    assert exact_resume.take_seed_note() == ('the resumed run keeps the seed it started with (manual_seed: 17; the '
                                             'option file now gives 4321)')


def test_deterministic_option_turns_on_what_gpus_need(tmp_path, monkeypatch):
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.backends.cudnn.benchmark = True  # as BasicSR's train_pipeline sets it
        assert not exact_resume.apply_determinism({'deterministic': False})
        assert torch.backends.cudnn.benchmark and 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
        assert exact_resume.apply_determinism({'deterministic': True})
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[:2]
        torch.use_deterministic_algorithms(flags[2], warn_only=flags[3])

    from sfd_arch.options.preflight import check_option_file

    write_pairs(str(tmp_path / 'gt'), str(tmp_path / 'lq'), n=2)  # data folders hold images only (the option check)
    opt = yaml.safe_load(switch_text(esrgan_style_options('x', str(tmp_path / 'gt'), str(tmp_path / 'lq')),
                                     clip_weights=save_tiny_clip(str(tmp_path / 'clip.pt'))))
    for value, ok in ((True, True), ('maybe', False)):
        path = tmp_path / 'det.yml'
        path.write_text(yaml.safe_dump(dict(opt, deterministic=value)))
        if ok:
            check_option_file(str(path), is_train=True)
        else:
            with pytest.raises(KeyError, match='deterministic'):
                check_option_file(str(path), is_train=True)
