"""The tiled generator upsampler: any SR generator run on whole images or tile by tile.

It lives in the package (as Real-ESRGAN's ``RealESRGANer`` lives in ``realesrgan/utils.py``) so that
``scripts/inference_sfd.py``, the model comparison (``sfd_arch.eval.compare``) and the demo share one reader of
checkpoints and one tiling loop. Weights come from ``params_ema`` if present, else ``params``, else the file is a
raw state dict (``.pth`` read weights-only, or ``.safetensors``). A BasicSR RRDBNet's shape is read from its
checkpoint here; every other architecture is found by ``sfd_arch.archs.generators``, which hands its size
requirements (a multiple such as SwinIR's window, a minimum, square inputs) and whether it runs in half
precision to the upsampler.

Images keep what they are: 8 or 16 bit stay 8 or 16 bit; gray stays gray; RGBA keeps its alpha channel,
upscaled separately (by the network, as Real-ESRGAN does, or by plain interpolation).
"""
import os
import os.path as osp
import re
import warnings
from typing import Optional

import cv2
import numpy as np
import torch

from sfd_arch.compat import ensure_basicsr_importable
from sfd_arch.utils.checkpoints import load_checkpoint
from sfd_arch.utils.files import check_name, refuse_output_over_input

ensure_basicsr_importable()

from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402
from basicsr.utils import img2tensor, tensor2img  # noqa: E402

__all__ = [
    'ALPHA_EXTENSIONS', 'HIGH_DEPTH_EXTENSIONS', 'IMG_EXTENSIONS', 'RRDBUpsampler', 'TiledUpsampler',
    'build_generator', 'list_inputs', 'load_generator_state', 'output_extension', 'pick_device', 'read_weights',
    'output_path', 'pad_to_requirements', 'refuse_outputs_over_inputs', 'rrdb_options_from_state', 'rrdb_size_multiple',
]

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
ALPHA_EXTENSIONS = ('png', 'tif', 'tiff', 'webp')  # formats OpenCV writes with an alpha channel
HIGH_DEPTH_EXTENSIONS = ('png', 'tif', 'tiff')  # formats OpenCV writes with 16 bits per channel
# RRDBNet folds the input into channels with pixel_unshuffle below x4: conv_first sees 3 * 16 / scale ** 2 channels
_SCALE_BY_IN_CH = {3: 4, 12: 2, 48: 1}


# -- weights --------------------------------------------------------------------------------------------------
def read_weights(model_path: str) -> object:
    """The object in a weights file: ``.safetensors`` through safetensors, anything else through ``torch.load``
    weights-only (a pickle that would run code is refused, never executed)."""
    if not osp.isfile(model_path):
        raise FileNotFoundError(f'model file not found: {model_path}')
    return load_checkpoint(model_path, 'generator checkpoint')  # weights-only, or .safetensors


def load_generator_state(model_path: str) -> dict:
    """State dict from ``params_ema``, then ``params``, then the file itself; a ``module.`` prefix is dropped."""
    return generator_state(read_weights(model_path), model_path)[0]


