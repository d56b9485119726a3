"""The SFD-IQA weights file: trained Feat-D + LPP and the CLIP description needed to rebuild them.

One ``torch.save`` dict, read with ``weights_only=True``:

    {'format': 'sfd-iqa', 'version': 1,
     'clip':  the normalised `clip:` block (model, pretrained, layers, model_cfg, ...): no CLIP weights,
     'featd': {'kwargs': FeatD constructor args (in_channels, num_feat, depth, kernel_size), 'params': state dict},
     'lpp':   {'kwargs': PromptLearner constructor args (n_ctx, pos, neg, ctx_init | learnable: false), 'params': ...},
     'source': where it came from (experiment, iteration, files)}

A run trained with only one of the two discriminators (the ablations ``featd_only`` / ``tgd_only``, see
docs/ablations.md) exports ``'lpp': None`` or ``'featd': None``; the scorer then uses ``q_feat`` or ``p_pos`` alone.

CLIP weights never go in (docs/design.md, "1 The method": CLIP is frozen): they come from the recorded
``clip.pretrained`` (a tag or a file) or an override when the file is loaded. A ``pretrained: null`` record means
random CLIP weights (tests only). ``export_experiment`` / ``export_files`` turn BasicSR training outputs
(``net_featd_<iter>.pth`` and ``net_lpp_<iter>.pth`` saved as ``{'params': state_dict}`` plus the option file) into
such a file.
"""
from __future__ import annotations

import glob
import inspect
import logging
import os
import os.path as osp
import re
from typing import Optional, Sequence, Union

import torch

from ..archs.clip_arch import normalize_clip_opt
from ..archs.featd_arch import FeatD
from ..archs.prompt_learner_arch import PromptLearner
from ..utils.checkpoints import CheckpointError, load_checkpoint
from ..utils.discriminators import BY_NAME, DISCRIMINATORS
from ..utils.files import atomic_path
from ..utils.force_yml import apply_force_yml, recorded_overrides
from ..utils.safe_yaml import OptionFileError, load_yaml
from ..utils.switches import sfd_switches  # the one reading of the ablation switches

logger = logging.getLogger('basicsr')

WEIGHTS_FORMAT = 'sfd-iqa'
WEIGHTS_VERSION = 1
# what makes an option file one of an SFD run (an upstream ESRGAN file has none of these)
SFD_MODELS = ('SFDModel', 'RealSFDModel')
SFD_BLOCKS = ('clip', *(spec.network_key for spec in DISCRIMINATORS))
_CKPT = re.compile(rf'^net_({"|".join(BY_NAME)})_(\d+|latest)\.pth$')


class ExportError(RuntimeError):
    """Training outputs cannot be turned into an SFD-IQA weights file; the message names the file or key."""


# --------------------------------------------------------------------------------------------------------
# Reading training outputs
# --------------------------------------------------------------------------------------------------------

def load_params(path: str, param_key: str = 'params') -> dict[str, torch.Tensor]:
    """The state dict in a BasicSR ``save_network`` file (``{'params': sd}``), or a bare state dict."""
    if not osp.isfile(path):
        raise ExportError(f'checkpoint not found: {path}')
    try:
        state = load_checkpoint(path, 'network checkpoint')  # weights-only, or .safetensors
    except (CheckpointError, OSError) as err:
        raise ExportError(str(err)) from None
    if isinstance(state, dict) and param_key in state and isinstance(state[param_key], dict):
        state = state[param_key]
    elif not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        keys = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise ExportError(f"{path}: expected BasicSR's {{'{param_key}': state_dict}} or a state dict, found {keys}")
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _apply_recorded_overrides(opt: dict, text: str, opt_path: str) -> None:
    """A run's ``--force_yml`` overrides, read back from the command BasicSR recorded at the top of its copy of the
    option file: the copy itself is the file as it was on disk, so without them export would describe another run
    (another CLIP, say) than the one whose checkpoints it packs."""
    overrides = recorded_overrides(text)
    if not overrides:
        return
    try:
        forced = apply_force_yml(opt, overrides)
    except (KeyError, ValueError) as err:
        raise ExportError(f'{opt_path}: the recorded command line cannot be applied again: {err.args[0]}; '
                          'pass the option file the run used with --opt') from err
    logger.info(f'{opt_path}: applied the run\'s --force_yml overrides of {", ".join(forced)}')


