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
import os.path as osp
import sys
from typing import Optional

try:
    from sfd_arch.tools.switch import switch_text
except ImportError:  # a checkout that is not installed: the package sits next to scripts/
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from sfd_arch.tools.switch import switch_text


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