def generator_state(ckpt: object, model_path: str) -> tuple[dict, str]:
    """``(state dict, where it was: 'params_ema' | 'params' | 'the file itself')`` of a loaded checkpoint."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'{model_path}: expected a state dict or a dict with "params_ema"/"params"')
    where = 'the file itself'
    for key in ('params_ema', 'params'):
        if isinstance(ckpt.get(key), dict):
            ckpt, where = ckpt[key], key
            break
    return {k[7:] if k.startswith('module.') else k: v for k, v in ckpt.items()}, where


def rrdb_options_from_state(state: dict, model_path: str = 'checkpoint') -> dict:
    """RRDBNet constructor arguments that reproduce the shapes in a BasicSR RRDBNet state dict."""
    if 'conv_first.weight' not in state or 'body.0.rdb1.conv1.weight' not in state:
        hint = (' (ESRGAN/KAIR naming: convert it with scripts/model_conversion/convert_rrdb_keys.py)'
                if any(k.startswith(('RRDB_trunk.', 'model.1.sub.')) for k in state) else '')
        raise ValueError(f'{model_path}: not a BasicSR RRDBNet state dict{hint}; keys start with '
                         f'{list(state)[:5]}')
    in_ch = state['conv_first.weight'].shape[1]
    num_in_ch = 3 if in_ch in _SCALE_BY_IN_CH else in_ch
    blocks = {int(m.group(1)) for k in state if (m := re.match(r'body\.(\d+)\.', k))}
    return {
        'num_in_ch': num_in_ch,
        'num_out_ch': state['conv_last.weight'].shape[0],
        'scale': _SCALE_BY_IN_CH.get(in_ch, 4),
        'num_feat': state['conv_first.weight'].shape[0],
        'num_block': max(blocks) + 1,
        'num_grow_ch': state['body.0.rdb1.conv1.weight'].shape[0],
    }


def build_generator(model_path: str, scale: Optional[int] = None, num_feat: Optional[int] = None,
                    num_block: Optional[int] = None) -> tuple[RRDBNet, int]:
    """The RRDBNet of a checkpoint, in eval mode on the CPU, and its scale. Given flags must match the file."""
    state = load_generator_state(model_path)
    opts = rrdb_options_from_state(state, model_path)
    for flag, given in (('scale', scale), ('num_feat', num_feat), ('num_block', num_block)):
        if given is not None and given != opts[flag]:
            raise ValueError(f'{model_path} holds an RRDBNet with {flag}={opts[flag]}, but --{flag} {given} was given')
    if opts['num_in_ch'] != 3 or opts['num_out_ch'] != 3:
        raise ValueError(f'{model_path}: expected an RGB -> RGB RRDBNet, got {opts["num_in_ch"]} -> '
                         f'{opts["num_out_ch"]} channels')
    net = RRDBNet(**opts)
    net.load_state_dict(state, strict=True)
    return net.eval(), opts['scale']


def rrdb_size_multiple(scale: int) -> int:
    """The side multiple a BasicSR RRDBNet needs: its pixel_unshuffle folds x2 / x1 inputs by 2 / 4."""
    return {1: 4, 2: 2}.get(scale, 1)


# -- the upsampler ----------------------------------------------------------------------------------------------
def pad_to_requirements(x: torch.Tensor, minimum: int = 1, square: bool = False, multiple: int = 1) -> torch.Tensor:
    """``(B, C, H, W)`` padded at the bottom and right to what an architecture accepts: at least ``minimum`` px,
    square if asked, sides multiples of ``multiple`` (reflection where there is room for it, else replication).
    The caller crops the output back to ``H x W`` times the scale."""
    h, w = x.shape[2:]
    need_h, need_w = max(h, minimum), max(w, minimum)
    if square:
        need_h = need_w = max(need_h, need_w)
    need_h, need_w = (-(-n // multiple) * multiple for n in (need_h, need_w))
    if (need_h, need_w) == (h, w):
        return x
    mode = 'reflect' if need_h - h < h and need_w - w < w else 'replicate'  # reflect needs the room
    return torch.nn.functional.pad(x, (0, need_w - w, 0, need_h - h), mode=mode)


class TiledUpsampler:
    """Runs a generator on whole images or tile by tile, on any device, keeping image format and bit depth.

    Args:
        model: the generator, ``(1, 3, h, w) -> (1, 3, h * scale, w * scale)`` in [0, 1] RGB.
        scale: its upscaling factor.
        tile: tile size in input pixels, 0 for the whole image at once (memory permitting).
        tile_pad: context added around each tile (cut away after the network), hides the seams.
        pre_pad: reflection padding around the whole image, against border artifacts.
        half: run in float16 (used only on CUDA, and only where ``supports_half``).
        device: where to run.
        multiple_of: every input side must be a multiple of this (SwinIR and HAT: their window; a BasicSR
            RRDBNet x2 / x1: 2 / 4, the default when not given).
        minimum: the smallest input side the network takes; smaller inputs are padded.
        square: the network takes square inputs only (padded to the longer side, then cropped).
        supports_half: False keeps the network in float32 even where ``half`` is asked.
    """

    def __init__(self, model: torch.nn.Module, scale: int, tile: int = 0, tile_pad: int = 10, pre_pad: int = 0,
                 half: bool = False, device: Optional[torch.device] = None, multiple_of: Optional[int] = None,
                 minimum: int = 1, square: bool = False, supports_half: bool = True):
        self.scale = scale
        # the whole image is padded to the multiple and every tile edge stays on it: no tile needs its own padding
        self.mod = rrdb_size_multiple(scale) if multiple_of is None else max(1, int(multiple_of))
        self.tile = -(-tile // self.mod) * self.mod if tile > 0 else 0
        self.tile_pad = -(-tile_pad // self.mod) * self.mod
        self.pre_pad = pre_pad
        self.minimum = max(1, int(minimum))
        self.square = bool(square)
        self.device = device or torch.device('cpu')
        self.half = bool(half) and self.device.type == 'cuda' and supports_half
        self.model = model.to(self.device).eval()
        self.model = self.model.half() if self.half else self.model.float()

    @torch.no_grad()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        # a network's minimum size or square inputs: pad this input (a tile or the image), crop the output
        x = pad_to_requirements(x, self.minimum, self.square, self.mod)
        x = x.to(self.device, dtype=torch.float16 if self.half else torch.float32)
        y = self.model(x).float().cpu()
        return y[:, :, :h * self.scale, :w * self.scale]

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        s, t, p = self.scale, self.tile, self.tile_pad
        out = torch.zeros(1, c, h * s, w * s)
        for top in range(0, h, t):
            for left in range(0, w, t):
                bottom, right = min(top + t, h), min(left + t, w)
                ptop, pleft = max(top - p, 0), max(left - p, 0)
                pbottom, pright = min(bottom + p, h), min(right + p, w)
                y = self._run(x[:, :, ptop:pbottom, pleft:pright])
                oy, ox = (top - ptop) * s, (left - pleft) * s
                out[:, :, top * s:bottom * s, left * s:right * s] = \
                    y[:, :, oy:oy + (bottom - top) * s, ox:ox + (right - left) * s]
        return out

    def upscale_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """``(1, 3, h, w)`` in [0, 1] -> ``(1, 3, h * scale, w * scale)`` in [0, 1], on the CPU."""
        h, w = x.shape[2:]
        if self.pre_pad:
            x = torch.nn.functional.pad(x, (0, self.pre_pad, 0, self.pre_pad), mode='reflect')
        pad_h, pad_w = (-x.shape[2]) % self.mod, (-x.shape[3]) % self.mod
        if pad_h or pad_w:
            mode = 'reflect' if pad_h < x.shape[2] and pad_w < x.shape[3] else 'replicate'  # a window over the image
            x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self._tiled(x) if self.tile and max(x.shape[2:]) > self.tile else self._run(x)
        return y[:, :, :h * self.scale, :w * self.scale].clamp_(0, 1)

    def _upscale_bgr(self, img: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` float32 BGR in [0, 1] -> upscaled float32 BGR in [0, 1], via BasicSR's converters."""
        y = self.upscale_tensor(img2tensor(img, bgr2rgb=True, float32=True).unsqueeze(0))
        return tensor2img(y, rgb2bgr=True, out_type=np.float32)

    def enhance(self, img: np.ndarray, alpha_upsampler: str = 'model') -> np.ndarray:
        """Upscale an image as OpenCV reads it with ``IMREAD_UNCHANGED``: gray, BGR or BGRA, 8 or 16 bit.

        The result has the same channels and dtype. ``alpha_upsampler`` is ``model`` (the alpha plane goes
        through the network as a gray image), ``bicubic`` or ``linear`` (OpenCV interpolation).
        """
        if img.dtype not in (np.uint8, np.uint16):
            raise ValueError(f'8 or 16 bit image expected, got {img.dtype}')
        max_value = float(np.iinfo(img.dtype).max)
        x = img.astype(np.float32) / max_value
        if x.ndim == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        alpha = None
        if x.ndim == 2:
            bgr = cv2.cvtColor(x, cv2.COLOR_GRAY2BGR)
        elif x.shape[2] == 4:
            bgr, alpha = x[:, :, :3], x[:, :, 3]
        elif x.shape[2] == 3:
            bgr = x
        else:
            raise ValueError(f'1, 3 or 4 channels expected, got {x.shape[2]}')

        out = self._upscale_bgr(np.ascontiguousarray(bgr))
        if x.ndim == 2:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        if alpha is not None:
            if alpha_upsampler == 'model':
                up_alpha = cv2.cvtColor(self._upscale_bgr(cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)),
                                        cv2.COLOR_BGR2GRAY)
            else:
                interp = {'bicubic': cv2.INTER_CUBIC, 'linear': cv2.INTER_LINEAR}[alpha_upsampler]
                up_alpha = cv2.resize(alpha, (out.shape[1], out.shape[0]), interpolation=interp)
            out = np.dstack([out, np.clip(up_alpha, 0, 1)])
        return np.clip(np.round(out * max_value), 0, max_value).astype(img.dtype)


