"""Convert ESRGAN / KAIR RRDB checkpoints into BasicSR ``RRDBNet`` weights (``params`` and ``params_ema``).

An x2 network in KAIR's layout (one upsampling step, no ``upconv2``: how KAIR builds ``sf=2``, and the SFD
authors' released x2 generator) has no BasicSR ``RRDBNet`` equivalent; it is saved for this package's
``KAIRRRDBNet`` (``sfd_arch/archs/kair_rrdbnet_arch.py``), whose keys are KAIR's own, and the printed
``network_g`` block names that type.

Accepted layouts:

* ESRGAN (2019+) and KAIR: ``conv_first``, ``RRDB_trunk.N.RDBk.convj``, ``trunk_conv``, ``upconv1/2``,
  ``HRconv``, ``conv_last``;
* original ESRGAN "old arch" (nn.Sequential): ``model.0``, ``model.1.sub.N.RDBk.convj.0``, ``model.1.sub.<nb>``
  (the trunk conv), ``model.3/6/8/10``;
* BasicSR itself (re-saved unchanged, e.g. to add ``params_ema``).

The result loads in BasicSR's ``test.py`` (``path.pretrain_network_g``) and in ``scripts/inference_sfd.py``::

    python scripts/model_conversion/convert_rrdb_keys.py RRDB_ESRGAN_x4.pth \\
        -o experiments/pretrained_models/ESRGAN_x4_basicsr.pth

``num_block``, ``num_feat`` and ``num_grow_ch`` are read from the weights and printed as a ``network_g`` block.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional

import torch

from ..compat import ensure_basicsr_importable

ensure_basicsr_importable()

from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402

from ..archs.kair_rrdbnet_arch import KAIRRRDBNet, kair_rrdb_options  # noqa: E402

_PARAM = r'(weight|bias)'
_RDB = r'RDB([123])\.conv([1-5])'
# (pattern, replacement) per layout; group numbers follow the patterns
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    'esrgan': [
        (rf'conv_first\.{_PARAM}', r'conv_first.\1'),
        (rf'RRDB_trunk\.(\d+)\.{_RDB}\.{_PARAM}', r'body.\1.rdb\2.conv\3.\4'),
        (rf'trunk_conv\.{_PARAM}', r'conv_body.\1'),
        (rf'upconv1\.{_PARAM}', r'conv_up1.\1'),
        (rf'upconv2\.{_PARAM}', r'conv_up2.\1'),
        (rf'HRconv\.{_PARAM}', r'conv_hr.\1'),
        (rf'conv_last\.{_PARAM}', r'conv_last.\1'),
    ],
    'esrgan_old': [
        (rf'model\.0\.{_PARAM}', r'conv_first.\1'),
        (rf'model\.1\.sub\.(\d+)\.{_RDB}\.0\.{_PARAM}', r'body.\1.rdb\2.conv\3.\4'),
        (rf'model\.1\.sub\.(\d+)\.{_PARAM}', 'TRUNK'),  # the conv after the last block: resolved below
        (rf'model\.3\.{_PARAM}', r'conv_up1.\1'),
        (rf'model\.6\.{_PARAM}', r'conv_up2.\1'),
        (rf'model\.8\.{_PARAM}', r'conv_hr.\1'),
        (rf'model\.10\.{_PARAM}', r'conv_last.\1'),
    ],
    'basicsr': [
        (rf'(conv_first|conv_body|conv_up1|conv_up2|conv_hr|conv_last)\.{_PARAM}', r'\1.\2'),
        (rf'body\.(\d+)\.rdb([123])\.conv([1-5])\.{_PARAM}', r'body.\1.rdb\2.conv\3.\4'),
    ],
}
# RRDBNet folds the input into channels with pixel_unshuffle below x4: conv_first sees 3 * 16 / scale ** 2 channels
_SCALE_BY_IN_CH = {3: 4, 12: 2, 48: 1}


class ConversionError(ValueError):
    """The checkpoint is not an RRDB layout this script knows; the message names the file and keys."""


def unwrap_state_dict(ckpt: object, path: str) -> dict[str, dict]:
    """``{'params': sd, 'params_ema': sd}`` from a raw state dict or a dict holding ``params``/``params_ema``/
    ``state_dict``/``model``; a DataParallel ``module.`` prefix is dropped."""
    if not isinstance(ckpt, dict):
        raise ConversionError(f'{path}: expected a state dict, got {type(ckpt).__name__}')
    found = {k: ckpt[k] for k in ('params', 'params_ema') if isinstance(ckpt.get(k), dict)}
    if not found:
        for key in ('state_dict', 'model', 'net_g'):
            if isinstance(ckpt.get(key), dict):
                ckpt = ckpt[key]
                break
        found = {'params': ckpt}
    return {name: OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in sd.items()
                              if torch.is_tensor(v)) for name, sd in found.items()}


def _match(layout: str, key: str) -> Optional[str]:
    for pattern, repl in LAYOUTS[layout]:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(repl) if repl != 'TRUNK' else f'TRUNK.{m.group(1)}.{m.group(2)}'
    return None


def detect_layout(state: dict, path: str) -> str:
    """The layout that names every key; else a ConversionError listing keys the closest layout does not know."""
    unknown = {name: [k for k in state if _match(name, k) is None] for name in LAYOUTS}
    for name, keys in unknown.items():
        if not keys and state:
            return name
    best = min(unknown, key=lambda n: len(unknown[n]))
    few = ', '.join(unknown[best][:5]) + (' ...' if len(unknown[best]) > 5 else '')
    raise ConversionError(f'{path}: not a recognised RRDB checkpoint ({len(state)} tensors). Closest layout '
                          f'"{best}" does not know {len(unknown[best])} key(s): {few}')


def convert_state_dict(state: dict, path: str = 'checkpoint') -> tuple[OrderedDict, dict]:
    """Rename an RRDB state dict to BasicSR's ``RRDBNet`` keys; returns it and the RRDBNet constructor arguments.

    The converted dict is checked against a freshly built ``RRDBNet`` (same keys, same shapes). An x2 network
    in KAIR's naming stays as it is and the arguments are ``KAIRRRDBNet``'s, with ``type: KAIRRRDBNet``.
    """
    layout = detect_layout(state, path)
    renamed = OrderedDict((_match(layout, k), v) for k, v in state.items())
    blocks = [int(m.group(1)) for k in renamed if (m := re.match(r'body\.(\d+)\.', k))]
    if not blocks:
        raise ConversionError(f'{path}: no RRDB blocks found (layout "{layout}")')
    num_block = max(blocks) + 1
    if layout == 'esrgan_old':
        # in nn.Sequential the trunk conv is the item right after the blocks: model.1.sub.<num_block>
        for key in [k for k in renamed if k.startswith('TRUNK.')]:
            _, index, param = key.split('.')
            if int(index) != num_block:
                raise ConversionError(f'{path}: unexpected key model.1.sub.{index}.{param} '
                                      f'(the trunk conv should be model.1.sub.{num_block})')
            renamed[f'conv_body.{param}'] = renamed.pop(key)
    if 'conv_first.weight' not in renamed or 'conv_last.weight' not in renamed:
        raise ConversionError(f'{path}: conv_first / conv_last weights are missing (layout "{layout}")')
    if 'conv_up2.weight' not in renamed:
        if layout != 'esrgan':
            raise ConversionError(f'{path}: no second upsampling conv (model.6): an x2 RRDB in the original '
                                  f'ESRGAN layout is not supported; save it with KAIR\'s names (upconv1, HRconv)')
        return _kair_x2(state, path)
    in_ch = renamed['conv_first.weight'].shape[1]
    opts = {
        'num_in_ch': 3 if in_ch in _SCALE_BY_IN_CH else in_ch,
        'num_out_ch': renamed['conv_last.weight'].shape[0],
        'scale': _SCALE_BY_IN_CH.get(in_ch, 4) if layout == 'basicsr' else 4,
        'num_feat': renamed['conv_first.weight'].shape[0],
        'num_block': num_block,
        'num_grow_ch': renamed['body.0.rdb1.conv1.weight'].shape[0],
    }
    if layout != 'basicsr':  # ESRGAN and KAIR take the RGB input directly: x4, conv_first sees the image
        opts['num_in_ch'] = in_ch
    reference = RRDBNet(**opts).state_dict()
    missing = [k for k in reference if k not in renamed]
    extra = [k for k in renamed if k not in reference]
    wrong = [k for k in reference if k in renamed and renamed[k].shape != reference[k].shape]
    if missing or extra or wrong:
        raise ConversionError(f'{path}: does not fit RRDBNet({opts}): missing {missing[:5]}, unexpected '
                              f'{extra[:5]}, wrong shape {wrong[:5]}')
    return OrderedDict((k, renamed[k].clone()) for k in reference), opts


def _kair_x2(state: dict, path: str) -> tuple[OrderedDict, dict]:
    """An x2 KAIR/ESRGAN-named RRDB: kept under its own names for ``KAIRRRDBNet`` (checked by a strict load)."""
    try:
        opts = kair_rrdb_options(state, path)
        reference = KAIRRRDBNet(**opts).state_dict()
    except ValueError as err:
        raise ConversionError(str(err)) from None
    wrong = [k for k in reference if k not in state or state[k].shape != reference[k].shape]
    extra = [k for k in state if k not in reference]
    if wrong or extra:
        raise ConversionError(f'{path}: does not fit KAIRRRDBNet({opts}): missing or wrong shape {wrong[:5]}, '
                              f'unexpected {extra[:5]}')
    return OrderedDict((k, state[k].clone()) for k in reference), {'type': 'KAIRRRDBNet', **opts}


def convert_file(src: str, dst: str) -> dict:
    """Convert ``src`` and save ``{'params': ..., 'params_ema': ...}`` to ``dst``; returns the RRDBNet options."""
    if not osp.isfile(src):
        raise ConversionError(f'checkpoint not found: {src}')
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle, zip and weights_only errors all mean "cannot read this file"
        raise ConversionError(f'{src}: cannot load it as a PyTorch checkpoint ({err})') from None
    converted, opts = {}, None
    for name, state in unwrap_state_dict(ckpt, src).items():
        converted[name], opts = convert_state_dict(state, src)
    # the EMA weights, when the source has them, are the ones to test with; otherwise both are the same weights
    converted.setdefault('params_ema', converted.get('params'))
    converted.setdefault('params', converted['params_ema'])
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(converted, dst)
    return opts


def network_g_yaml(opts: dict) -> str:
    """The ``network_g`` block of the converted weights: ``RRDBNet``, or ``KAIRRRDBNet`` when ``opts`` says so."""
    arch = opts.get('type', 'RRDBNet')
    return f'network_g:\n  type: {arch}\n' + ''.join(f'  {k}: {v}\n' for k, v in opts.items() if k != 'type')
