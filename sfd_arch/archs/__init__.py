"""SFD architectures: the frozen CLIP door, Feat-D, and LPP/TG-D. Importing registers them in ARCH_REGISTRY."""
from .clip_arch import CLIPFeatureExtractor, build_clip
from .featd_arch import FeatD
from .prompt_learner_arch import PromptLearner

__all__ = ['CLIPFeatureExtractor', 'FeatD', 'PromptLearner', 'build_clip']
