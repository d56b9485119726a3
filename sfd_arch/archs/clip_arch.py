"""The CLIP door: ``build_clip(clip_opt)`` turns an option file's ``clip:`` block into a frozen extractor.

SFD (Dong et al., CVPR 2025) discriminates semantic features of a frozen CLIP image encoder. The
extractor returned here runs the image tower once and hands back both the tapped middle feature maps
(for Feat-D) and the final image embedding (for TG-D), from the same forward pass.

    feats, embedding = clip(img)   # img (B, 3, H, W) RGB in [0, 1]
    # feats: list of (B, C_i, h_i, w_i) in the order of clip_opt['layers']; embedding: (B, D)

Supported towers: open_clip's ModifiedResNet (RN50, RN101, RN50x4, ...; taps ``layer1``..``layer4``)
and VisionTransformer (ViT-*; taps are block indices, patch tokens reshaped to a grid). Positional
embeddings are interpolated to the input size, so patches are never resized.

Weights (``pretrained``): an open_clip tag (looked up offline first; see ``resolve_pretrained``), a local
file (OpenAI ``.pt`` as JIT or state dict, open_clip ``.bin``/``.pt``/``.safetensors``), or ``~``/``none``
for random weights (tests, the demo). One model is loaded per process per (model, pretrained, config, seed).

Random weights are a pure function of the `clip:` block: they are drawn from a CPU generator seeded with
``clip.seed`` (default 0) inside ``torch.random.fork_rng``, so every process, DDP rank (BasicSR seeds rank r
with ``manual_seed + r``) and resumed run builds the same CLIP, and building it leaves the global RNG as it was.
"""
from __future__ import annotations

import copy
import difflib
import json
import logging
import os
import zipfile
from typing import Any, Optional

import open_clip
import torch
import torch.nn.functional as F
from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model
from torch import nn

from ..utils.checkpoints import state_mismatch

logger = logging.getLogger('basicsr')

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
MIN_SIZE = 32
RESNET_TAPS = ('layer1', 'layer2', 'layer3', 'layer4')
DEFAULT_CLIP_OPT: dict[str, Any] = {
    'model': 'RN50',
    'pretrained': 'openai',
    'layers': ['layer1', 'layer2', 'layer3'],
    'seed': 0,
}
# Keys of the `clip:` block. Anything else is a typo and an error (a YAML key that does nothing is a bug).
CLIP_OPT_KEYS = {
    'model': 'open_clip model name (e.g. RN50, ViT-B-16), or a name for `model_cfg`',
    'pretrained': 'open_clip tag, local checkpoint path, or ~ for random weights',
    'layers': 'taps: layer1..layer4 for RN models, block indices for ViTs',
    'model_cfg': 'an open_clip model config (embed_dim, vision_cfg, text_cfg) to build instead of a named model',
    'quick_gelu': 'QuickGELU activations (OpenAI weights); ~ decides from the weights',
    'cache_dir': 'where tag downloads are cached (open_clip default when ~)',
    'weights_dir': 'folder searched first for tag weights (default experiments/pretrained_models/clip)',
    'seed': 'seed of random CLIP weights (pretrained: ~), default 0; the same in every process, rank and resume',
}
_OPENAI_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
_RANDOM = {None, '', 'none', 'None', 'random', False}


class CLIPWeightsError(RuntimeError):
    """CLIP weights cannot be found or read; the message names the file to supply."""


