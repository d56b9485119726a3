"""Option files, checked before BasicSR starts: the preflight (data paths, clip block, metric weights, switches).

Sits above ``sfd_arch.models`` in the layer order, so it may read the model's option helpers; nothing below it
imports it.
"""
from .preflight import check_option_file, check_sfd_options, check_val_metrics, option_path

__all__ = ['check_option_file', 'check_sfd_options', 'check_val_metrics', 'option_path']
