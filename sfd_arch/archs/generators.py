"""Any SR generator from a file, three ways: the one reader of ``scripts/inference_sfd.py``, ``scripts/compare.py``
and ``sfd_arch/test.py``.

(a) **A bare file** (``.pth`` or ``.safetensors``): a BasicSR ``RRDBNet`` (this project's own checkpoints) is built
    from the shapes of its weights; any other architecture is detected from its keys by spandrel (ESRGAN old and
    new keys, KAIR's RRDBNet, Real-ESRGAN's compact net, SwinIR, HAT, DAT, SPAN and more), an optional package:
    ``pip install sfd_arch[models]``.
(b) **A BasicSR ``network_g`` block** naming any registered architecture (MSRResNet, RRDBNet, SwinIR,
    SRVGGNetCompact, this package's ``KAIRRRDBNet``), given inline (``"{type: MSRResNet, upscale: 4}"``) or as a
    YAML file holding the block or a ``network_g:`` key (a whole BasicSR option file does).
(c) **An experiment folder** (``experiments/<name>``, or a checkpoint in its ``models/``): the option file BasicSR
    copied into it names the network (with the run's ``--force_yml`` overrides, read back from its ``# CMD:``
    line); the checkpoint is ``models/net_g_latest.pth`` (the end of training), else the highest
    ``net_g_<iter>.pth``, or ``net_g_<N>.pth`` for ``iteration=N``.

Every file is read here, weights-only or through safetensors (``sfd_arch.utils.upsampler.read_weights``);
spandrel gets the state dict, never the file. Weights come from ``params_ema`` before ``params`` before the
file itself. The result says which way was taken (``Generator.how``) and carries what the tiler must respect:
the side multiple (SwinIR's and HAT's window), a minimum size, square inputs, and whether half precision works.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
import yaml
from torch import nn

from ..utils import upsampler as tiler
from ..utils.checkpoints import CheckpointError
from ..utils.force_yml import apply_force_yml, recorded_overrides
from ..utils.safe_yaml import OptionFileError, load_yaml
from .kair_rrdbnet_arch import is_kair_rrdb_state, kair_rrdb_options

MODELS_EXTRA = 'pip install sfd_arch[models] (or pip install spandrel)'
_CKPT = re.compile(r'^net_g_(\d+|latest)\.(pth|safetensors)$')


class GeneratorError(ValueError):
    """A file, folder or ``network_g`` block that gives no generator; the message names it and why."""


@dataclass
class Generator:
    """A generator ready for ``TiledUpsampler`` and the words that say where it came from.

    ``way`` is ``rrdbnet`` or ``spandrel`` (a bare file), ``network_g`` or ``experiment``; ``network_g`` is the
    BasicSR block that rebuilds the network (``None`` for an architecture only spandrel knows), ``param_key`` the
    key of the weights in ``path`` (``None``: the file is the state dict itself).
    """

    net: nn.Module
    scale: int
    way: str
    how: str
    path: str
    network_g: Optional[dict] = None
    param_key: Optional[str] = None
    multiple_of: int = 1
    minimum: int = 1
    square: bool = False
    supports_half: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def upsampler(self, tile: int = 0, tile_pad: int = 10, pre_pad: int = 0, half: bool = False,
                  device: Optional[torch.device] = None) -> tiler.TiledUpsampler:
        """The tiled upsampler of this generator, with the architecture's size requirements and half support."""
        return tiler.TiledUpsampler(self.net, self.scale, tile, tile_pad, pre_pad, half=half, device=device,
                                    multiple_of=self.multiple_of, minimum=self.minimum, square=self.square,
                                    supports_half=self.supports_half)