def normalize_clip_opt(clip_opt: Optional[dict]) -> dict:
    """Fill defaults, check keys and taps; returns a new dict (the input is left alone)."""
    opt = dict(DEFAULT_CLIP_OPT)
    given = dict(clip_opt or {})
    unknown = sorted(set(given) - set(CLIP_OPT_KEYS))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, CLIP_OPT_KEYS, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ''))
        known = ', '.join(f'{k} ({v})' for k, v in CLIP_OPT_KEYS.items())
        raise KeyError(f"Unknown key(s) in the `clip:` block: {', '.join(hints)}. Known keys: {known}")
    opt.update(given)
    if isinstance(opt['layers'], (str, int)):
        opt['layers'] = [opt['layers']]
    opt['layers'] = list(opt['layers'])
    if not opt['layers']:
        raise ValueError('`clip.layers` is empty: give at least one tap (e.g. [layer1, layer2, layer3])')
    if opt['pretrained'] in _RANDOM:
        opt['pretrained'] = None
    seed = opt['seed']
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise ValueError(f'`clip.seed` must be an integer in [0, 2**63), got {seed!r} ({type(seed).__name__})')
    return opt


def _model_config(name: str, model_cfg: Optional[dict]) -> dict:
    if model_cfg is not None:
        return copy.deepcopy(dict(model_cfg))
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        names = open_clip.list_models()
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = f' Close matches: {", ".join(close)}.' if close else ''
        raise ValueError(f"Unknown CLIP model `clip.model: {name}`.{hint} "
                         f'See open_clip.list_models() for all {len(names)} names.')
    return copy.deepcopy(cfg)


def _instantiate(name: str, cfg: dict, quick_gelu: bool) -> nn.Module:
    if 'multimodal_cfg' in cfg:
        raise ValueError(f'`clip.model: {name}` is a CoCa model; SFD needs a plain CLIP (RN or ViT image tower)')
    cfg = dict(cfg)
    cfg.pop('quick_gelu', None)
    custom_text = cfg.pop('custom_text', False) or 'hf_model_name' in cfg.get('text_cfg', {})
    cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    return cls(**cfg, quick_gelu=quick_gelu)


# --------------------------------------------------------------------------------------------------------
# Weights: resolving a tag offline-first, reading any checkpoint layout
# --------------------------------------------------------------------------------------------------------

def _is_offline() -> bool:
    return any(os.environ.get(v, '').strip().lower() in ('1', 'true', 'yes', 'on')
               for v in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'SFD_OFFLINE'))


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.startswith('.') or value.endswith(('.pt', '.pth', '.bin', '.safetensors'))


def _local_names(model: str, tag: str, tag_cfg: dict) -> list[str]:
    names = [f'{model}-{tag}.{ext}' for ext in ('pt', 'bin', 'safetensors')]
    if tag_cfg.get('url'):
        names.insert(0, os.path.basename(tag_cfg['url']))  # OpenAI's own name, e.g. RN50.pt
    return names


