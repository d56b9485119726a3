"""The paper's evaluation in one command: run models on the test sets of an option file, score, report.

    python scripts/compare.py -opt options/test_sfd_x4.yml --model bicubic \\
        --model ESRGAN=experiments/pretrained_models/ESRGAN_x4.pth \\
        --model SFD=experiments/SFD_x4/models/net_g_latest.pth -o reports/x4

Every dataset of the option file (its ``datasets:`` blocks, read with BasicSR's dataset classes, GT
cropped to LQ x scale as BasicSR's test does) is upscaled by every model, and every SR image is scored with
the option file's ``val.metrics`` plus the metrics of a named protocol, ``--protocol`` (or the file's
``protocol:``): ``sfd`` (default: PSNR/SSIM on Y and LPIPS-alex/DISTS after a border crop of ``scale`` px, FID on
whole images), ``basicsr`` (BasicSR's option files and metric scripts) or ``pyiqa`` (pyiqa's defaults); a metric
block of the option file wins over the preset's, and a preset metric whose weights are missing is skipped (the
report says why). The protocol, with the file each setting follows, heads ``report.md`` and ``report.html`` and
is stored in ``results.json`` (docs/benchmarks.md, "Evaluation protocols"). A model is:

- ``bicubic``: the interpolation baseline, ``--bicubic matlab`` (default: BasicSR's MATLAB-like ``imresize``,
  the kernel BasicSR's and ``scripts/data_preparation/prepare_data.py``'s LR images are made with) or ``cv2``
  (``cv2.INTER_CUBIC``);
- ``NAME=CHECKPOINT``: a generator checkpoint (``.pth`` or ``.safetensors``), read as ``scripts/inference_sfd.py``
  reads it (``params_ema``, then ``params``, then a raw state dict): a BasicSR RRDBNet from its weights; another
  architecture with ``--network_g NAME=BLOCK|YAML``, else the option file's ``network_g`` when the weights fit it,
  else detected by spandrel (``pip install sfd_arch[models]``); the report says which;
- ``NAME=EXPERIMENT``: a training run's folder (``experiments/<name>``, with ``models/net_g_*``): its option
  file names the network, the checkpoint is ``net_g_latest.pth`` or the highest iteration (a checkpoint file of
  that folder picks another);
- ``NAME=FOLDER``: SR images made elsewhere, ``FOLDER/<dataset>/<image>[_suffix].png`` or ``FOLDER/<image>...``
  (BasicSR's ``results/<name>/visualization`` works as it is);
- ``NAME``: the option file's ``network_g`` with ``path.pretrain_network_g``.

A dataset without ground truth (``type: SingleImageDataset``: real-world photos) is scored with the
no-reference metrics only (NIQE and PIQE are added; pyiqa's MUSIQ, MANIQA and CLIP-IQA where their weights are
present); its full-reference columns read n/a, ``scores.png`` stands in for the PD plot, and ``report.html``
shows each output beside the LQ input.

Written into ``-o DIR``: ``metrics.csv`` (``model,dataset,image,metric,value``; FID rows have the image
``*``), ``table.md``, ``pd.png``, ``scores.png``, ``visual/<dataset>_<image>.png``, ``report.md``,
``report.html``, ``results.json`` (the protocol, the metric blocks and the means) and the SR images under
``sr/<model>/<dataset>/``. Rows are appended as they are computed, so an interrupted or failed run keeps
what it did; re-running skips every value already there and redoes a model whose checkpoint changed
(SHA-256), a dataset whose files changed, or a metric whose settings changed.
"""
import argparse
import os.path as osp
import shlex
import sys
from typing import TYPE_CHECKING, Optional

try:
    import sfd_arch  # noqa: F401  (light: the SFD metrics reach BasicSR's registry when BasicSR is imported)
except ImportError:  # a checkout that is not installed: the package sits next to scripts/
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import sfd_arch  # noqa: F401

from sfd_arch.metrics.protocols import PROTOCOLS  # noqa: E402  (plain data: no torch, no BasicSR)

if TYPE_CHECKING:
    from sfd_arch.eval.comparison import CompareResult


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-opt', '--opt', required=True, help='test option file: its datasets and val.metrics')
    p.add_argument('--model', action='append', required=True, metavar='NAME=CKPT|NAME=FOLDER|NAME|bicubic',
                   help='a model to compare; repeat for each (see above)')
    p.add_argument('--network_g', action='append', default=[], metavar='NAME=BLOCK|YAML',
                   help='the BasicSR network_g block of model NAME\'s checkpoint, inline or a YAML file; repeatable')
    p.add_argument('-o', '--output', required=True, help='output folder (re-running in it skips finished work)')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N (generators; metrics choose their own)')
    p.add_argument('--metrics', nargs='+', default=None, metavar='NAME',
                   help="only these metrics (names of val.metrics or of the protocol's: psnr, ssim, lpips, ...)")
    p.add_argument('--protocol', choices=list(PROTOCOLS), default=None,
                   help="the metrics' settings: a named preset, each naming the files it follows (default: the "
                        "option file's protocol:, else sfd)")
    p.add_argument('--no-default-metrics', action='store_true',
                   help="only the option file's val.metrics (none of the protocol's metrics added)")
    p.add_argument('--datasets', nargs='+', default=None, metavar='NAME', help='only these datasets (their name:)')
    p.add_argument('--pd', default='lpips', metavar='METRIC', help='y axis of pd.png (x: --pd-x)')
    p.add_argument('--pd-x', default='psnr', metavar='METRIC', help='x axis of pd.png')
    p.add_argument('--visual', type=int, default=1, metavar='N',
                   help='visual figures per dataset: the N images where the models differ most (0: none)')
    p.add_argument('--crop', action='append', default=[], metavar='DATASET/IMAGE:X,Y,SIZE',
                   help='a visual figure at this HR square instead of the automatic choice; repeatable')
    p.add_argument('--bicubic', default='matlab', choices=['matlab', 'cv2'],
                   help='bicubic baseline kernel: matlab (BasicSR imresize, as BasicSR makes LR) or cv2')
    p.add_argument('--tile', type=int, default=0, help='generator tiles of this many LQ pixels (0: whole images)')
    p.add_argument('--half', action='store_true', help='float16 generators on CUDA (default: float32)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv: Optional[list[str]] = None) -> 'CompareResult':
    """Command-line entry; returns the ``CompareResult``, exits non-zero with a one-line message on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    # after --help and argument errors
    from sfd_arch.eval.compare import CompareError, CompareSettings, compare, parse_models, parse_network_args

    try:
        models = parse_models(args.model)
        settings = CompareSettings(
            args.opt, models, args.output, network_g=parse_network_args(args.network_g, models), device=args.device,
            metrics=args.metrics, default_metrics=not args.no_default_metrics, datasets=args.datasets,
            pd_metric=args.pd, x_metric=args.pd_x, visual_per_dataset=args.visual, crops=args.crop,
            bicubic=args.bicubic, tile=args.tile, half=args.half, progress=not args.no_progress,
            command='python scripts/compare.py ' + shlex.join(argv), protocol=args.protocol)
        result = compare(settings)
    except CompareError as err:
        raise SystemExit(f'compare: error: {err}') from None
    protocol = result.protocol
    print(f'Protocol: {protocol["name"]} ({protocol["title"]}; chosen by {protocol["chosen_by"]})\n'
          f'Report: {result.report_md}\n' + result.table)
    return result


if __name__ == '__main__':
    main()
