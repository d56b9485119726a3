"""Ablations as option lines (docs/ablations.md): the files in options/ablation/, what each switch builds,
training and resuming from each file on CPU with the tiny CLIP, export and SFD-IQA with one network."""
import difflib
import os
import sys

import pytest
import torch
import yaml
from conftest import REPO, tiny_clip_opt
from sfd_testutil import basicsr_log, make_paired_dataset, save_tiny_clip
from test_training import build_model

import sfd_arch  # noqa: F401  (registration)
from sfd_arch.models.sfd_model import sfd_switches

BASE = REPO / 'options' / 'train_sfd_x4.yml'
ABLATION_DIR = REPO / 'options' / 'ablation'
# what each file must switch: Feat-D, TG-D, fixed prompts, image D, taps; and the optimisers it trains
ABLATIONS = {
    'featd_only': dict(featd=True, tgd=False, fixed=False, image_d=False, taps=None,
                       optimizers=['optimizer_g', 'optimizer_featd']),
    'tgd_only': dict(featd=False, tgd=True, fixed=False, image_d=False, taps=None,
                     optimizers=['optimizer_g', 'optimizer_lpp']),
    'fixed_prompts': dict(featd=True, tgd=True, fixed=True, image_d=False, taps=None,
                          optimizers=['optimizer_g', 'optimizer_featd']),
    'tap_layer3': dict(featd=True, tgd=True, fixed=False, image_d=False, taps=['layer3'],
                       optimizers=['optimizer_g', 'optimizer_featd', 'optimizer_lpp']),
    'tap_layer1': dict(featd=True, tgd=True, fixed=False, image_d=False, taps=['layer1'],
                       optimizers=['optimizer_g', 'optimizer_featd', 'optimizer_lpp']),
    'tap_layer12': dict(featd=True, tgd=True, fixed=False, image_d=False, taps=['layer1', 'layer2'],
                        optimizers=['optimizer_g', 'optimizer_featd', 'optimizer_lpp']),
    'hybrid': dict(featd=True, tgd=True, fixed=False, image_d=True, taps=None,
                   optimizers=['optimizer_g', 'optimizer_d', 'optimizer_featd', 'optimizer_lpp']),
}


def split_header(text: str) -> tuple[list[str], list[str]]:
    """(header, body): the header is the run of comment lines at the very top of the file, before its first
    option line.

    The diff test drops the header on both sides (an ablation's says which question it answers; the preset's is
    its '# general settings' title) and counts every other line, comments and blank lines included.
    """
    lines = text.splitlines()
    n = 0
    while n < len(lines) and lines[n].startswith('#'):
        n += 1
    return lines[:n], lines[n:]


def changed_lines(base: list[str], other: list[str]) -> int:
    """Lines that differ: a replaced line counts once, an added or removed line once."""
    ops = difflib.SequenceMatcher(a=base, b=other, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != 'equal')


def test_changed_lines_counts_replacements_and_insertions():
    assert changed_lines(['a', 'b', 'c'], ['a', 'B', 'c']) == 1
    assert changed_lines(['a', 'b'], ['a', 'x', 'b', 'y']) == 2
    assert changed_lines(['a', 'b', 'c', 'd'], ['A', 'b', 'x', 'y', 'z', 'c']) == 5


def test_ablation_files_differ_from_the_paper_preset_by_at_most_three_lines():
    assert sorted(p.stem for p in ABLATION_DIR.glob('*.yml')) == sorted(ABLATIONS)
    base_header, base_body = split_header(BASE.read_text())
    assert base_header == ['# general settings']
    names = set()
    for name in ABLATIONS:
        header, body = split_header((ABLATION_DIR / f'{name}.yml').read_text())
        assert header[0].startswith(f'# Ablation "{name}": ') and header[0].endswith('?'), f'{name}.yml: no question'
        n = changed_lines(base_body, body)
        assert 1 <= n <= 3, f'{name}.yml differs from train_sfd_x4.yml by {n} lines'
        opt = yaml.safe_load('\n'.join(body))
        names.add(opt['name'])
        want = ABLATIONS[name]
        switches = sfd_switches(opt, source=f'{name}.yml')
        assert (switches.featd, switches.tgd, switches.fixed_prompts, switches.image_d) == (
            want['featd'], want['tgd'], want['fixed'], want['image_d']), name
        assert (opt.get('clip') or {}).get('layers') == want['taps']
    assert len(names) == len(ABLATIONS)  # each writes its own experiments/<name>