def _cached_tag_file(tag_cfg: dict, cache_dir: Optional[str]) -> Optional[str]:
    """A tag's file already in open_clip's caches (Hugging Face hub cache or the URL cache), no network."""
    hub = tag_cfg.get('hf_hub', '')
    if hub:
        try:
            from huggingface_hub import hf_hub_download

            repo, filename = os.path.split(hub)
            for fname in ([filename] if filename else ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin']):
                try:
                    return hf_hub_download(repo, fname, cache_dir=cache_dir, local_files_only=True)
                except Exception:  # noqa: BLE001 - "not cached" comes in several exception types
                    continue
        except ImportError:
            pass
    url = tag_cfg.get('url', '')
    if url:
        root = cache_dir or os.path.expanduser('~/.cache/clip')
        candidate = os.path.join(root, os.path.basename(url))
        if os.path.isfile(candidate):
            return candidate
    return None


def _unreachable(tag_cfg: dict, timeout: float = 3.0) -> Optional[str]:
    """Why the server of a tag's download cannot be reached (one connection attempt), or None when it can."""
    import socket
    from urllib.parse import urlparse

    if tag_cfg.get('hf_hub'):
        try:
            from huggingface_hub import constants

            url = constants.ENDPOINT
        except ImportError:
            url = 'https://huggingface.co'
    else:
        url = tag_cfg.get('url') or ''
    parsed = urlparse(url)
    if not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme == 'https' else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as err:
        return f'{parsed.hostname} cannot be reached ({err.strerror or type(err).__name__})'
    return None


def resolve_pretrained(model: str, pretrained: Optional[str], cache_dir: Optional[str] = None,
                       weights_dir: Optional[str] = None) -> tuple[Optional[str], dict]:
    """Turn `clip.pretrained` into a local file path (or None for random weights) and the tag's config.

    A tag is looked up, in order, in ``weights_dir`` (default ``experiments/pretrained_models/clip``, where
    BasicSR users keep weights), open_clip's caches, and only then downloaded. Offline (``HF_HUB_OFFLINE=1``)
    and uncached it fails at once with a message naming the file to supply and where to put it.
    """
    if pretrained is None:
        return None, {}
    pretrained = str(pretrained)
    if os.path.isfile(pretrained):
        return pretrained, {}
    if os.path.isdir(pretrained):
        raise CLIPWeightsError(f'`clip.pretrained: {pretrained}` is a folder; give the checkpoint file inside it')
    tag_cfg = get_pretrained_cfg(model, pretrained) or {}
    if not tag_cfg:
        if _looks_like_path(pretrained):
            raise CLIPWeightsError(f'CLIP weights file not found: `clip.pretrained: {pretrained}` '
                                   f'(resolved to {os.path.abspath(pretrained)})')
        tags = list_pretrained_tags_by_model(model)
        raise CLIPWeightsError(f"`clip.pretrained: {pretrained}` is neither a file nor an open_clip tag of "
                               f"'{model}'. Tags: {', '.join(tags) or 'none (give a local file)'}")

    weights_dir = weights_dir or os.path.join('experiments', 'pretrained_models', 'clip')
    local_names = _local_names(model, pretrained, tag_cfg)
    for name in local_names:
        candidate = os.path.join(weights_dir, name)
        if os.path.isfile(candidate):
            return candidate, tag_cfg
    cached = _cached_tag_file(tag_cfg, cache_dir)
    if cached:
        return cached, tag_cfg

    source = tag_cfg.get('url') or f"https://huggingface.co/{tag_cfg.get('hf_hub', '').rstrip('/')}"
    advice = (f"Download it on a connected machine from {source} and put it at "
              f"{os.path.join(weights_dir, local_names[0])}, or point `clip.pretrained` at the file "
              f"(e.g. `pretrained: /path/to/{local_names[0]}`).")
    if _is_offline():
        raise CLIPWeightsError(f"CLIP weights for '{model}' (pretrained: {pretrained}) are not cached and this "
                               f"process is offline (HF_HUB_OFFLINE=1). {advice}")
    unreachable = _unreachable(tag_cfg)
    if unreachable:
        # huggingface_hub would retry for about 46 s (five retries of 1-8 s, for each of two file names)
        raise CLIPWeightsError(f"CLIP weights for '{model}' (pretrained: {pretrained}) are not on this machine and "
                               f'{unreachable}. {advice}')
    try:
        os.environ.setdefault('HF_HUB_ETAG_TIMEOUT', '5')
        os.environ.setdefault('HF_HUB_DOWNLOAD_TIMEOUT', '10')
        path = open_clip.download_pretrained(tag_cfg, cache_dir=cache_dir)
    except Exception as err:  # noqa: BLE001 - network errors come in many types
        raise CLIPWeightsError(f"Could not download CLIP weights for '{model}' (pretrained: {pretrained}): "
                               f'{type(err).__name__}: {err}. {advice}') from err
    if not path or not os.path.isfile(path):
        raise CLIPWeightsError(f"Download of CLIP weights for '{model}' (pretrained: {pretrained}) gave no file. "
                               f'{advice}')
    return path, tag_cfg


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith('constants.pkl') or '/code/' in n for n in zf.namelist())


