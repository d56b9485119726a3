"""SFD models; importing registers SFDModel and RealSFDModel in MODEL_REGISTRY."""
from .realsfd_model import RealSFDModel
from .sfd_model import SFDMixin, SFDModel

__all__ = ['RealSFDModel', 'SFDMixin', 'SFDModel']