def test_switch_semantics_absent_is_default_null_is_off():
    assert sfd_switches({'train': {}}).describe() == 'Feat-D + TG-D + LPP'
    off = sfd_switches({'network_featd': None, 'train': {}})
    assert not off.featd and off.tgd and off.reasons == {'featd': ['network_featd: ~']}
    off = sfd_switches({'train': {'tgd_opt': None}})
    assert off.featd and not off.tgd and off.reasons == {'tgd': ['train.tgd_opt: ~']}
    with pytest.raises(ValueError, match='no adversarial term'):
        sfd_switches({'network_lpp': None, 'train': {'featd_opt': None}})
    image_d_only = sfd_switches({'keep_image_d': True, 'network_lpp': None, 'train': {'featd_opt': None}})
    assert not image_d_only.uses_clip and image_d_only.describe() == 'image D'
    with pytest.raises(KeyError, match=r'train.optim_featd: ~ does not turn its network off'):
        sfd_switches({'train': {'optim_featd': None}})
    # fixed prompts have nothing to optimise: a null optimiser line is harmless there
    assert sfd_switches({'network_lpp': {'learnable': False}, 'train': {'optim_lpp': None}}).fixed_prompts


# ------------------------------------------------------------------------------------------ training

def tiny_from(opt: dict, root, clip_file: str, name: str) -> dict:
    """The ablation's option dict shrunk to CPU size. Only the SFD-unrelated keys change; the ablation's own
    lines (nulls, network_lpp, keep_image_d) stay, and the `clip:` block points at the tiny CLIP while keeping
    the ablation's taps."""
    gt, lq = make_paired_dataset(str(root / 'data'), n=2)
    clip = tiny_clip_opt(layers=(opt.get('clip') or {}).get('layers') or ('layer1', 'layer2', 'layer3'))
    clip['pretrained'] = clip_file
    opt.update(name=name, num_gpu=0, clip=clip)
    opt['datasets'] = {'train': {
        'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': gt, 'dataroot_lq': lq, 'filename_tmpl': '{}',
        'io_backend': {'type': 'disk'}, 'gt_size': 64, 'use_hflip': False, 'use_rot': False, 'use_shuffle': False,
        'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1, 'prefetch_mode': None}}
    opt['network_g'].update(num_feat=8, num_block=1, num_grow_ch=4)
    opt['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8}  # any patch size
    opt['path']['pretrain_network_g'] = None
    opt['train'].pop('perceptual_opt')
    opt['train'].update(total_iter=2)
    opt['train']['scheduler']['milestones'] = [1]
    opt.pop('val')
    opt['logger'].update(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False)
    return opt


def train_in_process(opt_path: str, root) -> str:
    """BasicSR's train_pipeline from an option file (root = ``root``); returns what the 'basicsr' logger said."""
    from basicsr.train import train_pipeline

    argv, cwd = sys.argv, os.getcwd()
    sys.argv = ['train.py', '-opt', opt_path]
    os.chdir(root)
    try:
        with basicsr_log() as records:
            train_pipeline(str(root))
    finally:
        sys.argv = argv
        os.chdir(cwd)
    return '\n'.join(r.getMessage() for r in records)


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    return save_tiny_clip(str(tmp_path_factory.mktemp('clip') / 'tiny_clip.pt'))


@pytest.fixture(autouse=True)
def run_root(tmp_path, monkeypatch):
    """Each test's run lives in its tmp_path, BasicSR's root (experiments/ and the option file's relative paths)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize('name', sorted(ABLATIONS))
def test_ablation_trains_two_iterations_and_resumes(name, tmp_path, clip_file, single_thread):
    want = ABLATIONS[name]
    opt = tiny_from(yaml.safe_load((ABLATION_DIR / f'{name}.yml').read_text()), tmp_path, clip_file, name)
    (tmp_path / 'abl.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    log = train_in_process('abl.yml', tmp_path)

    nets = ['g'] + ['d'] * want['image_d'] + ['featd'] * want['featd'] + ['lpp'] * want['tgd']
    models = tmp_path / 'experiments' / name / 'models'
    assert sorted(p.name for p in models.glob('*_2.pth')) == sorted(f'net_{n}_2.pth' for n in nets)
    state = torch.load(tmp_path / 'experiments' / name / 'training_states' / '2.state', weights_only=False)
    assert state['optimizer_names'] == want['optimizers']
    assert len(state['optimizers']) == len(state['schedulers']) == len(want['optimizers'])
    assert state['clip']['layers'] == list(want['taps'] or ['layer1', 'layer2', 'layer3'])
    if not want['featd']:
        assert 'SFD ablation: Feat-D off (train.featd_opt: ~)' in log
    if not want['tgd']:
        assert 'SFD ablation: TG-D and LPP off (train.tgd_opt: ~)' in log
    if want['fixed']:
        assert "fixed prompts 'Good photo.' / 'Bad photo.'" in log
        assert set(torch.load(models / 'net_lpp_2.pth')['params']) == {'tokens'}  # no trainable tensor saved

    model, resumed = build_model('abl.yml', str(tmp_path), auto_resume=True)
    assert resumed['iter'] == 2 and model.optimizer_names() == want['optimizers']
    for n in nets:
        net = getattr(model, f'net_{n}')
        saved = torch.load(models / f'net_{n}_2.pth')['params']
        live = model.get_bare_model(net).state_dict()
        assert set(live) == set(saved) and all(torch.equal(live[k], saved[k]) for k in live), n
    assert (model.net_featd is not None, model.net_lpp is not None, model.net_d is not None) == (
        want['featd'], want['tgd'], want['image_d'])
    if want['featd']:
        assert len(model.get_bare_model(model.net_featd).heads) == len(want['taps'] or [1, 2, 3])

    # the resumed run goes on: one more step, CLIP twice, every logged quantity finite
    passes = []
    handle = model.clip.register_forward_hook(lambda m, inp, out: passes.append(inp[0].requires_grad))
    torch.manual_seed(0)
    model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
    try:
        model.optimize_parameters(3)
    finally:
        handle.remove()  # the extractor is shared process-wide (build_clip's cache)
    assert passes == [True, False]
    log3 = model.get_current_log()
    assert ('l_g_featd' in log3, 'acc_featd_real' in log3) == (want['featd'], want['featd'])
    assert ('l_g_tgd' in log3, 'acc_tgd' in log3) == (want['tgd'], want['tgd'])
    assert all(torch.isfinite(torch.tensor(v)) for v in log3.values())


def test_fixed_prompts_compute_their_text_features_once(tmp_path, clip_file, single_thread, monkeypatch):
    from sfd_arch.archs import prompt_learner_arch

    encodes = []
    original = prompt_learner_arch._TextTower.encode
    monkeypatch.setattr(prompt_learner_arch._TextTower, 'encode',
                        lambda self, *a: encodes.append(1) or original(self, *a))
    opt = tiny_from(yaml.safe_load((ABLATION_DIR / 'fixed_prompts.yml').read_text()), tmp_path, clip_file, 'fixed')
    (tmp_path / 'fixed.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('fixed.yml', str(tmp_path))
    lpp = model.net_lpp
    assert not lpp.learnable and lpp.ctx is None
    assert [p for p in lpp.parameters()] == [] and model.optimizer_lpp is None
    assert len(model.optimizers) == 2  # G and Feat-D
    text_before = lpp.text_features().clone()
    torch.manual_seed(0)
    for it in (1, 2):
        model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
        model.optimize_parameters(it)
    assert len(encodes) == 1  # one text-encoder pass for the whole run
    assert torch.equal(lpp.text_features(), text_before)
    log = model.get_current_log()
    assert 0.0 <= log['acc_tgd'] <= 1.0 and 'l_d_tgd' in log
    # the prompts are exactly the words of the option file, not a template around them
    import open_clip

    assert torch.equal(lpp.tokens, open_clip.tokenize(['Good photo.', 'Bad photo.']))


def test_both_off_without_image_d_is_an_error_and_image_d_only_never_runs_clip(tmp_path, clip_file, single_thread):
    base = tiny_from(yaml.safe_load(BASE.read_text()), tmp_path, clip_file, 'off')
    base['network_featd'] = None
    base['train']['tgd_opt'] = None
    (tmp_path / 'off.yml').write_text(yaml.safe_dump(base, sort_keys=False))
    from sfd_arch.options.preflight import check_option_file

    for check in (lambda: check_option_file(str(tmp_path / 'off.yml')),
                  lambda: build_model('off.yml', str(tmp_path))):
        with pytest.raises(ValueError, match=r'network_featd: ~.*train.tgd_opt: ~.*no adversarial term'):
            check()
    base['keep_image_d'] = True
    (tmp_path / 'off.yml').write_text(yaml.safe_dump(base, sort_keys=False))
    model, _ = build_model('off.yml', str(tmp_path))
    assert model.clip is None and model.net_featd is None and model.net_lpp is None
    assert model.optimizer_names() == ['optimizer_g', 'optimizer_d']
    model.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 64, 64)})
    model.optimize_parameters(1)
    assert {'l_g_gan', 'l_d_real', 'l_d_fake'} <= set(model.get_current_log())
    assert not any(k.startswith(('l_g_featd', 'l_g_tgd', 'acc_')) for k in model.get_current_log())


# ------------------------------------------------------------------------------------------ export, SFD-IQA

@pytest.mark.parametrize('name,present', [('featd_only', 'featd'), ('tgd_only', 'lpp')])
def test_export_and_sfd_iqa_with_one_network(name, present, tmp_path, clip_file, single_thread, capsys):
    import cv2
    import numpy as np

    from sfd_arch.cli import main as sfd_iqa
    from sfd_arch.iqa import SFDIQA
    from sfd_arch.iqa.export import ExportError, export_experiment, export_files

    opt = tiny_from(yaml.safe_load((ABLATION_DIR / f'{name}.yml').read_text()), tmp_path, clip_file, name)
    (tmp_path / 'abl.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('abl.yml', str(tmp_path))
    models = tmp_path / 'experiments' / name / 'models'
    model.save(0, 2)
    (tmp_path / 'experiments' / name / 'abl.yml').write_text((tmp_path / 'abl.yml').read_text())

    out = str(tmp_path / 'iqa.pth')
    payload = export_experiment(str(tmp_path / 'experiments' / name), out)
    absent = 'lpp' if present == 'featd' else 'featd'
    assert payload[absent] is None and payload[present] is not None
    with pytest.raises(ExportError, match='turns'):  # a checkpoint of a network the option file turned off
        export_files(str(models / f'net_{present}_2.pth'), str(models / f'net_{present}_2.pth'),
                     str(tmp_path / 'abl.yml'), str(tmp_path / 'x.pth'))

    scorer = SFDIQA.from_file(out, device='cpu')
    img = torch.rand(2, 3, 64, 64)
    score, q_feat, p_pos = scorer.score_tensor(img)
    own, other = (q_feat, p_pos) if present == 'featd' else (p_pos, q_feat)
    assert torch.isnan(other).all() and torch.equal(score, own)
    # the same quantity computed by hand from the model's own network (eval: spectral norm without a power step)
    model.get_bare_model(model.net_featd or model.net_lpp).eval()
    with torch.no_grad():
        feats, emb = model.clip(img)
        if present == 'featd':
            maps = model.get_bare_model(model.net_featd)(feats)
            expected = torch.stack([torch.sigmoid(m).flatten(1).mean(1) for m in maps]).mean(0)
        else:
            expected = model.net_lpp(emb).softmax(dim=1)[:, 0]
    assert torch.allclose(score.float(), expected, atol=1e-5)
    # the BasicSR metric (validation, test.py): the one quantity whatever alpha says, on tensors and arrays
    from sfd_arch.iqa.metric import calculate_sfd_iqa
    assert calculate_sfd_iqa(img, weights=out, device='cpu', alpha=0.3) == pytest.approx(float(score.mean()))
    bgr = (img[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8)
    expected_one = float(scorer.score_tensor(torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1) / 255.)[0])
    assert calculate_sfd_iqa(bgr, weights=out, device='cpu', alpha=0.3) == pytest.approx(expected_one, abs=1e-6)

    photo = str(tmp_path / 'photo.png')
    cv2.imwrite(photo, (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8))
    capsys.readouterr()
    assert sfd_iqa(['score', photo, '-w', out, '--csv', str(tmp_path / 's.csv'), '--no-progress',
                    '--workers', '0']) == 0
    err = capsys.readouterr().err
    assert ('Feat-D only' if present == 'featd' else 'TG-D only') in err
    row = (tmp_path / 's.csv').read_text().splitlines()[1].split(',')
    assert row[2 if present == 'lpp' else 3] == ''  # the column of the absent quantity is empty


def test_fixed_prompt_run_exports_and_scores(tmp_path, clip_file, single_thread):
    from sfd_arch.iqa import SFDIQA
    from sfd_arch.iqa.export import export_experiment

    opt = tiny_from(yaml.safe_load((ABLATION_DIR / 'fixed_prompts.yml').read_text()), tmp_path, clip_file, 'fixed')
    (tmp_path / 'fixed.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    model, _ = build_model('fixed.yml', str(tmp_path))
    model.save(0, 1)
    exp = tmp_path / 'experiments' / 'fixed'
    (exp / 'fixed.yml').write_text((tmp_path / 'fixed.yml').read_text())
    payload = export_experiment(str(exp), str(tmp_path / 'iqa.pth'))
    assert payload['lpp']['kwargs'] == {'learnable': False, 'pos': 'Good photo.', 'neg': 'Bad photo.'}
    assert set(payload['lpp']['params']) == {'tokens'} and payload['featd'] is not None
    scorer = SFDIQA.from_file(str(tmp_path / 'iqa.pth'), device='cpu', alpha=0)
    assert scorer.note == '' and not scorer.lpp.learnable
    img = torch.rand(2, 3, 64, 64)
    score, _, p_pos = scorer.score_tensor(img)
    with torch.no_grad():
        expected = model.net_lpp(model.clip(img)[1]).softmax(dim=1)[:, 0]
    assert torch.allclose(p_pos.float(), expected, atol=1e-5) and torch.equal(score, p_pos)


def test_every_discriminator_spec_is_what_the_model_schema_switches_and_export_read():
    """The discriminators are data (sfd_arch/utils/discriminators.py): each spec's keys are the ones the option
    schema accepts, the model defaults to, the switches turn off and export packs; nothing is spelled elsewhere."""
    from sfd_arch.iqa import export
    from sfd_arch.models.sfd_model import SFD_DEFAULTS
    from sfd_arch.options import schema, values, weightfiles
    from sfd_arch.utils.discriminators import DISCRIMINATORS

    assert [spec.name for spec in DISCRIMINATORS] == ['featd', 'lpp']
    for spec in DISCRIMINATORS:
        assert spec.network_key in schema.SFD_TOP and spec.optimizer_key in schema.OPTIMIZERS
        assert spec.loss_key in schema.LOSSES and spec.name in schema.NETWORKS
        assert all(key in schema.PATH and key in values.PATHS for key in spec.path_keys)
        assert schema.DEFAULT_NETWORK_TYPES[spec.network_key] == SFD_DEFAULTS[spec.network_key]['type']
        assert schema.DEFAULT_LOSS_TYPES[spec.loss_key] == SFD_DEFAULTS[spec.loss_key]['type']
        assert weightfiles.SFD_NETWORKS[spec.network_key] == spec.name
        assert spec.network_key in export.SFD_BLOCKS and spec.name in export.KWARGS_FROM_STATE
        assert export._CKPT.match(spec.checkpoint_file(5000)).group(1) == spec.name
        # its switch: the network line and the loss line each turn it, and only it, off
        for opt in ({spec.network_key: None, 'keep_image_d': True, 'train': {}},
                    {'keep_image_d': True, 'train': {spec.loss_key: None}}):
            switches = sfd_switches(opt)
            assert {s.name: switches.trains(s) for s in DISCRIMINATORS} == {
                s.name: s is not spec for s in DISCRIMINATORS}
            assert list(switches.reasons) == [spec.switch]
