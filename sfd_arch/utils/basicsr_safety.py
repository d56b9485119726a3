"""What this package changes in BasicSR so that the files a run reads are data, never code.

BasicSR 1.4.2 reads option files with PyYAML's full loader, ``eval``s ``--force_yml`` list values, and calls
``torch.load`` without ``weights_only`` for resume states, pretrained networks and VGG. Once BasicSR is imported
beside the package (``sfd_arch/train.py`` and ``test.py``, or BasicSR's own ``basicsr/train.py`` and
``basicsr/test.py`` through the start-up hook), :func:`patch_basicsr_loading` makes each of those safe, keeping
what BasicSR does with the result (``sfd_arch.registration.on_basicsr_import`` calls it, before the compatibility
patches):

* ``basicsr.utils.options.ordered_yaml`` returns :class:`~sfd_arch.utils.safe_yaml.SafeOrderedLoader` (safe tags
  only, ordered mappings, no key written twice) and BasicSR's ordered dumper; ``_postprocess_yml_value`` is
  :func:`~sfd_arch.utils.safe_yaml.yml_value` (``ast.literal_eval`` for lists). BasicSR's originals stay reachable
  as ``._basicsr``.
* ``parse_options`` (in ``basicsr.utils.options``, ``basicsr.train`` and ``basicsr.test``) stops with one line on
  an option file that must not be read, on a ``--force_yml`` key that is not a plain name (BasicSR ``exec``s the
  keys) or a list value that is not a literal, and on an experiment or dataset name that would leave
  ``experiments/``, ``results/`` or ``tb_logger/``.
* ``load_resume_state`` (``basicsr.train``, and ``__main__`` when that is BasicSR's ``train.py``) reads the state
  weights-only and keeps it on the CPU where there is no CUDA; ``BaseModel.load_network`` reads
  ``pretrain_network_*`` weights-only or from ``.safetensors``; ``VGGFeatureExtractor`` reads its VGG file
  weights-only.
"""
from __future__ import annotations

import functools
import importlib
import os.path as osp
import re
import sys
from typing import Any, Callable

from .checkpoints import load_checkpoint, state_dict_of, weights_only_loads
from .files import UnsafePathError, check_name
from .safe_yaml import OptionFileError, ordered_yaml, yml_value

# a --force_yml key path: BasicSR builds `opt["a"]["b"]=value` from it and exec()s that
_FORCE_KEYS = re.compile(r'[\w.-]+(:[\w.-]+)*')


def check_path_names(opt: dict, source: str) -> None:
    """The option-file names that become folders (``name``: ``experiments/<name>``, ``results/<name>``,
    ``tb_logger/<name>``; ``datasets.<phase>.name``: the visualisation folder of a test set) must be plain names;
    ``UnsafePathError`` names the key otherwise."""
    if 'name' in opt:
        check_name(opt['name'], f'{source}: name')
    for phase, block in (opt.get('datasets') or {}).items():
        if isinstance(block, dict):  # a block without a name goes by its key (the comparison's fallback)
            check_name(block.get('name', phase), f'{source}: datasets.{phase}' + ('.name' if 'name' in block else ''))


class ForceYmlError(ValueError):
    """A ``--force_yml`` entry BasicSR would run as code; the message names the entry."""


