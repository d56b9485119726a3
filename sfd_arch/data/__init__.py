"""Dataset classes for released test sets whose layout BasicSR's own classes cannot read. They are registered
in BasicSR's DATASET_REGISTRY once BasicSR is imported (sfd_arch.registration)."""
from .suffix_paired_dataset import SuffixPairedImageDataset, suffix_pairs

__all__ = ['SuffixPairedImageDataset', 'suffix_pairs']
