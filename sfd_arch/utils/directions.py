"""Which quality metrics are lower-is-better: one table for metric blocks, pyiqa names, IQA benchmarks and plots.

A metric is named here by its bare name (``lpips``, ``niqe``, ``musiq_lower``). BasicSR metric types
(``calculate_lpips``), upper case and pyiqa's dashes are accepted too: :func:`metric_key` turns each into the bare
name. Everything not in :data:`LOWER_IS_BETTER` is higher-is-better (PSNR, SSIM, SFD-IQA and its two parts,
MUSIQ, CLIP-IQA, ...), which is also BasicSR's own default for a metric block's ``better`` key. Where a source of
truth knows better (a block's ``better`` key, pyiqa's ``lower_better`` entry), that source wins; this table is what
is left when it is silent or absent.
"""
from __future__ import annotations

from typing import Any

LOWER_IS_BETTER: frozenset[str] = frozenset({
    # full-reference distances and distribution distances
    'lpips', 'lpips-vgg', 'dists', 'fid', 'kid',
    # no-reference naturalness scores where a lower value is a more natural image
    'niqe', 'ilniqe', 'piqe', 'brisque', 'pi',
    # pyiqa's names for the lower-is-better variants of higher-is-better metrics
    'nrqm_lower', 'musiq_lower', 'ma_lower',
})


def metric_key(name: str) -> str:
    """The bare, lower-case name of a metric: ``calculate_LPIPS`` -> ``lpips``, ``lpips-vgg`` stays as it is."""
    key = str(name).strip().lower()
    return key[len('calculate_'):] if key.startswith('calculate_') else key


def lower_is_better(name: str) -> bool:
    """True when a smaller value of the metric ``name`` means a better image (see :data:`LOWER_IS_BETTER`)."""
    return metric_key(name) in LOWER_IS_BETTER


def direction(name: str) -> str:
    """``'lower'`` or ``'higher'`` (is better), in the words of BasicSR's ``better`` key."""
    return 'lower' if lower_is_better(name) else 'higher'


def oriented(name: str, values: Any) -> Any:
    """``values`` (a number or an array) turned so that higher is better: negated for lower-is-better metrics.

    Rank and linear correlations with MOS are then positive for every metric that agrees with people.
    """
    return -values if lower_is_better(name) else values
