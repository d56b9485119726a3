"""The weight files a run opens, checked before BasicSR starts: ``path.pretrain_network_*`` and
``path.resume_state`` loadable and fitting the networks of the file, the CLIP weights of an SFD run, and the
torchvision backbone of ``perceptual_opt``.

Otherwise each fails after BasicSR has made the experiment folder: a raw ``FileNotFoundError`` or a
``load_state_dict`` size mismatch while the model is built, a ``CLIPWeightsError`` after the data loaders were
built (and, without ``HF_HUB_OFFLINE``, after huggingface_hub retried an unreachable hub for about 46 s: five
retries of 1-8 s for each of two file names), a ``URLError`` from torchvision's download of VGG19.

Checkpoints are read with ``torch.load(weights_only=True, mmap=True)``: no code in the file runs and only the
tensor headers are touched. A network is built on the meta device to compare names and shapes: no memory, and
the weight initialisers are skipped (they fill values nobody reads; on meta they cost most of the build).
"""
from __future__ import annotations

import contextlib
import os.path as osp
from typing import Any, Iterator, Optional

from ..utils import checkpoints
from ..utils.discriminators import BY_NETWORK_KEY

# network option key -> the short name BasicSR uses in path keys (pretrain_network_<short>, param_key_<short>)
BASICSR_NETWORKS = {'network_g': 'g', 'network_d': 'd'}
SFD_NETWORKS = {key: spec.name for key, spec in BY_NETWORK_KEY.items()}


class WeightFileError(ValueError):
    """A weight file of an option file that cannot be loaded into its network; the message names key and file."""


def load_checkpoint(path: str, what: str = 'weights file') -> Any:
    """A checkpoint's contents without running code from it (tensors memory-mapped where the format allows)."""
    try:
        return checkpoints.load_checkpoint(path, what, mmap=True)
    except checkpoints.CheckpointError as err:
        if 'mmap' not in str(err.reason):
            raise
        return checkpoints.load_checkpoint(path, what)  # the legacy (pre-1.6) format


@contextlib.contextmanager
def _no_init() -> Iterator[None]:
    """``torch.nn.init``'s in-place fills as no-ops (meta tensors hold no values to fill)."""
    import torch

    names = [n for n in dir(torch.nn.init) if n.endswith('_') and not n.startswith('_')]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for name in names:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, func in saved.items():
            setattr(torch.nn.init, name, func)


def meta_state_shapes(network_opt: dict[str, Any]) -> Optional[dict[str, tuple[int, ...]]]:
    """Parameter and buffer names -> shapes of the network a block builds (on the meta device), or None when the
    architecture cannot be built there."""
    import torch
    from basicsr.utils.registry import ARCH_REGISTRY

    from .keys import registered

    arch = registered(ARCH_REGISTRY, network_opt.get('type'))
    if arch is None:
        return None
    kwargs = {k: v for k, v in network_opt.items() if k != 'type'}
    try:
        with torch.device('meta'), _no_init():
            net = arch(**kwargs)
    except Exception:  # noqa: BLE001 - an architecture that needs real tensors to build: not compared here
        return None
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _state_of(checkpoint: Any, param_key: Optional[str], where: str, path: str) -> dict[str, Any]:
    """The state dict BasicSR's ``load_network`` takes from a checkpoint (``param_key``, else ``params``)."""
    if not isinstance(checkpoint, dict):
        raise WeightFileError(f'{where}: {path} holds a {type(checkpoint).__name__}, not a state dict')
    if param_key is not None:
        if param_key not in checkpoint and 'params' in checkpoint:
            param_key = 'params'
        if param_key not in checkpoint:
            raise WeightFileError(f'{where}: {path} has no {param_key!r} entry (it has '
                                  f'{", ".join(map(str, list(checkpoint)[:6]))}): set path.param_key_* to one of '
                                  'them, or ~ for a bare state dict')
        checkpoint = checkpoint[param_key]
    if not isinstance(checkpoint, dict):
        raise WeightFileError(f'{where}: {path}[{param_key!r}] is not a state dict')
    return {(k[7:] if str(k).startswith('module.') else k): v for k, v in checkpoint.items()}


def _compare(where: str, path: str, state: dict[str, Any], shapes: dict[str, tuple[int, ...]],
             strict: bool, network: str) -> None:
    given = {k: tuple(getattr(v, 'shape', ())) for k, v in state.items()}
    mismatch = checkpoints.state_mismatch(given, shapes)
    if strict and mismatch:
        raise WeightFileError(f'{where}: {path} does not fit {network} as the file sets it ({mismatch}); '
                              'point it at weights of this architecture, or set its strict_load to false to load '
                              'the parts that fit')


def _load(where: str, path: Any, what: str = 'network checkpoint') -> Any:
    if not isinstance(path, str) or not path:
        raise WeightFileError(f'{where}: expected a file path, got {path!r}')
    if not osp.exists(path):
        raise FileNotFoundError(f'{where}: not found: {path}')
    if not osp.isfile(path):
        raise WeightFileError(f'{where}: {path} is a folder, not a weights file')
    try:
        return load_checkpoint(path, what)
    except checkpoints.CheckpointError as err:  # pickled code the weights-only loader refuses, or not a checkpoint
        raise WeightFileError(f'{where}: {err}') from None
    except Exception as err:  # noqa: BLE001 - truncated, not a checkpoint, or pickled code weights_only refuses
        raise WeightFileError(f'{where}: cannot load {path} as weights ({type(err).__name__}: '
                              f'{str(err).splitlines()[0] if str(err) else err}); give a .pth saved by BasicSR '
                              'or torch.save of a state dict') from None


