"""The toy work folder of docs/tutorial.md's dry run: photo crops in the tutorial's dataset folders, random stand-in
weight files under their published names, and a tiny CLIP model folder.

Everything is made on the spot from photographs that ship with scikit-image (as ``make demo`` does) and from
random numbers, so the dry run needs no download. None of it measures anything: the weights are random and the
CLIP has random weights drawn from ``clip.seed``. It never writes over a file that exists (a real DIV2K or a
real VGG19 file in the same folder stays as it is): it names the first one and writes nothing.
"""
from __future__ import annotations

import json
import os
import os.path as osp

import numpy as np

# the folders docs/tutorial.md's commands read (BasicSR's layout), and the scikit-image photos put there
TRAIN_PHOTOS = {osp.join('datasets', 'DIV2K', 'DIV2K_train_HR'): {'0001': 'coffee', '0002': 'rocket'},
                osp.join('datasets', 'Flickr2K', 'Flickr2K_HR'): {'000001': 'immunohistochemistry',
                                                                   '000002': 'colorwheel'}}
TEST_SETS = ('Set5', 'Set14', 'BSDS100', 'Urban100', 'Manga109')
TEST_PHOTOS = ('chelsea', 'astronaut')
# BasicSR's NIQE (test_sfd_x4.yml) needs two 96 px blocks after crop_border 4; one gives "SVD did not converge"
TEST_HW = (108, 204)
TRAIN_HW = (128, 128)
PRETRAINED = osp.join('experiments', 'pretrained_models')
VGG19 = 'vgg19-dcbb9e9d.pth'  # BasicSR's PerceptualLoss loads this file when it is there (no download)
CLIP_DIR = 'tiny_clip'  # `clip.model: local-dir:tiny_clip`, open_clip's own schema for a local model folder
# open_clip's config of a ResNet CLIP shrunk to a few thousand weights (layers of one block, width 8)
TINY_CLIP_CFG = {'embed_dim': 64,
                 'vision_cfg': {'image_size': 64, 'layers': [1, 1, 1, 1], 'width': 8, 'patch_size': None},
                 'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}}
STAND_IN_SETS = ('lpips', 'dists', 'fid')


def photo_crop(name: str, hw: tuple[int, int], offset: int = 0) -> np.ndarray:
    """A crop of a scikit-image sample photo as uint8 BGR (what cv2 writes): texture a toy generator can learn."""
    from skimage import data

    img = getattr(data, name)()[offset:offset + hw[0], offset:offset + hw[1], :3]
    if img.shape[:2] != tuple(hw):
        raise ValueError(f'scikit-image photo {name} is smaller than {hw[0]}x{hw[1]} at offset {offset}')
    return np.ascontiguousarray(img[..., ::-1])


def test_set_folders() -> dict[str, tuple[str, str, str]]:
    """``{set: (HR folder, LR folder, LR name template)}`` as ``options/test_sfd_x4.yml`` reads them."""
    folders = {name: (osp.join('datasets', name, 'GTmod12'), osp.join('datasets', name, 'LRbicx4'), '{}')
               for name in TEST_SETS}
    folders['DIV2K100'] = (osp.join('datasets', 'DIV2K', 'DIV2K_valid_HR'),
                           osp.join('datasets', 'DIV2K', 'DIV2K_valid_LR_bicubic', 'X4'), '{}x4')
    return folders


def planned_images() -> dict[str, tuple[str, tuple[int, int], int, bool]]:
    """``{relative path: (photo, (h, w), crop offset, bicubic x4 down)}`` of every toy image."""
    plan = {}
    for folder, names in TRAIN_PHOTOS.items():
        for stem, name in names.items():
            plan[osp.join(folder, f'{stem}.png')] = (name, TRAIN_HW, 100, False)
    for k, (gt_dir, lq_dir, tmpl) in enumerate(test_set_folders().values()):
        for i, name in enumerate(TEST_PHOTOS):
            stem = f'{i:04d}'
            plan[osp.join(gt_dir, f'{stem}.png')] = (name, TEST_HW, 12 * k, False)
            plan[osp.join(lq_dir, f'{tmpl.format(stem)}.png')] = (name, TEST_HW, 12 * k, True)
    return plan


def weight_files() -> list[str]:
    """The stand-in weight files written, relative to the work folder."""
    from sfd_arch.metrics.weights import ALEXNET, DISTS_ALPHA_BETA, FID_INCEPTION, LPIPS_HEADS, VGG16

    # what write_stand_in_weights writes for STAND_IN_SETS (LPIPS-Alex, DISTS, FID), then VGG19
    names = [ALEXNET.name, LPIPS_HEADS['alex'].name, VGG16.name, DISTS_ALPHA_BETA.name, FID_INCEPTION.name, VGG19]
    return [osp.join(PRETRAINED, n) for n in names]


def planned_files() -> list[str]:
    """Every file :func:`write_toy_work_folder` writes, relative to the work folder."""
    return [*planned_images(), *weight_files(), osp.join(CLIP_DIR, 'open_clip_config.json')]


def write_random_vgg19(path: str, seed: int = 0) -> str:
    """torchvision's VGG19 with random weights under BasicSR's file name, for its perceptual loss.

    BasicSR loads the whole state dict strictly but uses only ``features``: those are random (half precision),
    the classifier's 120 M weights are one stored zero each, expanded to their shape (torch saves the view, not
    the copy), so the file is 40 MB instead of 290."""
    import torch
    import torchvision

    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    torch.manual_seed(seed)
    state = {k: v.half() if k.startswith('features.') else torch.zeros((), dtype=torch.half).expand(v.shape)
             for k, v in torchvision.models.vgg19().state_dict().items()}
    torch.save(state, path)
    return path


def write_toy_work_folder(root: str = '.') -> list[str]:
    """Write the dry run's toy data, stand-in weights and tiny CLIP folder into ``root``; returns the paths.

    Raises ``FileExistsError`` naming the first file that is already there, before writing anything."""
    import cv2

    from sfd_arch.metrics.standins import write_stand_in_weights
    from sfd_arch.tools.demo import bicubic_down

    there = [p for p in planned_files() if osp.lexists(osp.join(root, p))]
    if there:
        raise FileExistsError(f'{osp.join(root, there[0])} exists (and {len(there) - 1} more of the toy files): the '
                              'toy work folder is written only where none of its files is, so that real data or '
                              'weights are never replaced; use an empty folder')
    written = []
    for rel, (name, hw, offset, down) in planned_images().items():
        img = photo_crop(name, hw, offset)
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, bicubic_down(img) if down else img)
        written.append(path)
    written += write_stand_in_weights(osp.join(root, PRETRAINED), sets=STAND_IN_SETS)
    written.append(write_random_vgg19(osp.join(root, PRETRAINED, VGG19)))
    config = osp.join(root, CLIP_DIR, 'open_clip_config.json')
    os.makedirs(osp.dirname(config), exist_ok=True)
    with open(config, 'w') as f:
        json.dump(TINY_CLIP_CFG, f)
    written.append(config)
    return written