# -- reading files ----------------------------------------------------------------------------------------------
def read_state(path: str) -> tuple[dict, Optional[str]]:
    """``(state dict, params key or None)`` of a checkpoint; every unreadable file is one ``GeneratorError``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        ckpt = tiler.read_weights(path)
    except CheckpointError as err:  # refused by the weights-only loader, or not a checkpoint: its one sentence
        raise GeneratorError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - pickle, zip, weights_only and safetensors errors all mean "unreadable"
        raise GeneratorError(f'{path}: cannot read it as a PyTorch or safetensors checkpoint '
                             f'({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""})') from None
    try:
        state, where = tiler.generator_state(ckpt, path)
    except ValueError as err:
        raise GeneratorError(str(err)) from None
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    if not tensors:
        raise GeneratorError(f'{path}: holds no tensors (keys {list(state)[:5]})')
    return tensors, (where if where in ('params_ema', 'params') else None)


def parse_network_g(spec: Union[str, dict], source: str = '--network_g') -> dict:
    """A ``network_g`` block from a dict, an inline YAML mapping or a YAML file (the block, or a file with a
    ``network_g:`` key such as a BasicSR option file), read with the safe loader."""
    if isinstance(spec, dict):
        block, where = dict(spec), source
    else:
        text, where = spec, source
        if osp.isfile(spec):
            where = spec
            with open(spec, encoding='utf-8') as f:
                text = f.read()
        try:
            block = load_yaml(text, where)
        except (yaml.YAMLError, OptionFileError) as err:
            raise GeneratorError(f'{where}: not valid YAML ({str(err).splitlines()[0]})') from None
        if isinstance(block, str) and not osp.isfile(spec):
            raise GeneratorError(f'{source} {spec!r}: neither a YAML file nor a mapping such as '
                                 '"{type: MSRResNet, upscale: 4}"')
        if isinstance(block, dict) and isinstance(block.get('network_g'), dict):
            block = dict(block['network_g'])
    if not isinstance(block, dict) or 'type' not in block:
        raise GeneratorError(f'{where}: a network_g block needs a `type` (a registered architecture), got {block!r}')
    return block


def _probe_scale(net: nn.Module, multiple_of: int, minimum: int, in_ch: int, source: str) -> int:
    """The scale of a network, measured on a small input (block keys differ: ``scale``, ``upscale``...)."""
    side = max(16, minimum)
    side = -(-side // multiple_of) * multiple_of
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, in_ch, side, side))
    except Exception as err:  # noqa: BLE001 - any failure of a forward pass is the network's
        raise GeneratorError(f'{source}: the network fails on a {side}x{side} input ({type(err).__name__}: '
                             f'{str(err).splitlines()[0] if str(err) else ""})') from None
    if out.ndim != 4 or out.shape[2] % side or out.shape[2] != out.shape[3]:
        raise GeneratorError(f'{source}: a {side}x{side} input gives an output of shape {tuple(out.shape)}, not an '
                             'integer upscaling')
    if out.shape[1] != 3:
        raise GeneratorError(f'{source}: the network outputs {out.shape[1]} channels; RGB (3) is needed')
    return out.shape[2] // side


def _block_requirements(block: dict, net: nn.Module) -> tuple[int, int]:
    """``(multiple_of, input channels)`` of a network built from a block: SwinIR and HAT pad inputs to their
    window in their BasicSR models (not in the network), so the tiler must; a BasicSR RRDBNet folds x2 / x1."""
    from basicsr.archs.rrdbnet_arch import RRDBNet

    if isinstance(net, RRDBNet):
        multiple = tiler.rrdb_size_multiple(int(block.get('scale', 4)))
    else:
        multiple = int(block.get('window_size') or 1)
    in_ch = int(block.get('num_in_ch', block.get('in_chans', 3)))
    return multiple, in_ch


def from_block(block: dict, path: str, source: str, way: str = 'network_g', how: str = '') -> Generator:
    """(b): build ``block`` with BasicSR's ``build_network`` and load ``path`` into it (strict)."""
    from basicsr.archs import build_network
    from basicsr.utils.registry import ARCH_REGISTRY

    block = dict(block)
    arch = block.get('type')
    if arch not in ARCH_REGISTRY:  # `in`: completes a pending registration (sfd_arch.registration)
        names = sorted(n for n, _ in ARCH_REGISTRY if not n.endswith('_basicsr'))
        raise GeneratorError(f'{source}: network_g.type {arch!r} is not a registered architecture (known: '
                             f'{", ".join(names)})')
    try:
        net = build_network(dict(block))
    except Exception as err:  # noqa: BLE001 - a wrong constructor argument raises TypeError, ValueError, ...
        raise GeneratorError(f'{source}: cannot build network_g {block} ({type(err).__name__}: {err})') from None
    state, key = read_state(path)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise GeneratorError(f'{path}: its weights do not fit network_g {block} from {source}: '
                             f'{str(err).splitlines()[1 if len(str(err).splitlines()) > 1 else 0].strip()}') from None
    net.eval()
    multiple, in_ch = _block_requirements(block, net)
    scale = _probe_scale(net, multiple, 1, in_ch, f'{path} ({arch})')
    weights = f'{key} of {path}' if key else path
    return Generator(net, scale, way, how or f'network_g {arch} ({source}), weights {weights}', path, block, key,
                     multiple_of=multiple)


# -- (a) a bare file --------------------------------------------------------------------------------------------
def spandrel_loader() -> Any:
    """spandrel's ``ModelLoader``; a clear sentence when the optional package is missing."""
    try:
        from spandrel import ModelLoader
    except ImportError:
        raise GeneratorError('detecting the architecture of a file needs the optional package spandrel: '
                             f'{MODELS_EXTRA}; or name the network with a network_g block') from None
    return ModelLoader()


