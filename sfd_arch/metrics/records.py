"""One record per metric: the only place that says what the package knows of a metric.

After pyiqa's ``DEFAULT_CONFIGS``: each :class:`Metric` in :data:`METRICS` gives a metric's label, its direction
(``lower_better``), whether it has one value per image or per dataset, whether it needs the ground truth, the
weight files it needs and where they are looked for, the mark its numbers carry when those files are not the
published ones, its function (the BasicSR ``METRIC_REGISTRY`` name, ``type``), and how ``sfd-iqa bench`` runs it
as a baseline. Every table of the package is read from here: the labels of the comparison and its plots, the
directions of the report, the plots and the IQA benchmark, the dataset-level and no-reference sets of
:mod:`.registry`, the weight check of :mod:`.weights`, the stand-in marks, and the bench's baseline list.

Adding a metric is one record here and one function registered in BasicSR's ``METRIC_REGISTRY`` (docs/design.md,
"One record per metric"). The records sit in the metrics layer: everything that reads them (eval, iqa_bench,
tools) is above it, and the one lower module that once held directions (``utils``) needs none.

A metric is looked up by its name as the comparison writes it (``lpips``), by a BasicSR type (``calculate_lpips``,
:func:`metric_key` strips the prefix), or by an alias (pyiqa's ``lpips-vgg``). Names the records do not know are
higher-is-better, per image and full-reference (BasicSR's own defaults).
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ..utils.results import RANDOM_CLIP, STAND_IN_WEIGHTS
from .weights import ALEXNET, DISTS_ALPHA_BETA, FID_INCEPTION, LPIPS_HEADS, VGG16, WeightFile

# metric block (without `type`) -> the weight files it needs, each with the block's path for it (or None: looked up
# in the folders of `weights.search_dirs`, then a copy shipped inside a package; see sfd_arch/metrics/weights.py)
WeightNeeds = Callable[[Mapping[str, Any]], list[tuple[WeightFile, Optional[str]]]]


@dataclass(frozen=True)
class BenchEntry:
    """How ``sfd-iqa bench`` runs a no-reference metric as a baseline.

    ``scorer``: ``basicsr`` (the metric's registered function on the 8-bit BGR image, ``crop_border=0``), or one of
    the adapters of ``sfd_arch.iqa_bench.baselines.SCORERS`` (``niqe``, ``pypiqe``, ``pyiqa``). ``package``: an
    import name that must be installed; ``files``: ``(folder, file name)`` pairs that must exist, the folder
    ``pyiqa`` (pyiqa's cache), ``clip`` (torch hub's ``clip/``) or ``basicsr`` (inside the installed package).
    """

    implementation: str
    scorer: str = 'basicsr'
    package: Optional[str] = None
    files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Metric:
    """Everything said of one metric (the table :data:`METRICS`).

    Attributes:
        name: the name of its column and rows (``val.metrics`` key of the comparison, ``sfd-iqa bench --metric``).
        type: its function: the name registered in BasicSR's ``METRIC_REGISTRY``.
        label: how tables and figures name it (the name itself when empty).
        lower_better: a smaller value is a better image (LPIPS, FID, NIQE...).
        per_dataset: one value per dataset and no per-image value (FID, KID).
        no_reference: scores the SR image alone, so it applies to photos without ground truth.
        weights: the weight files a block of this type needs (:data:`WeightNeeds`); None: no weight file.
        stand_in: the mark of its numbers when its network does not run on the published weights.
        options: the block keys that pick this metric out of its function (pyiqa's ``metric: musiq``).
        aliases: other spellings of the name (pyiqa's ``lpips-vgg``).
        bench: how ``sfd-iqa bench`` runs it as a baseline, or None: not a bench baseline.
        too_small: ``(block, width, height)`` -> why it cannot measure an image of that size (None: it can);
            None: any size. Read from image headers before a run (:func:`cannot_measure`).
    """

    name: str
    type: str
    label: str = ''
    lower_better: bool = False
    per_dataset: bool = False
    no_reference: bool = False
    weights: Optional[WeightNeeds] = None
    stand_in: str = ''
    options: tuple[tuple[str, Any], ...] = ()
    aliases: tuple[str, ...] = ()
    bench: Optional[BenchEntry] = None
    too_small: Optional[Callable[[Mapping[str, Any], int, int], Optional[str]]] = None

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def direction(self) -> str:
        """``'lower'`` or ``'higher'`` (is better), in the words of BasicSR's ``better`` key."""
        return 'lower' if self.lower_better else 'higher'

    def block(self) -> dict[str, Any]:
        """The BasicSR metric block that computes it with its function's defaults."""
        return {'type': self.type, **dict(self.options)}

    def function(self) -> Callable[..., Any]:
        """Its function, from BasicSR's registry (registered when its module is imported)."""
        from basicsr.utils.registry import METRIC_REGISTRY

        return METRIC_REGISTRY.get(self.type)


# -- the sizes a function cannot measure --------------------------------------------------------------------------
# BasicSR's NIQE (basicsr/metrics/niqe.py) cuts the image into 96 px blocks and fits a Gaussian to their
# features: one block gives a singular covariance ("SVD did not converge"), so it needs at least two
NIQE_BLOCK, NIQE_MIN_BLOCKS = 96, 2


def _niqe_too_small(opt: Mapping[str, Any], width: int, height: int) -> Optional[str]:
    border = int(opt.get('crop_border', 0) or 0)
    w, h = width - 2 * border, height - 2 * border
    blocks = max(0, w // NIQE_BLOCK) * max(0, h // NIQE_BLOCK)
    if blocks >= NIQE_MIN_BLOCKS:
        return None
    return (f'{width}x{height} leaves {max(w, 0)}x{max(h, 0)} after crop_border {border}: '
            f'{blocks} {NIQE_BLOCK} px block{"" if blocks == 1 else "s"}, NIQE needs {NIQE_MIN_BLOCKS}')


# -- the weight files of each function -------------------------------------------------------------------------
def _lpips_weights(opt: Mapping[str, Any]) -> list[tuple[WeightFile, Optional[str]]]:
    net = opt.get('net', 'alex')
    if net not in LPIPS_HEADS:
        raise ValueError(f'calculate_lpips: net must be one of {sorted(LPIPS_HEADS)}, got {net!r}')
    return [(ALEXNET if net == 'alex' else VGG16, opt.get('backbone_path')), (LPIPS_HEADS[net], opt.get('head_path'))]


def _dists_weights(opt: Mapping[str, Any]) -> list[tuple[WeightFile, Optional[str]]]:
    return [(VGG16, opt.get('backbone_path')), (DISTS_ALPHA_BETA, opt.get('alpha_beta_path'))]


def _inception_weights(opt: Mapping[str, Any]) -> list[tuple[WeightFile, Optional[str]]]:
    return [(FID_INCEPTION, opt.get('inception_path'))]


def _pyiqa_weights(opt: Mapping[str, Any]) -> list[tuple[WeightFile, Optional[str]]]:
    """The file that can be checked before pyiqa builds the network: an explicit ``pretrained_model_path``.

    The files pyiqa fetches by default are known only while it builds; those fail then, named
    (``sfd_arch.metrics.pyiqa_metric``)."""
    path = opt.get('pretrained_model_path')
    if not path:
        return []
    return [(WeightFile(osp.basename(str(path)), f'pyiqa\'s release of {opt.get("metric", "musiq")}'), path)]


def _pyiqa(name: str, label: str = '', lower_better: bool = False, no_reference: bool = True,
           bench: Optional[BenchEntry] = None) -> Metric:
    """A metric computed by pyiqa (``calculate_pyiqa`` with ``metric: <name>``). pyiqa's own ``DEFAULT_CONFIGS``
    wins where it is installed (:func:`sfd_arch.metrics.registry.metric_direction`); this record is what is
    known without it."""
    return Metric(name, 'calculate_pyiqa', label, lower_better, no_reference=no_reference, weights=_pyiqa_weights,
                  options=(('metric', name),), bench=bench)


_PYIQA_BENCH = 'pyiqa'
# pyiqa's no-reference metrics without a record of their own, for when pyiqa is not there to say (its `metric_mode`)
_PYIQA_NO_REFERENCE = (
    'nrqm', 'musiq-ava', 'musiq-koniq', 'musiq-paq2piq', 'musiq-spaq', 'maniqa-kadid', 'maniqa-koniq',
    'maniqa-pipal', 'clipiqa+', 'clipiqa+_rn50_512', 'clipiqa+_vitL14_512', 'topiq_nr', 'topiq_nr-flive',
    'topiq_nr-spaq', 'topiq_iaa', 'hyperiqa', 'dbcnn', 'paq2piq', 'nima', 'nima-vgg16-ava', 'cnniqa', 'liqe',
    'liqe_mix', 'arniqa', 'qalign', 'unique', 'tres', 'wadiqam_nr', 'laion_aes', 'uranker', 'entropy',
)
# pyiqa's lower-is-better no-reference variants
_PYIQA_LOWER = ('pi', 'nrqm_lower', 'musiq_lower', 'ma_lower', 'brisque_matlab', 'niqe_matlab')

METRICS: dict[str, Metric] = {m.name: m for m in (
    # full-reference, per image
    Metric('psnr', 'calculate_psnr', 'PSNR'),
    Metric('ssim', 'calculate_ssim', 'SSIM'),
    Metric('lpips', 'calculate_lpips', 'LPIPS', lower_better=True, weights=_lpips_weights,
           stand_in=STAND_IN_WEIGHTS),
    Metric('lpips_vgg', 'calculate_lpips', 'LPIPS-VGG', lower_better=True, weights=_lpips_weights,
           stand_in=STAND_IN_WEIGHTS, options=(('net', 'vgg'),), aliases=('lpips-vgg',)),
    Metric('dists', 'calculate_dists', 'DISTS', lower_better=True, weights=_dists_weights, stand_in=STAND_IN_WEIGHTS),
    # per dataset: the distance between the SR and the HR image distributions
    Metric('fid', 'calculate_fid', 'FID', lower_better=True, per_dataset=True, weights=_inception_weights,
           stand_in=STAND_IN_WEIGHTS),
    Metric('kid', 'calculate_kid', lower_better=True, per_dataset=True, weights=_inception_weights,
           stand_in=STAND_IN_WEIGHTS),
    # no-reference
    Metric('niqe', 'calculate_niqe', 'NIQE', lower_better=True, no_reference=True, too_small=_niqe_too_small,
           bench=BenchEntry("BasicSR's calculate_niqe (Y channel, no border crop)", 'niqe', 'basicsr',
                            (('basicsr', 'metrics/niqe_pris_params.npz'),))),
    Metric('piqe', 'calculate_piqe', 'PIQE', lower_better=True, no_reference=True,
           bench=BenchEntry('pypiqe.piqe (MATLAB piqe port)', 'pypiqe', 'pypiqe')),
    Metric('sfd_iqa', 'calculate_sfd_iqa', 'SFD-IQA', no_reference=True, stand_in=RANDOM_CLIP),
    _pyiqa('brisque', 'BRISQUE', lower_better=True,
           bench=BenchEntry("pyiqa's brisque", _PYIQA_BENCH, 'pyiqa', (('pyiqa', 'brisque_svm_weights.pth'),))),
    _pyiqa('ilniqe', 'IL-NIQE', lower_better=True,
           bench=BenchEntry("pyiqa's ilniqe", _PYIQA_BENCH, 'pyiqa', (('pyiqa', 'ILNIQE_templateModel.mat'),))),
    _pyiqa('clipiqa', 'CLIP-IQA',
           bench=BenchEntry("pyiqa's clipiqa (CLIP RN50, antonym prompts)", _PYIQA_BENCH, 'pyiqa',
                            (('clip', 'RN50.pt'),))),
    _pyiqa('qualiclip', 'QualiCLIP',
           bench=BenchEntry("pyiqa's qualiclip", _PYIQA_BENCH, 'pyiqa', (('clip', 'RN50.pt'),
                                                                          ('pyiqa', 'QualiCLIP.pth')))),
    _pyiqa('musiq', 'MUSIQ'),
    _pyiqa('maniqa', 'MANIQA'),
    *(_pyiqa(name, lower_better=True) for name in _PYIQA_LOWER),
    *(_pyiqa(name) for name in _PYIQA_NO_REFERENCE),
)}


# -- lookups: every table of the package is one of these ----------------------------------------------------------
def metric_key(name: str) -> str:
    """The bare, lower-case name of a metric: ``calculate_LPIPS`` -> ``lpips``, ``lpips-vgg`` stays as it is."""
    key = str(name).strip().lower()
    return key[len('calculate_'):] if key.startswith('calculate_') else key


def named(name: str) -> Optional[Metric]:
    """The record whose name or alias is ``name`` (case ignored), or None."""
    key = str(name).strip().lower()
    return next((m for m in METRICS.values() if key == m.name.lower() or key in (a.lower() for a in m.aliases)),
                None)


def find(name: str) -> Optional[Metric]:
    """The record of a metric name, BasicSR type or alias (case ignored), or None."""
    key = metric_key(name)
    metric = named(key)
    if metric is not None:
        return metric
    for metric in METRICS.values():  # a type whose record has another name (calculate_pyiqa -> brisque...)
        if not metric.options and key == metric_key(metric.type):
            return metric
    return None


def of_type(metric_type: str) -> Optional[Metric]:
    """The first record whose function is ``metric_type`` (its weights and stand-in mark are those of the type)."""
    return next((m for m in METRICS.values() if m.type == metric_type), None)


def size_limited(block: Mapping[str, Any]) -> bool:
    """Whether the metric of a BasicSR block has a smallest image it can measure (its record's ``too_small``)."""
    metric = of_type(str(block.get('type', '')))
    return metric is not None and metric.too_small is not None


def cannot_measure(block: Mapping[str, Any], width: int, height: int) -> Optional[str]:
    """Why the metric of a BasicSR block (``{'type': 'calculate_niqe', ...}``) cannot measure an image of
    ``width`` x ``height`` (None when it can): known from image headers before any image is made."""
    metric = of_type(str(block.get('type', '')))
    return metric.too_small(block, width, height) if metric is not None and metric.too_small else None


def label(name: str, default: Optional[str] = None) -> str:
    """How tables and figures name metric ``name``: its record's label, else ``default`` (else the name)."""
    metric = named(name)
    if metric is not None and metric.label:
        return metric.label
    return name if default is None else default


def lower_is_better(name: str) -> bool:
    """True when a smaller value of the metric ``name`` means a better image; False for names without a record."""
    metric = find(name)
    return bool(metric and metric.lower_better)


def direction(name: str) -> str:
    """``'lower'`` or ``'higher'`` (is better), in the words of BasicSR's ``better`` key."""
    return 'lower' if lower_is_better(name) else 'higher'


def oriented(name: str, values: Any) -> Any:
    """``values`` (a number or an array) turned so that higher is better: negated for lower-is-better metrics.

    Rank and linear correlations with MOS are then positive for every metric that agrees with people.
    """
    return -values if lower_is_better(name) else values


def labels() -> dict[str, str]:
    """``{name: label}`` of every metric that has a label."""
    return {m.name: m.label for m in METRICS.values() if m.label}


def lower_better_names() -> frozenset[str]:
    """The names (and aliases) of every lower-is-better metric."""
    return frozenset(n for m in METRICS.values() if m.lower_better for n in (m.name, *m.aliases))


def bench_baselines() -> dict[str, Metric]:
    """The baselines of ``sfd-iqa bench``, in the order of :data:`METRICS`."""
    return {name: m for name, m in METRICS.items() if m.bench is not None}
