"""What each value of an option file must be: numbers, ranges, lists, choices, paths, as BasicSR 1.4.2,
Real-ESRGAN and sfd_arch read them.

A value of the wrong kind otherwise surfaces after BasicSR has started, as a traceback from inside torch
(``lr: 1e-4`` is a *string* to PyYAML, whose YAML 1.1 floats need a dot: ``TypeError: '<=' not supported``), or
not at all (``total_iter: -1`` saves an untrained network and exits 0). Each expectation is an ``Expect``: a
pydantic validator (``keys.KeyChecker`` checks every level with it) whose error line names the value and what was
expected, with the fix for the YAML string case (``!!float 1e-4`` or ``1.0e-4``).

Blocks whose keys are a constructor's arguments (networks, losses, optimisers, schedulers, metrics) get the
expectations of ``ARGUMENTS`` by argument name, and otherwise the kind of the argument's default (a number for a
number, a boolean for a boolean, text for text), so every registered class is covered without a table of its own.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from typing_extensions import Annotated

from ..utils.discriminators import DISCRIMINATORS

# YAML 1.1 (PyYAML) reads 1e-4 and 5e3 as strings: its float pattern needs a dot
_NUMBER_TEXT = re.compile(r'^[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?$')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def yaml_number_hint(value: Any) -> str:
    """The fix for a number YAML read as text: ``'1e-4'`` -> ``write !!float 1e-4 or 1.0e-4``; '' otherwise."""
    if not isinstance(value, str) or not _NUMBER_TEXT.match(value.strip()) or not any(c.isdigit() for c in value):
        return ''
    text = value.strip()
    mantissa, _, exponent = text.lower().partition('e')
    dotted = f'{mantissa}.0e{exponent}' if exponent and '.' not in mantissa else f'{text}'
    return (f' (YAML read {text} as a string: a YAML number needs a dot, write `!!float {text}` or '
            f'`{dotted}`)')


def _bool_hint(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in ('true', 'false', 'yes', 'no', 'on', 'off'):
        return f' (a quoted {value!r} is text, and any text counts as true: write true or false without quotes)'
    return ''


@dataclass(frozen=True)
class Expect:
    """What a value must be: ``what`` (said in the error), ``test``; ``None`` passes unless ``required``."""

    what: str
    test: Callable[[Any], bool]
    required: bool = False

    def __call__(self, value: Any) -> Any:
        if value is None:
            if not self.required:
                return value
            message = f'needs a value: expected {self.what}, got null'
        elif self.test(value):
            return value
        else:
            message = f'expected {self.what}, got {value!r}{yaml_number_hint(value) or _bool_hint(value)}'
        raise PydanticCustomError('option_value', '{message}', {'message': message})

    @property
    def annotation(self) -> Any:
        return Annotated[Any, BeforeValidator(self)]

    def needed(self) -> 'Expect':
        """The same expectation, with ``null`` refused."""
        return Expect(self.what, self.test, True)

    def __repr__(self) -> str:  # the pydantic model cache keys on it: stable across calls
        return f'Expect({self.what!r}, required={self.required})'


def number(low: Optional[float] = None, high: Optional[float] = None, *, integer: bool = False,
           low_open: bool = False, high_open: bool = False, what: str = '') -> Expect:
    """A number (an integer if ``integer``) in [low, high] (open ends as asked)."""
    def test(value: Any) -> bool:
        if not (_is_int(value) if integer else _is_number(value)):
            return False
        if low is not None and (value <= low if low_open else value < low):
            return False
        return not (high is not None and (value >= high if high_open else value > high))

    if not what:
        kind = 'an integer' if integer else 'a number'
        if low is not None and high is not None:
            what = f'{kind} in {"(" if low_open else "["}{low:g}, {high:g}{")" if high_open else "]"}'
        elif low is not None:
            what = f'{kind} {">" if low_open else ">="} {low:g}'
        elif high is not None:
            what = f'{kind} {"<" if high_open else "<="} {high:g}'
        else:
            what = kind
    return Expect(what, test)


def choice(*options: Any) -> Expect:
    return Expect('one of ' + ', '.join(repr(o) for o in options), lambda v: v in options)


def list_of(item: Expect, length: Optional[int] = None, ordered: bool = False, what: str = '') -> Expect:
    """A list (or tuple) whose items pass ``item``; ``ordered``: non-decreasing."""
    def test(value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
            return False
        if not all(item.test(v) for v in value):
            return False
        return not (ordered and any(a > b for a, b in zip(value, value[1:])))

    count = f'{length} ' if length else ''
    return Expect(what or f'a list of {count}{"values" if length != 1 else "value"}, each {item.what}'
                  + (', in increasing order' if ordered else ''), test)


def mapping_of(item: Expect, what: str) -> Expect:
    return Expect(what, lambda v: isinstance(v, dict) and all(isinstance(k, str) and item.test(x)
                                                              for k, x in v.items()))


BOOL = Expect('true or false', lambda v: isinstance(v, bool) or (_is_int(v) and v in (0, 1)))
TEXT = Expect('text', lambda v: isinstance(v, str))
NAME = Expect('a non-empty name', lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != '')
PATH = Expect('a path (text)', lambda v: isinstance(v, str) and v != '')
NUMBER = number()
NON_NEGATIVE = number(0)
POSITIVE = number(0, low_open=True)
PROBABILITY = number(0, 1, what='a probability in [0, 1]')
COUNT = number(0, integer=True)  # an integer >= 0
POSITIVE_INT = number(1, integer=True)
RANGE = list_of(NUMBER, 2, ordered=True, what='a [low, high] pair of numbers, low <= high')
POSITIVE_RANGE = list_of(POSITIVE, 2, ordered=True, what='a [low, high] pair of numbers > 0, low <= high')
NON_NEGATIVE_RANGE = list_of(NON_NEGATIVE, 2, ordered=True,
                             what='a [low, high] pair of numbers >= 0, low <= high')
ITERATIONS = number(1, integer=True, what='an iteration count >= 1').needed()
FREQUENCY = number(1, what='a number of iterations >= 1')
KERNELS = list_of(choice('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso'),
                  what="a list of kernel names ('iso', 'aniso', 'generalized_iso', 'generalized_aniso', "
                       "'plateau_iso', 'plateau_aniso')")
WEIGHTS = list_of(NON_NEGATIVE, what='a list of numbers >= 0')

# -- levels BasicSR and Real-ESRGAN read directly --------------------------------------------------------------
TOP: dict[str, Expect] = {
    'name': NAME, 'model_type': TEXT, 'scale': POSITIVE_INT, 'manual_seed': COUNT,
    'num_gpu': Expect("an integer >= 0 or 'auto'", lambda v: v == 'auto' or (_is_int(v) and v >= 0)),
    'find_unused_parameters': BOOL, 'keep_image_d': BOOL,
    # RealESRGANModel / RealESRNetModel: the on-the-fly degradations
    'gt_size': POSITIVE_INT, 'queue_size': POSITIVE_INT, 'high_order_degradation': BOOL,
    'l1_gt_usm': BOOL, 'percep_gt_usm': BOOL, 'gan_gt_usm': BOOL, 'gt_usm': BOOL,
    **{f'{key}{n}': expect for n in ('', '2') for key, expect in (
        ('resize_prob', list_of(NON_NEGATIVE, 3, what='a list of 3 probabilities (up, down, keep)')),
        ('resize_range', POSITIVE_RANGE), ('gaussian_noise_prob', PROBABILITY), ('noise_range', NON_NEGATIVE_RANGE),
        ('poisson_scale_range', NON_NEGATIVE_RANGE), ('gray_noise_prob', PROBABILITY),
        ('jpeg_range', list_of(number(0, 100), 2, ordered=True, what='a [low, high] JPEG quality pair in [0, 100]')))},
    'second_blur_prob': PROBABILITY,
}
DATASET: dict[str, Expect] = {
    'name': NAME, 'type': TEXT, 'phase': TEXT, 'scale': POSITIVE_INT, 'batch_size_per_gpu': POSITIVE_INT,
    'num_worker_per_gpu': COUNT, 'dataset_enlarge_ratio': POSITIVE, 'prefetch_mode': choice('cpu', 'cuda'),
    'pin_memory': BOOL, 'persistent_workers': BOOL, 'num_prefetch_queue': POSITIVE_INT, 'use_shuffle': BOOL,
    'dataroot_gt': PATH, 'dataroot_lq': PATH, 'meta_info': PATH, 'meta_info_file': PATH,
    'filename_tmpl': Expect("a file name template with one '{}' (e.g. '{}' or '{}x4')",
                            lambda v: isinstance(v, str) and v.count('{}') == 1),
    'gt_size': POSITIVE_INT, 'use_hflip': BOOL, 'use_rot': BOOL, 'color': choice('y'),
    'mean': list_of(NUMBER, 3), 'std': list_of(POSITIVE, 3), 'final_sinc_prob': PROBABILITY,
    **{f'{key}{n}': expect for n in ('', '2') for key, expect in (
        ('blur_kernel_size', POSITIVE_INT), ('kernel_list', KERNELS), ('kernel_prob', WEIGHTS),
        ('sinc_prob', PROBABILITY), ('blur_sigma', POSITIVE_RANGE), ('betag_range', POSITIVE_RANGE),
        ('betap_range', POSITIVE_RANGE))},
}
IO_BACKEND: dict[str, Expect] = {'type': choice('disk', 'lmdb', 'memcached')}
PATHS: dict[str, Expect] = {
    **{f'{prefix}_{net}': expect for net in ('g', 'd', *(spec.name for spec in DISCRIMINATORS))
       for prefix, expect in (('pretrain_network', PATH), ('strict_load', BOOL), ('param_key', TEXT))},
    'resume_state': PATH,
}
TRAIN: dict[str, Expect] = {
    'ema_decay': number(0, 1, high_open=True), 'total_iter': ITERATIONS,
    'warmup_iter': number(-1, integer=True, what='an integer >= -1 (-1: no warm-up)'),
    'net_d_iters': POSITIVE_INT, 'net_d_init_iters': COUNT,
}
VAL: dict[str, Expect] = {'val_freq': FREQUENCY, 'save_img': BOOL, 'suffix': TEXT, 'pbar': BOOL}
LOGGER: dict[str, Expect] = {'print_freq': FREQUENCY, 'save_checkpoint_freq': FREQUENCY, 'use_tb_logger': BOOL}
DIST_PARAMS: dict[str, Expect] = {'backend': TEXT, 'port': number(1, 65535, integer=True)}

# BasicSR 1.4.2's base_model.get_optimizer builds Adam only; its setup_schedulers knows these
OPTIMIZER_TYPES = ('Adam',)
SCHEDULER_TYPES = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')

# -- constructor arguments, by name (any network, loss, optimiser, scheduler or metric) ----------------------------
ARGUMENTS: dict[str, Expect] = {
    'lr': POSITIVE.needed(), 'betas': list_of(number(0, 1, high_open=True), 2), 'weight_decay': NON_NEGATIVE,
    'eps': POSITIVE,
    'milestones': list_of(POSITIVE_INT, what='a list of iterations >= 1'), 'gamma': POSITIVE,
    'restarts': list_of(COUNT, what='a list of iterations >= 0'), 'restart_weights': WEIGHTS,
    'periods': list_of(POSITIVE_INT, what='a list of iteration counts >= 1'), 'eta_min': NON_NEGATIVE,
    'loss_weight': NUMBER, 'reduction': choice('none', 'mean', 'sum'),
    'gan_type': choice('vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge'),
    'vgg_type': choice('vgg11', 'vgg11_bn', 'vgg13', 'vgg13_bn', 'vgg16', 'vgg16_bn', 'vgg19', 'vgg19_bn'),
    'layer_weights': mapping_of(NUMBER, 'a mapping of VGG layer name -> weight (e.g. conv5_4: 1)'),
    'criterion': choice('l1', 'l2', 'fro'), 'perceptual_weight': NON_NEGATIVE, 'style_weight': NON_NEGATIVE,
    'num_in_ch': POSITIVE_INT, 'num_out_ch': POSITIVE_INT, 'num_feat': POSITIVE_INT, 'num_block': POSITIVE_INT,
    'num_grow_ch': POSITIVE_INT, 'num_conv': POSITIVE_INT, 'scale': POSITIVE_INT, 'upscale': POSITIVE_INT,
    'crop_border': COUNT, 'test_y_channel': BOOL, 'input_order': choice('HWC', 'CHW'),
    'better': choice('higher', 'lower'),
}


def from_default(default: Any) -> Optional[Expect]:
    """The expectation a constructor's default value implies (None: anything goes)."""
    if isinstance(default, bool):
        return BOOL
    if isinstance(default, (int, float)):
        return NUMBER  # an int default takes a float too (weight_decay=0 takes 1e-2)
    if isinstance(default, str):
        return TEXT
    return None


def annotated(table: dict[str, Expect]) -> dict[str, Any]:
    """``{key: pydantic annotation}`` of a table, for ``keys.KeyChecker``."""
    return {key: expect.annotation for key, expect in table.items()}