def from_spandrel(state: dict, path: str, key: Optional[str]) -> Generator:
    """(a) for anything that is not a BasicSR RRDBNet: spandrel detects the architecture from the keys."""
    loader = spandrel_loader()
    from spandrel import ImageModelDescriptor, UnsupportedModelError

    try:
        desc = loader.load_from_state_dict(state)
    except UnsupportedModelError:
        raise GeneratorError(f'{path}: spandrel does not recognise this architecture (keys start with '
                             f'{list(state)[:4]}); name it with a network_g block') from None
    except Exception as err:  # noqa: BLE001 - a known architecture with odd shapes fails inside spandrel's loader
        raise GeneratorError(f'{path}: spandrel cannot load it ({type(err).__name__}: {err})') from None
    if not isinstance(desc, ImageModelDescriptor) or desc.input_channels != 3 or desc.output_channels != 3:
        raise GeneratorError(f'{path}: spandrel reads a {desc.architecture.name} that is not an RGB -> RGB image '
                             'model')
    req = desc.size_requirements
    weights = f'{key} of {path}' if key else path
    how = (f'spandrel: {desc.architecture.name} x{desc.scale}'
           f'{" (" + ", ".join(desc.tags) + ")" if desc.tags else ""}, weights {weights}')
    return Generator(desc.model.eval(), int(desc.scale), 'spandrel', how, path, None, key,
                     multiple_of=int(req.multiple_of), minimum=int(req.minimum), square=bool(req.square),
                     supports_half=bool(desc.supports_half), extra={'architecture': desc.architecture.id})


def from_file(path: str, fallback_block: Optional[dict] = None, fallback_source: str = '') -> Generator:
    """(a): a BasicSR RRDBNet read from its weights, else ``fallback_block`` when the weights fit it (the option
    file's ``network_g`` in a comparison), else spandrel."""
    state, key = read_state(path)
    weights = f'{key} of {path}' if key else path
    try:
        opts = tiler.rrdb_options_from_state(state, path)
    except ValueError as rrdb_err:
        reasons = [f'not a BasicSR RRDBNet ({str(rrdb_err).split(": ", 1)[-1]})']
        if fallback_block and fallback_block.get('type') != 'RRDBNet':
            try:
                return from_block(fallback_block, path, fallback_source)
            except GeneratorError as err:
                reasons.append(f"not {fallback_source}'s network_g ({err})")
        try:
            return from_spandrel(state, path, key)
        except GeneratorError as err:
            reasons.append(str(err).replace(f'{path}: ', '', 1))
        if is_kair_rrdb_state(state):  # the authors' layout needs no detection: say which block reads it
            block = {'type': 'KAIRRRDBNet', **kair_rrdb_options(state, path)}
            inline = yaml.safe_dump(block, width=1000, default_flow_style=True, sort_keys=False).strip()
            reasons.append(f"its keys are KAIR's RRDBNet layout: use network_g {inline}")
        raise GeneratorError(f'{path} holds no generator: ' + '; '.join(reasons)) from None
    if opts['num_in_ch'] != 3 or opts['num_out_ch'] != 3:
        raise GeneratorError(f'{path}: expected an RGB -> RGB RRDBNet, got {opts["num_in_ch"]} -> '
                             f'{opts["num_out_ch"]} channels')
    net, scale = tiler.build_generator(path)
    return Generator(net, scale, 'rrdbnet', f'BasicSR RRDBNet x{scale} read from the weights ({weights})', path,
                     {'type': 'RRDBNet', **opts}, key, multiple_of=tiler.rrdb_size_multiple(scale))


# -- (c) an experiment folder -----------------------------------------------------------------------------------
def experiment_of(path: str) -> Optional[str]:
    """The experiment folder of a checkpoint in ``<experiment>/models/`` that has an option file, else ``None``."""
    models = osp.dirname(osp.abspath(path))
    if osp.basename(models) != 'models':
        return None
    root = osp.dirname(models)
    return root if glob.glob(osp.join(root, '*.yml')) + glob.glob(osp.join(root, '*.yaml')) else None


