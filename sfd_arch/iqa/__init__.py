"""SFD-IQA: opinion-unaware no-reference IQA from SFD's trained Feat-D and LPP.

The path of one score: docs/design.md, "4 One score"; the user's guide: docs/iqa.md.

Importing the package is light (names are imported from their modules when first used); ``calculate_sfd_iqa``
reaches BasicSR's METRIC_REGISTRY through :mod:`sfd_arch.registration` and pyiqa through the start-up hook (or
``import sfd_arch`` where the hook is absent). Uses ``sfd_arch.archs`` only.

    SFDIQA(clip, featd, lpp, alpha=0.5, tile=512, batch_size=16)   # live networks
    SFDIQA.from_file(weights, clip_weights=None, device=None, ...)  # an `sfd-iqa export` file
    build_scorer(ScorerSettings(weights, workers=0, amp='bf16'))    # the same, from one settings object
    .score_tensor(img) -> (score, q_feat, p_pos)                   # (B, 3, H, W) in [0, 1] -> three (B,) tensors
    .score_files(paths) -> list[IQAResult]
"""
from ..utils.lazy import lazy_names

__getattr__, __dir__ = lazy_names(__name__, {
    'ExportError': '.export', 'export_experiment': '.export', 'export_files': '.export', 'load_weights': '.export',
    'ImageReadError': '.images', 'find_images': '.images', 'read_image': '.images', 'calculate_sfd_iqa': '.metric',
    'install_import_hook': '.pyiqa_plugin', 'DEFAULT_ALPHA': '.defaults', 'DEFAULT_TILE': '.defaults',
    'DEFAULT_BATCH_SIZE': '.defaults', 'ScorerSettings': '.defaults', 'SFDIQA': '.scorer', 'build_scorer': '.scorer',
    'IQAResult': '.scorer', 'load_sfd_iqa': '.scorer', 'tile_boxes': '.tiles',
})

__all__ = [
    'DEFAULT_ALPHA', 'DEFAULT_BATCH_SIZE', 'DEFAULT_TILE', 'SFDIQA', 'ExportError', 'IQAResult', 'ImageReadError',
    'ScorerSettings', 'build_scorer', 'calculate_sfd_iqa', 'export_experiment', 'export_files', 'find_images',
    'load_sfd_iqa', 'load_weights', 'read_image', 'tile_boxes',
]