def read_option_blocks(opt_path: str) -> tuple[Optional[dict], ...]:
    """``(clip, network_featd, network_lpp)`` blocks of a BasicSR option file (one per spec of
    utils/discriminators.py, in their order), defaults where absent; ``None`` for a network the run turned off
    (``network_featd: ~``, ``train.featd_opt: ~``, ...)."""
    clip_opt, blocks = network_blocks(opt_path)
    return (clip_opt, *blocks.values())


def network_blocks(opt_path: str) -> tuple[dict, dict[str, Optional[dict]]]:
    """``(clip block, {spec name: network block or None})`` of a BasicSR option file (``read_option_blocks``)."""
    if not osp.isfile(opt_path):
        raise ExportError(f'option file not found: {opt_path}')
    with open(opt_path, encoding='utf-8') as f:
        text = f.read()
    try:
        opt = load_yaml(text, opt_path) or {}  # safe tags only, no key twice
    except OptionFileError as err:
        raise ExportError(str(err)) from None
    if not isinstance(opt, dict):
        raise ExportError(f'option file {opt_path} does not hold a mapping of options')
    _apply_recorded_overrides(opt, text, opt_path)
    if not any(key in opt for key in SFD_BLOCKS) and opt.get('model_type') not in SFD_MODELS:
        raise ExportError(f'{opt_path} is not the option file of an SFD run: expected model_type '
                          f'{" or ".join(SFD_MODELS)} or the SFD blocks ({", ".join(SFD_BLOCKS)}), '
                          f'found model_type {opt.get("model_type")!r} and none of those blocks')
    try:
        clip_opt = normalize_clip_opt(opt.get('clip'))
    except (KeyError, ValueError) as err:
        raise ExportError(f'{opt_path}: {err}') from err

    try:
        switches = sfd_switches(opt, source=opt_path)
    except (KeyError, ValueError) as err:
        raise ExportError(str(err.args[0])) from err
    if not switches.uses_clip:
        raise ExportError(f'{opt_path}: this run trained neither Feat-D nor LPP (image-D-only ablation): there is no '
                          'SFD-IQA to export')
    return clip_opt, {spec.name: spec.network_opt(opt) if switches.trains(spec) else None for spec in DISCRIMINATORS}


def find_checkpoints(experiment: str, iteration: Union[int, str, None] = None,
                     nets: Sequence[str] = tuple(BY_NAME)) -> tuple[Optional[str], ...]:
    """``(featd_path, lpp_path, iteration)`` in ``<experiment>/models`` (one path per spec, in their order);
    ``None`` for a network not in ``nets`` (a run that trained only one of them).

    ``iteration=None`` takes the highest iteration saved for every network of ``nets``, and ``latest`` (BasicSR's
    end-of-training save) only when no numbered set exists; an int or ``'latest'`` picks that one.
    """
    nets = [n for n in BY_NAME if n in nets]
    if not nets:
        raise ExportError('find_checkpoints: no network to look for')
    models = osp.join(experiment, 'models')
    if not osp.isdir(experiment):
        raise ExportError(f'experiment folder not found: {experiment}')
    if not osp.isdir(models):
        expected = ' and '.join(spec.checkpoint_file('<iter>') for spec in DISCRIMINATORS)
        raise ExportError(f'no models folder in the experiment: {models} (expected {expected} saved by SFDModel)')
    if iteration is not None:
        tag = str(iteration)
        paths = {net: osp.join(models, BY_NAME[net].checkpoint_file(tag)) for net in nets}
        absent = [p for p in paths.values() if not osp.isfile(p)]
        if absent:
            raise ExportError(f'missing checkpoint file(s) for iteration {tag}: {", ".join(absent)}')
        return (*(paths.get(name) for name in BY_NAME), tag)
    saved: dict[str, set[str]] = {name: set() for name in BY_NAME}
    for name in os.listdir(models):
        match = _CKPT.match(name)
        if match:
            saved[match.group(1)].add(match.group(2))
    both = set.intersection(*(saved[n] for n in nets))
    numbered = sorted((int(t) for t in both if t != 'latest'), reverse=True)
    if numbered:
        tag = str(numbered[0])
    elif 'latest' in both:
        tag = 'latest'
    else:
        wanted = ('pair of ' if len(nets) > 1 else '') + ' and '.join(BY_NAME[n].checkpoint_file('<iter>')
                                                                      for n in nets)
        lonely = sorted(set.union(*(saved[n] for n in nets)) - both) if len(nets) > 1 else []
        hint = f' (only one network saved for: {", ".join(lonely)})' if lonely else ''
        raise ExportError(f'no {wanted} in {models}{hint}')
    paths = {net: osp.join(models, BY_NAME[net].checkpoint_file(tag)) for net in nets}
    return (*(paths.get(name) for name in BY_NAME), tag)


