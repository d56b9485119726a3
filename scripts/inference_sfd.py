"""Upscale your own images with a trained SFD generator (BasicSR's RRDBNet), in the style of Real-ESRGAN.

Examples::

    python scripts/inference_sfd.py -i inputs -o results/sfd --model_path experiments/pretrained_models/net_g.pth
    python scripts/inference_sfd.py -i photo.png --model_path net_g.pth --tile 256 --suffix sfd --ext png

The generator's shape (scale, num_feat, num_block, num_grow_ch) is read from the checkpoint; the flags only
have to be given to check it. Weights are taken from ``params_ema`` if present, else ``params``, else the file
is taken as a raw state dict (use ``scripts/model_conversion/convert_rrdb_keys.py`` for ESRGAN/KAIR checkpoints first).

Images keep what they are: 8 or 16 bit stay 8 or 16 bit; gray stays gray; RGBA keeps its alpha channel,
upscaled separately (by the network, as Real-ESRGAN does, or by plain interpolation). Half precision is used on
CUDA unless ``--fp32``; the CPU always runs float32.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

import cv2
import numpy as np
import torch

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits next to scripts/
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from sfd_arch.utils.help_format import DefaultsHelpFormatter  # noqa: E402
from sfd_arch.utils.upsampler import (  # noqa: E402  (the generator reader and the tiled upsampler)
    RRDBUpsampler,
    build_generator,
    list_inputs,
    output_extension,
    pick_device,
)

# isort: split
from basicsr.utils import imwrite  # noqa: E402  (importable once sfd_arch.utils.upsampler has run compat)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument('-i', '--input', default='inputs', help='input image or folder')
    p.add_argument('-o', '--output', default='results', help='output folder')
    p.add_argument('--model_path', required=True, help='generator checkpoint (.pth)')
    p.add_argument('-s', '--scale', type=int, default=None, choices=[1, 2, 4],
                   help='network scale (default: read from the checkpoint)')
    p.add_argument('--num_block', type=int, default=None, help='RRDB blocks (default: read from the checkpoint)')
    p.add_argument('--num_feat', type=int, default=None, help='feature channels (default: from the checkpoint)')
    p.add_argument('--outscale', type=float, default=None,
                   help='final scale, if it differs from the network scale (Lanczos resize of the result)')
    p.add_argument('--suffix', default='out', help='output name suffix: <name>_<suffix>.<ext> ("" for none)')
    p.add_argument('-t', '--tile', type=int, default=0, help='tile size in input pixels, 0 for no tiling')
    p.add_argument('--tile_pad', type=int, default=10, help='context around each tile')
    p.add_argument('--pre_pad', type=int, default=0, help='reflection padding around each image')
    p.add_argument('--fp32', action='store_true', help='float32 on CUDA too (default there: float16)')
    p.add_argument('--alpha_upsampler', default='model', choices=['model', 'bicubic', 'linear'],
                   help='how the alpha channel of RGBA images is upscaled')
    p.add_argument('--ext', default='auto', help='output extension: auto (as the input), png, jpg, tif, webp...')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    return p


def main(argv: Optional[list[str]] = None) -> list[str]:
    """Upscale every input; returns the written paths. Exits non-zero if any input could not be read."""
    args = build_parser().parse_args(argv)
    try:
        inputs = list_inputs(args.input)
        net, scale = build_generator(args.model_path, args.scale, args.num_feat, args.num_block)
        device = pick_device(args.device)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise SystemExit(f'inference_sfd: error: {err}') from None
    upsampler = RRDBUpsampler(net, scale, args.tile, args.tile_pad, args.pre_pad, half=not args.fp32, device=device)
    print(f'{len(inputs)} image(s), x{scale}, {device}, {"float16" if upsampler.half else "float32"}'
          + (f', tiles of {upsampler.tile}' if upsampler.tile else ''))

    written, failed = [], []
    for idx, path in enumerate(inputs):
        name = osp.splitext(osp.basename(path))[0]
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype not in (np.uint8, np.uint16):
            failed.append(path)
            print(f'WARNING: cannot read {path} as an 8/16-bit image, skipped', file=sys.stderr)
            continue
        print(f'[{idx + 1}/{len(inputs)}] {path}')
        try:
            out = upsampler.enhance(img, args.alpha_upsampler)
        except torch.cuda.OutOfMemoryError:
            raise SystemExit(f'inference_sfd: out of GPU memory on {path}; try a smaller --tile, e.g. 256') from None
        if args.outscale is not None and args.outscale != scale:
            h, w = img.shape[:2]
            size = (int(round(w * args.outscale)), int(round(h * args.outscale)))
            out = cv2.resize(out, size, interpolation=cv2.INTER_LANCZOS4)
        has_alpha = img.ndim == 3 and img.shape[2] == 4
        ext = output_extension(path, args.ext, has_alpha, img.dtype == np.uint16)
        save_path = osp.join(args.output, f'{name}_{args.suffix}.{ext}' if args.suffix else f'{name}.{ext}')
        imwrite(out, save_path)
        written.append(save_path)
    if failed:
        raise SystemExit(f'inference_sfd: {len(failed)} input(s) could not be read: {", ".join(failed)}')
    return written


if __name__ == '__main__':
    main()
