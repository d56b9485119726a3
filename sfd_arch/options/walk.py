"""The option file walked level by level: which table or constructor each block is checked against.

SFDModel and RealSFDModel files are checked for unknown keys at every level; a file of another model (``SRModel``
for the PSNR stage, ``RealESRNetModel``, ``ESRGANModel``) has its top level, ``train`` and ``path`` read by code
this package does not know, so there only its datasets, network, loss, optimiser, scheduler and metric blocks are
checked for unknown keys. The values (``values.py``) are checked at every level of every file.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from . import schema, values
from .keys import KeyChecker, OptionKeyError, closest, registered, unknown_key_line

SFD_MODELS = ('SFDModel', 'RealSFDModel')


def check_option_keys(opt: dict[str, Any], source: str = 'option file', forced: Iterable[str] = ()) -> None:
    """Raise ``OptionKeyError`` listing every key of ``opt`` that nothing reads, with the closest known key, and
    every value of the wrong kind, with what was expected.

    ``forced``: dotted paths set by ``--force_yml`` (their lines say so).
    """
    declared = opt.get('extra_keys') or []
    checker = KeyChecker(declared if isinstance(declared, list) else [], forced)
    model_type = opt.get('model_type')
    _levels(checker, opt, schema.TOP_BY_MODEL.get(model_type) if model_type in SFD_MODELS else None)
    if model_type not in SFD_MODELS and 'protocol' in opt:  # the one top-level key of ours any test file may carry
        checker.block({'protocol': opt['protocol']}, schema.PROTOCOL, '')
    _networks(checker, opt)
    _datasets(checker, opt.get('datasets'))
    val = opt.get('val')
    if isinstance(val, dict):
        _metrics(checker, val.get('metrics'), 'val.metrics')
    if checker.problems:
        raise OptionKeyError(f'{source}: ' + _joined(checker.problems))


def check_metric_blocks(metrics_opt: Any, where: str = 'val.metrics', declared: Iterable[str] = ()) -> None:
    """Raise ``OptionKeyError`` for a metric block with an unknown type or a key its metric does not read.

    For callers that check metrics on their own (the SR comparison); ``check_option_keys`` includes this.
    """
    checker = KeyChecker(declared)
    _metrics(checker, metrics_opt, where)
    if checker.problems:
        raise OptionKeyError(_joined(checker.problems))


def _joined(problems: list[str]) -> str:
    from .keys import EXTRA_KEYS_HINT

    unknown = any(': unknown key' in line for line in problems)
    hint = EXTRA_KEYS_HINT if unknown else ''
    if len(problems) == 1:
        return f'{problems[0]}; {hint}' if hint else problems[0]
    head = 'option keys nothing reads:' if all(': unknown key' in line for line in problems) else \
        'option keys nothing reads or with wrong values:' if unknown else 'option values that cannot run:'
    return head + '\n' + '\n'.join(f'  {line}' for line in problems) + (f'\n  ({hint})' if hint else '')


def _fields(known: Optional[dict[str, Any]], expected: dict[str, values.Expect]) -> dict[str, Any]:
    """A level's pydantic fields: its known keys (``None``: any key) with the value expectations of ``expected``."""
    if known is None:
        return values.annotated(expected)
    return {key: expected[key].annotation if key in expected else kind for key, kind in known.items()}


def _levels(checker: KeyChecker, opt: dict[str, Any], top: Optional[dict[str, Any]]) -> None:
    """Every fixed level; ``top``: the SFD model's top-level table (unknown keys refused), None for another model
    (only the values are checked)."""
    closed = top is not None
    checker.block(opt, _fields(top, values.TOP), '', extras_ok=not closed)
    for key, known, expected in (('path', schema.PATH, values.PATHS), ('val', schema.VAL, values.VAL),
                                 ('dist_params', schema.DIST_PARAMS, values.DIST_PARAMS),
                                 ('clip', schema.CLIP, {})):
        if key == 'clip' and not closed:
            continue
        checker.block(opt.get(key), _fields(known if closed else None, expected), key, extras_ok=not closed)
    logger = checker.block(opt.get('logger'), _fields(schema.LOGGER if closed else None, values.LOGGER), 'logger',
                           extras_ok=not closed)
    if closed:
        checker.block(logger.get('wandb'), schema.WANDB, 'logger.wandb')
    train = checker.block(opt.get('train'), _fields(schema.TRAIN if closed else None, values.TRAIN), 'train',
                          extras_ok=not closed)
    _train_blocks(checker, train)


