"""Evaluation protocols as data: which settings make a number comparable with which published table.

A number beside a paper's table is only comparable when it was computed as that table's numbers were: the
colour space of PSNR/SSIM, the border cropped, LPIPS's backbone, the images' range, any resizing, and for an IQA
benchmark, the split scored, the image size and whether PLCC follows a logistic fit. Each preset here writes those
choices down as one frozen record and names the file it follows (repository and path), so the report of a run
can print the protocol it used and a test can compute each number both through the preset and through the code
the source names (``tests/test_protocols.py``).

- :data:`PROTOCOLS`: SR comparison presets (``scripts/compare.py --protocol``, ``protocol:`` in a test option file):
  ``sfd`` (this project's own mix, the default), ``basicsr`` and ``pyiqa``.
- :data:`BENCH_PROTOCOLS`: IQA benchmark presets (``sfd-iqa bench --protocol``): ``sfd`` (the default) and ``pyiqa``.

No preset needs pyiqa at run time: pyiqa's conventions for PSNR/SSIM are reimplemented in
:mod:`.pyiqa_conventions`; its LPIPS and DISTS are the package's own (equal to the reference packages); metrics
whose pyiqa implementation is not reproduced here (its NIQE port, its clean-fid FID) are listed as ``omitted`` with
the reason, never silently replaced by another implementation.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional, Union

PYIQA_REPO = 'chaofengc/IQA-PyTorch'
BASICSR_REPO = 'XPixelGroup/BasicSR'
THIS_PROJECT = 'sfd_arch'  # this repository


@dataclass(frozen=True)
class Source:
    """The file a setting follows: ``repo`` (GitHub ``owner/name``, or ``sfd_arch`` for this repository) and
    ``path`` in it, and what in that file fixes the setting."""

    repo: str
    path: str
    what: str = ''

    def __str__(self) -> str:
        return f'{self.repo}: {self.path}'


# -- SR comparison -----------------------------------------------------------------------------------------------
SCALE = 'scale'  # a crop of `scale` pixels per side (BasicSR's crop_border = scale)


# what each metric type computes on, whatever the protocol: a fact of its implementation, not a choice
INPUT_RANGES = {
    'calculate_psnr': 'uint8 values as float64, data range 255',
    'calculate_ssim': 'uint8 values as float64, data range 255',
    'calculate_niqe': 'uint8 values as float64 (Y of YCbCr, or gray)',
    'calculate_psnr_pyiqa': 'RGB in [0, 1] (float32), data range 1, eps 1e-8',
    'calculate_ssim_pyiqa': 'x 255 and rounded to integers, float64',
    'calculate_lpips': 'RGB in [0, 1], scaled to [-1, 1], then LPIPS\'s ScalingLayer',
    'calculate_dists': 'RGB in [0, 1], ImageNet mean/std',
    'calculate_fid': 'RGB in [0, 1] to [-1, 1] (pytorch-fid\'s Inception)',
    'calculate_kid': 'RGB in [0, 1] to [-1, 1] (pytorch-fid\'s Inception)',
}
# the block key that selects Y or RGB, per metric type
_Y_KEY = {'calculate_psnr': 'test_y_channel', 'calculate_ssim': 'test_y_channel',
          'calculate_psnr_pyiqa': 'test_y_channel', 'calculate_ssim_pyiqa': 'test_y_channel',
          'calculate_niqe': 'convert_to'}
# what a block without the key computes on (the functions' defaults)
_Y_DEFAULT = {'calculate_psnr': False, 'calculate_ssim': False, 'calculate_psnr_pyiqa': False,
              'calculate_ssim_pyiqa': True, 'calculate_niqe': 'y'}
_PYIQA_TYPES = ('calculate_psnr_pyiqa', 'calculate_ssim_pyiqa')


def block_choices(block: dict[str, Any]) -> dict[str, Any]:
    """The protocol choices a BasicSR metric block makes (colour, crop, backbone, input range, resizing), read
    from its keys: the same description for a preset's block and for one the user wrote."""
    metric_type = str(block.get('type', ''))
    colour = '-'
    if metric_type in _Y_KEY:
        value = block.get(_Y_KEY[metric_type], _Y_DEFAULT[metric_type])
        if metric_type == 'calculate_niqe':
            colour = 'y-ycbcr' if str(value).lower() == 'y' else 'gray'
        elif value:
            colour = f'y-{block.get("color_space", "yiq")}' if metric_type in _PYIQA_TYPES else 'y-ycbcr'
        else:
            colour = 'rgb'
    elif metric_type in INPUT_RANGES:
        colour = 'rgb'
    resize = 'none'
    if metric_type in ('calculate_fid', 'calculate_kid'):
        size = int(block.get('crop_size') or 0)
        resize = (f'non-overlapping {size}x{size} crops, each' if size else 'each whole image') + \
            ' to 299x299 (bilinear)'
    return {'colour': colour, 'crop': int(block.get('crop_border') or 0),
            'backbone': str(block.get('net', 'alex')) if metric_type == 'calculate_lpips' else '-',
            'input_range': INPUT_RANGES.get(metric_type, '-'), 'resize': resize}