RRDBUpsampler = TiledUpsampler  # the name it had when it ran BasicSR RRDBNets only


# -- files ------------------------------------------------------------------------------------------------------
def list_inputs(path: str) -> list[str]:
    """One image file, or the images of a folder sorted by name (so outputs come in a stable order)."""
    if osp.isfile(path):
        return [path]
    if osp.isdir(path):
        return sorted(osp.join(path, n) for n in os.listdir(path) if n.lower().endswith(IMG_EXTENSIONS))
    raise FileNotFoundError(f'input not found: {path}')


def output_extension(input_path: str, ext: str, has_alpha: bool, high_depth: bool) -> str:
    """The requested extension (``auto`` = the input's), switched to png where it would lose alpha or bit depth."""
    chosen = osp.splitext(input_path)[1][1:].lower() if ext == 'auto' else ext.lower().lstrip('.')
    if has_alpha and chosen not in ALPHA_EXTENSIONS:
        warnings.warn(f'{input_path}: .{chosen} cannot keep the alpha channel, writing png', stacklevel=2)
        chosen = 'png'
    if high_depth and chosen not in HIGH_DEPTH_EXTENSIONS:
        warnings.warn(f'{input_path}: .{chosen} cannot keep 16 bits, writing png', stacklevel=2)
        chosen = 'png'
    return chosen


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit CUDA device without CUDA fails with a readable message."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda was given, but CUDA is not available here (use --device cpu)')
    return device


def output_path(output: str, input_path: str, suffix: str, ext: str) -> str:
    """Where ``scripts/inference_sfd.py`` writes the result of ``input_path``: ``<output>/<name>_<suffix>.<ext>``
    (``<name>.<ext>`` for an empty suffix). The file name must stay one name inside ``output``."""
    name = osp.splitext(osp.basename(input_path))[0]
    filename = f'{name}_{suffix}.{ext}' if suffix else f'{name}.{ext}'
    return osp.join(output, check_name(filename, '--suffix / --ext'))


def refuse_outputs_over_inputs(inputs: list[str], output: str, suffix: str, ext: str) -> None:
    """Before any image is read: no result may be written over an input (``-o`` the input folder with
    ``--suffix ""``, say). Every extension a result may get is tried (the requested one, or png for alpha and
    16 bits), so the check does not depend on the image content."""
    planned = []
    for path in inputs:
        chosen = osp.splitext(path)[1][1:].lower() if ext == 'auto' else ext.lower().lstrip('.')
        planned += [output_path(output, path, suffix, e) for e in dict.fromkeys((chosen, 'png'))]
    refuse_output_over_input(planned, inputs, 'output', nested=False)
