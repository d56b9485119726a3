"""SFD-IQA: opinion-unaware no-reference IQA from SFD's trained Feat-D and LPP.

The path of one score: docs/design.md, "4 One score"; the user's guide: docs/iqa.md.

Importing registers ``calculate_sfd_iqa`` in BasicSR's METRIC_REGISTRY and hooks SFD-IQA into pyiqa when pyiqa
is (or later gets) imported. Uses ``sfd_arch.archs`` only.

    SFDIQA(clip, featd, lpp, alpha=0.5, tile=512, batch_size=16)   # live networks
    SFDIQA.from_file(weights, clip_weights=None, device=None, ...)  # an `sfd-iqa export` file
    .score_tensor(img) -> (score, q_feat, p_pos)                   # (B, 3, H, W) in [0, 1] -> three (B,) tensors
    .score_files(paths) -> list[IQAResult]
"""
from .export import ExportError, export_experiment, export_files, load_weights
from .images import ImageReadError, find_images, read_image
from .metric import calculate_sfd_iqa
from .pyiqa_plugin import install_import_hook
from .scorer import DEFAULT_ALPHA, DEFAULT_TILE, SFDIQA, IQAResult, load_sfd_iqa, tile_boxes

install_import_hook()

__all__ = [
    'DEFAULT_ALPHA', 'DEFAULT_TILE', 'SFDIQA', 'ExportError', 'IQAResult', 'ImageReadError', 'calculate_sfd_iqa',
    'export_experiment', 'export_files', 'find_images', 'load_sfd_iqa', 'load_weights', 'read_image', 'tile_boxes',
]
