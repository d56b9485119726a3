"""SFD-IQA: the scorer, the weights file, the BasicSR metric and the `sfd-iqa` command (pyiqa: test_pyiqa.py).

A tiny random CLIP stands in for RN50. Its weights are saved to a file once and every network here is built from
``pretrained: <that file>``, so a subprocess rebuilds exactly the same CLIP. Feat-D and LPP are trained for a few
SFD discriminator steps (clean smooth images = real, noisy copies = fake) so that their scores mean something.
"""
import csv
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import tiny_clip_opt
from scipy import stats
from sfd_testutil import train_discriminators

import sfd_arch.iqa as iqa
from sfd_arch import build_clip
from sfd_arch.archs import FeatD, PromptLearner
from sfd_arch.cli import SCORE_COLUMNS
from sfd_arch.cli import main as cli
from sfd_arch.iqa import SFDIQA, calculate_sfd_iqa, tile_boxes
from sfd_arch.iqa_bench import correlation as ev
from sfd_arch.iqa_bench import mos

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TILE = 64
FEATD_ARGS = {'num_feat': 16, 'depth': 1}
LPP_ARGS = {'n_ctx': 4}


# -- fixtures ---------------------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures('single_thread')  # conftest: tiny networks run fastest on one thread


def smooth_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(h // 12, 2), max(w // 12, 2), generator=g)
    return F.interpolate(low, size=(h, w), mode='bicubic', align_corners=False).clamp(0, 1)


def noisy(img: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (img + sigma * torch.randn(img.shape, generator=g)).clamp(0, 1)


def to_uint8_rgb(img: torch.Tensor) -> np.ndarray:
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope='module')
def nets(tmp_path_factory):
    """(clip_opt with pretrained=<file>, clip, featd, lpp) after 40 discriminator steps."""
    root = tmp_path_factory.mktemp('sfd_iqa')
    torch.manual_seed(0)
    random_clip = build_clip(tiny_clip_opt())
    clip_file = str(root / 'tiny_clip.pt')
    torch.save(random_clip.clip_model.state_dict(), clip_file)
    clip_opt = {**tiny_clip_opt(), 'pretrained': clip_file}
    clip = build_clip(clip_opt)
    featd = FeatD(clip=clip, **FEATD_ARGS)
    lpp = PromptLearner(clip=clip, **LPP_ARGS)
    batches = ((real, noisy(real, 0.2, seed=1000 + step))
               for step, real in ((step, smooth_images(4, 64, 64, seed=step)) for step in range(40)))
    train_discriminators(clip, featd, lpp, batches)
    return clip_opt, clip, featd, lpp


@pytest.fixture(scope='module')
def scorer(nets):
    _, clip, featd, lpp = nets
    return SFDIQA(clip, featd, lpp, tile=TILE, batch_size=8)


@pytest.fixture(scope='module')
def weights_file(nets, scorer, tmp_path_factory):
    return scorer.save(str(tmp_path_factory.mktemp('weights') / 'sfd_iqa.pth'))


def manual_parts(nets, img: torch.Tensor):
    """q_feat and p_pos of whole images, written out from docs/design.md §1 with the networks themselves."""
    _, clip, featd, lpp = nets
    with torch.no_grad():
        feats, emb = clip(img)
        q_feat = torch.stack([torch.sigmoid(m).mean(dim=(1, 2, 3)) for m in featd(feats)]).mean(0)
        p_pos = torch.softmax(lpp(emb), dim=1)[:, 0]
    return q_feat.double(), p_pos.double()


# -- the score ---------------------------------------------------------------------------------------------------
def test_tile_grid_covers_image_with_equal_crops():
    boxes = tile_boxes(150, 100, 64)
    assert {b[2:] for b in boxes} == {(64, 64)}
    assert sorted({b[0] for b in boxes}) == [0, 64, 86] and sorted({b[1] for b in boxes}) == [0, 36]
    covered = np.zeros((150, 100), bool)
    for top, left, h, w in boxes:
        assert top >= 0 and left >= 0 and top + h <= 150 and left + w <= 100
        covered[top:top + h, left:left + w] = True
    assert covered.all()
    assert tile_boxes(60, 50, 64) == [(0, 0, 60, 50)]
    assert tile_boxes(300, 40, 64) == [(t, 0, 64, 40) for t in (0, 64, 128, 192, 236)]
    assert tile_boxes(500, 500, 0) == [(0, 0, 500, 500)]


def test_score_is_alpha_mix_of_q_feat_and_p_pos(nets, scorer):
    img = torch.cat([smooth_images(3, 64, 64, seed=7), noisy(smooth_images(3, 64, 64, seed=8), 0.3, 9)])
    q_feat_ref, p_pos_ref = manual_parts(nets, img)
    score, q_feat, p_pos = scorer.score_tensor(img)
    assert score.shape == q_feat.shape == p_pos.shape == (6,)
    assert torch.allclose(q_feat, q_feat_ref, atol=1e-6) and torch.allclose(p_pos, p_pos_ref, atol=1e-6)
    assert torch.allclose(score, 0.5 * q_feat + 0.5 * p_pos, atol=1e-12)
    assert ((score > 0) & (score < 1)).all()
    _, clip, featd, lpp = nets
    feat_only = SFDIQA(clip, featd, lpp, alpha=1.0, tile=TILE).score_tensor(img)[0]
    text_only = SFDIQA(clip, featd, lpp, alpha=0.0, tile=TILE).score_tensor(img)[0]
    assert torch.equal(feat_only, q_feat) and torch.equal(text_only, p_pos)
    assert torch.allclose(text_only, p_pos_ref, atol=1e-6)
    with pytest.raises(ValueError, match='alpha'):
        SFDIQA(clip, featd, lpp, alpha=1.5)


def test_trained_networks_rank_clean_above_noisy(scorer):
    clean = smooth_images(6, 64, 64, seed=123)
    score_clean, qf_clean, qt_clean = scorer.score_tensor(clean)
    score_noisy, qf_noisy, qt_noisy = scorer.score_tensor(noisy(clean, 0.2, seed=124))
    assert (qf_clean > qf_noisy).all() and (qt_clean > qt_noisy).all() and (score_clean > score_noisy).all()


def test_score_does_not_depend_on_batch_size_or_company(nets, scorer):
    _, clip, featd, lpp = nets
    shapes = [(64, 64), (100, 80), (150, 130), (48, 40), (64, 64), (90, 200)]
    arrays = [to_uint8_rgb(noisy(smooth_images(1, h, w, seed=i), 0.05 * i, seed=i)[0]) for i, (h, w) in
              enumerate(shapes)]
    one = [r.score for r in SFDIQA(clip, featd, lpp, tile=TILE, batch_size=1).score_arrays(arrays)]
    eight = [r.score for r in SFDIQA(clip, featd, lpp, tile=TILE, batch_size=8).score_arrays(arrays)]
    alone = [scorer.score_arrays([a])[0].score for a in arrays]
    np.testing.assert_allclose(one, eight, atol=1e-6, rtol=0)
    np.testing.assert_allclose(alone, eight, atol=1e-6, rtol=0)


def test_tiled_score_is_mean_of_crop_scores(nets, scorer):
    _, clip, featd, lpp = nets
    whole = SFDIQA(clip, featd, lpp, tile=0)
    fits = smooth_images(1, 64, 48, seed=3)
    torch.testing.assert_close(scorer.score_tensor(fits), whole.score_tensor(fits), atol=1e-6, rtol=0)
    big = noisy(smooth_images(1, 100, 80, seed=4), 0.1, seed=5)[0]
    boxes = tile_boxes(100, 80, TILE)
    assert len(boxes) == 4
    crops = torch.stack([big[:, t:t + h, left:left + w] for t, left, h, w in boxes])
    score_crops, qf_crops, qt_crops = whole.score_tensor(crops)
    score, q_feat, p_pos = scorer.score_tensor(big)
    assert abs(float(q_feat) - float(qf_crops.mean())) < 1e-6 and abs(float(p_pos) - float(qt_crops.mean())) < 1e-6
    assert abs(float(score) - float(score_crops.mean())) < 1e-6


def test_large_images_are_scored_one_bounded_batch_at_a_time(nets, monkeypatch):
    _, clip, featd, lpp = nets
    iqa_small_batches = SFDIQA(clip, featd, lpp, tile=TILE, batch_size=4)
    seen = []
    real_forward = iqa_small_batches._score_batch

    def spy(batch):
        seen.append(tuple(batch.shape))
        return real_forward(batch)

    monkeypatch.setattr(iqa_small_batches, '_score_batch', spy)
    big = to_uint8_rgb(smooth_images(1, 400, 300, seed=11)[0])
    result = iqa_small_batches.score_arrays([big])[0]
    assert result.tiles == 7 * 5 == sum(s[0] for s in seen)
    assert max(s[0] for s in seen) == 4 and {s[1:] for s in seen} == {(3, TILE, TILE)}
    assert 0 < result.score < 1


def test_live_networks_keep_their_mode_and_text_features_follow_the_lpp(nets):
    _, clip, featd, lpp = nets
    live = SFDIQA(clip, featd, lpp, tile=TILE)
    img = smooth_images(2, 64, 64, seed=21)
    u_before = featd.heads[0][0].weight_u.clone()
    featd.train()
    lpp.train()
    try:
        first = live.score_tensor(img)[2]
        assert featd.training and lpp.training
        assert torch.equal(featd.heads[0][0].weight_u, u_before)  # eval mode: no power iteration while scoring
        assert torch.equal(live.score_tensor(img)[2], first)
        saved = lpp.ctx.detach().clone()
        with torch.no_grad():
            lpp.ctx.add_(0.5 * torch.randn_like(lpp.ctx))  # what an optimiser step does
        assert not torch.allclose(live.score_tensor(img)[2], first)
        with torch.no_grad():
            lpp.ctx.copy_(saved)
        assert torch.equal(live.score_tensor(img)[2], first)
    finally:
        featd.eval()
        lpp.eval()



@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_scores_match_cpu_and_shared_clip_is_given_back(nets, scorer, weights_file):
    _, clip, _, _ = nets
    img = torch.cat([smooth_images(2, 96, 80, seed=13), noisy(smooth_images(2, 96, 80, seed=14), 0.2, 15)])
    on_gpu = SFDIQA.from_file(weights_file, device='cuda', tile=TILE)
    cpu = scorer.score_tensor(img)
    for x in (img, img.cuda()):
        gpu = on_gpu.score_tensor(x)
        for a, b in zip(gpu, cpu):
            torch.testing.assert_close(a, b, atol=2e-3, rtol=0)  # TF32 convolutions on the GPU
    assert on_gpu.clip.device.type == 'cpu' and clip.device.type == 'cpu'  # the process-wide CLIP went back
    assert next(on_gpu.featd.parameters()).is_cuda and on_gpu.lpp.ctx.is_cuda
    value = calculate_sfd_iqa(to_uint8_rgb(img[0])[:, :, ::-1], weights=weights_file, tile=TILE, device='cuda')
    assert abs(value - scorer.score_arrays([to_uint8_rgb(img[0])])[0].score) < 2e-3

# -- export ------------------------------------------------------------------------------------------------------
def make_experiment(root, nets, name='SFD_tiny'):
    """experiments/<name> as SFDModel leaves it: models/net_{featd,lpp}_{1,2}.pth and the copied option file."""
    clip_opt, _, featd, lpp = nets
    exp = root / 'experiments' / name
    (exp / 'models').mkdir(parents=True)
    for it, shift in ((1, 0.3), (2, 0.0)):  # iteration 1 differs, so picking the latest is visible in the scores
        featd_sd = {k: v + shift if k.endswith('bias') else v for k, v in featd.state_dict().items()}
        lpp_sd = {k: v + shift if k == 'ctx' else v for k, v in lpp.state_dict().items()}
        torch.save({'params': featd_sd}, exp / 'models' / f'net_featd_{it}.pth')
        torch.save({'params': lpp_sd}, exp / 'models' / f'net_lpp_{it}.pth')
    opt = {'name': name, 'model_type': 'SFDModel', 'clip': clip_opt,
           'network_featd': {'type': 'FeatD', **FEATD_ARGS}, 'network_lpp': {'type': 'PromptLearner', **LPP_ARGS},
           'train': {'optim_featd': {'type': 'Adam', 'lr': 1e-4}}}
    with open(exp / 'train_sfd_tiny.yml', 'w') as f:
        f.write('# GENERATE TIME: today\n# CMD:\n# python sfd_arch/train.py -opt train_sfd_tiny.yml\n\n')
        yaml.safe_dump(opt, f)
    return exp


def test_export_then_score_equals_live_networks(nets, scorer, tmp_path, capsys):
    exp = make_experiment(tmp_path, nets)
    out = str(tmp_path / 'sfd_iqa.pth')
    assert cli(['export', str(exp), '-o', out]) == 0
    assert 'iteration 2' in capsys.readouterr().out
    payload = torch.load(out, weights_only=True)
    assert payload['clip']['pretrained'] == nets[0]['pretrained'] and payload['clip']['model_cfg']
    assert payload['featd']['kwargs'] == {**FEATD_ARGS, 'in_channels': list(nets[2].in_channels)}
    assert payload['lpp']['kwargs'] == {**LPP_ARGS}
    assert all(k.startswith('heads.') for k in payload['featd']['params'])  # no CLIP weights inside
    assert set(payload['lpp']['params']) == {'ctx', 'tokens'}

    loaded = SFDIQA.from_file(out, device='cpu', tile=TILE)
    arrays = [to_uint8_rgb(noisy(smooth_images(1, 96, 80, seed=s), 0.1 * s, seed=s)[0]) for s in range(3)]
    live = [r.score for r in scorer.score_arrays(arrays)]
    np.testing.assert_allclose([r.score for r in loaded.score_arrays(arrays)], live, atol=1e-6, rtol=0)

    older = str(tmp_path / 'sfd_iqa_1.pth')
    assert cli(['export', str(exp), '--iter', '1', '-o', older]) == 0
    assert not np.allclose([r.score for r in SFDIQA.from_file(older, tile=TILE).score_arrays(arrays)], live)
    models = exp / 'models'
    assert cli(['export', '--featd', str(models / 'net_featd_2.pth'), '--lpp', str(models / 'net_lpp_2.pth'),
                '--opt', str(exp / 'train_sfd_tiny.yml'), '-o', str(tmp_path / 'explicit.pth')]) == 0
    explicit = SFDIQA.from_file(str(tmp_path / 'explicit.pth'), tile=TILE)
    np.testing.assert_allclose([r.score for r in explicit.score_arrays(arrays)], live, atol=1e-6, rtol=0)


def test_export_errors_name_the_missing_file(nets, tmp_path, capsys):
    exp = make_experiment(tmp_path, nets)
    out = str(tmp_path / 'x.pth')
    assert cli(['export', str(exp), '--iter', '7', '-o', out]) == 2
    assert 'net_featd_7.pth' in capsys.readouterr().err
    os.remove(exp / 'models' / 'net_lpp_2.pth')
    os.remove(exp / 'models' / 'net_lpp_1.pth')
    assert cli(['export', str(exp), '-o', out]) == 2
    err = capsys.readouterr().err
    assert 'no pair of net_featd_<iter>.pth and net_lpp_<iter>.pth' in err and 'only one network saved' in err
    assert cli(['export', '--featd', str(exp / 'models' / 'net_featd_2.pth'), '--lpp', str(tmp_path / 'nope.pth'),
                '--opt', str(exp / 'train_sfd_tiny.yml'), '-o', out]) == 2
    assert 'nope.pth' in capsys.readouterr().err
    assert cli(['export', '--featd', 'a.pth', '-o', out]) == 2
    assert '--lpp, --opt' in capsys.readouterr().err
    assert cli(['export', str(exp), '--iter', 'last', '-o', out]) == 2
    assert "--iter must be an iteration number or 'latest'" in capsys.readouterr().err
    assert not osp.exists(out)
    with pytest.raises(ValueError, match='not an SFD-IQA weights file.*sfd-iqa export'):
        SFDIQA.from_file(str(exp / 'models' / 'net_featd_2.pth'))


# -- the command -------------------------------------------------------------------------------------------------
@pytest.fixture
def image_folder(tmp_path):
    """One file of each kind the command must handle. Returns (folder, RGB uint8 reference of the colour files)."""
    folder = tmp_path / 'images'
    (folder / 'sub').mkdir(parents=True)
    rgb = to_uint8_rgb(noisy(smooth_images(1, 72, 90, seed=31), 0.05, seed=32)[0])
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    alpha = np.random.default_rng(0).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    cv2.imwrite(str(folder / 'rgb.png'), bgr)
    cv2.imwrite(str(folder / 'gray.png'), rgb[:, :, 1])
    cv2.imwrite(str(folder / 'rgba.png'), np.dstack([bgr, alpha]))
    cv2.imwrite(str(folder / 'rgb16.png'), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / 'photo.jpg'), bgr)
    cv2.imwrite(str(folder / 'pic.bmp'), bgr)
    cv2.imwrite(str(folder / 'pic.tiff'), bgr)
    cv2.imwrite(str(folder / 'pic.webp'), bgr)
    cv2.imwrite(str(folder / 'sub' / 'nested.png'), bgr)
    cv2.imwrite(str(folder / 'tiny.png'), bgr[:20, :24])
    (folder / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'not really a png' * 8)
    (folder / 'notes.txt').write_text('not an image')
    return folder, rgb


