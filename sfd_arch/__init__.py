"""SFD for BasicSR: Semantic Feature Discrimination (Dong et al., CVPR 2025, arXiv 2503.19295).

Importing this package makes stock basicsr 1.4.2 importable on today's torchvision, then registers the SFD
pieces in BasicSR's registries, once: ARCH ``FeatD``, ``PromptLearner``, ``KAIRRRDBNet``, ``SpandrelNet``;
DATASET ``SuffixPairedImageDataset``; LOSS ``FeatureGANLoss``, ``TextGuidedGANLoss``; MODEL ``SFDModel``,
``RealSFDModel``; METRIC ``calculate_sfd_iqa``, ``calculate_lpips``,
``calculate_dists``, ``calculate_fid``, ``calculate_kid``, ``calculate_pyiqa``, ``calculate_piqe`` (see
``sfd_arch.metrics``).
"""
from .compat import cache_niqe_gamma_table, ensure_basicsr_importable, patch_basicsr_for_cpu

ensure_basicsr_importable()
from .utils.basicsr_safety import patch_basicsr_loading  # noqa: E402

# option files, --force_yml values and checkpoints read as data (docs/security.md); first, because the exact resume
# of patch_basicsr_for_cpu wraps the weights-only resume-state loader this puts in place
patch_basicsr_loading()
patch_basicsr_for_cpu()
cache_niqe_gamma_table()

from .archs import CLIPFeatureExtractor, FeatD, KAIRRRDBNet, PromptLearner, SpandrelNet, build_clip  # noqa: E402
from .data import SuffixPairedImageDataset  # noqa: E402
from .iqa import SFDIQA, calculate_sfd_iqa  # noqa: E402
from .losses import FeatureGANLoss, TextGuidedGANLoss  # noqa: E402
from .metrics import calculate_dists, calculate_fid, calculate_kid, calculate_lpips, calculate_pyiqa  # noqa: E402
from .models import RealSFDModel, SFDModel  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    'CLIPFeatureExtractor', 'FeatD', 'FeatureGANLoss', 'KAIRRRDBNet', 'PromptLearner', 'RealSFDModel', 'SFDIQA',
    'SFDModel', 'SpandrelNet', 'SuffixPairedImageDataset', 'TextGuidedGANLoss', '__version__', 'build_clip',
    'calculate_dists', 'calculate_fid', 'calculate_kid', 'calculate_lpips', 'calculate_pyiqa', 'calculate_sfd_iqa',
]