def find_option_file(experiment: str) -> str:
    """The option file BasicSR copied into the experiment folder (the newest ``*.yml`` when there are several)."""
    candidates = sorted(glob.glob(osp.join(experiment, '*.yml')) + glob.glob(osp.join(experiment, '*.yaml')))
    if not candidates:
        raise ExportError(f'no option file (*.yml) in {experiment}; pass it with --opt')
    if len(candidates) > 1:
        candidates.sort(key=osp.getmtime)
        logger.warning(f'{len(candidates)} option files in {experiment}; using the newest, {candidates[-1]} '
                       '(pass --opt to choose)')
    return candidates[-1]


# --------------------------------------------------------------------------------------------------------
# Building and checking the payload
# --------------------------------------------------------------------------------------------------------

def _network_kwargs(block: dict, cls: type, name: str, source: str) -> dict:
    block = dict(block)
    net_type = block.pop('type', cls.__name__)
    if net_type != cls.__name__:
        raise ExportError(f'{source}: {name}.type is {net_type!r}; SFD-IQA needs {cls.__name__}')
    allowed = set(inspect.signature(cls.__init__).parameters) - {'self', 'clip'}
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ExportError(f'{source}: unknown key(s) in {name}: {", ".join(unknown)} '
                          f'(known: {", ".join(sorted(allowed))})')
    return block


def featd_kwargs_from_state(state: dict[str, torch.Tensor], block: dict, source: str) -> dict:
    """FeatD constructor args: the option block's, with ``in_channels`` read from the weights and checked."""
    kwargs = _network_kwargs(block, FeatD, 'network_featd', source)
    first_convs = sorted((k for k in state if re.fullmatch(r'heads\.\d+\.0\.weight(_orig)?', k)),
                         key=lambda k: int(k.split('.')[1]))
    if not first_convs:
        raise ExportError(f'{source}: the Feat-D state dict has no heads.<i>.0.weight_orig (not a FeatD checkpoint?)')
    kwargs['in_channels'] = [int(state[k].shape[1]) for k in first_convs]
    try:
        net = FeatD(**kwargs)
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ExportError(f'{source}: the Feat-D weights do not fit network_featd {block}: {err}') from err
    return kwargs


def lpp_kwargs_from_state(state: dict[str, torch.Tensor], block: dict, source: str) -> dict:
    """PromptLearner constructor args, checked against the learned context ``ctx`` of shape (2, n_ctx, width)
    (fixed prompts, ``learnable: false``: against the prompts' ``tokens``, the only entry of their state dict)."""
    kwargs = _network_kwargs(block, PromptLearner, 'network_lpp', source)
    if kwargs.get('learnable', True) is False:
        if set(state) != {'tokens'}:
            raise ExportError(f'{source}: network_lpp has learnable: false but the LPP checkpoint holds '
                              f'{", ".join(sorted(state))} (fixed prompts save only their tokens)')
        return kwargs
    ctx = state.get('ctx')
    if ctx is None or ctx.dim() != 3 or ctx.shape[0] != 2:
        raise ExportError(f'{source}: the LPP state dict has no ctx of shape (2, n_ctx, width) (not a PromptLearner '
                          f'checkpoint?); keys: {", ".join(list(state)[:5])}')
    n_ctx = int(ctx.shape[1])
    if 'n_ctx' in kwargs and int(kwargs['n_ctx']) != n_ctx:
        raise ExportError(f'{source}: network_lpp.n_ctx is {kwargs["n_ctx"]} but the LPP weights have {n_ctx} '
                          'context vectors')
    kwargs['n_ctx'] = n_ctx
    return kwargs


