"""Random CLIP weights are a pure function of the `clip:` block (docs/design.md §6): ``clip.seed`` and nothing else.

With ``clip.pretrained: ~`` every process used to draw its own CLIP, so an exported SFD-IQA file scored on other
features than it was trained on, a resumed run continued on another CLIP, and DDP ranks (BasicSR seeds rank r
with ``manual_seed + r``) each held a different one. These tests build the tiny random CLIP of conftest.py in
separate processes, after different global seeds and on two gloo ranks, and compare weights, features and scores.
"""
import json
import os
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import tiny_clip_opt
from sfd_testutil import train_discriminators

from sfd_arch import build_clip
from sfd_arch.archs import FeatD, PromptLearner
from sfd_arch.archs.clip_arch import clear_clip_cache, normalize_clip_opt
from sfd_arch.iqa import SFDIQA
from sfd_arch.iqa.export import export_experiment, load_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATD_BLOCK = {'type': 'FeatD', 'num_feat': 16, 'depth': 1}
LPP_BLOCK = {'type': 'PromptLearner', 'n_ctx': 4, 'pos': 'high quality', 'neg': 'low quality'}


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    return env


def _fresh_clip(clip_opt: dict, global_seed: int):
    """Build CLIP as a new process would (empty cache), after the caller seeded the global RNG its own way."""
    clear_clip_cache()
    torch.manual_seed(global_seed)
    torch.rand(global_seed % 7 + 1)  # and drew a few numbers of its own
    return build_clip(clip_opt)


def _state(clip) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in clip.clip_model.state_dict().items()}


def _probe_image() -> torch.Tensor:
    """(1, 3, 64, 80) smooth test image from its own generator (never the global RNG)."""
    g = torch.Generator().manual_seed(1234)
    return F.interpolate(torch.rand(1, 3, 8, 10, generator=g), size=(64, 80), mode='bicubic',
                         align_corners=False).clamp(0, 1)


# -- the option and the build -----------------------------------------------------------------------------------
def test_seed_is_part_of_the_normalised_block_and_checked():
    assert normalize_clip_opt(tiny_clip_opt())['seed'] == 0
    assert normalize_clip_opt({**tiny_clip_opt(), 'seed': 7})['seed'] == 7
    for bad in ('0', -1, 1.5, True, 2 ** 63):
        with pytest.raises(ValueError, match='clip.seed'):
            normalize_clip_opt({**tiny_clip_opt(), 'seed': bad})
    with pytest.raises(KeyError, match="did you mean 'seed'"):
        normalize_clip_opt({**tiny_clip_opt(), 'sead': 1})


def test_building_clip_leaves_the_global_rng_unchanged(single_thread):
    clear_clip_cache()
    torch.manual_seed(42)
    before = torch.get_rng_state()
    build_clip(tiny_clip_opt())
    assert torch.equal(torch.get_rng_state(), before)
    # so the networks built after CLIP draw what they would have drawn without it
    expected = torch.rand(3)
    torch.manual_seed(42)
    clear_clip_cache()
    build_clip({**tiny_clip_opt(), 'seed': 5})
    assert torch.equal(torch.rand(3), expected)


def test_random_clip_depends_on_the_seed_only(single_thread):
    opt = tiny_clip_opt()
    first = _state(_fresh_clip(opt, global_seed=0))
    again = _state(_fresh_clip(opt, global_seed=12345))
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = _state(_fresh_clip({**opt, 'seed': 1}, global_seed=0))
    # every randomly drawn tensor moves (constant inits such as LayerNorm biases cannot)
    drawn = [k for k in first if first[k].is_floating_point() and first[k].numel() > 1 and first[k].std() > 0]
    assert len(drawn) > 30 and {'visual.conv1.weight', 'token_embedding.weight', 'text_projection'} <= set(drawn)
    assert all(not torch.equal(first[k], other[k]) for k in drawn), 'clip.seed does not change the random weights'
    # one process, two seeds: the cache keeps them apart
    assert build_clip({**opt, 'seed': 1}).clip_model is not build_clip(opt).clip_model


_FEATURES_SCRIPT = '''
import json, sys
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
torch.manual_seed(int(sys.argv[2]))  # a resumed run (or another rank) seeds the global RNG its own way
from sfd_arch import build_clip
clip = build_clip(json.loads(sys.argv[1]))
g = torch.Generator().manual_seed(1234)
img = F.interpolate(torch.rand(1, 3, 8, 10, generator=g), size=(64, 80), mode='bicubic', align_corners=False)
img = img.clamp(0, 1)
with torch.no_grad():
    feats, emb = clip(img)
torch.save({'feats': feats, 'emb': emb}, sys.argv[3])
'''


