"""Which keys each level of an option file may hold: those BasicSR 1.4.2, Real-ESRGAN or sfd_arch reads.

A key nobody reads is the worst kind of typo: the run silently does something other than its file says
(``train.tgd_optt: ~`` trains TG-D). The tables below are the schema as data, read from the code that consumes the
keys (``basicsr/utils/options.py``, ``train.py``, ``models/*_model.py``, ``data/*_dataset.py``, Real-ESRGAN's
``realesrgan_model.py`` / ``realesrgan_dataset.py``, ``sfd_arch/models``); blocks whose keys are a constructor's
arguments (networks, losses, optimisers, schedulers, metrics) take them from that constructor's signature, so any
registered architecture or metric is covered. ``sfd_arch.options.keys`` checks a file against them with pydantic
(``extra='forbid'``).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from ..archs.clip_arch import CLIP_OPT_KEYS
from ..metrics.protocols import PROTOCOLS
from ..utils.discriminators import DISCRIMINATORS

# set by BasicSR's parse_options / train.py itself; a file may carry them (a copied options.yml does)
RUNTIME_TOP = ('is_train', 'dist', 'rank', 'world_size', 'auto_resume', 'root_path')

BASICSR_TOP: dict[str, Any] = {
    'name': str, 'model_type': str, 'scale': int, 'num_gpu': Any, 'manual_seed': Optional[int],
    'datasets': dict, 'network_g': Optional[dict], 'network_d': Optional[dict], 'path': Optional[dict],
    'train': Optional[dict], 'val': Optional[dict], 'logger': Optional[dict], 'dist_params': Optional[dict],
    'find_unused_parameters': bool, **{key: Any for key in RUNTIME_TOP},
}
# the evaluation protocol of a test file (scripts/compare.py, sfd_arch/test.py): one of the named presets of
# sfd_arch.metrics.protocols; read from the top level of a file of any model type (walk.check_option_keys)
PROTOCOL: dict[str, Any] = {'protocol': Literal[tuple(PROTOCOLS)]}
SFD_TOP: dict[str, Any] = {
    'keep_image_d': bool, 'clip': Optional[dict], **{spec.network_key: Optional[dict] for spec in DISCRIMINATORS},
    'extra_keys': list[str], 'deterministic': bool, **PROTOCOL,
}
# RealESRGANModel (BasicSR 1.4.2 and Real-ESRGAN): the on-the-fly degradations, read from the top level
REAL_DEGRADATION_TOP: dict[str, Any] = {
    key: Any for key in (
        'queue_size', 'high_order_degradation', 'l1_gt_usm', 'percep_gt_usm', 'gan_gt_usm', 'gt_size',
        'resize_prob', 'resize_range', 'gaussian_noise_prob', 'noise_range', 'poisson_scale_range',
        'gray_noise_prob', 'jpeg_range', 'second_blur_prob', 'resize_prob2', 'resize_range2',
        'gaussian_noise_prob2', 'noise_range2', 'poisson_scale_range2', 'gray_noise_prob2', 'jpeg_range2')
}
TOP_BY_MODEL: dict[str, dict[str, Any]] = {
    'SFDModel': {**BASICSR_TOP, **SFD_TOP},
    'RealSFDModel': {**BASICSR_TOP, **SFD_TOP, **REAL_DEGRADATION_TOP},
}

NETWORKS = ('g', 'd') + tuple(spec.name for spec in DISCRIMINATORS)
PATH: dict[str, Any] = {
    **{f'{prefix}_{net}': Any for net in NETWORKS for prefix in ('pretrain_network', 'param_key', 'strict_load')},
    **{key: Any for key in ('resume_state', 'ignore_resume_networks', 'experiments_root', 'models',
                            'training_states', 'log', 'visualization', 'results_root')},
}
OPTIMIZERS = ('optim_g', 'optim_d') + tuple(spec.optimizer_key for spec in DISCRIMINATORS)
LOSSES = ('pixel_opt', 'perceptual_opt', 'gan_opt') + tuple(spec.loss_key for spec in DISCRIMINATORS)
TRAIN: dict[str, Any] = {
    **{key: Optional[dict] for key in OPTIMIZERS + LOSSES}, 'scheduler': dict,
    'ema_decay': float, 'total_iter': float, 'warmup_iter': float, 'net_d_iters': int, 'net_d_init_iters': int,
    'relativistic_d': bool, 'amp': Any, 'amp_g': Any,
}
VAL: dict[str, Any] = {'val_freq': float, 'save_img': bool, 'suffix': Optional[str], 'pbar': bool,
                       'metrics': Optional[dict]}
LOGGER: dict[str, Any] = {'print_freq': float, 'save_checkpoint_freq': float, 'use_tb_logger': bool,
                          'wandb': Optional[dict]}
WANDB: dict[str, Any] = {'project': Optional[str], 'resume_id': Optional[str]}
DIST_PARAMS: dict[str, Any] = {'backend': str, 'port': int}
CLIP: dict[str, Any] = {key: Any for key in CLIP_OPT_KEYS}

# datasets.<phase>: what basicsr/data/__init__.py (build_dataloader) and train.py read of every dataset block;
# use_shuffle is in every upstream file although BasicSR 1.4.2 no longer reads it (the sampler shuffles)
LOADER: dict[str, Any] = {
    'name': str, 'type': str, 'phase': str, 'scale': int, 'batch_size_per_gpu': int, 'num_worker_per_gpu': int,
    'dataset_enlarge_ratio': float, 'prefetch_mode': Optional[str], 'pin_memory': bool,
    'persistent_workers': bool, 'num_prefetch_queue': int, 'use_shuffle': bool, 'io_backend': dict,
}
_PAIRED = ('dataroot_gt', 'dataroot_lq', 'filename_tmpl', 'mean', 'std', 'gt_size', 'use_hflip', 'use_rot')
_KERNELS = tuple(f'{key}{suffix}' for suffix in ('', '2') for key in (
    'blur_kernel_size', 'kernel_list', 'kernel_prob', 'blur_sigma', 'betag_range', 'betap_range', 'sinc_prob'))
DATASETS: dict[str, tuple[str, ...]] = {
    'PairedImageDataset': _PAIRED + ('meta_info_file', 'color'),
    'SingleImageDataset': ('dataroot_lq', 'meta_info_file', 'mean', 'std', 'color'),
    # gt_size: Real-ESRGAN's files set it here too (the crop is read from the top level by the model)
    'RealESRGANDataset': ('dataroot_gt', 'meta_info', 'use_hflip', 'use_rot', 'gt_size', 'final_sinc_prob')
    + _KERNELS,
    'RealESRGANPairedDataset': _PAIRED + ('meta_info',),
}
# io_backend: basicsr/utils/file_client.py's backends (db_paths / client_keys are filled in by the datasets)
IO_BACKEND: dict[str, Any] = {key: Any for key in (
    'type', 'db_paths', 'client_keys', 'readonly', 'lock', 'readahead', 'server_list_cfg', 'client_cfg',
    'sys_path')}

# keys a metric block holds besides its function's arguments: `type` (the registry name) and `better`
# (BasicSR's base_model reads it to keep the best checkpoint)
METRIC_BLOCK_KEYS = ('type', 'better')
# the image arguments BasicSR passes itself (``calculate_metric(dict(img=..., img2=...), opt)``)
METRIC_IMAGE_ARGS = ('img', 'img2')
# sfd_arch's networks get the top-level clip block from the model; a `clip:` inside them is an error
INJECTED_NETWORK_ARGS: dict[str, tuple[str, ...]] = {spec.network_key: spec.injected for spec in DISCRIMINATORS}
DEFAULT_NETWORK_TYPES = {spec.network_key: spec.network_default['type'] for spec in DISCRIMINATORS}
DEFAULT_LOSS_TYPES = {spec.loss_key: spec.loss_default['type'] for spec in DISCRIMINATORS}
DEFAULT_OPTIMIZER_TYPE = 'Adam'
