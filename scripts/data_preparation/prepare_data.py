"""Prepare a BasicSR training set (e.g. DF2K = DIV2K + Flickr2K): sub-images, bicubic LR, meta info, LMDB.

The command line of ``sfd_arch.tools.prepare_data``, whose docstring tells the details and examples.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits two folders up
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sfd_arch.tools.prepare_data import DEFAULTS, PrepareError, prepare  # noqa: E402  (cv2, BasicSR: when used)
from sfd_arch.utils.help_format import DefaultsHelpFormatter  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument('-i', '--input', nargs='+', required=True, help='HR image folder(s), e.g. DIV2K and Flickr2K HR')
    p.add_argument('-o', '--output', required=True, help='output root, e.g. datasets/DF2K')
    p.add_argument('--name', default=DEFAULTS['name'], help='prefix of the output folders and meta info file')
    p.add_argument('--scales', type=int, nargs='+', default=DEFAULTS['scales'], help='bicubic LR scales to make')
    p.add_argument('--crop_size', type=int, default=DEFAULTS['crop_size'],
                   help='HR sub-image size; 0 keeps whole images')
    p.add_argument('--step', type=int, default=DEFAULTS['step'], help='stride between sub-images')
    p.add_argument('--thresh_size', type=int, default=DEFAULTS['thresh_size'],
                   help='a border strip wider than this gets its own sub-image flush with the border')
    p.add_argument('--compression_level', type=int, default=DEFAULTS['compression_level'],
                   help='PNG compression of the written images')
    p.add_argument('--lmdb', action='store_true', help='also pack every folder into <folder>.lmdb')
    p.add_argument('--lmdb_compress_level', type=int, default=DEFAULTS['lmdb_compress_level'],
                   help='PNG compression inside the LMDB')
    p.add_argument('--n_thread', type=int, default=DEFAULTS['n_thread'], help='worker processes')
    return p


def main(argv: Optional[list[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    try:
        return prepare(args)
    except PrepareError as err:
        raise SystemExit(f'prepare_data: error: {err}') from None


if __name__ == '__main__':
    main()