def load_clip_state_dict(path: str) -> tuple[dict[str, torch.Tensor], bool]:
    """Read a CLIP checkpoint in any of the common layouts.

    Returns ``(state_dict, openai_form)``; ``openai_form`` is True for OpenAI's releases (TorchScript
    archives, or state dicts carrying ``input_resolution``), which were trained with QuickGELU.
    """
    try:
        if _is_torchscript(path):
            state = torch.jit.load(path, map_location='cpu').state_dict()
            openai_form = True
        elif path.endswith('.safetensors'):
            from safetensors.torch import load_file

            state, openai_form = load_file(path, device='cpu'), False
        else:
            state = torch.load(path, map_location='cpu', weights_only=True)
            openai_form = False
    except Exception as err:  # noqa: BLE001
        raise CLIPWeightsError(f'Cannot read CLIP weights file {path}: {type(err).__name__}: {err}') from err
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']  # open_clip training checkpoint
    if not isinstance(state, dict) or not state:
        raise CLIPWeightsError(f'CLIP weights file {path} holds no state dict')
    if next(iter(state)).startswith('module.'):
        state = {k[len('module.'):]: v for k, v in state.items()}
    openai_form = openai_form or 'input_resolution' in state
    for key in _OPENAI_EXTRA_KEYS:
        state.pop(key, None)
    return state, openai_form


def _resize_pos_embed(pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
                      extra_tokens: int = 1) -> torch.Tensor:
    """(extra + H*W, C) positional embedding -> (extra + h*w, C), bicubic on the grid part."""
    if tuple(old_grid) == tuple(new_grid):
        return pos
    extra, grid = pos[:extra_tokens], pos[extra_tokens:]
    grid = grid.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode='bicubic', align_corners=False).to(pos.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1)
    return torch.cat([extra, grid], dim=0)


# --------------------------------------------------------------------------------------------------------
# The extractor
# --------------------------------------------------------------------------------------------------------

