"""Train with SFD: ``python sfd_arch/train.py -opt options/train_sfd_x4.yml [--auto_resume] [--launcher pytorch]``.

A few lines, as in Real-ESRGAN: BasicSR's own training pipeline runs with the current directory as root
(experiments/, tb_logger/), the SFD classes registered as BasicSR is imported (``sfd_arch.registration``). The
command line is parsed first (``--help`` and argument errors before torch or BasicSR is imported), then the
option file is checked, so a missing dataroot or a typo in the ``clip:`` block fails at once, before BasicSR
moves an existing experiment folder aside.
"""
import os
import os.path as osp
import sys

if __package__ in (None, ''):
    # run as a file: Python put sfd_arch/ itself on sys.path; the checkout root is what makes `sfd_arch` importable
    _package_dir = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != _package_dir]
    sys.path.insert(0, osp.dirname(_package_dir))

from sfd_arch.utils.basicsr_cli import wrapper_parser  # noqa: E402  (argparse only)


def main() -> None:
    opt_path = wrapper_parser('train').parse_args(sys.argv[1:]).opt  # --help and argument errors end here
    if not osp.isfile(opt_path):
        sys.exit(f'error: option file not found: {opt_path}')
    from basicsr.train import train_pipeline  # importing basicsr registers the SFD classes (sfd_arch.registration)

    from sfd_arch.options.preflight import check_option_file
    from sfd_arch.utils.checkpoints import CheckpointError

    try:
        check_option_file(opt_path, is_train=True, argv=sys.argv[1:])
    except (OSError, KeyError, ValueError) as err:
        sys.exit(f'error: {err.args[0] if isinstance(err, KeyError) else err}')
    try:
        train_pipeline(os.getcwd())
    except CheckpointError as err:  # a resume state or pretrained network that needs more than weights-only
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