@dataclass(frozen=True)
class MetricSetting:
    """One metric of a protocol: the BasicSR metric block it becomes, and the file it follows.

    ``colour``: ``rgb``, ``y-ycbcr`` (BT.601 luma with the 16..235 offset, BasicSR's ``test_y_channel``) or
    ``y-yiq`` (0.299 R + 0.587 G + 0.114 B, pyiqa's ``to_y_channel``); ``crop``: pixels removed per side, or
    :data:`SCALE`; ``backbone``: LPIPS's network (``alex`` / ``vgg``) or ``''``; ``options``: further keys of the
    block, ``(key, value)`` pairs. The input range and any resizing follow from the type and the block
    (:func:`block_choices`).
    """

    name: str
    type: str
    colour: str
    crop: Union[int, str]
    source: Source
    backbone: str = ''
    options: tuple[tuple[str, Any], ...] = ()

    def block(self, scale: int) -> dict[str, Any]:
        """The BasicSR metric block (``{type: ..., crop_border: ..., ...}``) for a run at ``scale``."""
        block: dict[str, Any] = {'type': self.type, **dict(self.options)}
        block['crop_border'] = int(scale) if self.crop == SCALE else int(self.crop)
        if self.type in _Y_KEY:
            if self.type == 'calculate_niqe':  # BasicSR's NIQE converts to Y or to gray
                block['convert_to'] = 'y' if self.colour.startswith('y') else 'gray'
            else:
                block['test_y_channel'] = self.colour.startswith('y')
        if self.type in _PYIQA_TYPES:
            block['color_space'] = 'ycbcr' if self.colour == 'y-ycbcr' else 'yiq'
        if self.backbone:
            block['net'] = self.backbone
        return block

    def describe(self, scale: int = 4) -> dict[str, Any]:
        """The record as plain data (``results.json``, the reports): every choice and the source file."""
        return {'metric': self.name, 'type': self.type, **block_choices(self.block(scale)),
                'source': str(self.source), 'source_detail': self.source.what}


@dataclass(frozen=True)
class Protocol:
    """A named SR-comparison protocol: its metrics (added to a run as the default metrics, a block of the
    user's option file winning over the preset's), the metrics it leaves out and why, and the published tables it
    matches (``matches``; ``unknown`` where we could not find what a table used)."""

    name: str
    title: str
    metrics: tuple[MetricSetting, ...]
    matches: str
    omitted: tuple[tuple[str, str], ...] = ()

    def blocks(self, scale: int) -> 'OrderedDict[str, dict[str, Any]]':
        """``{metric name: BasicSR metric block}`` for a run at ``scale``."""
        return OrderedDict((m.name, m.block(scale)) for m in self.metrics)

    def setting(self, name: str) -> Optional[MetricSetting]:
        return next((m for m in self.metrics if m.name == name), None)

    def sources(self) -> list[Source]:
        """Every file the preset follows, once each, in the order of its metrics."""
        return list(dict.fromkeys(m.source for m in self.metrics))

    def describe(self, scale: int = 4) -> dict[str, Any]:
        """The whole preset as plain data, for ``results.json`` and the reports."""
        return {'name': self.name, 'title': self.title, 'matches': self.matches,
                'sources': [str(s) for s in self.sources()],
                'metrics': [m.describe(scale) for m in self.metrics], 'omitted': dict(self.omitted)}


_SFD_FILE = Source(THIS_PROJECT, 'options/test_sfd_x4.yml',
                   'val.metrics: PSNR/SSIM on Y with crop_border 4 = scale; LPIPS (alex) and DISTS with crop_border 4')
