"""Checks an option file before BasicSR starts, so a typo fails in a second with the key named.

BasicSR renames an existing ``experiments/<name>`` folder and builds the data loaders before it builds the
model; a missing dataroot then surfaces as a bare ``os.scandir`` error after the folder was moved aside. A missing
metric weight file would surface only at the first validation, hours into training.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Optional, Sequence

from ..archs.clip_arch import normalize_clip_opt
from ..utils.basicsr_safety import check_path_names
from ..utils.force_yml import apply_force_yml
from ..utils.safe_yaml import load_option_file
from .walk import check_metric_blocks, check_option_keys

_PATH_KEYS = ('dataroot_gt', 'dataroot_lq', 'meta_info', 'meta_info_file')


def _load(path: str) -> dict[str, Any]:
    # the safe loader: a Python tag or a key written twice is an error naming the file and line(s), before anything
    return load_option_file(path)


def check_option_file(path: str, is_train: bool = True, check_metrics: bool = True,
                      argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Raise a clear error naming the key for the mistakes that would otherwise fail late; returns the options.

    ``check_metrics``: also check every ``val.metrics`` entry's weight files on disk; a caller that drops metrics
    without weights itself (the SR comparison) may turn it off and use ``check_val_metrics``. Every key is
    checked regardless (``walk.check_option_keys``). ``argv``: the command line BasicSR will parse; its
    ``--force_yml``, ``--debug``, ``--auto_resume`` and ``--launcher`` are applied first, as BasicSR applies them.
    """
    opt = _load(path)
    forced = apply_command_line(opt, argv, is_train) if argv is not None else []
    check_path_names(opt, path)  # `name: ../x` would put experiments/, results/ or tb_logger/ files elsewhere
    sfd_training = opt.get('model_type') in ('SFDModel', 'RealSFDModel') and is_train
    if sfd_training:  # the clip block's own check first: it names the open_clip keys with their meaning
        _check_clip(opt, path)
    check_option_keys(opt, path, forced)
    for phase, dataset in (opt.get('datasets') or {}).items():
        if phase.split('_')[0] == 'val' and not is_train:
            continue
        for key in _PATH_KEYS:
            value = (dataset or {}).get(key)
            if value and not os.path.exists(value):
                raise FileNotFoundError(f'{path}: datasets.{phase}.{key}: not found: {value}')
    if check_metrics:
        check_val_metrics(path, opt)
    if sfd_training:
        check_sfd_options(opt, path)
    return opt


def _check_clip(opt: dict[str, Any], path: str) -> None:
    try:
        normalize_clip_opt(opt.get('clip'))
    except (KeyError, ValueError) as err:
        raise type(err)(f'{path}: {err.args[0]}') from err


def check_val_metrics(path: str, opt: dict[str, Any]) -> None:
    """Every ``val.metrics`` entry: a known type, and its weight files on disk (named, with where to put them)."""
    from ..metrics import check_metric_weights

    metrics = (opt.get('val') or {}).get('metrics') or {}
    if not isinstance(metrics, dict):
        raise ValueError(f'{path}: val.metrics must be a mapping of name -> metric block')
    try:
        check_metric_blocks(metrics, 'val.metrics', opt.get('extra_keys') or ())
    except ValueError as err:
        raise type(err)(f'{path}: {err}') from None
    try:
        check_metric_weights(metrics)
    except KeyError as err:
        raise KeyError(f'{path}: val.{err.args[0]}') from None
    except OSError as err:  # MissingWeightsError: one line per missing file
        raise type(err)(f'{path}: {err}') from None


def option_path(argv: list[str]) -> str | None:
    """The value of ``-opt`` in a BasicSR command line, if any."""
    for i, arg in enumerate(argv[:-1]):
        if arg in ('-opt', '--opt'):
            return argv[i + 1]
    return None


def _basicsr_parser() -> argparse.ArgumentParser:
    # the arguments of basicsr/utils/options.py's parse_options (1.4.2)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt', type=str)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--auto_resume', action='store_true')
    parser.add_argument('--debug', action='store_true')
    parser.add_argument('--local_rank', type=int, default=0)
    parser.add_argument('--force_yml', nargs='+', default=None)
    return parser


def apply_command_line(opt: dict[str, Any], argv: Sequence[str], is_train: bool = True) -> list[str]:
    """Change ``opt`` as BasicSR's ``parse_options`` will for this command line; returns the forced key paths.

    The check must see what BasicSR will run: ``--force_yml datasets:train:dataroot_gt=<folder>`` replaces the
    file's path. Like BasicSR, an override may add a last key but not a missing block (that is an error here).
    """
    args, _ = _basicsr_parser().parse_known_args(list(argv))
    opt['dist'] = args.launcher != 'none'
    forced = apply_force_yml(opt, args.force_yml or [])
    opt['auto_resume'] = args.auto_resume
    opt['is_train'] = is_train
    if args.debug and not str(opt.get('name', '')).startswith('debug'):
        opt['name'] = f'debug_{opt.get("name")}'
    return forced


def check_sfd_options(opt: dict[str, Any], path: str) -> None:
    """The SFD ablation switches (a run with no adversarial term, a null optimiser) and ``train.amp`` / ``amp_g``,
    checked before BasicSR moves an experiment folder aside; the errors name the file and the key."""
    from ..models.sfd_model import amp_options, sfd_switches

    sfd_switches(opt, source=path)
    amp_options(opt.get('train') or {}, source=path)
