"""Checkpoints read as data: torch's weights-only unpickler for ``.pth`` / ``.pt`` / ``.state``, or ``.safetensors``.

A ``.pth`` file is a pickle, and a full unpickling runs whatever a crafted ``__reduce__`` names. torch's
``weights_only=True`` unpickler builds only tensors, plain Python data (dict, list, tuple, str, numbers, None),
``OrderedDict``, ``collections.Counter`` and a few torch types, and refuses anything else. That covers every file of
an SFD run: ``net_*_<iter>.pth`` (``{'params': state_dict}``), the SFD-IQA weights file, and BasicSR's training state
(optimiser and scheduler state dicts, where ``MultiStepLR``'s milestones are a ``Counter``, allowed by default since
torch 2.4, plus our ints, lists, dicts and tensors), so no extra allow-list is needed. ``weights_only`` is always
passed explicitly: the ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` variable changes only calls that leave it out.

``.safetensors`` files hold nothing but tensors (a state dict) and are read with the ``safetensors`` package: the
format to prefer for weights given to others.
"""
from __future__ import annotations

import os
import os.path as osp
import re
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch

SAFETENSORS_SUFFIX = '.safetensors'


class CheckpointError(ValueError):
    """A file that cannot be read as weights, said in one sentence naming the file. ``refused`` names the Python
    object the weights-only loader refused to build (None: the file is no checkpoint at all); ``reason`` is torch's
    own short reason."""

    def __init__(self, message: str, refused: Optional[str] = None, reason: str = ''):
        super().__init__(message)
        self.refused, self.reason = refused, reason


def _refused_global(err: Exception) -> Optional[str]:
    match = re.search(r'GLOBAL ([\w.]+)|Unsupported (?:global|class):? ([\w.]+)', str(err))
    return (match.group(1) or match.group(2)) if match else None


def load_error(path: str, what: str, err: Exception) -> CheckpointError:
    """The one-sentence error for a file torch's weights-only loader could not read."""
    name = _refused_global(err)
    if 'Weights only load failed' in str(err) and name:
        return CheckpointError(
            f'{path}: this {what} holds a Python object ({name}) that only a full unpickling would build, and a full '
            'unpickling can run code, so it is not loaded; if you trust where it came from, save its tensors again as '
            f'a state dict (torch.save(state_dict)) or as {SAFETENSORS_SUFFIX}', refused=name)
    text = str(err)
    detail = text.split('WeightsUnpickler error:', 1)[1] if 'WeightsUnpickler error:' in text else text
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    reason = f'{type(err).__name__}: {lines[0] if lines else type(err).__name__}'
    return CheckpointError(f'{path} is not a {what} that can be read as weights (a .pth/.pt file written by '
                           f'torch.save, or {SAFETENSORS_SUFFIX}): torch cannot read it ({reason})', reason=reason)


def load_checkpoint(path: str, what: str = 'checkpoint', map_location: Any = 'cpu', mmap: bool = False) -> Any:
    """The content of a checkpoint, read without running code: ``.safetensors`` as a state dict of tensors,
    anything else with ``torch.load(weights_only=True)``.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (a ``ValueError``) with one
    sentence for a file that needs more than the weights-only loader or is not a checkpoint at all.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    if path.endswith(SAFETENSORS_SUFFIX):
        from safetensors.torch import load_file

        device = map_location if isinstance(map_location, (str, torch.device)) else 'cpu'
        try:
            return load_file(path, device=str(device))
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for a bad header
            raise CheckpointError(f'{path} is not a {SAFETENSORS_SUFFIX} file that can be read: {err}',
                                  reason=str(err)) from None
    try:
        with warnings.catch_warnings():  # a plain pickle's protocol warning would only add noise to the sentence
            warnings.filterwarnings('ignore', message='Detected pickle protocol', category=UserWarning)
            # torch.serialization.load is torch.load, and stays itself inside weights_only_loads()
            return torch.serialization.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, KeyError, EOFError...
        raise load_error(path, what, err) from None


def state_dict_of(ckpt: Any, path: str, param_key: Optional[str] = 'params') -> dict:
    """The state dict inside a BasicSR checkpoint: ``ckpt[param_key]``, else ``ckpt['params']`` (as BasicSR's
    ``load_network`` falls back), else ``ckpt`` itself when it is a flat dict of tensors (a ``.safetensors`` file,
    a bare ``torch.save(state_dict)``); a ``module.`` prefix (DataParallel) is dropped."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path} holds a {type(ckpt).__name__}, not a state dict')
    for key in () if param_key is None else (param_key, 'params'):  # None: the root is the state dict
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    else:
        if not ckpt or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise CheckpointError(f"{path} has no '{param_key}' entry and is not a state dict: its keys start with "
                                  f'{list(ckpt)[:5]}')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in ckpt.items()}


@contextmanager
def weights_only_loads(what: str = 'checkpoint') -> Iterator[None]:
    """Every ``torch.load`` of a file path inside the block goes through :func:`load_checkpoint`, for third-party
    code that calls ``torch.load`` without ``weights_only`` (BasicSR's VGG, torchvision's download cache). Meant
    for a constructor call on the main thread; other threads calling ``torch.load`` meanwhile are made
    weights-only too, which only makes them stricter."""
    original = torch.load

    def load(f, map_location=None, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            return load_checkpoint(os.fspath(f), what, map_location=map_location, mmap=bool(kwargs.get('mmap')))
        kwargs['weights_only'] = True
        return original(f, map_location, *args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


def state_mismatch(file_shapes: dict[str, tuple[int, ...]], network_shapes: dict[str, tuple[int, ...]]) -> str:
    """How a state dict's parameter shapes (``{name: shape}``) differ from a network's: ``''`` when they fit,
    else the shapes that differ, the missing and the unexpected names, a few of each (the one wording of every
    "does not fit" message: pretrained networks, resume states, CLIP weights)."""
    wrong = [f'{k} {file_shapes[k]} in the file, {network_shapes[k]} in the network' for k in network_shapes
             if k in file_shapes and tuple(file_shapes[k]) != tuple(network_shapes[k])]
    missing = [k for k in network_shapes if k not in file_shapes]
    unexpected = [k for k in file_shapes if k not in network_shapes]
    parts = []
    if wrong:
        parts.append(f'{len(wrong)} shape(s) differ: {"; ".join(wrong[:2])}')
    if missing:
        parts.append(f'{len(missing)} missing: {", ".join(missing[:3])}')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected: {", ".join(unexpected[:3])}')
    return '; '.join(parts)