def test_another_process_sees_the_same_clip_features(tmp_path, single_thread):
    """What a resumed run (a new process, BasicSR's manual_seed) feeds Feat-D and TG-D: the features of before."""
    opt = {**tiny_clip_opt(), 'seed': 3}
    clip = _fresh_clip(opt, global_seed=0)
    with torch.no_grad():
        feats, emb = clip(_probe_image())
    out = tmp_path / 'features.pt'
    proc = subprocess.run([sys.executable, '-c', _FEATURES_SCRIPT, json.dumps(opt), '999', str(out)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    other = torch.load(out)
    assert len(other['feats']) == len(feats) == 3
    for a, b in zip(feats, other['feats']):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    torch.testing.assert_close(other['emb'], emb, rtol=0, atol=1e-6)


# -- the SFD-IQA weights file -----------------------------------------------------------------------------------
_SCORE_SCRIPT = '''
import sys
import torch
torch.set_num_threads(1)
torch.manual_seed(int(sys.argv[3]))
from sfd_arch.iqa import SFDIQA
result = SFDIQA.from_file(sys.argv[1], device='cpu').score_files([sys.argv[2]])[0]
assert result.ok, result.error
print(repr(result.score))
'''


def _train_briefly(clip, featd, lpp, steps: int = 6) -> None:
    """A few SFD discriminator steps (smooth = real, noisy = fake), so the networks are not at their init."""
    g = torch.Generator().manual_seed(7)

    def batches():
        for _ in range(steps):
            real = F.interpolate(torch.rand(2, 3, 8, 8, generator=g), size=(64, 64), mode='bicubic',
                                 align_corners=False).clamp(0, 1)
            yield real, (real + 0.2 * torch.randn(real.shape, generator=g)).clamp(0, 1)

    train_discriminators(clip, featd, lpp, batches())


@pytest.fixture
def random_clip_experiment(tmp_path, single_thread):
    """An experiment folder as SFDModel leaves it, from a run with `clip.pretrained: ~` and `clip.seed: 3`.

    Returns (experiment dir, image path, the score the training process's own networks give the image).
    """
    clip_opt = {**tiny_clip_opt(), 'seed': 3}
    clip = _fresh_clip(clip_opt, global_seed=0)
    featd = FeatD(clip=clip, **{k: v for k, v in FEATD_BLOCK.items() if k != 'type'})
    lpp = PromptLearner(clip=clip, **{k: v for k, v in LPP_BLOCK.items() if k != 'type'})
    _train_briefly(clip, featd, lpp)
    exp = tmp_path / 'experiments' / 'sfd_random_clip'
    (exp / 'models').mkdir(parents=True)
    opt = {'name': 'sfd_random_clip', 'model_type': 'SFDModel', 'scale': 4, 'manual_seed': 0,
           'clip': {k: v for k, v in clip_opt.items()}, 'network_featd': FEATD_BLOCK, 'network_lpp': LPP_BLOCK}
    (exp / 'train_sfd_random_clip.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    for name, net in (('featd', featd), ('lpp', lpp)):
        torch.save({'params': net.state_dict()}, exp / 'models' / f'net_{name}_6.pth')
    g = torch.Generator().manual_seed(99)
    img = F.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(96, 96), mode='bicubic', align_corners=False)
    img_path = str(tmp_path / 'photo.png')
    cv2.imwrite(img_path, np.ascontiguousarray((img[0].clamp(0, 1).permute(1, 2, 0).numpy()[..., ::-1] * 255)
                                               .round().astype(np.uint8)))
    live = SFDIQA(clip, featd, lpp, device='cpu').score_files([img_path])[0]
    assert live.ok, live.error
    return exp, img_path, live.score


def test_exported_file_records_the_seed_and_scores_the_same_in_two_processes(random_clip_experiment, tmp_path):
    exp, img_path, live_score = random_clip_experiment
    weights = str(tmp_path / 'sfd_iqa.pth')
    export_experiment(str(exp), weights)
    record = load_weights(weights)['clip']
    assert record['pretrained'] is None and record['seed'] == 3
    assert set(load_weights(weights)) == {'format', 'version', 'clip', 'featd', 'lpp', 'source'}  # no CLIP weights

    procs = [subprocess.Popen([sys.executable, '-c', _SCORE_SCRIPT, weights, img_path, str(global_seed)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for global_seed in (0, 1)]
    scores = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        scores.append(float(stdout.strip().splitlines()[-1]))
    assert abs(scores[0] - scores[1]) <= 1e-6, scores
    # and it is the CLIP the networks were trained on: the training process's own score
    assert abs(scores[0] - live_score) <= 1e-6, (scores, live_score)


def test_a_different_seed_is_a_different_clip_and_score(random_clip_experiment, tmp_path):
    """The check above can fail: the same Feat-D and LPP over the CLIP of another seed score differently."""
    exp, img_path, live_score = random_clip_experiment
    weights = str(tmp_path / 'sfd_iqa.pth')
    payload = export_experiment(str(exp), weights)
    payload['clip']['seed'] = 4
    other = str(tmp_path / 'sfd_iqa_seed4.pth')
    torch.save(payload, other)
    same = SFDIQA.from_file(weights, device='cpu').score_files([img_path])[0].score
    moved = SFDIQA.from_file(other, device='cpu').score_files([img_path])[0].score
    assert abs(same - live_score) <= 1e-6
    assert abs(moved - live_score) > 1e-5


# -- DDP ranks ----------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ddp_clip_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from basicsr.utils import set_random_seed

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), HF_HUB_OFFLINE='1')
    torch.set_num_threads(1)
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    set_random_seed(0 + rank)  # what basicsr/train.py does: manual_seed + rank
    clip = build_clip(tiny_clip_opt())
    flat = torch.cat([v.detach().float().flatten() for v in clip.clip_model.state_dict().values()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    torch.distributed.all_gather(gathered, flat)
    torch.save({'gathered': gathered, 'after': torch.rand(4)}, os.path.join(out_dir, f'rank{rank}.pt'))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch and basicsr: about 20 s on a busy 2-core machine
def test_two_ddp_ranks_hold_identical_clip_weights(tmp_path):
    import torch.multiprocessing as mp
    from basicsr.utils import set_random_seed

    mp.spawn(_ddp_clip_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in (0, 1)]
    gathered = ranks[0]['gathered']
    assert gathered[0].numel() > 10_000
    assert torch.equal(gathered[0], gathered[1])
    # and each rank's own random stream was left as BasicSR seeded it
    for rank, result in enumerate(ranks):
        set_random_seed(rank)
        assert torch.equal(result['after'], torch.rand(4))