class CLIPFeatureExtractor(nn.Module):
    """Frozen CLIP: ``(B, 3, H, W)`` RGB in [0, 1] -> ``(list[(B, C_i, h_i, w_i)], (B, D))``.

    No parameter requires grad and the module stays in eval mode whatever its parent does, but gradients
    flow through it to the input image (the generator is trained through CLIP).

    Attributes: ``layers`` (taps), ``channels`` (C_i per tap), ``strides`` (input px per feature position),
    ``embed_dim`` (D), ``clip_model`` (the open_clip model; its text tower is used by ``PromptLearner``).
    """

    def __init__(self, clip_model: nn.Module, layers: list, opt: dict):
        super().__init__()
        self.clip_model = clip_model
        self.opt = opt
        visual = clip_model.visual
        if isinstance(visual, open_clip.modified_resnet.ModifiedResNet):
            self.family = 'resnet'
            self.layers = [self._check_resnet_tap(t) for t in layers]
            widths = {f'layer{i + 1}': getattr(visual, f'layer{i + 1}')[-1].bn3.num_features for i in range(4)}
            self.channels = [widths[t] for t in self.layers]
            self.strides = [4 * 2 ** RESNET_TAPS.index(t) for t in self.layers]
            self._grid = visual.attnpool.positional_embedding.shape[0] - 1
            self._grid = (int(round(self._grid ** 0.5)),) * 2
        elif isinstance(visual, open_clip.transformer.VisionTransformer):
            self.family = 'vit'
            depth = len(visual.transformer.resblocks)
            self.layers = [self._check_vit_tap(t, depth) for t in layers]
            self.channels = [visual.transformer.width] * len(self.layers)
            patch = visual.conv1.kernel_size
            self.strides = [patch[0]] * len(self.layers)
            self._grid = tuple(visual.grid_size)
        else:
            raise ValueError(f"`clip.model: {opt['model']}` has a {type(visual).__name__} image tower; SFD supports "
                             'open_clip ModifiedResNet (RN*) and VisionTransformer (ViT-*) towers')
        self.embed_dim = int(visual.output_dim)
        self.register_buffer('mean', torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(OPENAI_STD).view(1, 3, 1, 1), persistent=False)
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        self.requires_grad_(False)
        super().train(False)

    def _check_resnet_tap(self, tap: Any) -> str:
        if tap not in RESNET_TAPS:
            raise ValueError(f"`clip.layers`: '{tap}' is not a tap of {self.opt['model']} (a ResNet CLIP). "
                             f"Available: {', '.join(RESNET_TAPS)}")
        return tap

    def _check_vit_tap(self, tap: Any, depth: int) -> int:
        try:
            index = int(tap)
        except (TypeError, ValueError):
            index = None
        if index is None or not -depth <= index < depth or isinstance(tap, bool):
            raise ValueError(f"`clip.layers`: '{tap}' is not a tap of {self.opt['model']} (a ViT with {depth} "
                             f'blocks). Available: block indices 0..{depth - 1} (negative counts from the end)')
        return index % depth

    def train(self, mode: bool = True) -> 'CLIPFeatureExtractor':
        # Frozen means frozen: batch-norm statistics of the RN stem must never update.
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def _pos_embed(self, pos: torch.Tensor, new_grid: tuple[int, int]) -> torch.Tensor:
        key = (new_grid, pos.device, pos.dtype)
        if key not in self._pos_cache:
            self._pos_cache[key] = _resize_pos_embed(pos, self._grid, new_grid)
        return self._pos_cache[key]

    def _apply(self, fn, *args, **kwargs):
        self._pos_cache = {}  # device / dtype changed
        return super()._apply(fn, *args, **kwargs)

    def forward(self, img: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f'CLIP input must be (B, 3, H, W) RGB in [0, 1], got shape {tuple(img.shape)}')
        h, w = img.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(f'Image of {h}x{w} px is too small for the CLIP extractor: '
                             f'at least {MIN_SIZE}x{MIN_SIZE} px is needed')
        x = (img - self.mean.to(img.dtype)) / self.std.to(img.dtype)
        if self.family == 'resnet':
            return self._forward_resnet(x)
        return self._forward_vit(x)

    def _forward_resnet(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        visual = self.clip_model.visual
        x = visual.stem(x)
        maps = {}
        for name in RESNET_TAPS:
            x = getattr(visual, name)(x)
            maps[name] = x
        pool = visual.attnpool
        b, c, h, w = x.shape
        tokens = x.flatten(2).permute(2, 0, 1)  # (HW, B, C)
        tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens], dim=0)
        tokens = tokens + self._pos_embed(pool.positional_embedding, (h, w))[:, None, :].to(tokens.dtype)
        out, _ = F.multi_head_attention_forward(
            query=tokens[:1], key=tokens, value=tokens, embed_dim_to_check=c, num_heads=pool.num_heads,
            q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
            use_separate_proj_weight=True, training=False, need_weights=False)
        return [maps[t] for t in self.layers], out[0]

    def _forward_vit(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        visual = self.clip_model.visual
        x = visual.conv1(x)
        b, c, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(b, 1, -1)
        x = torch.cat([cls, x], dim=1) + self._pos_embed(visual.positional_embedding, (gh, gw)).to(x.dtype)
        x = visual.ln_pre(visual.patch_dropout(x))
        x, inter = visual.transformer.forward_intermediates(x, indices=sorted(set(self.layers)))
        by_index = dict(zip(sorted(set(self.layers)), inter))
        feats = [by_index[i][:, -gh * gw:].transpose(1, 2).reshape(b, c, gh, gw) for i in self.layers]
        pooled, _ = visual._pool(x)
        if visual.proj is not None:
            pooled = pooled @ visual.proj
        return feats, pooled


_CLIP_CACHE: dict[str, nn.Module] = {}
_EXTRACTOR_CACHE: dict[str, 'CLIPFeatureExtractor'] = {}


def _cache_key(opt: dict, path: Optional[str]) -> str:
    # the seed only matters for random weights: loaded weights overwrite every parameter and buffer
    return json.dumps({'model': opt['model'], 'weights': path and os.path.abspath(path),
                       'model_cfg': opt.get('model_cfg'), 'quick_gelu': opt.get('quick_gelu'),
                       'seed': None if path else opt['seed']},
                      sort_keys=True, default=str)


def _instantiate_seeded(name: str, cfg: dict, quick_gelu: bool, seed: int) -> nn.Module:
    """Build the open_clip model with its initial (random) weights drawn from ``seed`` alone.

    open_clip initialises from the global CPU generator. A forked RNG seeded here makes those draws independent
    of whatever the caller (BasicSR's ``manual_seed + rank``, a test) did to the global state, and restores that
    state afterwards, so building CLIP never shifts the random draws of the networks built after it. Only the
    CPU generator is touched: the model is built on the CPU.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(seed))
        return _instantiate(name, cfg, quick_gelu)


def load_clip_model(opt: dict) -> nn.Module:
    """The frozen open_clip model for a normalised `clip:` block, loaded once per process."""
    path, tag_cfg = resolve_pretrained(opt['model'], opt['pretrained'], opt.get('cache_dir'), opt.get('weights_dir'))
    key = _cache_key(opt, path)
    if key in _CLIP_CACHE:
        return _CLIP_CACHE[key]
    cfg = _model_config(opt['model'], opt.get('model_cfg'))
    state, openai_form = load_clip_state_dict(path) if path else (None, False)
    quick_gelu = opt.get('quick_gelu')
    if quick_gelu is None:
        quick_gelu = bool(tag_cfg.get('quick_gelu', openai_form or cfg.get('quick_gelu', False)))
    model = _instantiate_seeded(opt['model'], cfg, quick_gelu, opt['seed'])
    if state is None:
        logger.warning(f"CLIP '{opt['model']}' has RANDOM weights (clip.pretrained is empty; clip.seed={opt['seed']}): "
                       'fine for tests and the demo, meaningless for real training. Set `clip.pretrained` to a tag or '
                       'a file.')
    else:
        _load_into(model, state, path)
        logger.info(f"Loaded CLIP '{opt['model']}' weights from {path} (quick_gelu={quick_gelu})")
    model.requires_grad_(False)
    model.eval()
    _CLIP_CACHE[key] = model
    return model


def _load_into(model: nn.Module, state: dict, path: str) -> None:
    own = model.state_dict()
    for name in ('visual.attnpool.positional_embedding', 'visual.positional_embedding'):
        # checkpoints trained at another resolution: bring their grid to the config's
        if name in state and name in own and state[name].shape != own[name].shape:
            old = int(round((state[name].shape[0] - 1) ** 0.5))
            new = int(round((own[name].shape[0] - 1) ** 0.5))
            state[name] = _resize_pos_embed(state[name], (old, old), (new, new))
    mismatch = state_mismatch({k: tuple(v.shape) for k, v in state.items()},
                              {k: tuple(v.shape) for k, v in own.items()})
    if mismatch:
        raise CLIPWeightsError(f"CLIP weights file {path} does not fit the model architecture: {mismatch}. "
                               'Check that `clip.model` names the architecture these weights belong to.')
    model.load_state_dict(state, strict=True)


def build_clip(clip_opt: Optional[dict] = None) -> CLIPFeatureExtractor:
    """Turn a `clip:` option block into a frozen :class:`CLIPFeatureExtractor` (see the module docstring).

    The open_clip model is loaded once per process per (model, weights, config, seed) and shared by every
    extractor and ``PromptLearner`` built from the same block.
    """
    opt = normalize_clip_opt(clip_opt)
    model = load_clip_model(opt)
    key = json.dumps([id(model), opt['layers']], default=str)
    if key not in _EXTRACTOR_CACHE:
        _EXTRACTOR_CACHE[key] = CLIPFeatureExtractor(model, opt['layers'], opt)
    return _EXTRACTOR_CACHE[key]


def clear_clip_cache() -> None:
    """Forget every CLIP loaded by ``build_clip`` (they are kept for the life of the process otherwise)."""
    _CLIP_CACHE.clear()
    _EXTRACTOR_CACHE.clear()