_SFD_PLAN = Source(THIS_PROJECT, 'sfd_arch/eval/plan.py',
                   'the default metrics added to a comparison: the border of PSNR also cropped for LPIPS and DISTS')
_SFD_FID = Source(THIS_PROJECT, 'sfd_arch/metrics/fid_metric.py',
                  'whole images as samples (crop_size 0), pytorch-fid\'s Inception and resizing')

_BASICSR_OPTIONS = Source(BASICSR_REPO, 'options/test/ESRGAN/test_ESRGAN_x4.yml',
                          'val.metrics: calculate_psnr / calculate_ssim, crop_border 4 = scale, test_y_channel false '
                          '(docs/ModelZoo.md: "We crop `scale` border pixels in each border; evaluated on RGB '
                          'channels")')
_BASICSR_LPIPS = Source(BASICSR_REPO, 'scripts/metrics/calculate_lpips.py',
                        'lpips.LPIPS(net=\'vgg\') on whole images (crop_border commented out), RGB normalised to '
                        '[-1, 1] with mean = std = 0.5')
_BASICSR_NIQE = Source(BASICSR_REPO, 'scripts/metrics/calculate_niqe.py',
                       'calculate_niqe(img, crop_border, convert_to=\'y\'); crop_border 4 = scale as in '
                       'options/train/SRResNet_SRGAN/train_MSRResNet_x4.yml')

_PYIQA_CONFIGS = 'pyiqa/default_model_configs.py'
_PYIQA_PSNR = Source(PYIQA_REPO, 'pyiqa/archs/psnr_arch.py',
                     f'{_PYIQA_CONFIGS} psnr: test_y_channel False; data_range 1, eps 1e-8, crop_border 0')
_PYIQA_SSIM = Source(PYIQA_REPO, 'pyiqa/archs/ssim_arch.py',
                     f'{_PYIQA_CONFIGS} ssim: test_y_channel True (Y of YIQ), downsample False; values x255 and '
                     'rounded, 11x11 Gaussian (sigma 1.5), valid filtering, contrast term clamped at 0')
_PYIQA_LPIPS = Source(PYIQA_REPO, 'pyiqa/archs/lpips_arch.py',
                      f'{_PYIQA_CONFIGS} lpips: net alex, version 0.1; lpips-vgg: net vgg; whole images')
_PYIQA_DISTS = Source(PYIQA_REPO, 'pyiqa/archs/dists_arch.py', f'{_PYIQA_CONFIGS} dists: whole images, no resize')

