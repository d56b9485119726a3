"""Plots of SFD results: the perception-distortion plane (paper, Fig. 1) and training curves.

The command line of ``sfd_arch.eval.plots``, whose docstring tells the details and examples.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

try:
    import sfd_arch  # noqa: F401
except ImportError:  # a checkout that is not installed: the package sits two folders up
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))



def main(argv: Optional[list[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    pd = sub.add_parser('pd', help='perception-distortion plane from metrics.csv files')
    pd.add_argument('csv', nargs='+', help='metrics.csv files written by sfd_arch/test.py')
    pd.add_argument('--metric', required=True, help='y axis: perceptual or no-reference metric, e.g. lpips, niqe')
    pd.add_argument('--x_metric', default='psnr', help='x axis (distortion) metric')
    pd.add_argument('--labels', nargs='+', default=None, help='model names (default: the results folder names)')
    pd.add_argument('--datasets', nargs='+', default=None, help='datasets to draw (default: all in common)')
    pd.add_argument('--average', action='store_true', help='one panel: mean over the datasets')
    pd.add_argument('-o', '--output', default='pd_plane.png')
    cu = sub.add_parser('curves', help='training curves from a tensorboard log dir')
    cu.add_argument('logdir', help='e.g. tb_logger/<experiment name>')
    cu.add_argument('--smooth', type=float, default=0.0,
                    help="weight in [0, 1) as TensorBoard's slider: a debiased EMA drawn over the raw loss curves, "
                         'both named in the legend')
    cu.add_argument('-o', '--output', default='training_curves.png')
    args = p.parse_args(argv)
    import matplotlib.pyplot as plt  # after --help and argument errors

    from sfd_arch.eval.plots import plot_curves, plot_pd  # sets the Agg backend

    try:
        if args.command == 'pd':
            fig, data = plot_pd(args.csv, args.metric, args.x_metric, args.labels, args.datasets, args.average,
                                args.output)
        else:
            fig, data = plot_curves(args.logdir, args.output, args.smooth)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'plot_results: error: {err}') from None
    plt.close(fig)
    return data


if __name__ == '__main__':
    main()