def _entry(kwargs: Optional[dict], state: Optional[dict]) -> Optional[dict]:
    if kwargs is None:
        return None
    return {'kwargs': dict(kwargs), 'params': {k: v.detach().cpu() for k, v in state.items()}}


# how each network's constructor arguments are read from its weights and checked (by spec name)
KWARGS_FROM_STATE = {'featd': featd_kwargs_from_state, 'lpp': lpp_kwargs_from_state}


def make_payload(clip_opt: dict, networks: dict[str, Optional[tuple[dict, dict]]],
                 source: Optional[dict] = None) -> dict:
    """The weights-file dict; ``networks`` maps each spec name to ``(kwargs, state dict)``, ``None`` (or absent)
    for a network the run did not train (at least one is needed)."""
    if all(networks.get(name) is None for name in BY_NAME):
        raise ExportError(f'an SFD-IQA weights file needs {_any_of_networks()}; got neither')
    return {
        'format': WEIGHTS_FORMAT,
        'version': WEIGHTS_VERSION,
        'clip': normalize_clip_opt(clip_opt),
        **{name: _entry(*(networks.get(name) or (None, None))) for name in BY_NAME},
        'source': dict(source or {}),
    }


def _any_of_networks() -> str:
    labels = [spec.network_label for spec in DISCRIMINATORS]
    return ', '.join(labels[:-1]) + f' or {labels[-1]}' + (' or both' if len(labels) == 2 else '')


def save_weights(payload: dict, output: str, overwrite: bool = False) -> str:
    """Write the payload atomically (a partial file never replaces a good one)."""
    if osp.exists(output) and not overwrite:
        raise ExportError(f'output exists: {output} (pass overwrite / --overwrite to replace it)')
    with atomic_path(output) as tmp:
        torch.save(payload, tmp)
    return output


# what a file from elsewhere is told: the authors link "OU NR-IQA" weights from their repository but have not
# published the format (their training and testing code is not public), so no reader of it can be written
FOREIGN_WEIGHTS = ('{path} is not an SFD-IQA weights file written by `sfd-iqa export`: weights from elsewhere, such '
                   "as the SFD authors' released OU NR-IQA weights (GuangluDong0728/SFD), are in a format they have "
                   'not published, so sfd-iqa cannot read them.')


