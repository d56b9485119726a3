"""SFD models; SFDModel and RealSFDModel are in MODEL_REGISTRY once BasicSR is imported (sfd_arch.registration)."""
from .realsfd_model import RealSFDModel
from .sfd_model import SFDMixin, SFDModel

__all__ = ['RealSFDModel', 'SFDMixin', 'SFDModel']
