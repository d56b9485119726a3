"""SFD for BasicSR: Semantic Feature Discrimination (Dong et al., CVPR 2025, arXiv 2503.19295).

Importing this package makes stock basicsr 1.4.2 importable on today's torchvision, then registers the SFD
pieces in BasicSR's registries, once: ARCH ``FeatD``, ``PromptLearner``; LOSS ``FeatureGANLoss``,
``TextGuidedGANLoss``; MODEL ``SFDModel``, ``RealSFDModel``; METRIC ``calculate_sfd_iqa``, ``calculate_lpips``,
``calculate_dists``, ``calculate_fid``, ``calculate_kid``, ``calculate_pyiqa`` (see ``sfd_arch.metrics``).
"""
from .compat import cache_niqe_gamma_table, ensure_basicsr_importable, patch_basicsr_for_cpu

ensure_basicsr_importable()
patch_basicsr_for_cpu()
cache_niqe_gamma_table()

from .utils.basicsr_safety import patch_basicsr_loading  # noqa: E402

patch_basicsr_loading()  # option files, --force_yml values and checkpoints read as data (docs/security.md)

from .archs import CLIPFeatureExtractor, FeatD, PromptLearner, build_clip  # noqa: E402
from .iqa import SFDIQA, calculate_sfd_iqa  # noqa: E402
from .losses import FeatureGANLoss, TextGuidedGANLoss  # noqa: E402
from .metrics import calculate_dists, calculate_fid, calculate_kid, calculate_lpips, calculate_pyiqa  # noqa: E402
from .models import RealSFDModel, SFDModel  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    'CLIPFeatureExtractor', 'FeatD', 'FeatureGANLoss', 'PromptLearner', 'RealSFDModel', 'SFDIQA', 'SFDModel',
    'TextGuidedGANLoss', '__version__', 'build_clip', 'calculate_dists', 'calculate_fid', 'calculate_kid',
    'calculate_lpips', 'calculate_pyiqa', 'calculate_sfd_iqa',
]
