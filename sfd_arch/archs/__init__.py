"""SFD architectures: the frozen CLIP door, Feat-D, LPP/TG-D, the authors' released generator layout
(KAIRRRDBNet) and SpandrelNet (any generator file spandrel detects). In ARCH_REGISTRY once BasicSR is imported
(sfd_arch.registration); they import without BasicSR. ``generators`` is the one reader of generator files
(imported on use)."""
from .clip_arch import CLIPFeatureExtractor, build_clip
from .featd_arch import FeatD
from .kair_rrdbnet_arch import KAIRRRDBNet
from .prompt_learner_arch import PromptLearner
from .spandrel_arch import SpandrelNet

__all__ = ['CLIPFeatureExtractor', 'FeatD', 'KAIRRRDBNet', 'PromptLearner', 'SpandrelNet', 'build_clip']
