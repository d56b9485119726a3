"""SFD architectures: the frozen CLIP door, Feat-D, LPP/TG-D, and the authors' released generator layout
(KAIRRRDBNet). Importing registers them in ARCH_REGISTRY."""
from .clip_arch import CLIPFeatureExtractor, build_clip
from .featd_arch import FeatD
from .kair_rrdbnet_arch import KAIRRRDBNet
from .prompt_learner_arch import PromptLearner

__all__ = ['CLIPFeatureExtractor', 'FeatD', 'KAIRRRDBNet', 'PromptLearner', 'build_clip']
