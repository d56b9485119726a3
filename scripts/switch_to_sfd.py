#!/usr/bin/env python
"""Switch an ESRGAN / Real-ESRGAN option file to SFD by the README's diff, keeping everything else as is.

    python scripts/switch_to_sfd.py train_ESRGAN_x4.yml -o options/my_sfd.yml [--clip-weights RN50.pt]

Changes at most three lines: ``model_type`` (ESRGANModel -> SFDModel, RealESRGANModel -> RealSFDModel),
one added ``keep_image_d: false`` line (SFD replaces the image discriminator), and, with ``--clip-weights``,
one ``clip: {pretrained: ...}`` line. Comments and layout survive because it edits text, not YAML.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
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


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='ESRGAN or Real-ESRGAN option file (.yml)')
    parser.add_argument('-o', '--output', required=True, help='where to write the SFD option file')
    parser.add_argument('--clip-weights', help='local CLIP checkpoint for `clip.pretrained`')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    args = parser.parse_args(argv)
    if not os.path.isfile(args.input):
        print(f'error: option file not found: {args.input}', file=sys.stderr)
        return 2
    if os.path.exists(args.output) and not args.force:
        print(f'error: {args.output} exists (use --force to overwrite)', file=sys.stderr)
        return 2
    try:
        with open(args.input) as f:
            text = switch_text(f.read(), args.clip_weights)
    except ValueError as err:
        print(f'error: {args.input}: {err}', file=sys.stderr)
        return 2
    with open(args.output, 'w') as f:
        f.write(text)
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
