"""SFD architectures: the frozen CLIP door, Feat-D, and LPP/TG-D. In ARCH_REGISTRY once BasicSR is
imported (sfd_arch.registration); they import without BasicSR."""
from .clip_arch import CLIPFeatureExtractor, build_clip
from .featd_arch import FeatD
from .prompt_learner_arch import PromptLearner

__all__ = ['CLIPFeatureExtractor', 'FeatD', 'PromptLearner', 'build_clip']
