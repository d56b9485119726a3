"""SFD for BasicSR: Semantic Feature Discrimination (Dong et al., CVPR 2025, arXiv 2503.19295).

``import sfd_arch`` is light: it imports neither torch, BasicSR nor open_clip, so that every command answers
``--help`` and argument errors at once. The public names below are imported from their modules when first used
(``from sfd_arch import SFDModel`` imports the model then).

The SFD pieces reach BasicSR's registries when BasicSR is imported, in the same process, before or after this
package (:mod:`sfd_arch.registration`; docs/design.md §2): ARCH ``FeatD``, ``PromptLearner``, ``KAIRRRDBNet``,
``SpandrelNet``; DATASET ``SuffixPairedImageDataset``; LOSS ``FeatureGANLoss``, ``TextGuidedGANLoss``; MODEL
``SFDModel``, ``RealSFDModel``; METRIC ``calculate_sfd_iqa``, ``calculate_lpips``, ``calculate_dists``,
``calculate_fid``, ``calculate_kid``, ``calculate_pyiqa``, ``calculate_piqe``, ``calculate_psnr_pyiqa``,
``calculate_ssim_pyiqa`` (see ``sfd_arch.metrics``). The same moment applies BasicSR's patches: the safe loading of
option files and checkpoints (:mod:`sfd_arch.utils.basicsr_safety`, docs/security.md), then those of
:mod:`sfd_arch.compat` (with the exact resume). The start-up hook installed with the package
(``sfd_arch_hook.pth``) does it for processes that never import ``sfd_arch`` (``python -m basicsr.train``);
importing this package does it where the hook is absent (editable install, a checkout on ``PYTHONPATH``) or
turned off (``SFD_ARCH_NO_HOOK=1``).
"""
from .registration import watch_basicsr
from .utils.lazy import lazy_names
from .version import __version__

__getattr__, __dir__ = lazy_names(__name__, {
    'CLIPFeatureExtractor': '.archs.clip_arch', 'build_clip': '.archs.clip_arch', 'FeatD': '.archs.featd_arch',
    'KAIRRRDBNet': '.archs.kair_rrdbnet_arch', 'PromptLearner': '.archs.prompt_learner_arch',
    'SpandrelNet': '.archs.spandrel_arch', 'SuffixPairedImageDataset': '.data.suffix_paired_dataset',
    'SFDIQA': '.iqa.scorer', 'calculate_sfd_iqa': '.iqa.metric',
    'FeatureGANLoss': '.losses.sfd_loss', 'TextGuidedGANLoss': '.losses.sfd_loss', 'SFDModel': '.models.sfd_model',
    'RealSFDModel': '.models.realsfd_model', 'calculate_dists': '.metrics.dists_metric',
    'calculate_fid': '.metrics.fid_metric', 'calculate_kid': '.metrics.fid_metric',
    'calculate_lpips': '.metrics.lpips_metric', 'calculate_pyiqa': '.metrics.pyiqa_metric',
})

__all__ = [
    'CLIPFeatureExtractor', 'FeatD', 'FeatureGANLoss', 'KAIRRRDBNet', 'PromptLearner', 'RealSFDModel', 'SFDIQA',
    'SFDModel', 'SpandrelNet', 'SuffixPairedImageDataset', 'TextGuidedGANLoss', '__version__', 'build_clip',
    'calculate_dists', 'calculate_fid', 'calculate_kid', 'calculate_lpips', 'calculate_pyiqa', 'calculate_sfd_iqa',
]

watch_basicsr()
