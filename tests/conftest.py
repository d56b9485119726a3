"""Shared fixtures: a tiny CLIP built from an open_clip config in code (random weights), offline."""
import os
import sys
import tempfile

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('SFD_OFFLINE', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TEXT_CFG = {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}
TINY_RN_CFG = {'embed_dim': 64, 'vision_cfg': {'image_size': 64, 'layers': [1, 1, 1, 1], 'width': 8,
                                               'patch_size': None}, 'text_cfg': TEXT_CFG}
TINY_VIT_CFG = {'embed_dim': 64, 'vision_cfg': {'image_size': 64, 'layers': 2, 'width': 32, 'patch_size': 16,
                                                'head_width': 16}, 'text_cfg': TEXT_CFG}


def tiny_clip_opt(layers=('layer1', 'layer2', 'layer3')) -> dict:
    return {'model': 'tiny-RN', 'model_cfg': TINY_RN_CFG, 'pretrained': None, 'layers': list(layers)}


def tiny_vit_clip_opt(layers=(0, 1)) -> dict:
    return {'model': 'tiny-ViT', 'model_cfg': TINY_VIT_CFG, 'pretrained': None, 'layers': list(layers)}


@pytest.fixture
def clip_opt():
    torch.manual_seed(0)
    return tiny_clip_opt()


@pytest.fixture(scope='module')
def single_thread():
    """Tiny tensors: one intra-op thread is many times faster than several fighting over a busy CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='session', autouse=True)
def temp_files_inside_pytests_folder(tmp_path_factory):
    """Every temporary file of the run, ours and the subprocesses' (torchrun's ``torchelastic_*`` folders,
    ``tempfile`` users), goes under pytest's own temporary folder: with ``tmp_path_retention_policy = "failed"``
    (pyproject.toml) a passing run leaves none of it behind, a failing one keeps it beside the failed test's."""
    folder = tmp_path_factory.mktemp('tmpdir', numbered=False)
    saved = os.environ.get('TMPDIR')
    os.environ['TMPDIR'] = str(folder)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    yield folder
    if saved is None:
        os.environ.pop('TMPDIR', None)
    else:
        os.environ['TMPDIR'] = saved
    tempfile.tempdir = None