def experiment_block(root: str) -> tuple[dict, str, dict]:
    """``(network_g, option file, options)`` of an experiment folder, with the run's recorded overrides."""
    files = sorted(glob.glob(osp.join(root, '*.yml')) + glob.glob(osp.join(root, '*.yaml')))
    if not files:
        raise GeneratorError(f'{root}: no option file (*.yml) in the experiment folder')
    named = [f for f in files if osp.splitext(osp.basename(f))[0] == osp.basename(osp.normpath(root))]
    opt_path = (named or sorted(files, key=osp.getmtime))[-1]  # the run's own name, else the newest copy
    with open(opt_path, encoding='utf-8') as f:
        text = f.read()
    try:
        opt = load_yaml(text, opt_path) or {}
    except (yaml.YAMLError, OptionFileError) as err:
        raise GeneratorError(f'{opt_path}: not valid YAML ({str(err).splitlines()[0]})') from None
    if not isinstance(opt, dict) or not isinstance(opt.get('network_g'), dict):
        raise GeneratorError(f'{opt_path}: no network_g block')
    try:
        apply_force_yml(opt, recorded_overrides(text))
    except (KeyError, ValueError) as err:
        raise GeneratorError(f'{opt_path}: its recorded --force_yml cannot be applied again: {err.args[0]}') from None
    return dict(opt['network_g']), opt_path, opt


def experiment_checkpoint(root: str, iteration: Optional[Union[int, str]] = None) -> str:
    """``models/net_g_<iteration>.pth``; by default ``net_g_latest.pth``, else the highest iteration saved."""
    models = osp.join(root, 'models')
    if not osp.isdir(models):
        raise GeneratorError(f'{root}: no models folder (expected models/net_g_<iter>.pth)')
    saved = {m.group(1): osp.join(models, name) for name in os.listdir(models) if (m := _CKPT.match(name))}
    if iteration is not None:
        if str(iteration) not in saved:
            numbers = sorted(int(t) for t in saved if t != 'latest')
            listed = ', '.join(map(str, numbers)) + (', latest' if 'latest' in saved else '')
            raise GeneratorError(f'{models}: no net_g_{iteration}.pth (saved: {listed.strip(", ") or "none"})')
        return saved[str(iteration)]
    if 'latest' in saved:
        return saved['latest']
    numbers = sorted(int(t) for t in saved)
    if not numbers:
        raise GeneratorError(f'{models}: no net_g_<iter>.pth checkpoint')
    return saved[str(numbers[-1])]


def from_experiment(root: str, checkpoint: Optional[str] = None,
                    iteration: Optional[Union[int, str]] = None) -> Generator:
    """(c): the network of the experiment's option file, the weights of ``checkpoint`` or of the chosen one."""
    block, opt_path, opt = experiment_block(root)
    chosen = 'given'
    if checkpoint is None:
        checkpoint = experiment_checkpoint(root, iteration)
        chosen = f'iteration {iteration}' if iteration is not None else (
            'the latest' if checkpoint.endswith(('_latest.pth', '_latest.safetensors')) else 'the highest iteration')
    state, key = read_state(checkpoint)
    weights = f'{key} of {osp.basename(checkpoint)}' if key else osp.basename(checkpoint)
    how = (f'experiment folder {root}: network_g {block.get("type")} from {osp.basename(opt_path)}, '
           f'checkpoint {osp.basename(checkpoint)} ({chosen}), weights {weights}')
    gen = from_block(block, checkpoint, opt_path, way='experiment', how=how)
    gen.extra['opt_scale'] = opt.get('scale')
    return gen


# -- the one door -----------------------------------------------------------------------------------------------
def load_generator(path: str, network_g: Optional[Union[str, dict]] = None,
                   iteration: Optional[Union[int, str]] = None, fallback_block: Optional[dict] = None,
                   fallback_source: str = 'the option file') -> Generator:
    """The generator of ``path``: an experiment folder (c), a file with an explicit ``network_g`` (b), a checkpoint
    in an experiment's ``models/`` (c), else a bare file (a). See the module docstring.

    ``fallback_block`` (a comparison's option-file ``network_g``) is tried for a bare file that is not a BasicSR
    RRDBNet, before spandrel. Raises ``FileNotFoundError`` for a missing path, ``GeneratorError`` otherwise.
    """
    if osp.isdir(path):
        if network_g is not None:
            raise GeneratorError(f'{path} is an experiment folder: its option file names the network; give a '
                                 'checkpoint file with a network_g block instead')
        return from_experiment(path, iteration=iteration)
    if not osp.isfile(path):
        raise FileNotFoundError(f'model file not found: {path}')
    if iteration is not None:
        raise GeneratorError(f'an iteration ({iteration}) picks a checkpoint of an experiment folder; {path} is a file')
    if network_g is not None:
        source = network_g if isinstance(network_g, str) and osp.isfile(network_g) else 'the command line'
        return from_block(parse_network_g(network_g), path, source)
    root = experiment_of(path)
    if root is not None:
        return from_experiment(root, checkpoint=path)
    return from_file(path, fallback_block, fallback_source)
