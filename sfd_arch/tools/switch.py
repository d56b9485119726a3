"""The README's ESRGAN -> SFD diff applied to an option file's text (``scripts/switch_to_sfd.py``).

It edits text, not YAML, so comments and layout survive: at most three lines change (``model_type``, an added
``keep_image_d: false`` and, given CLIP weights, one ``clip:`` line).
"""
from __future__ import annotations

import re
from typing import Optional

SWITCH = {'ESRGANModel': 'SFDModel', 'SRGANModel': 'SFDModel', 'RealESRGANModel': 'RealSFDModel'}
KEEP_LINE = 'keep_image_d: false  # SFD: Feat-D + TG-D replace the image discriminator (true: hybrid)'


def switch_text(text: str, clip_weights: Optional[str] = None, clip_line: Optional[str] = None) -> str:
    """Return the switched option file text; raises ValueError when there is no model_type to switch."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r'^model_type:\s*(\w+)(.*)$', line)
        if match:
            model = match.group(1)
            if model not in SWITCH:
                raise ValueError(f'model_type: {model} is not one SFD switches from ({", ".join(SWITCH)})')
            added = [KEEP_LINE]
            if clip_line:
                added.append(clip_line)
            elif clip_weights:
                added.append(f'clip: {{pretrained: {clip_weights}}}')
            lines[i:i + 1] = [f'model_type: {SWITCH[model]}{match.group(2)}'] + added
            return '\n'.join(lines) + '\n'
    raise ValueError('no top-level `model_type:` line found')
