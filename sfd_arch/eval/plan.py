"""The metrics of a model comparison: the option file's ``val.metrics`` plus the metrics of its protocol.

The protocol (``--protocol``, else the option file's ``protocol:``, else ``sfd``) is a named preset of
``sfd_arch.metrics.protocols``: per metric, its colour space, crop, backbone, input range and resizing, and the file
it follows. Its metrics are added where the option file has no block of that name (or of that type, under another
name); a block of the file always wins, and the plan records where each metric's settings came from. Every block
goes through the metric library (``sfd_arch.metrics``), the one door for BasicSR's metrics and this project's; a
preset metric whose weights are missing is skipped with its reason, which the report shows.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

import sfd_arch.metrics as metrics_lib
from sfd_arch.metrics import protocols

# the default protocol's metrics at x4 (kept for callers that list the defaults)
DEFAULT_METRICS = protocols.PROTOCOLS[protocols.DEFAULT_PROTOCOL].blocks(4)

# the no-reference metrics added when a dataset has no ground truth (real-world photos): NIQE and PIQE need no
# weights; pyiqa's are added where pyiqa is installed and their weight files are present
DEFAULT_NR_METRICS = OrderedDict([
    ('niqe', {'type': 'calculate_niqe'}),
    ('piqe', {'type': 'calculate_piqe'}),
])
DEFAULT_PYIQA_NR_METRICS = ('musiq', 'maniqa', 'clipiqa')


class CompareError(ValueError):
    """A problem with the input: the message names the file, model, dataset, image or metric."""


# -- the metric library (sfd_arch.metrics): one door for every metric block ------------------------------------
def known_metric_types() -> list[str]:
    """Every registered metric type, listed in the error on a typo in ``val.metrics``."""
    return metrics_lib.known_metrics()


def is_dataset_metric(metric_opt: dict) -> bool:
    """FID-like metrics take a whole dataset at once: they get one row per model and dataset (image ``*``)."""
    return metrics_lib.is_dataset_metric(metric_opt)


def compute_dataset_metric(metric_opt: dict, sr_images: list[np.ndarray], hr_images: list[np.ndarray],
                           names: Sequence[str], dataset: str) -> float:
    """A dataset-level metric (FID, KID) between paired lists of ``(H, W, 3)`` uint8 BGR images."""
    # looked up on the module at call time, so a test can stand in for the 2048-d Frechet distance
    return float(metrics_lib.compute_dataset_metric(metric_opt, sr_images, hr_images, names=names, dataset=dataset))


def compute_image_metric(metric_opt: dict, sr: np.ndarray, hr: np.ndarray) -> float:
    """One BasicSR metric of one ``(H, W, 3)`` uint8 BGR pair, through ``basicsr.metrics.calculate_metric``."""
    from basicsr.metrics import calculate_metric

    value = calculate_metric({'img': sr, 'img2': hr}, metric_opt)
    return float(value.item()) if hasattr(value, 'item') else float(value)


# -- metrics of a run ---------------------------------------------------------------------------------------------
@dataclass
class MetricPlan:
    """The metrics of a run: ``blocks`` (name -> BasicSR metric block), their directions, what was skipped, the
    protocol and where each metric's settings came from (``origins``: name -> a sentence)."""

    blocks: 'OrderedDict[str, dict]'
    directions: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
    protocol: Optional[protocols.Protocol] = None
    protocol_from: str = ''  # '--protocol', 'the option file' or 'the default'
    origins: dict[str, str] = field(default_factory=dict)
    scale: int = 4
    opt_path: str = ''
    no_reference: set[str] = field(default_factory=set)  # metrics of the SR image alone: for LQ-only datasets too

    def applies(self, name: str, paired: bool) -> bool:
        """Whether metric ``name`` can score a dataset: every metric a paired one, only no-reference ones else."""
        return paired or name in self.no_reference

    def protocol_record(self) -> dict:
        """The protocol as data (``results.json``; the top of ``report.md`` and ``report.html``): its name, who
        chose it, its sources, what it leaves out, and for every metric of the run the choices its block makes and
        where they came from (the preset, with the file it follows, or the option file)."""
        if self.protocol is None:
            return {}
        record = self.protocol.describe(self.scale)
        rows = []
        for name, block in self.blocks.items():
            origin = self.origins.get(name, 'the option file')
            setting = self.protocol.setting(name)
            from_preset = origin.startswith('protocol') and setting is not None
            rows.append({'metric': name, 'type': block.get('type'), **protocols.block_choices(block),
                         'from': origin, 'source': str(setting.source) if from_preset else self.opt_path})
        return {'name': record['name'], 'title': record['title'], 'chosen_by': self.protocol_from,
                'matches': record['matches'], 'sources': record['sources'], 'omitted': record['omitted'],
                'preset': record['metrics'], 'metrics': rows}

    def per_image(self) -> list[str]:
        """Names of the metrics computed on each SR image."""
        return [n for n, b in self.blocks.items() if not is_dataset_metric(b)]

    def per_dataset(self) -> list[str]:
        """Names of the metrics computed once over a whole dataset."""
        return [n for n, b in self.blocks.items() if is_dataset_metric(b)]


