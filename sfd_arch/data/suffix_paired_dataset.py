"""SuffixPairedImageDataset: HR and LR files paired by a suffix of their names, as real-world SR sets release them.

BasicSR's ``PairedImageDataset`` finds the LR file of ``<name>.png`` as ``filename_tmpl.format(<name>)``: it can add
text around the HR name, never replace part of it. Real-world sets name both files after the scene with a
different suffix, sometimes in one folder:

- RealSR version 3 (Cai et al., ICCV 2019; ``RealSR(V3)/<Canon|Nikon>/Test/4/``): ``Canon_001_HR.png`` and
  ``Canon_001_LR4.png`` side by side (``gt_suffix: _HR``, ``lq_suffix: _LR4``, both folders the same);
- DRealSR (Wei et al., ECCV 2020; ``Test_x4/test_HR`` and ``Test_x4/test_LR``): ``<scene>_x4.png`` in ``test_HR``
  and ``<scene>_x1.png`` in ``test_LR`` (``gt_suffix: _x4``, ``lq_suffix: _x1``).

Here a pair is the HR file ``<stem><gt_suffix>.<ext>`` and the LR file ``<stem><lq_suffix>.<ext>`` of the same stem;
files with neither suffix are ignored (the HR files of a shared folder are not taken for LR ones), and an HR file
without its LR file is an error naming both. Everything else is ``PairedImageDataset``'s (cropping, flips, the
test phase's HR crop to LR x scale); images are named by their LR file, as BasicSR names them.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any

from basicsr.data.paired_image_dataset import PairedImageDataset
from torch.utils import data

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def _stems(folder: str, suffix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        base, ext = osp.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS and base.endswith(suffix) and len(base) > len(suffix):
            stem = base[:len(base) - len(suffix)] if suffix else base
            if stem in out:
                raise ValueError(f'{folder}: two files for {stem}{suffix}: {osp.basename(out[stem])} and {name}')
            out[stem] = osp.join(folder, name)
    return out


def suffix_pairs(gt_folder: str, lq_folder: str, gt_suffix: str, lq_suffix: str) -> list[dict[str, str]]:
    """``[{'lq_path', 'gt_path'}]`` of every HR file ``<stem><gt_suffix>.*`` and its LR file ``<stem><lq_suffix>.*``."""
    for folder in (gt_folder, lq_folder):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'dataset folder not found: {folder}')
    if gt_suffix == lq_suffix and osp.abspath(gt_folder) == osp.abspath(lq_folder):
        raise ValueError(f'{gt_folder}: gt_suffix and lq_suffix are both {gt_suffix!r} in one folder: every file '
                         'would be its own pair')
    gts, lqs = _stems(gt_folder, gt_suffix), _stems(lq_folder, lq_suffix)
    if not gts:
        raise ValueError(f'{gt_folder}: no image named <scene>{gt_suffix}.<ext> (gt_suffix: {gt_suffix!r})')
    lonely = [osp.basename(p) for s, p in gts.items() if s not in lqs]
    if lonely:
        raise ValueError(f'{lq_folder}: no <scene>{lq_suffix} file for {len(lonely)} HR image(s) of {gt_folder}: '
                         f'{", ".join(lonely[:5])}{" ..." if len(lonely) > 5 else ""}')
    return [{'lq_path': lqs[s], 'gt_path': gts[s]} for s in sorted(gts)]


class SuffixPairedImageDataset(PairedImageDataset):
    """``PairedImageDataset`` whose pairs share a scene name and differ by a suffix (see the module docstring).

    Option keys: those of ``PairedImageDataset`` (``dataroot_gt``, ``dataroot_lq`` (may be the same folder),
    ``io_backend: {type: disk}``, ``gt_size``, flips...) but ``filename_tmpl`` and ``meta_info_file``, plus
    ``gt_suffix`` (default ``_HR``) and ``lq_suffix`` (default ``_LR4``).
    """

    def __init__(self, opt: dict[str, Any]):
        data.Dataset.__init__(self)  # PairedImageDataset's own __init__ would pair by filename_tmpl
        for key in ('filename_tmpl', 'meta_info_file'):
            if opt.get(key) is not None:
                raise ValueError(f'SuffixPairedImageDataset pairs files by gt_suffix / lq_suffix; {key} is not read')
        self.opt = opt
        self.file_client = None
        self.io_backend_opt = opt['io_backend']
        if self.io_backend_opt.get('type') != 'disk':
            raise ValueError('SuffixPairedImageDataset reads files from disk: io_backend: {type: disk}')
        self.mean, self.std = opt.get('mean'), opt.get('std')
        self.gt_folder, self.lq_folder = opt['dataroot_gt'], opt['dataroot_lq']
        self.filename_tmpl = '{}'
        self.paths = suffix_pairs(self.gt_folder, self.lq_folder, opt.get('gt_suffix', '_HR'),
                                  opt.get('lq_suffix', '_LR4'))