def check_force_yml(argv: list[str]) -> None:
    """Every ``--force_yml`` entry of a BasicSR command line: keys that are plain names (``train:total_iter``),
    since BasicSR runs them as code, and a value :func:`yml_value` reads (a list must be a literal)."""
    inside = False
    for token in argv:
        if token == '--force_yml':
            inside = True
        elif token.startswith('-'):
            inside = False
        elif inside and '=' in token:
            keys, value = token.split('=', 1)
            if not _FORCE_KEYS.fullmatch(keys.strip()):
                raise ForceYmlError(f'--force_yml {token}: keys are names joined by ":" (letters, digits, _ . -)')
            try:
                yml_value(value.strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
                raise ForceYmlError(f'--force_yml {token}: the value is not a literal ({type(err).__name__}: {err})'
                                    ) from None


def load_resume_state(opt: dict) -> Any:
    """BasicSR's ``load_resume_state``, weights-only; the tensors stay on the CPU when there is no CUDA (models move
    optimiser state to their own device when they load it), and a missing file is named."""
    import torch
    from basicsr.utils import scandir
    from basicsr.utils.misc import check_resume

    resume_state_path = None
    if opt['auto_resume']:
        state_path = osp.join('experiments', opt['name'], 'training_states')
        if osp.isdir(state_path):
            states = list(scandir(state_path, suffix='state', recursive=False, full_path=False))
            if states:
                latest = max(float(v.split('.state')[0]) for v in states)
                resume_state_path = osp.join(state_path, f'{latest:.0f}.state')
                opt['path']['resume_state'] = resume_state_path
    elif opt['path'].get('resume_state'):
        resume_state_path = opt['path']['resume_state']
    if resume_state_path is None:
        return None
    if not osp.isfile(resume_state_path):
        raise FileNotFoundError(f'path.resume_state: training state not found: {resume_state_path}')
    if torch.cuda.is_available():
        device_id = torch.cuda.current_device()
        location: Any = lambda storage, loc: storage.cuda(device_id)  # noqa: E731 - BasicSR's own mapping
    else:
        location = 'cpu'
    resume_state = load_checkpoint(resume_state_path, 'training state', map_location=location)
    check_resume(opt, resume_state['iter'])
    return resume_state


load_resume_state._sfd_safe = True


def load_network(self, net, load_path: str, strict: bool = True, param_key: str = 'params') -> None:
    """BasicSR's ``BaseModel.load_network``, reading ``.pth`` weights-only and ``.safetensors`` files (a flat state
    dict); ``param_key`` falls back to ``params`` and then to the file itself, as BasicSR's does to ``params``."""
    from basicsr.utils import get_root_logger

    net = self.get_bare_model(net)
    state = state_dict_of(load_checkpoint(load_path, 'network checkpoint'), load_path, param_key)
    get_root_logger().info(f'Loading {net.__class__.__name__} model from {load_path}, with param key: [{param_key}].')
    self._print_different_keys_loading(net, state, strict)
    net.load_state_dict(state, strict=strict)


def _guard_main_resume() -> None:
    # `python basicsr/train.py` and `python -m basicsr.train` run BasicSR's file as __main__: its load_resume_state
    # is a second copy, defined after the start-up hook imported sfd_arch, so it is replaced here, when its
    # train_pipeline calls parse_options, before the resume state is read
    main = sys.modules.get('__main__')
    found = getattr(main, 'load_resume_state', None)
    code = getattr(found, '__code__', None)
    if code is not None and not getattr(found, '_sfd_safe', False) and found.__module__ == '__main__' and \
            osp.basename(code.co_filename) == 'train.py' and osp.basename(osp.dirname(code.co_filename)) == 'basicsr':
        main.load_resume_state = load_resume_state


def _safe_parse_options(original: Callable) -> Callable:
    @functools.wraps(original)
    def parse_options(root_path, is_train=True):
        try:
            check_force_yml(sys.argv[1:])
            opt, args = original(root_path, is_train)
            check_path_names(opt, args.opt)
        except (OptionFileError, UnsafePathError, ForceYmlError) as err:
            raise SystemExit(f'error: {err}') from None
        _guard_main_resume()
        return opt, args

    parse_options._sfd_safe = True
    parse_options._basicsr = original
    return parse_options


def patch_basicsr_loading() -> None:
    """Apply the changes of the module docstring, once; idempotent."""
    options = importlib.import_module('basicsr.utils.options')
    if getattr(options.parse_options, '_sfd_safe', False):
        return
    for name, safe in (('ordered_yaml', ordered_yaml), ('_postprocess_yml_value', yml_value)):
        original = getattr(options, name)

        def replacement(*args, _safe=safe, **kwargs):
            return _safe(*args, **kwargs)

        functools.update_wrapper(replacement, original)
        replacement._basicsr = original
        setattr(options, name, replacement)

    parse_options = _safe_parse_options(options.parse_options)
    for module_name in ('basicsr.utils.options', 'basicsr.train', 'basicsr.test'):
        module = importlib.import_module(module_name)
        if getattr(module, 'parse_options', None) is parse_options._basicsr:
            module.parse_options = parse_options
    importlib.import_module('basicsr.train').load_resume_state = load_resume_state

    base_model = importlib.import_module('basicsr.models.base_model')
    load_network._basicsr = base_model.BaseModel.load_network
    base_model.BaseModel.load_network = load_network

    vgg_arch = importlib.import_module('basicsr.archs.vgg_arch')
    vgg_init = vgg_arch.VGGFeatureExtractor.__init__

    @functools.wraps(vgg_init)
    def vgg_weights_only(self, *args, **kwargs):
        with weights_only_loads('VGG weights file'):
            vgg_init(self, *args, **kwargs)

    vgg_arch.VGGFeatureExtractor.__init__ = vgg_weights_only


__all__ = ['ForceYmlError', 'check_force_yml', 'check_path_names', 'load_network', 'load_resume_state',
           'patch_basicsr_loading']
