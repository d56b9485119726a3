"""Mixed precision in SFD training (`train.amp: bf16 | fp16`, `train.amp_g`) on CPU: the loss gap to fp32 over
20 iterations from the same start, exact resume with the GradScaler state, what runs in low precision."""
import pytest
import torch
import yaml
from conftest import REPO
from test_ablations import tiny_from
from test_training import build_model

import sfd_arch  # noqa: F401  (registration)
from sfd_arch.options.preflight import check_option_file

# Documented in docs/training.md, "Mixed precision": over the first 20 iterations of the tiny CPU run below, every
# loss of a bf16 run stays within BF16_LOSS_GAP (relative, per iteration) of the fp32 run that starts from the same
# weights and sees the same batches. bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.2%); CLIP, Feat-D and LPP
# each add such errors to the logits, and the two runs drift apart a little through their optimiser steps.
BF16_LOSS_GAP = 0.05
LOSSES = ('l_g_pix', 'l_g_featd', 'l_g_tgd', 'l_d_featd_real', 'l_d_featd_fake', 'l_d_tgd')


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    from sfd_testutil import save_tiny_clip

    return save_tiny_clip(str(tmp_path_factory.mktemp('clip') / 'tiny_clip.pt'))


def write_options(root, clip_file: str, name: str = 'amp', **train) -> str:
    opt = tiny_from(yaml.safe_load((REPO / 'options' / 'train_sfd_x4.yml').read_text()), root, clip_file, name)
    opt['train'].update(train)
    opt['train']['ema_decay'] = 0.999
    (root / f'{name}.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    return f'{name}.yml'


def batch(it: int) -> dict:
    """The batch of iteration ``it``: the same in every run, whatever ran before."""
    g = torch.Generator().manual_seed(1000 + it)
    gt = torch.rand(2, 3, 64, 64, generator=g)
    return {'lq': torch.nn.functional.interpolate(gt, scale_factor=0.25, mode='bicubic', antialias=True), 'gt': gt}


def train(model, iters) -> list[dict]:
    logs = []
    for it in iters:
        model.feed_data(batch(it))
        model.optimize_parameters(it)
        model.update_learning_rate(it, warmup_iter=-1)
        logs.append(model.get_current_log())
    return logs


def params(model) -> dict:
    nets = {'g': model.net_g, 'g_ema': model.net_g_ema, 'featd': model.net_featd, 'lpp': model.net_lpp}
    return {f'{n}.{k}': v.detach().clone() for n, net in nets.items()
            for k, v in model.get_bare_model(net).state_dict().items()}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bf16_losses_stay_near_fp32_for_20_iterations(root, clip_file, single_thread):
    logs = {}
    for amp in ('fp32', 'bf16'):
        model, _ = build_model(write_options(root, clip_file, name=amp, amp=amp), str(root))
        logs[amp] = train(model, range(1, 21))
    gaps = {k: max(abs(b[k] - a[k]) / max(abs(a[k]), 1e-8) for a, b in zip(logs['fp32'], logs['bf16'])) for k in LOSSES}
    print('max relative loss gap bf16 vs fp32 over 20 iterations:', {k: f'{v:.2e}' for k, v in gaps.items()})
    assert all(gap <= BF16_LOSS_GAP for gap in gaps.values()), gaps
    assert any(gap > 0 for gap in gaps.values())  # bf16 really ran: the two runs are not the same computation


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_amp_training_resumes_exactly(amp, root, clip_file, single_thread):
    opt_file = write_options(root, clip_file, amp=amp)
    model, _ = build_model(opt_file, str(root))
    if amp == 'fp16':
        # grow the scale every step, so the saved scaler state differs from a fresh scaler's and must be restored
        for scaler in (model.scaler_g, model.scaler_d):
            scaler._growth_interval = 1
    train(model, (1, 2))
    model.save(0, 2)
    saved_scalers = {'g': model.scaler_g.state_dict(), 'd': model.scaler_d.state_dict()}
    train(model, (3, 4))
    uninterrupted = params(model)

    resumed, state = build_model(opt_file, str(root), auto_resume=True)
    assert state['iter'] == 2
    if amp == 'fp16':
        assert state['scalers'] == saved_scalers
        assert saved_scalers['g']['scale'] > 65536.0  # grew: not the default any more
        assert resumed.scaler_g.state_dict() == saved_scalers['g']
        assert resumed.scaler_d.state_dict() == saved_scalers['d']
    else:
        assert state['scalers'] == {'g': {}, 'd': {}}  # bf16 needs no loss scaling
    train(resumed, (3, 4))
    after = params(resumed)
    assert set(after) == set(uninterrupted)
    different = [k for k in after if not torch.equal(after[k], uninterrupted[k])]
    assert not different, different[:5]


@pytest.mark.parametrize('amp,dtype', [('bf16', torch.bfloat16), ('fp16', torch.float16)])
def test_what_runs_in_low_precision(amp, dtype, root, clip_file, single_thread):
    """fp16 autocast exists on CPU in torch 2.14 (convolutions and matmuls run in float16), so the fp16 path,
    GradScalers included, runs here as it does on CUDA."""
    seen = {}

    def record(name):
        return lambda module, inp, out: seen.setdefault(name, []).append(
            (out[1] if name == 'clip' else out[0] if isinstance(out, (list, tuple)) else out).dtype)

    for amp_g in (True, False):
        seen.clear()
        model, _ = build_model(write_options(root, clip_file, amp=amp, amp_g=amp_g), str(root))
        assert model.scaler_g.is_enabled() == model.scaler_d.is_enabled() == (amp == 'fp16')
        handles = [net.register_forward_hook(record(name)) for name, net in (
            ('g', model.net_g), ('clip', model.clip), ('featd', model.net_featd), ('lpp', model.net_lpp))]
        try:
            train(model, (1,))
        finally:  # the CLIP extractor is shared process-wide (build_clip's cache): leave no hook on it
            for handle in handles:
                handle.remove()
        assert seen['g'] == [dtype if amp_g else torch.float32]
        assert seen['clip'] == [dtype] * 2  # still exactly two CLIP passes per iteration (docs/design.md §3)
        assert set(seen['featd']) == set(seen['lpp']) == {dtype}
        log = model.get_current_log()
        assert all(isinstance(v, float) and v == v for v in log.values())
        assert next(model.net_g.parameters()).dtype == torch.float32  # weights and optimiser state stay fp32


def test_bad_amp_options_name_the_key(root, clip_file):
    for train_opt, message in (({'amp': 'fp8'}, r'train.amp must be bf16, fp16 or absent'),
                               ({'amp': 'bf16', 'amp_g': 'no'}, r'train.amp_g must be true or false')):
        path = write_options(root, clip_file, name='bad', **train_opt)
        with pytest.raises(ValueError, match=message):
            check_option_file(path)