def _train_blocks(checker: KeyChecker, train: dict[str, Any]) -> None:
    """Optimisers, losses and the scheduler: their keys are a constructor's arguments, whatever the model."""
    import torch
    from basicsr.models import lr_scheduler
    from basicsr.utils.registry import LOSS_REGISTRY

    for key in schema.OPTIMIZERS:
        block = train.get(key)
        if isinstance(block, dict):
            name = block.get('type', schema.DEFAULT_OPTIMIZER_TYPE)
            if name not in values.OPTIMIZER_TYPES:
                checker.problems.append(f'train.{key}.type: expected one of {", ".join(values.OPTIMIZER_TYPES)} '
                                        f'(the optimisers BasicSR 1.4.2 builds), got {name!r}')
                continue
            checker.constructor(block, f'train.{key}', getattr(torch.optim, str(name), None), f'torch.optim.{name}',
                                skip=('params',))
    for key in schema.LOSSES:
        block = train.get(key)
        if isinstance(block, dict):
            name = block.get('type', schema.DEFAULT_LOSS_TYPES.get(key))
            loss = registered(LOSS_REGISTRY, name)
            if loss is None:
                checker.problems.append(_unknown_type(f'train.{key}.type', name, LOSS_REGISTRY, 'loss'))
            checker.constructor(block, f'train.{key}', loss, str(name))
    scheduler = train.get('scheduler')
    if isinstance(scheduler, dict):
        if scheduler.get('type') not in values.SCHEDULER_TYPES:
            checker.problems.append(f'train.scheduler.type: expected one of {", ".join(values.SCHEDULER_TYPES)} '
                                    f'(the schedulers BasicSR 1.4.2 builds), got {scheduler.get("type")!r}')
            return
        # basicsr/models/base_model.py: MultiStepLR and MultiStepRestartLR both build MultiStepRestartLR
        name = {'MultiStepLR': 'MultiStepRestartLR'}.get(scheduler.get('type'), scheduler.get('type'))
        checker.constructor(scheduler, 'train.scheduler', getattr(lr_scheduler, str(name), None), str(name),
                            skip=('optimizer',))


def _unknown_type(where: str, name: Any, registry: Any, what: str) -> str:
    known = sorted(n[:-len('_basicsr')] if n.endswith('_basicsr') else n for n, _ in registry)
    near = closest(str(name), known)
    hint = f'did you mean `{near}`?' if near else f'known: {", ".join(known)}'
    return f'{where}: unknown {what} type {name!r} ({hint})'


def _networks(checker: KeyChecker, opt: dict[str, Any]) -> None:
    from basicsr.utils.registry import ARCH_REGISTRY

    for key in [f'network_{net}' for net in schema.NETWORKS]:
        block = opt.get(key)
        if not isinstance(block, dict):
            continue
        name = block.get('type', schema.DEFAULT_NETWORK_TYPES.get(key))
        arch = registered(ARCH_REGISTRY, name)
        if arch is None:
            checker.problems.append(_unknown_type(f'{key}.type', name, ARCH_REGISTRY, 'architecture'))
            continue
        injected = schema.INJECTED_NETWORK_ARGS.get(key, ())
        for arg in injected:
            if arg in block:
                checker.problems.append(f'{key}.{arg}: set by the top-level `{arg}:` block, not inside {key}')
        checker.constructor({k: v for k, v in block.items() if k not in injected}, key, arch, str(name),
                            skip=injected)


def _datasets(checker: KeyChecker, datasets: Any) -> None:
    from basicsr.utils.registry import DATASET_REGISTRY

    if not isinstance(datasets, dict):
        return
    for phase, block in datasets.items():
        where = f'datasets.{phase}'
        if not isinstance(block, dict):
            checker.problems.append(f'{where}: must be a dataset block, got {block!r}')
            continue
        name = block.get('type')
        own = schema.DATASETS.get(name)
        if own is None and registered(DATASET_REGISTRY, name) is None:
            checker.problems.append(_unknown_type(f'{where}.type', name, DATASET_REGISTRY, 'dataset'))
            continue
        # a registered type whose keys are not in the table: only what BasicSR's loader reads is checked
        fields = _fields({**schema.LOADER, **{key: Any for key in own or ()}}, values.DATASET)
        checker.block(block, fields, where, owner=str(name), extras_ok=own is None)
        checker.block(block.get('io_backend'), _fields(schema.IO_BACKEND, values.IO_BACKEND), f'{where}.io_backend')


def _metrics(checker: KeyChecker, metrics: Any, where: str) -> None:
    from basicsr.utils.registry import METRIC_REGISTRY

    if metrics is None:
        return
    if not isinstance(metrics, dict):
        checker.problems.append(f'{where}: must be a mapping of name -> metric block, got {metrics!r}')
        return
    for name, block in metrics.items():
        here = f'{where}.{name}'
        if not isinstance(block, dict) or 'type' not in block:
            checker.problems.append(f'{here}: a metric block needs a `type` key, got {block!r}')
            continue
        func = registered(METRIC_REGISTRY, block['type'])
        if func is None:
            checker.problems.append(_unknown_type(f'{here}.type', block['type'], METRIC_REGISTRY, 'metric'))
            continue
        # a metric reading keys through **kwargs lists them in its `option_keys` attribute (FID, KID)
        extra = schema.METRIC_BLOCK_KEYS + tuple(getattr(func, 'option_keys', ()))
        checker.constructor(block, here, func, block['type'], skip=schema.METRIC_IMAGE_ARGS, extra=extra,
                            closed=True)


__all__ = ['OptionKeyError', 'check_metric_blocks', 'check_option_keys', 'unknown_key_line']