def check_pretrained(opt: dict[str, Any]) -> None:
    """``path.pretrain_network_*`` of every network the file builds: loadable, and (BasicSR's networks) fitting
    the network's parameter names and shapes under ``strict_load_*``."""
    paths = opt.get('path') or {}
    if paths.get('resume_state'):
        return  # BasicSR loads the networks saved with the state instead (check_resume): see check_resume_state
    for network, short in {**BASICSR_NETWORKS, **SFD_NETWORKS}.items():
        path = paths.get(f'pretrain_network_{short}')
        if not path:
            continue
        where = f'path.pretrain_network_{short}'
        checkpoint = _load(where, path)
        network_opt = opt.get(network)
        if network not in BASICSR_NETWORKS or not isinstance(network_opt, dict):
            continue  # Feat-D and LPP take their channels from CLIP: their shapes are checked when they load
        state = _state_of(checkpoint, paths.get(f'param_key_{short}', 'params'), where, path)
        shapes = meta_state_shapes(network_opt)
        if shapes is not None:
            _compare(where, path, state, shapes, bool(paths.get(f'strict_load_{short}', True)), network)


def check_resume_state(opt: dict[str, Any]) -> None:
    """``path.resume_state``: a loadable training state, and the network files BasicSR then loads beside it
    (``experiments/<name>/models/net_<x>_<iter>.pth``, as ``basicsr.utils.misc.check_resume`` sets them)."""
    paths = opt.get('path') or {}
    path = paths.get('resume_state')
    if not path or opt.get('auto_resume'):
        return
    state = _load('path.resume_state', path, 'training state')
    if not isinstance(state, dict) or 'iter' not in state:
        raise WeightFileError(f'path.resume_state: {path} is not a training state (no `iter`): give a '
                              'training_states/<iter>.state file')
    models = paths.get('models') or osp.join('experiments', str(opt.get('name')), 'models')
    ignored = paths.get('ignore_resume_networks') or []
    for network in opt:
        if str(network).startswith('network_') and network not in ignored:
            file = osp.join(models, f'net_{network[len("network_"):]}_{state["iter"]}.pth')
            if not osp.isfile(file) and not _sfd_network_off(opt, network):
                raise FileNotFoundError(f'path.resume_state: {path} is iteration {state["iter"]}, but {file} '
                                        'is not there (BasicSR resumes each network from its file of that iteration)')


def _sfd_network_off(opt: dict[str, Any], network: str) -> bool:
    if network not in SFD_NETWORKS:
        return False
    from ..utils.switches import sfd_switches

    switches = sfd_switches(opt)
    return not switches.trains(BY_NETWORK_KEY[network])


def check_clip_weights(opt: dict[str, Any]) -> None:
    """The CLIP weights of an SFD run that uses CLIP: a given file exists, a tag is on disk (or, online,
    downloaded now, before BasicSR starts, failing at once when the hub cannot be reached)."""
    from ..archs.clip_arch import normalize_clip_opt, resolve_pretrained
    from ..utils.switches import sfd_switches

    if not sfd_switches(opt).uses_clip:
        return
    clip = normalize_clip_opt(opt.get('clip'))
    if clip.get('model_cfg') is None:
        import open_clip

        if open_clip.get_model_config(clip['model']) is None:
            from ..archs.clip_arch import _model_config

            _model_config(clip['model'], None)  # raises naming the close model names
    resolve_pretrained(clip['model'], clip['pretrained'], clip.get('cache_dir'))


# torchvision's published VGG files, as BasicSR's VGGFeatureExtractor loads them (pretrained=True)
def backbone_file(vgg_type: str) -> Any:
    """The ``WeightFile`` of a torchvision VGG (``vgg19`` -> vgg19-dcbb9e9d.pth)."""
    import torchvision

    from ..metrics.weights import WeightFile

    enum = getattr(torchvision.models, f'{vgg_type.upper()}_Weights', None)
    if enum is None:
        raise WeightFileError(f'train.perceptual_opt.vgg_type: torchvision has no {vgg_type}')
    url = enum.IMAGENET1K_V1.url
    return WeightFile(osp.basename(url), url)


def check_perceptual_backbone(opt: dict[str, Any]) -> None:
    """``train.perceptual_opt``: its VGG on disk where BasicSR looks first (experiments/pretrained_models/
    vgg19-dcbb9e9d.pth, for any vgg_type) or where torchvision looks (``<torch hub>/checkpoints/<file>``);
    torchvision would otherwise download it while the model is built."""
    from basicsr.archs.vgg_arch import VGG_PRETRAIN_PATH

    from ..metrics.weights import hub_checkpoint_dir

    block = (opt.get('train') or {}).get('perceptual_opt')
    if not isinstance(block, dict):
        return
    if osp.isfile(VGG_PRETRAIN_PATH):
        return
    spec = backbone_file(str(block.get('vgg_type', 'vgg19')))
    if osp.isfile(osp.join(hub_checkpoint_dir(), spec.name)):
        return
    raise FileNotFoundError(
        f'train.perceptual_opt: the {block.get("vgg_type", "vgg19")} weights {spec.name} are not on this machine; '
        f'torchvision would try to download them while BasicSR builds the model. Put the file at '
        f'{osp.abspath(VGG_PRETRAIN_PATH) if spec.name == osp.basename(VGG_PRETRAIN_PATH) else ""}'
        f'{" or " if spec.name == osp.basename(VGG_PRETRAIN_PATH) else ""}'
        f'{osp.join(hub_checkpoint_dir(), spec.name)} (published at {spec.url})')
