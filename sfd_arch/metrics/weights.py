"""Where metric weight files come from, offline, and whether a file is the published one.

Every metric network loads a local file under its published name. Lookup order for a file:

1. the path key of the metric block (``backbone_path``, ``head_path``, ``alpha_beta_path``, ``inception_path``,
   ``pretrained_model_path``), when given: only that path;
2. ``experiments/pretrained_models/<name>`` under the current directory (BasicSR's convention);
3. ``<torch hub dir>/checkpoints/<name>`` (``$TORCH_HOME/hub/checkpoints``, where torchvision caches its files);
4. for the LPIPS linear heads and the DISTS alpha/beta only: the copy the ``lpips`` / ``DISTS_pytorch`` package
   ships inside itself, when that package is installed.

Which files a metric needs, and the block key of its path, is said in its record (``records.py``).

Nothing is downloaded. A missing file fails before any work with its name, the path to put it at and its URL.

Published or stand-in: torchvision's and pytorch-fid's file names end in the first 8 hex digits of the file's
SHA-256 (``alexnet-owt-7be5be79.pth``), so a file whose hash does not match its name is a stand-in (tests and
the demo write random weights under the published names). The LPIPS heads and DISTS alpha/beta have no hash in
their names; they are compared with the SHA-256 of the files the packages ship (lpips 0.1.4, DISTS_pytorch 0.1).
"""
from __future__ import annotations

import os.path as osp
import re
from dataclasses import dataclass
from typing import Optional

from ..utils.files import file_sha256

PRETRAINED_DIR = osp.join('experiments', 'pretrained_models')

PUBLISHED = 'published'
STAND_IN = 'stand-in'
MISSING = 'missing'

_HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,})\.[A-Za-z0-9]+$')


@dataclass(frozen=True)
class WeightFile:
    """One published weight file.

    Attributes:
        name: the published file name, looked up in the folders above.
        url: where the file is published (named in errors; never fetched).
        sha256: the full SHA-256 of the published file, for names that carry no hash prefix.
        package_file: ``(module, relative path)`` of a copy shipped inside an installed package.
    """

    name: str
    url: str
    sha256: Optional[str] = None
    package_file: Optional[tuple[str, str]] = None

    def expected_hash_prefix(self) -> Optional[str]:
        match = _HASH_IN_NAME.search(self.name)
        return match.group(1) if match else None


class MissingWeightsError(FileNotFoundError):
    """A metric weight file is not on disk; the message says what to put where."""


# -- the published files ----------------------------------------------------------------------------------------
ALEXNET = WeightFile('alexnet-owt-7be5be79.pth', 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth')
VGG16 = WeightFile('vgg16-397923af.pth', 'https://download.pytorch.org/models/vgg16-397923af.pth')
FID_INCEPTION = WeightFile(
    'pt_inception-2015-12-05-6726825d.pth',
    'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth')
LPIPS_HEADS = {
    'alex': WeightFile(
        'lpips_v0.1_alex.pth',
        'https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth '
        '(also shipped in `pip install lpips` as lpips/weights/v0.1/alex.pth)',
        sha256='df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0',
        package_file=('lpips', 'weights/v0.1/alex.pth')),
    'vgg': WeightFile(
        'lpips_v0.1_vgg.pth',
        'https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth '
        '(also shipped in `pip install lpips` as lpips/weights/v0.1/vgg.pth)',
        sha256='a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868',
        package_file=('lpips', 'weights/v0.1/vgg.pth')),
}
DISTS_ALPHA_BETA = WeightFile(
    'dists_alpha_beta.pt',
    'https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt '
    '(also shipped in `pip install dists-pytorch` as DISTS_pytorch/weights.pt)',
    sha256='f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218',
    package_file=('DISTS_pytorch', 'weights.pt'))


# -- lookup -----------------------------------------------------------------------------------------------------
def hub_checkpoint_dir() -> str:
    import torch.hub  # here, so that reading the metric records (records.py) does not load torch

    return osp.join(torch.hub.get_dir(), 'checkpoints')


def search_dirs() -> list[str]:
    """The folders searched for a file without an explicit path, in order."""
    return [osp.abspath(PRETRAINED_DIR), hub_checkpoint_dir()]


def _package_copy(spec: WeightFile) -> Optional[str]:
    if spec.package_file is None:
        return None
    import importlib.util

    module, relative = spec.package_file
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = osp.join(list(found.submodule_search_locations)[0], relative)
    return path if osp.isfile(path) else None


def find_weight(spec: WeightFile, override: Optional[str] = None) -> Optional[str]:
    """The file to load for ``spec``, or ``None`` when it is nowhere. An override is the only place looked at."""
    if override:
        path = osp.expanduser(str(override))
        return osp.abspath(path) if osp.isfile(path) else None
    for folder in search_dirs():
        path = osp.join(folder, spec.name)
        if osp.isfile(path):
            return path
    return _package_copy(spec)


def missing_message(spec: WeightFile, override: Optional[str] = None, metric: str = '') -> str:
    where = f'{metric}: ' if metric else ''
    if override:
        return (f'{where}weight file {spec.name} not found at {osp.abspath(osp.expanduser(str(override)))} '
                f'(the path given in the metric block). It is published at {spec.url}')
    target = osp.join(search_dirs()[0], spec.name)
    alternative = osp.join(hub_checkpoint_dir(), spec.name)
    return (f'{where}weight file {spec.name} not found. Put it at {target} (or {alternative}, or give its path '
            f'in the metric block). It is published at {spec.url}; nothing is downloaded.')


def require_weight(spec: WeightFile, override: Optional[str] = None, metric: str = '') -> str:
    """The path of ``spec``'s file; a missing file raises ``MissingWeightsError`` saying where to put it."""
    path = find_weight(spec, override)
    if path is None:
        raise MissingWeightsError(missing_message(spec, override, metric))
    return path


def weight_status(spec: WeightFile, path: Optional[str]) -> str:
    """``published`` (the hash matches the published file), ``stand-in`` (any other content) or ``missing``."""
    if not path or not osp.isfile(path):
        return MISSING
    digest = file_sha256(path)
    if spec.sha256:
        return PUBLISHED if digest == spec.sha256 else STAND_IN
    prefix = spec.expected_hash_prefix()
    if prefix:
        return PUBLISHED if digest.startswith(prefix) else STAND_IN
    return STAND_IN
