"""SFD losses; in LOSS_REGISTRY once BasicSR is imported (sfd_arch.registration)."""
from .sfd_loss import FeatureGANLoss, TextGuidedGANLoss

__all__ = ['FeatureGANLoss', 'TextGuidedGANLoss']
