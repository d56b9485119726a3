"""Checks an option file before BasicSR starts, so a mistake fails in a second with the file, key and value named.

BasicSR renames an existing ``experiments/<name>`` folder and builds the data loaders before it builds the
model; a missing dataroot then surfaces as a bare ``os.scandir`` error after the folder was moved aside, a value
of the wrong kind as a traceback from torch, a pair of validation images of the wrong sizes at the first
validation. A missing metric weight file would surface only at the first validation, hours into training. The
check reads nothing but folder listings, ``meta_info`` files, image headers and tensor headers, and writes
nothing (``scripts/benchmarks/option_check.py`` times it on a DF2K-sized LMDB).
"""
from __future__ import annotations

import argparse
from typing import Any, Optional, Sequence

from ..archs.clip_arch import normalize_clip_opt
from ..utils.basicsr_cli import add_basicsr_arguments
from ..utils.basicsr_safety import check_path_names
from ..utils.force_yml import apply_force_yml
from ..utils.safe_yaml import load_option_file
from .cross import cross_field_problems
from .datafiles import check_datasets, check_measurable
from .walk import check_metric_blocks, check_option_keys
from .weightfiles import check_clip_weights, check_perceptual_backbone, check_pretrained, check_resume_state


def _load(path: str) -> dict[str, Any]:
    # the safe loader: a Python tag or a key written twice is an error naming the file and line(s), before anything
    return load_option_file(path)


def check_option_file(path: str, is_train: bool = True, check_metrics: bool = True,
                      argv: Optional[Sequence[str]] = None, check_weights: bool = True,
                      check_sizes: bool = True) -> dict[str, Any]:
    """Raise a clear error naming the file, the key and the value for every mistake that would otherwise fail
    after BasicSR has started (or not at all); returns the options.

    In order: the keys and values of every level (``walk.check_option_keys``, ``values.py``), values that cannot
    run together (``cross.py``), the datasets on disk (``datafiles.py``), the weight files the run opens
    (``weightfiles.py``: pretrained networks, a resume state, CLIP, the perceptual loss's VGG), the metrics'
    weight files and the SFD switches. Nothing is written: a failed check leaves no folder behind.

    ``check_metrics``: also check every ``val.metrics`` entry's weight files on disk; a caller that drops metrics
    without weights itself (the SR comparison) may turn it off and use ``check_val_metrics``.
    ``check_weights``: the network, CLIP and VGG weight files (a caller that loads its own networks turns it
    off). ``check_sizes`` (with ``check_metrics``): every image of a validation or test set is large enough for
    each metric with a size limit (NIQE; a caller that leaves such images out of a metric itself, the SR
    comparison, turns it off).
    ``argv``: the command line BasicSR will parse; its ``--force_yml``, ``--debug``, ``--auto_resume`` and
    ``--launcher`` are applied first, as BasicSR applies them.
    """
    opt = _load(path)
    forced = apply_command_line(opt, argv, is_train) if argv is not None else []
    check_path_names(opt, path)  # `name: ../x` would put experiments/, results/ or tb_logger/ files elsewhere
    sfd_training = opt.get('model_type') in ('SFDModel', 'RealSFDModel') and is_train
    if sfd_training:  # the clip block's own check first: it names the open_clip keys with their meaning
        _check_clip(opt, path)
    check_option_keys(opt, path, forced)
    problems = cross_field_problems(opt, is_train)
    if problems:
        raise ValueError(f'{path}: ' + (problems[0] if len(problems) == 1 else 'option values that cannot run '
                                        'together:\n' + '\n'.join(f'  {line}' for line in problems)))
    listings = check_datasets(opt, path, is_train)
    if sfd_training:
        check_sfd_options(opt, path)
    if check_weights:
        _check_weight_files(opt, path, is_train, sfd_training)
    if check_metrics:
        check_val_metrics(path, opt)
        if check_sizes:
            check_measurable(opt, path, listings)
    return opt


def _check_weight_files(opt: dict[str, Any], path: str, is_train: bool, sfd_training: bool) -> None:
    from ..archs.clip_arch import CLIPWeightsError

    try:
        check_pretrained(opt)
        if is_train:
            check_resume_state(opt)
            check_perceptual_backbone(opt)
        if sfd_training:
            check_clip_weights(opt)
    except CLIPWeightsError as err:
        raise FileNotFoundError(f'{path}: clip.pretrained: {err}') from None
    except (OSError, ValueError, KeyError) as err:
        raise type(err)(f'{path}: {err.args[0] if err.args else err}') from None


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
    add_basicsr_arguments(parser, opt_required=False)
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
    from ..models.sfd_model import amp_options
    from ..utils.switches import sfd_switches

    sfd_switches(opt, source=path)
    amp_options(opt.get('train') or {}, source=path)
