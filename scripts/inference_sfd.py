"""Upscale your own images with any SR generator (an SFD checkpoint or another), in the style of Real-ESRGAN.

Examples::

    python scripts/inference_sfd.py -i inputs -o results/sfd --model_path experiments/pretrained_models/net_g.pth
    python scripts/inference_sfd.py -i photo.png --model_path net_g.pth --tile 256 --suffix sfd --ext png

The generator is found three ways (``sfd_arch.archs.generators``), and the first line printed says which:

- a bare ``.pth`` / ``.safetensors``: a BasicSR RRDBNet read from its weights, any other architecture detected by
  spandrel (``pip install sfd_arch[models]``);
- ``--network_g "{type: MSRResNet, num_feat: 64, upscale: 4}"`` (or a YAML file holding the block or a
  ``network_g:`` key): any registered BasicSR architecture;
- an experiment folder as ``--model_path`` (``experiments/<name>``): its option file names the network, the
  checkpoint is ``net_g_latest.pth``, else the highest iteration, or ``--iter N``.

Weights are taken from ``params_ema`` if present, else ``params``, else the file is a raw state dict. ``-s``,
``--num_feat`` and ``--num_block`` only check the generator found.

Images keep what they are: 8 or 16 bit stay 8 or 16 bit; gray stays gray; RGBA keeps its alpha channel,
upscaled separately (by the network, as Real-ESRGAN does, or by plain interpolation). Half precision is used on
CUDA unless ``--fp32`` (or the architecture does not support it); the CPU always runs float32.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits next to scripts/
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from sfd_arch.utils.help_format import DefaultsHelpFormatter  # noqa: E402  (argparse only)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument('-i', '--input', default='inputs', help='input image or folder')
    p.add_argument('-o', '--output', default='results', help='output folder')
    p.add_argument('--model_path', required=True,
                   help='generator checkpoint (.pth, .safetensors) or experiment folder (experiments/<name>)')
    p.add_argument('--network_g', default=None, metavar='BLOCK|YAML',
                   help='BasicSR network_g block of the checkpoint, inline ("{type: MSRResNet, upscale: 4}") or a '
                        'YAML file (default: detected from the weights)')
    p.add_argument('--iter', type=int, default=None, metavar='N',
                   help='with an experiment folder: models/net_g_N.pth (default: the latest)')
    p.add_argument('-s', '--scale', type=int, default=None, choices=[1, 2, 3, 4, 8],
                   help='network scale (default: read from the generator; given, it is checked)')
    p.add_argument('--num_block', type=int, default=None, help='blocks (checked against the generator when given)')
    p.add_argument('--num_feat', type=int, default=None, help='feature channels (checked when given)')
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


def check_flags(generator, args: argparse.Namespace) -> None:
    """``-s``, ``--num_feat`` and ``--num_block`` are checks: a generator that differs is an error naming both."""
    found = dict(generator.network_g or {}, scale=generator.scale)
    for flag, given in (('scale', args.scale), ('num_feat', args.num_feat), ('num_block', args.num_block)):
        if given is None:
            continue
        if flag not in found:
            raise ValueError(f'--{flag} {given}: the generator of {args.model_path} ({generator.how}) has no {flag}')
        if int(found[flag]) != given:
            raise ValueError(f'{args.model_path} holds a generator with {flag}={found[flag]}, but --{flag} {given} '
                             'was given')


def main(argv: Optional[list[str]] = None) -> list[str]:
    """Upscale every input; returns the written paths. Exits non-zero if any input could not be read."""
    args = build_parser().parse_args(argv)
    # after the arguments: --help and argument errors answer before torch and BasicSR are imported
    import cv2
    import numpy as np
    import torch

    from sfd_arch.archs.generators import GeneratorError, load_generator  # the generator reader
    from sfd_arch.utils.upsampler import (  # the tiled upsampler
        list_inputs,
        output_extension,
        output_path,
        pick_device,
        refuse_outputs_over_inputs,
    )

    # isort: split
    from basicsr.utils import imwrite  # importable once sfd_arch.utils.upsampler has run compat

    try:
        inputs = list_inputs(args.input)
        refuse_outputs_over_inputs(inputs, args.output, args.suffix, args.ext)  # before any work
        generator = load_generator(args.model_path, args.network_g, args.iter)
        check_flags(generator, args)
        device = pick_device(args.device)
    except (FileNotFoundError, GeneratorError, ValueError, RuntimeError) as err:
        raise SystemExit(f'inference_sfd: error: {err}') from None
    scale = generator.scale
    upsampler = generator.upsampler(args.tile, args.tile_pad, args.pre_pad, half=not args.fp32, device=device)
    print(f'model: {generator.how}')
    print(f'{len(inputs)} image(s), x{scale}, {device}, {"float16" if upsampler.half else "float32"}'
          + (f', tiles of {upsampler.tile}' if upsampler.tile else '')
          + (f', sides padded to multiples of {upsampler.mod}' if upsampler.mod > 1 else ''))

    written, failed = [], []
    for idx, path in enumerate(inputs):
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
        save_path = output_path(args.output, path, args.suffix, ext)
        imwrite(out, save_path)
        written.append(save_path)
    if failed:
        raise SystemExit(f'inference_sfd: {len(failed)} input(s) could not be read: {", ".join(failed)}')
    return written


if __name__ == '__main__':
    main()
