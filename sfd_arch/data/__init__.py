"""Dataset classes for released test sets whose layout BasicSR's own classes cannot read. Importing registers them
in BasicSR's DATASET_REGISTRY."""
from .suffix_paired_dataset import SuffixPairedImageDataset, suffix_pairs

__all__ = ['SuffixPairedImageDataset', 'suffix_pairs']