def load_weights(path: str) -> dict:
    """Read and check an SFD-IQA weights file; errors name the file and what is wrong."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'SFD-IQA weights file not found: {path} (make one with `sfd-iqa export`)')
    try:
        payload = load_checkpoint(path, 'SFD-IQA weights file')
    except CheckpointError as err:
        if err.refused:  # the weights-only loader's refusal, in its own sentence
            raise ValueError(str(err)) from None
        raise ValueError(f'{path} is not an SFD-IQA weights file: expected the .pth file that `sfd-iqa export` '
                         f'writes from an SFD experiment, but torch cannot read it ({err.reason})') from None
    if not isinstance(payload, dict) or payload.get('format') != WEIGHTS_FORMAT:
        if isinstance(payload, dict) and 'params' in payload:
            raise ValueError(f'{path} is not an SFD-IQA weights file: it looks like a BasicSR network checkpoint; '
                             'turn net_featd_<iter>.pth + net_lpp_<iter>.pth into an SFD-IQA file with '
                             '`sfd-iqa export`.')
        raise ValueError(FOREIGN_WEIGHTS.format(path=path))
    if int(payload.get('version', 0)) > WEIGHTS_VERSION:
        raise ValueError(f'{path} has SFD-IQA weights format version {payload["version"]}; this sfd_arch reads up '
                         f'to version {WEIGHTS_VERSION}: upgrade sfd_arch')
    for key in ('clip', *BY_NAME):
        if key not in payload:
            raise ValueError(f'SFD-IQA weights file {path} has no {key!r} entry')
    if all(payload[name] is None for name in BY_NAME):
        raise ValueError(f'SFD-IQA weights file {path} holds neither Feat-D nor LPP weights')
    return payload


# --------------------------------------------------------------------------------------------------------
# The two export routes
# --------------------------------------------------------------------------------------------------------

def export_files(featd: Optional[str], lpp: Optional[str], opt: str, output: str, overwrite: bool = False,
                 source: Optional[dict] = None) -> dict:
    """Explicit files -> SFD-IQA weights file. Returns the payload written.

    ``featd`` / ``lpp`` may be ``None`` exactly when the option file turned that network off.
    """
    return export_checkpoints({'featd': featd, 'lpp': lpp}, opt, output, overwrite, source)


def export_checkpoints(checkpoints: dict[str, Optional[str]], opt: str, output: str, overwrite: bool = False,
                       source: Optional[dict] = None) -> dict:
    """``{spec name: checkpoint file or None}`` + option file -> SFD-IQA weights file (``export_files``)."""
    missing = [f'{what} {p}' for what, p in [
        *((f'{spec.network_label} checkpoint', checkpoints.get(spec.name)) for spec in DISCRIMINATORS),
        ('option file', opt)] if p is not None and not osp.isfile(p)]
    if missing:
        raise ExportError('missing: ' + '; '.join(missing))
    clip_opt, blocks = network_blocks(opt)
    networks: dict[str, Optional[tuple[dict, dict]]] = {}
    for spec in DISCRIMINATORS:
        label, flag, path, block = spec.network_label, spec.name, checkpoints.get(spec.name), blocks[spec.name]
        if block is None and path is not None:
            raise ExportError(f'{opt} turns {label} off, but a {label} checkpoint was given ({path}): '
                              'pass the option file of the run that saved it')
        if block is not None and path is None:
            raise ExportError(f'{opt} trains {label}: give its checkpoint (--{flag} {spec.checkpoint_file("<iter>")})')
    for spec in DISCRIMINATORS:
        path = checkpoints.get(spec.name)
        if path is not None:
            state = load_params(path)
            networks[spec.name] = (KWARGS_FROM_STATE[spec.name](state, blocks[spec.name], path), state)
    info = {**{spec.name: checkpoints.get(spec.name) and osp.abspath(checkpoints[spec.name])
               for spec in DISCRIMINATORS}, 'opt': osp.abspath(opt), **(source or {})}
    payload = make_payload(clip_opt, networks, info)
    save_weights(payload, output, overwrite)
    logger.info(f'SFD-IQA weights written to {output} (CLIP {clip_opt["model"]}, taps {clip_opt["layers"]}; '
                f'{describe_payload(payload)})')
    return payload


def describe_payload(payload: dict) -> str:
    """What a weights file scores with: both networks, or one of them alone (and so which quantity)."""
    if payload.get('featd') is None:
        fixed = (payload['lpp']['kwargs'].get('learnable', True) is False)
        return f"TG-D only{' (fixed prompts)' if fixed else ''}: score = p_pos"
    if payload.get('lpp') is None:
        return 'Feat-D only: score = q_feat'
    fixed = payload['lpp']['kwargs'].get('learnable', True) is False
    return f"Feat-D + TG-D{' (fixed prompts)' if fixed else ''}: score = alpha * q_feat + (1 - alpha) * p_pos"


def export_experiment(experiment: str, output: str, iteration: Union[int, str, None] = None,
                      opt: Optional[str] = None, overwrite: bool = False) -> dict:
    """``experiments/<name>`` (latest pair, or ``iteration``) -> SFD-IQA weights file."""
    if not osp.isdir(experiment):
        raise ExportError(f'experiment folder not found: {experiment} (expected the folder BasicSR writes for an '
                          'SFD run, experiments/<name>, with models/net_featd_<iter>.pth, models/net_lpp_<iter>.pth '
                          'and the option .yml)')
    opt = opt or find_option_file(experiment)
    _, blocks = network_blocks(opt)
    nets = [name for name, block in blocks.items() if block is not None]
    *paths, tag = find_checkpoints(experiment, iteration, nets)
    source = {'experiment': osp.abspath(experiment), 'iteration': tag}
    return export_checkpoints(dict(zip(BY_NAME, paths)), opt, output, overwrite, source)
