"""Real-world test sets in their released layouts: SuffixPairedImageDataset (RealSR v3, DRealSR), the shipped option
files, and a foreign SFD-IQA weights file."""
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO


def write(path: Path, h: int, w: int, seed: int) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return img


def released_layouts(root: Path) -> None:
    """RealSR v3's Test/4 folders (HR beside LR4 in one folder) and DRealSR's Test_x4 (test_HR / test_LR)."""
    for camera in ('Canon', 'Nikon'):
        folder = root / 'RealSR(V3)' / camera / 'Test' / '4'
        for i in (1, 2):
            write(folder / f'{camera}_{i:03d}_HR.png', 32, 24, i)
            write(folder / f'{camera}_{i:03d}_LR4.png', 8, 6, 10 + i)
    for scene in ('DSC_1454', 'DSC_1460'):
        write(root / 'DRealSR' / 'Test_x4' / 'test_HR' / f'{scene}_x4.png', 32, 24, 3)
        write(root / 'DRealSR' / 'Test_x4' / 'test_LR' / f'{scene}_x1.png', 8, 6, 4)


def test_suffix_pairs_read_realsr_v3_and_drealsr_as_released(tmp_path):
    from sfd_arch.data import suffix_pairs

    released_layouts(tmp_path)
    canon = tmp_path / 'RealSR(V3)' / 'Canon' / 'Test' / '4'
    pairs = suffix_pairs(str(canon), str(canon), '_HR', '_LR4')
    assert [(osp.basename(p['gt_path']), osp.basename(p['lq_path'])) for p in pairs] == [
        ('Canon_001_HR.png', 'Canon_001_LR4.png'), ('Canon_002_HR.png', 'Canon_002_LR4.png')]
    d = tmp_path / 'DRealSR' / 'Test_x4'
    pairs = suffix_pairs(str(d / 'test_HR'), str(d / 'test_LR'), '_x4', '_x1')
    assert [osp.basename(p['lq_path']) for p in pairs] == ['DSC_1454_x1.png', 'DSC_1460_x1.png']
    (canon / 'Canon_002_LR4.png').unlink()
    with pytest.raises(ValueError, match=r'no <scene>_LR4 file for 1 HR image\(s\) of .*: Canon_002_HR.png'):
        suffix_pairs(str(canon), str(canon), '_HR', '_LR4')


def test_shipped_option_files_read_the_released_layouts(tmp_path, monkeypatch):
    """options/test_realsr_drealsr_x4.yml and options/test_realsrset_lq.yml, with their dataroots as written, under
    a datasets/ folder laid out as released: BasicSR builds every set and pairs the right files."""
    from basicsr.data import build_dataset

    from sfd_arch.options.preflight import check_option_file

    released_layouts(tmp_path / 'datasets')
    for i in range(3):
        write(tmp_path / 'datasets' / 'RealSRSet+5images' / f'photo_{i}.png', 8, 8, i)
    monkeypatch.chdir(tmp_path)
    paired = check_option_file(str(REPO / 'options' / 'test_realsr_drealsr_x4.yml'), is_train=False,
                               check_metrics=False, check_weights=False)  # the layouts; no generator file here
    names = []
    for block in paired['datasets'].values():
        ds = build_dataset(dict(block, phase='test', scale=4))
        item = ds[0]
        assert tuple(item['gt'].shape[1:]) == (32, 24) and tuple(item['lq'].shape[1:]) == (8, 6)
        names.append((block['name'], [osp.basename(p['lq_path']) for p in ds.paths]))
    assert names == [('RealSR_Canon', ['Canon_001_LR4.png', 'Canon_002_LR4.png']),
                     ('RealSR_Nikon', ['Nikon_001_LR4.png', 'Nikon_002_LR4.png']),
                     ('DRealSR', ['DSC_1454_x1.png', 'DSC_1460_x1.png'])]
    lq = check_option_file(str(REPO / 'options' / 'test_realsrset_lq.yml'), is_train=False, check_metrics=False,
                           check_weights=False)
    block = lq['datasets']['test_1']
    assert block['type'] == 'SingleImageDataset' and 'dataroot_gt' not in block
    assert len(build_dataset(dict(block, phase='test', scale=4))) == 3


def test_sfd_iqa_says_in_one_sentence_it_cannot_read_the_authors_iqa_weights(tmp_path, capsys):
    from sfd_arch.cli import main as cli

    foreign = tmp_path / 'SFD_OU_NR-IQA.pth'  # a state dict of unknown layout, as a released file may be
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(2)}}, foreign)
    write(tmp_path / 'img' / 'a.png', 16, 16, 0)
    assert cli(['score', str(tmp_path / 'img'), '-w', str(foreign), '--no-progress']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"{foreign} is not an SFD-IQA weights file written by `sfd-iqa export`: weights from "
                            "elsewhere, such as the SFD authors' released OU NR-IQA weights (GuangluDong0728/SFD), "
                            'are in a format they have not published, so sfd-iqa cannot read them.')
