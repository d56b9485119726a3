"""SFD losses; importing registers them in LOSS_REGISTRY."""
from .sfd_loss import FeatureGANLoss, TextGuidedGANLoss

__all__ = ['FeatureGANLoss', 'TextGuidedGANLoss']