PROTOCOLS: 'OrderedDict[str, Protocol]' = OrderedDict((p.name, p) for p in (
    Protocol(
        'sfd', 'this project\'s mix (the default)',
        (MetricSetting('psnr', 'calculate_psnr', 'y-ycbcr', SCALE, _SFD_FILE),
         MetricSetting('ssim', 'calculate_ssim', 'y-ycbcr', SCALE, _SFD_FILE),
         MetricSetting('lpips', 'calculate_lpips', 'rgb', SCALE, _SFD_PLAN, backbone='alex'),
         MetricSetting('dists', 'calculate_dists', 'rgb', SCALE, _SFD_PLAN),
         MetricSetting('fid', 'calculate_fid', 'rgb', 0, _SFD_FID)),
        matches='PSNR/SSIM: the Y-channel, scale-wide-border convention many SR papers state (RCAN, SwinIR). '
                'LPIPS/DISTS after a border crop and FID on whole images: no published table is known to use exactly '
                'this mix.'),
    Protocol(
        'basicsr', 'BasicSR\'s option files and metric scripts',
        (MetricSetting('psnr', 'calculate_psnr', 'rgb', SCALE, _BASICSR_OPTIONS),
         MetricSetting('ssim', 'calculate_ssim', 'rgb', SCALE, _BASICSR_OPTIONS),
         MetricSetting('lpips', 'calculate_lpips', 'rgb', 0, _BASICSR_LPIPS, backbone='vgg'),
         MetricSetting('niqe', 'calculate_niqe', 'y-ycbcr', SCALE, _BASICSR_NIQE)),
        matches='PSNR/SSIM: BasicSR\'s Model Zoo (docs/ModelZoo.md, RGB). LPIPS: BasicSR\'s script was written for '
                'face restoration (CelebA); which SR tables used it is unknown.',
        omitted=(('fid', 'BasicSR scores FID against a statistics file of a training set '
                         '(scripts/metrics/calculate_fid_folder.py), not against the HR images of a test set'),)),
    Protocol(
        'pyiqa', 'pyiqa\'s default settings (IQA-PyTorch)',
        (MetricSetting('psnr', 'calculate_psnr_pyiqa', 'rgb', 0, _PYIQA_PSNR),
         MetricSetting('ssim', 'calculate_ssim_pyiqa', 'y-yiq', 0, _PYIQA_SSIM),
         MetricSetting('lpips', 'calculate_lpips', 'rgb', 0, _PYIQA_LPIPS, backbone='alex'),
         MetricSetting('lpips_vgg', 'calculate_lpips', 'rgb', 0, _PYIQA_LPIPS, backbone='vgg'),
         MetricSetting('dists', 'calculate_dists', 'rgb', 0, _PYIQA_DISTS)),
        matches='Papers that state they used pyiqa\'s defaults (e.g. tables built with `pyiqa.create_metric(name)`); '
                'pyiqa\'s own FR benchmark (tests/FR_benchmark_results.csv) scores IQA datasets, not SR outputs.',
        omitted=(('niqe', 'pyiqa\'s `niqe` (and `niqe_matlab`) is its own port of the NIQE code, not reproduced '
                          'here; use `calculate_pyiqa` with `metric: niqe` where pyiqa is installed'),
                 ('fid', 'pyiqa\'s `fid` is clean-fid (mode clean: PIL bicubic resizing, folder to folder), not '
                         'reproduced here; use `calculate_pyiqa` with `metric: fid` where pyiqa is installed'))),
))
DEFAULT_PROTOCOL = 'sfd'


def get_protocol(name: str, where: str = '--protocol') -> Protocol:
    """The SR-comparison preset ``name``; an unknown name is a ``ValueError`` listing the presets."""
    if name not in PROTOCOLS:
        raise ValueError(f'{where}: unknown protocol {name!r}; the presets are {", ".join(PROTOCOLS)}')
    return PROTOCOLS[name]


# -- IQA benchmark -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchProtocol:
    """A named IQA-benchmark protocol: what is scored (splits, image sizes, resizing) and how it is correlated.

    ``plcc``: ``logistic4`` (VQEG's 4-parameter logistic fitted before Pearson's r) or ``raw`` (Pearson's r on the
    scores as they are). ``koniq_split``: ``all`` or ``test`` (the official split, the ``set`` column of the KonIQ
    release's ``koniq10k_distributions_sets.csv``). ``koniq_resolution``: ``1024x768``, ``512x384`` or ``None``
    (whichever folder is there, 1024x768 first). ``spaq_short_side``: 0 = as released, else the shorter side in px;
    ``spaq_resize``: ``area`` (OpenCV INTER_AREA when shrinking) or ``pil-bilinear`` (torchvision's ``Resize`` on a
    PIL image: bilinear, the long side truncated to an integer).
    """

    name: str
    title: str
    plcc: str
    koniq_split: str
    koniq_resolution: Optional[str]
    koniq_score: str
    spaq_short_side: int
    spaq_resize: str
    sources: tuple[Source, ...]
    matches: str
    notes: tuple[str, ...] = field(default=())

    def image_settings(self) -> tuple:
        """What changes the images scored (and so the score cache); a preset differing from another only in its
        statistics or split shares that one's scores."""
        return (self.koniq_resolution, self.spaq_short_side, self.spaq_resize)

    def describe(self) -> dict[str, Any]:
        return {'name': self.name, 'title': self.title, 'plcc': self.plcc, 'koniq_split': self.koniq_split,
                'koniq_resolution': self.koniq_resolution or 'whichever is there (1024x768 first)',
                'koniq_score': self.koniq_score, 'spaq_short_side': self.spaq_short_side,
                'spaq_resize': self.spaq_resize, 'sources': [str(s) for s in self.sources],
                'matches': self.matches, 'notes': list(self.notes)}


