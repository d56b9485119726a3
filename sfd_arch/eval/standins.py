"""Which metric numbers come from networks that do not run on their published weights, and the mark they carry.

A value of LPIPS, DISTS or FID computed with random stand-in files (the demo's and the tests', written by
``sfd_arch.metrics.write_stand_in_weights``) or of SFD-IQA whose CLIP was never trained (``clip.pretrained:
null``) looks like a real measurement but is not comparable to any published number. Every place that shows
such a number labels it with the note from here (``sfd_arch.utils.results.marked``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import sfd_arch.metrics as metrics_lib
from sfd_arch.metrics import records
from sfd_arch.metrics.weights import STAND_IN
from sfd_arch.utils.results import RANDOM_CLIP

LIVE = 'model'  # `weights: model`: SFD-IQA of a training run's own discriminators


def _sfd_iqa_clip(block: Mapping[str, Any], live_clip: Optional[Mapping[str, Any]]) -> Optional[Any]:
    """The CLIP weights SFD-IQA runs on: the override, the training run's CLIP, or the one the file records."""
    if block.get('clip_weights'):
        return block['clip_weights']
    weights = block.get('weights')
    if str(weights).lower() == LIVE:
        return (live_clip or {}).get('pretrained')
    from sfd_arch.iqa.export import load_weights

    return load_weights(str(weights))['clip'].get('pretrained')


def stand_in_note(block: Mapping[str, Any], live_clip: Optional[Mapping[str, Any]] = None) -> str:
    """The stand-in mark of the block's metric record (``stand-in weights``, ``random CLIP``) when it applies, or
    ``''``.

    ``random CLIP`` applies when SFD-IQA's CLIP was never trained; ``live_clip`` is the training run's ``clip``
    block, read for SFD-IQA with ``weights: model``. Any other mark applies when a weight file the record names is
    not the published one. A block whose weights cannot be read gives ``''``: the metric itself reports that error
    when it runs.
    """
    try:
        record = records.of_type(metrics_lib.metric_type_of(dict(block)))
        if record is None or not record.stand_in:
            return ''
        if record.stand_in == RANDOM_CLIP:
            return RANDOM_CLIP if _sfd_iqa_clip(block, live_clip) is None else ''
        statuses = [w['status'] for w in metrics_lib.weight_report(dict(block))]
    except (OSError, KeyError, ValueError):
        return ''
    return record.stand_in if STAND_IN in statuses else ''


def stand_in_notes(blocks: Mapping[str, Mapping[str, Any]],
                   live_clip: Optional[Mapping[str, Any]] = None) -> dict[str, str]:
    """``{metric name: note}`` of the blocks that carry one (``{name: block}`` as in ``val.metrics``)."""
    notes = {name: stand_in_note(block, live_clip) for name, block in (blocks or {}).items()
             if isinstance(block, Mapping)}
    return {name: note for name, note in notes.items() if note}