def choose_protocol(opt: dict, opt_path: str, protocol: Optional[str]) -> tuple[protocols.Protocol, str]:
    """The run's protocol and who chose it: ``--protocol``, else the option file's ``protocol:``, else ``sfd``."""
    if protocol:
        try:
            return protocols.get_protocol(protocol, '--protocol'), '--protocol'
        except ValueError as err:
            raise CompareError(str(err)) from None
    if opt.get('protocol') is not None:
        try:
            return protocols.get_protocol(str(opt['protocol']), f'{opt_path}: protocol'), 'the option file'
        except ValueError as err:
            raise CompareError(str(err)) from None
    return protocols.PROTOCOLS[protocols.DEFAULT_PROTOCOL], 'the default'


def _differences(file_block: dict, preset_block: dict) -> str:
    """``crop_border 0 (protocol: 4), net vgg (protocol: alex)``: where the file's block departs from the preset."""
    keys = [k for k in dict.fromkeys([*preset_block, *file_block]) if k != 'better'
            and file_block.get(k) != preset_block.get(k)]
    return ', '.join(f'{k} {file_block.get(k, "(absent)")} (protocol: {preset_block.get(k, "absent")})' for k in keys)


def _pyiqa_nr_defaults(blocks: dict, skipped: dict[str, str], wanted: Optional[Sequence[str]]) -> None:
    """pyiqa's common no-reference metrics, each added where pyiqa builds it from local weights, else skipped."""
    from sfd_arch.metrics.pyiqa_metric import pyiqa_network

    for name in DEFAULT_PYIQA_NR_METRICS:
        if name in blocks or (wanted and name not in wanted):
            continue
        try:
            pyiqa_network(name, None, None)  # cached under the key calculate_pyiqa uses: the scores reuse it
        except ImportError:
            skipped[name] = 'pyiqa is not installed (optional: pip install sfd_arch[pyiqa])'
            continue
        except Exception as err:  # MissingWeightsError names the file; anything else is why it cannot be built
            skipped[name] = f'weights missing: {str(err).splitlines()[0]}'
            continue
        blocks[name] = {'type': 'calculate_pyiqa', 'metric': name}