def read_rows(path):
    with open(path, newline='') as f:
        return {osp.relpath(r['path'], osp.dirname(path) + '/images'): r for r in csv.DictReader(f)}


def test_score_command_handles_every_kind_of_input(image_folder, weights_file, scorer, tmp_path, capsys):
    folder, rgb = image_folder
    out_csv, out_json = str(tmp_path / 'scores.csv'), str(tmp_path / 'scores.jsonl')
    code = cli(['score', str(folder), '--weights', weights_file, '--csv', out_csv, '--json', out_json,
                '--tile', str(TILE), '--batch-size', '3', '--device', 'cpu', '--no-progress'])
    assert code == 1  # two inputs failed
    assert 'skipped 1 non-image file' in capsys.readouterr().err
    rows = read_rows(out_csv)
    assert set(rows) == {'rgb.png', 'gray.png', 'rgba.png', 'rgb16.png', 'photo.jpg', 'pic.bmp', 'pic.tiff',
                         'pic.webp', 'sub/nested.png', 'tiny.png', 'corrupt.png'}
    with open(out_json) as f:
        assert sorted(json.loads(line)['path'] for line in f) == sorted(r['path'] for r in rows.values())
    assert '24x20' in rows['tiny.png']['error'] and 'at least 32x32' in rows['tiny.png']['error']
    assert 'cannot decode' in rows['corrupt.png']['error'] and rows['corrupt.png']['score'] == ''

    score = {k: float(r['score']) for k, r in rows.items() if not r['error']}
    assert all(0 < s < 1 for s in score.values())
    expected_rgb = scorer.score_arrays([rgb])[0].score
    expected_gray = scorer.score_arrays([np.repeat(rgb[:, :, 1:2], 3, axis=2)])[0].score
    for lossless in ('rgb.png', 'rgba.png', 'pic.bmp', 'pic.tiff', 'sub/nested.png'):
        assert abs(score[lossless] - expected_rgb) < 1e-6, lossless
    assert abs(score['rgb16.png'] - expected_rgb) < 1e-6
    assert abs(score['gray.png'] - expected_gray) < 1e-6
    assert abs(score['photo.jpg'] - expected_rgb) < 0.05
    assert rows['rgb.png']['tiles'] == '4' and rows['rgb.png']['height'] == '72' and rows['rgb.png']['width'] == '90'


