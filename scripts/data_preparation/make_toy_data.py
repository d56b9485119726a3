"""Make the toy work folder of docs/tutorial.md's dry run (section 9) in the current folder, or in FOLDER.

Crops of scikit-image's sample photos in the tutorial's dataset folders (DIV2K and Flickr2K HR, Set5, Set14,
BSDS100, Urban100, Manga109, DIV2K100), random stand-in weight files under their published names in
experiments/pretrained_models/ (VGG19, LPIPS, DISTS, Inception) and a tiny CLIP model folder, tiny_clip/.
Nothing is downloaded and nothing measures anything: the weights are random. A file that exists is never
replaced: the command then names it and writes nothing.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits two folders up
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sfd_arch.tools.toy_data import write_toy_work_folder  # noqa: E402


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('folder', nargs='?', default='.', help='the work folder (default: the current folder)')
    args = parser.parse_args(argv)
    try:
        written = write_toy_work_folder(args.folder)
    except FileExistsError as err:
        print(f'make_toy_data: error: {err}', file=sys.stderr)
        return 1
    print(f'make_toy_data: {len(written)} files written in {osp.abspath(args.folder)}: toy images under datasets/, '
          'random stand-in weights under experiments/pretrained_models/, the tiny CLIP in tiny_clip/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