def plan_metrics(opt: dict, opt_path: str, wanted: Optional[Sequence[str]] = None,
                 default_metrics: bool = True, protocol: Optional[str] = None,
                 lq_only: bool = False) -> MetricPlan:
    """The option file's ``val.metrics`` plus the protocol's metrics (see the module docstring).

    A metric of the option file whose type is not registered, or whose weights are missing, is an error; a
    protocol metric without weights is skipped with the reason. ``default_metrics=False`` adds none of the
    protocol's metrics. ``wanted`` keeps only the named metrics.
    ``lq_only``: a dataset has no ground truth, so the no-reference defaults are added too (NIQE, PIQE, and
    pyiqa's MUSIQ, MANIQA and CLIP-IQA where their weights are present).
    """
    scale = int(opt.get('scale', 4))
    preset, chosen_by = choose_protocol(opt, opt_path, protocol)
    blocks: OrderedDict[str, dict] = OrderedDict(
        (name, dict(block)) for name, block in ((opt.get('val') or {}).get('metrics') or {}).items())
    known = known_metric_types()
    for name, block in blocks.items():
        if not isinstance(block, dict) or 'type' not in block:
            raise CompareError(f'{opt_path}: val.metrics.{name} needs a type')
        if block['type'] not in known:
            raise CompareError(f'{opt_path}: val.metrics.{name}: unknown metric type {block["type"]!r}; '
                               f'known: {", ".join(known)}')
    try:
        metrics_lib.check_metric_weights(blocks)
    except FileNotFoundError as err:
        raise CompareError(f'{opt_path}: val.metrics: {err}') from err
    skipped: dict[str, str] = {}
    origins = {name: 'the option file' for name in blocks}
    for name, block in list(blocks.items()):
        if block['type'] == 'calculate_sfd_iqa' and str(block.get('weights', '')).lower() == 'model':
            # `weights: model` means a training run's live Feat-D and LPP, which do not exist here
            skipped[name] = ('weights: model scores with a training run\'s own discriminators; give the file of '
                             '`sfd-iqa export` as weights to score here')
            del blocks[name]
    preset_blocks = preset.blocks(scale)
    for name, block in blocks.items():
        if name in preset_blocks:
            diff = _differences(block, preset_blocks[name])
            origins[name] = (f'the option file, in place of protocol {preset.name}\'s' +
                             (f' ({diff})' if diff else ' (the same settings)'))
    if default_metrics:
        # a block of the file under another name stands for the preset's metric of its type (a file's `lp:
        # {type: calculate_lpips}` is its LPIPS), unless its name is itself one of the preset's
        other_types = {b['type']: n for n, b in blocks.items() if n not in preset_blocks}
        for name, block in preset_blocks.items():
            if name in blocks:
                continue
            stand_in = other_types.get(block['type'])
            if stand_in is not None:
                origins[stand_in] = (f'the option file, in place of protocol {preset.name}\'s {name} '
                                     f'({_differences(blocks[stand_in], block)})')
                continue
            try:
                metrics_lib.check_metric_weights({name: block})
            except FileNotFoundError as err:
                skipped[name] = f'weights missing: {err}'
                continue
            blocks[name] = block
            origins[name] = f'protocol {preset.name} ({preset.setting(name).source})'
        if lq_only:
            for name, block in DEFAULT_NR_METRICS.items():
                if name not in blocks and block['type'] not in {b['type'] for b in blocks.values()}:
                    blocks[name] = dict(block, crop_border=scale)  # the border the full-reference numbers crop
            _pyiqa_nr_defaults(blocks, skipped, wanted)
            origins.update({n: 'added for a dataset without ground truth' for n in blocks if n not in origins})
    if wanted:
        for w in wanted:
            if w in skipped:
                raise CompareError(f'--metrics {w}: not available: {skipped[w]}')
        absent = [w for w in wanted if w not in blocks]
        if absent:
            raise CompareError(f'--metrics: unknown metric(s) {", ".join(absent)}; this run has '
                               f'{", ".join(blocks) or "none"}')
        blocks = OrderedDict((n, blocks[n]) for n in wanted)
    directions = {name: metrics_lib.metric_direction(block) for name, block in blocks.items()}
    no_reference = {name for name, block in blocks.items() if metrics_lib.is_no_reference(block)}
    return MetricPlan(blocks, directions, skipped, protocol=preset, protocol_from=chosen_by, origins=origins,
                      scale=scale, opt_path=opt_path, no_reference=no_reference)