BENCH_PROTOCOLS: 'OrderedDict[str, BenchProtocol]' = OrderedDict((p.name, p) for p in (
    BenchProtocol(
        'sfd', 'this project\'s default: whole releases, PLCC after the 4-parameter logistic',
        plcc='logistic4', koniq_split='all', koniq_resolution=None, koniq_score='MOS', spaq_short_side=0,
        spaq_resize='area',
        sources=(Source(THIS_PROJECT, 'sfd_arch/iqa_bench/correlation.py',
                        'VQEG\'s monotonic 4-parameter logistic before PLCC'),),
        matches='Tables of opinion-unaware NR-IQA papers that score whole datasets and fit a logistic before PLCC '
                '(the VQEG practice); which exact resizing each used is mostly unstated.'),
    BenchProtocol(
        'pyiqa', 'pyiqa\'s benchmark: official splits and sizes, PLCC without a logistic fit',
        plcc='raw', koniq_split='test', koniq_resolution='512x384', koniq_score='MOS', spaq_short_side=448,
        spaq_resize='pil-bilinear',
        sources=(Source(PYIQA_REPO, 'benchmark_results.py', 'calculate_plcc(scores, mos) with no fit_scale'),
                 Source(PYIQA_REPO, 'pyiqa/metrics/correlation_coefficient.py',
                        'calculate_plcc: a logistic only when fit_scale is given'),
                 Source(PYIQA_REPO, 'pyiqa/default_dataset_configs.yml',
                        'koniq10k: 512x384, split official_split, phase test; spaq: augment resize 448'),
                 Source(PYIQA_REPO, 'scripts/process_koniq10k.py',
                        'the split is the `set` column of koniq10k_distributions_sets.csv; mos = its MOS column'),
                 Source(PYIQA_REPO, 'pyiqa/data/livechallenge_dataset.py',
                        'CLIVE: the first 7 (training) images removed, as this bench does'),
                 Source(PYIQA_REPO, 'scripts/process_live.py',
                        'LIVE: dmos.mat (dmos, orgs), as this bench\'s default')),
        matches='pyiqa\'s NR benchmark table (tests/NR_benchmark_results.csv) and papers that report it.',
        notes=('pyiqa reports |r| (abs of each correlation); this bench keeps the sign (lower-is-better metrics are '
               'negated first), so a metric that disagrees with people shows a negative value',)),
))
DEFAULT_BENCH_PROTOCOL = 'sfd'


def get_bench_protocol(name: str) -> BenchProtocol:
    if name not in BENCH_PROTOCOLS:
        raise ValueError(f'--protocol: unknown bench protocol {name!r}; the presets are {", ".join(BENCH_PROTOCOLS)}')
    return BENCH_PROTOCOLS[name]


# -- the tables of the docs (docs/benchmarks.md, docs/iqa.md print these; a test holds them equal) ----------------
def protocols_markdown() -> str:
    """One row per metric of every SR-comparison preset: its choices and the file it follows; then, per preset,
    what it leaves out and which published tables it matches."""
    lines = ['| protocol | metric | type | colour | crop (px/side) | backbone | source |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for p in PROTOCOLS.values():
        for m in p.metrics:
            d = m.describe()
            crop = 'scale' if m.crop == SCALE else d['crop']
            lines.append(f'| `{p.name}` | {m.name} | `{m.type}` | {d["colour"]} | {crop} | {d["backbone"]} | '
                         f'`{m.source}` |')
    lines.append('')
    for p in PROTOCOLS.values():
        omitted = ''.join(f' Not in it: {k}, because {v}.' for k, v in p.omitted)
        lines.append(f'- `{p.name}`, {p.title}. Matches: {p.matches}{omitted}')
    return '\n'.join(lines)


def bench_protocols_markdown() -> str:
    """One row per IQA-benchmark preset: its statistics, splits, sizes and the files it follows."""
    lines = ['| protocol | PLCC | KonIQ-10k | SPAQ | sources | matches |', '| --- | --- | --- | --- | --- | --- |']
    for p in BENCH_PROTOCOLS.values():
        d = p.describe()
        spaq = f'short side {p.spaq_short_side} ({p.spaq_resize})' if p.spaq_short_side else 'as released'
        lines.append(f'| `{p.name}` | {"after the 4-parameter logistic" if p.plcc == "logistic4" else "raw scores"} | '
                     f'{p.koniq_split} images, {d["koniq_resolution"]}, {p.koniq_score} | {spaq} | '
                     + '; '.join(f'`{s}`' for s in p.sources) + f' | {p.matches} |')
    return '\n'.join(lines)
