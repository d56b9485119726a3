"""Convert ESRGAN / KAIR RRDB checkpoints into BasicSR ``RRDBNet`` weights (``params`` and ``params_ema``).

The command line of ``sfd_arch.tools.convert_rrdb_keys``, whose docstring tells the details and examples.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits two folders up
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))



def main(argv: Optional[list[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('input', help='ESRGAN / KAIR / BasicSR RRDB checkpoint (.pth)')
    p.add_argument('-o', '--output', default=None, help='output .pth (default: <input>_basicsr.pth)')
    args = p.parse_args(argv)
    from sfd_arch.tools.convert_rrdb_keys import ConversionError, convert_file, network_g_yaml  # torch, BasicSR

    output = args.output or osp.splitext(args.input)[0] + '_basicsr.pth'
    try:
        opts = convert_file(args.input, output)
    except ConversionError as err:
        raise SystemExit(f'convert_rrdb_keys: error: {err}') from None
    print(f'Saved {output} (params, params_ema). Option file block:\n{network_g_yaml(opts)}')
    return opts


if __name__ == '__main__':
    main()