def test_a_truncated_jpeg_is_an_error_row_and_exit_status_1(image_folder, weights_file, tmp_path):
    """libjpeg decodes a cut JPEG with a warning only ("Premature end of JPEG file") and gray fill, so it used to be
    scored and the run exited 0. ``read_image``, which score, eval (the loader) and bench all read through, finds
    the cut from the file's structure: no end-of-image marker after the image data."""
    folder, _ = image_folder
    whole = (folder / 'photo.jpg').read_bytes()
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(whole[:len(whole) * 2 // 3])
    assert cv2.imread(str(cut)) is not None  # OpenCV alone takes it
    reason = f'{cut}: truncated JPEG (no end-of-image marker after the image data: {len(whole) * 2 // 3} bytes)'
    with pytest.raises(iqa.ImageReadError, match=re.escape(reason)):
        iqa.read_image(str(cut))
    out_csv = tmp_path / 'scores.csv'
    code = cli(['score', str(cut), str(folder / 'photo.jpg'), '--weights', weights_file, '--csv', str(out_csv),
                '--device', 'cpu', '--no-progress', '--workers', '0'])
    assert code == 1
    with open(out_csv, newline='') as f:
        rows = {r['path']: r for r in csv.DictReader(f)}
    assert rows[str(cut)]['error'] == reason and rows[str(cut)]['score'] == ''
    assert rows[str(folder / 'photo.jpg')]['error'] == '' and 0 < float(rows[str(folder / 'photo.jpg')]['score']) < 1


def test_score_command_never_clobbers_and_resumes(image_folder, weights_file, tmp_path, capsys):
    folder, _ = image_folder
    out_csv = tmp_path / 'scores.csv'
    args = ['score', str(folder), '--weights', weights_file, '--csv', str(out_csv), '--tile', str(TILE),
            '--no-progress']
    assert cli(args) == 1
    before = out_csv.read_text()
    assert cli(args) == 2
    assert 'output exists' in capsys.readouterr().err and out_csv.read_text() == before
    assert cli([*args, '--resume']) == 1
    after = out_csv.read_text()
    assert after.startswith(before)
    appended = list(csv.DictReader(after[len(before):].splitlines(), fieldnames=SCORE_COLUMNS))
    assert sorted(osp.basename(r['path']) for r in appended) == ['corrupt.png', 'tiny.png']  # only the failures
    assert cli([*args, '--overwrite']) == 1 and out_csv.read_text() == before


def test_interrupted_score_keeps_rows_written_so_far(image_folder, weights_file, tmp_path, monkeypatch):
    folder, _ = image_folder
    real_iter = SFDIQA.iter_files

    def interrupted(self, paths, **kwargs):
        for i, result in enumerate(real_iter(self, paths, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(SFDIQA, 'iter_files', interrupted)
    out_csv = tmp_path / 'partial.csv'
    code = cli(['score', str(folder), '--weights', weights_file, '--csv', str(out_csv), '--tile', str(TILE),
                '--no-progress', '--batch-size', '1'])
    assert code == 130
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 and all(r['path'] for r in rows)
    monkeypatch.undo()
    assert cli(['score', str(folder), '--weights', weights_file, '--csv', str(out_csv), '--tile', str(TILE),
                '--no-progress', '--resume']) == 1
    rows = list(csv.DictReader(out_csv.open()))
    scored = [r['path'] for r in rows if not r['error']]
    assert len({r['path'] for r in rows}) == 11 and len(scored) == len(set(scored)) == 9  # nothing scored twice


@pytest.mark.parametrize('newline', ['\n', ''])
def test_resume_rescores_a_cut_row_of_a_first_release_file(image_folder, weights_file, tmp_path, newline):
    """A file with the first release's column q_text whose last row was cut after the score: --resume keeps the
    header it has, scores that image again (and the failures), and the rows read back with p_pos."""
    from sfd_arch.cli.rows import read_rows

    folder, _ = image_folder
    args = ['score', str(folder), '--weights', weights_file, '--tile', str(TILE), '--no-progress']
    full = tmp_path / 'full.csv'
    assert cli([*args, '--csv', str(full)]) == 1
    lines = full.read_text().splitlines()
    good = [line for line in lines[1:] if line.endswith(',')]  # rows without error end with an empty error field
    last = good[-1].split(',')[0]
    old = tmp_path / 'old.csv'
    old.write_text('\n'.join([lines[0].replace('p_pos', 'q_text'), *good[:-1], f'{last},0.5']) + newline)
    assert cli([*args, '--csv', str(old), '--resume']) == 1
    text = old.read_text()
    assert text.startswith(lines[0].replace('p_pos', 'q_text') + '\n')
    assert (f'\n{last},0.5\n' in text) == bool(newline)  # a row without its newline is cut off, not kept
    rows = {r['path']: r for r in read_rows(str(old))}
    expected = {r['path']: r for r in read_rows(str(full))}
    assert rows == expected and 'p_pos' in rows[last] and 'q_text' not in rows[last]
    assert len(good) == 9 and [line.split(',')[0] for line in text.splitlines()].count(last) == 1 + bool(newline)


def test_sfd_iqa_says_what_it_expected(weights_file, tmp_path, capsys):
    notes = tmp_path / 'notes.txt'
    notes.write_text('not weights\n')
    assert cli(['score', str(tmp_path), '-w', str(notes), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert f'{notes} is not an SFD-IQA weights file: expected the .pth file that `sfd-iqa export` writes' in err
    assert cli(['export', str(tmp_path / 'nothing'), '-o', str(tmp_path / 'o.pth')]) == 2
    err = capsys.readouterr().err
    assert f'experiment folder not found: {tmp_path / "nothing"} (expected the folder BasicSR writes' in err
    upstream = tmp_path / 'esrgan.yml'  # an upstream ESRGAN option file: no SFD block
    upstream.write_text(yaml.safe_dump({'model_type': 'ESRGANModel', 'network_g': {'type': 'RRDBNet'},
                                        'network_d': {'type': 'VGGStyleDiscriminator'}}))
    ckpt = tmp_path / 'net_featd_5.pth'
    torch.save({'params': {'w': torch.zeros(1)}}, ckpt)
    assert cli(['export', '--featd', str(ckpt), '--opt', str(upstream), '-o', str(tmp_path / 'o.pth')]) == 2
    err = capsys.readouterr().err
    assert (f"{upstream} is not the option file of an SFD run: expected model_type SFDModel or RealSFDModel or the "
            "SFD blocks (clip, network_featd, network_lpp), found model_type 'ESRGANModel'") in err
    assert not (tmp_path / 'o.pth').exists()


def test_score_command_reports_missing_paths_and_weights(weights_file, tmp_path, capsys):
    assert cli(['score', str(tmp_path / 'absent.png'), '--weights', weights_file, '--no-progress']) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ','.join(SCORE_COLUMNS) and 'no such file or folder' in out[1]
    assert cli(['score', str(tmp_path), '--weights', str(tmp_path / 'none.pth'), '--csv', str(tmp_path / 'o.csv')]) == 2
    assert 'weights file not found' in capsys.readouterr().err and not (tmp_path / 'o.csv').exists()


# -- BasicSR metric ----------------------------------------------------------------------------------------------
def test_basicsr_metric_reads_bgr_uint8_and_ignores_img2(weights_file, scorer):
    from basicsr.metrics import calculate_metric

    rgb = to_uint8_rgb(noisy(smooth_images(1, 80, 70, seed=41), 0.1, seed=42)[0])
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    expected = scorer.score_arrays([rgb])[0].score
    opt = {'type': 'calculate_sfd_iqa', 'weights': weights_file, 'better': 'higher', 'device': 'cpu', 'tile': TILE}
    value = calculate_metric({'img': bgr, 'img2': np.zeros_like(bgr)}, opt)
    assert isinstance(value, float) and abs(value - expected) < 1e-6
    assert abs(calculate_sfd_iqa(bgr, None, weights=weights_file, tile=TILE, crop_border=4) - expected) < 1e-6
    q_feat = calculate_sfd_iqa(bgr, weights=weights_file, tile=TILE, alpha=1.0)
    assert abs(q_feat - scorer.score_arrays([rgb])[0].q_feat) < 1e-6
    assert iqa.metric.get_scorer(weights_file, tile=TILE) is iqa.metric.get_scorer(weights_file, tile=TILE)
    with pytest.raises(ValueError, match='needs `weights'):
        calculate_sfd_iqa(bgr)


def test_basicsr_test_pipeline_with_sfd_iqa_metric(weights_file, scorer, tmp_path):
    """`python sfd_arch/test.py -opt <file>` (BasicSR's test pipeline) with calculate_sfd_iqa in val.metrics."""
    for sub in ('gt', 'lq'):
        (tmp_path / sub).mkdir()
    for i in range(2):
        hr = to_uint8_rgb(smooth_images(1, 64, 64, seed=50 + i)[0])[:, :, ::-1]
        cv2.imwrite(str(tmp_path / 'gt' / f'im{i}.png'), hr)
        cv2.imwrite(str(tmp_path / 'lq' / f'im{i}.png'), cv2.resize(hr, (32, 32), interpolation=cv2.INTER_AREA))
    opt = {
        'name': 'sfd_iqa_metric', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': str(tmp_path / 'gt'),
                                'dataroot_lq': str(tmp_path / 'lq'), 'io_backend': {'type': 'disk'}}},
        'network_g': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2,
                      'upscale': 2, 'act_type': 'prelu'},
        'path': {'pretrain_network_g': None, 'strict_load_g': True},
        'val': {'save_img': True, 'suffix': 'sr', 'metrics': {
            'sfd_iqa': {'type': 'calculate_sfd_iqa', 'weights': weights_file, 'better': 'higher', 'device': 'cpu',
                        'tile': TILE},
            'psnr': {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': False}}},
    }
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(opt))
    command = [sys.executable, osp.join(REPO, 'sfd_arch', 'test.py'), '-opt', 'test.yml']
    env = {**os.environ, 'PYTHONPATH': REPO, 'HF_HUB_OFFLINE': '1', 'SFD_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    results = tmp_path / 'results' / 'sfd_iqa_metric'
    with open(results / 'metrics.csv', newline='') as f:
        recorded = {r['image']: float(r['value']) for r in csv.DictReader(f) if r['metric'] == 'sfd_iqa'}
    assert sorted(recorded) == ['im0', 'im1']
    for name, value in recorded.items():
        saved = results / 'visualization' / 'tiny' / f'{name}_sr.png'  # exactly the uint8 image the metric saw
        assert abs(value - scorer.score_file(str(saved)).score) < 1e-6


# -- eval --------------------------------------------------------------------------------------------------------
def test_eval_correlations_match_scipy_and_plot_is_written(weights_file, tmp_path, capsys):
    folder = tmp_path / 'koniq' / '1024x768'
    folder.mkdir(parents=True)
    names, mos = [], []
    for i in range(8):
        img = noisy(smooth_images(1, 192, 192, seed=60 + i), 0.03 * i, seed=70 + i)[0]
        cv2.imwrite(str(folder / f'{1000 + i}.jpg'), to_uint8_rgb(img)[:, :, ::-1])
        names.append(f'{1000 + i}.jpg')
        mos.append(4.5 - 0.4 * i + 0.3 * ((-1) ** i))
    names.append('missing.jpg')
    mos.append(3.0)
    table = tmp_path / 'koniq10k_scores_and_distributions.csv'
    with open(table, 'w', newline='') as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(['image_name', 'c1', 'c2', 'c3', 'c4', 'c5', 'c_total', 'MOS', 'SD', 'MOS_zscore'])
        for n, m in zip(names, mos):
            w.writerow([n, 0, 0, 0, 0, 0, 0, m, 0.5, (m - 3) * 20])
    out = tmp_path / 'eval'
    code = cli(['eval', str(folder), '--mos', str(table), '--preset', 'koniq', '--weights', weights_file,
                '--metric', 'sfd_iqa', 'niqe', '--out-dir', str(out), '--tile', '0', '--no-progress'])
    assert code == 0
    printed = capsys.readouterr()
    assert 'SRCC' in printed.out and '-niqe' in printed.out and '1 of 9 table entries' in printed.err
    summary = json.loads((out / 'summary.json').read_text())
    rows = list(csv.DictReader((out / 'scores.csv').open()))
    assert len(rows) == 8 and summary['matched'] == 8 and summary['unmatched'] == 1
    y = np.array([float(r['mos']) for r in rows])
    for metric, sign in (('sfd_iqa', 1.0), ('niqe', -1.0)):
        x = sign * np.array([float(r[metric]) for r in rows])
        got = summary['results'][metric]
        assert got['n'] == 8
        assert got['srcc'] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
        assert got['krcc'] == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)
        mapped = ev.logistic4(x, *got['logistic']) if got['logistic'] else x
        assert got['plcc'] == pytest.approx(stats.pearsonr(mapped, y)[0], abs=1e-9)
    assert (out / 'scatter.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert cli(['eval', str(folder), '--mos', str(table), '--preset', 'koniq', '--weights', weights_file,
                '--out-dir', str(out), '--no-progress']) == 2


def test_mos_tables_of_known_datasets(tmp_path):
    livec = tmp_path / 'livec.csv'
    livec.write_text('image,mos\n3.bmp,63.9\n4.bmp,25.3\n')
    spaq = tmp_path / 'spaq.csv'
    spaq.write_text('\ufeffImage name;MOS;Brightness\n00001.png;42.65;41\n00002.png;71.2;60\n', encoding='utf-8')
    t = mos.read_mos_table(str(livec), **mos.MOS_COLUMNS['livec'])
    assert t.names == ['3.bmp', '4.bmp'] and t.mos.tolist() == [63.9, 25.3]
    t = mos.read_mos_table(str(spaq), **mos.MOS_COLUMNS['spaq'])
    assert t.names == ['00001.png', '00002.png'] and t.mos.tolist() == [42.65, 71.2]
    with pytest.raises(ValueError, match="no column 'image_name'.*'Image name'"):
        mos.read_mos_table(str(spaq), **mos.MOS_COLUMNS['koniq'])
    with pytest.raises(ValueError, match='export the sheet to CSV'):
        (tmp_path / 'MOS and Image attribute scores.xlsx').write_bytes(b'PK')
        mos.read_mos_table(str(tmp_path / 'MOS and Image attribute scores.xlsx'), **mos.MOS_COLUMNS['spaq'])
    x = np.linspace(0, 1, 30)
    y = ev.logistic4(x, 5.0, 1.0, 0.5, 0.1)
    c = ev.correlations(x, y)
    assert c.plcc == pytest.approx(1.0, abs=1e-6) and c.srcc == pytest.approx(1.0)


def test_scorer_is_built_with_its_speed_settings(nets, weights_file):
    """workers, AMP and compile are constructor / from_file arguments (the command line passes them in; nothing
    patches the scorer afterwards); a bad value is a ValueError before any scoring."""
    from sfd_arch.iqa.compiled import CompiledForward

    _, clip, featd, lpp = nets
    fast = SFDIQA.from_file(weights_file, device='cpu', workers=2, amp='bf16', compiled=True)
    assert fast.workers == 2 and fast.amp is torch.bfloat16 and isinstance(fast._forward, CompiledForward)
    plain = SFDIQA(clip, featd, lpp)
    assert plain.workers == 0 and plain.amp is None and plain._forward == plain._forward_eager
    with pytest.raises(ValueError, match='workers must be >= 0, got -1'):
        SFDIQA(clip, featd, lpp, workers=-1)
    with pytest.raises(ValueError, match="amp must be one of bf16, fp16 or None"):
        SFDIQA(clip, featd, lpp, amp='fp8')


def test_the_command_line_builds_its_scorer_from_one_settings_object(weights_file, single_thread):
    """`sfd-iqa score` options -> ScorerSettings (one place) -> build_scorer: the speed settings are the scorer's
    constructor arguments, and the scores are those of SFDIQA.from_file with the same settings."""
    from sfd_arch.cli import build_parser
    from sfd_arch.cli.common import scorer_settings

    argv = ['score', 'x.png', '-w', weights_file, '--tile', '64', '--batch-size', '3', '--alpha', '0.25',
            '--device', 'cpu', '--workers', '0', '--amp', 'bf16']
    settings = scorer_settings(build_parser(argv).parse_args(argv))
    assert settings == iqa.ScorerSettings(weights=weights_file, device='cpu', alpha=0.25, tile=64, batch_size=3,
                                          workers=0, amp='bf16')
    assert settings.inputs() == [weights_file]
    built = iqa.build_scorer(settings)
    assert (built.workers, built.amp, built.batch_size, built.tile, built.alpha) == (0, torch.bfloat16, 3, 64, 0.25)
    img = torch.rand(2, 3, 80, 72, generator=torch.Generator().manual_seed(0))
    same = iqa.SFDIQA.from_file(weights_file, device='cpu', alpha=0.25, tile=64, batch_size=3, workers=0, amp='bf16')
    assert torch.equal(built.score_tensor(img)[0], same.score_tensor(img)[0])
