"""Option files, checked before BasicSR starts: every key (``schema.py`` as data, checked with pydantic), every
value (``values.py``), values that cannot run together (``cross.py``), the datasets on disk (``datafiles.py``),
the weight files the run opens (``weightfiles.py``), the clip block, metric weights and the SFD switches
(``preflight.py``, the entry point).

Sits above ``sfd_arch.models`` in the layer order, so it may read the model's option helpers; nothing below it
imports it.
"""
from .keys import OptionKeyError
from .preflight import apply_command_line, check_option_file, check_sfd_options, check_val_metrics, option_path
from .walk import check_metric_blocks, check_option_keys

__all__ = ['OptionKeyError', 'apply_command_line', 'check_metric_blocks', 'check_option_file',
           'check_option_keys', 'check_sfd_options', 'check_val_metrics', 'option_path']
