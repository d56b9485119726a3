"""Train with SFD: ``python sfd_arch/train.py -opt options/train_sfd_x4.yml [--auto_resume] [--launcher pytorch]``.

A few lines, as in Real-ESRGAN: importing ``sfd_arch`` registers the SFD classes in BasicSR's registries,
then BasicSR's own training pipeline runs with the current directory as root (experiments/, tb_logger/).
The option file is checked first, so a missing dataroot or a typo in the ``clip:`` block fails at once,
before BasicSR moves an existing experiment folder aside.
"""
import os
import os.path as osp
import sys

if __package__ in (None, ''):
    # run as a file: Python put sfd_arch/ itself on sys.path; the checkout root is what makes `sfd_arch` importable
    _package_dir = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != _package_dir]
    sys.path.insert(0, osp.dirname(_package_dir))

# isort: off
import sfd_arch  # noqa: E402,F401  (first: makes basicsr importable, registers the SFD classes)
from basicsr.train import train_pipeline  # noqa: E402
from sfd_arch.options.preflight import check_option_file, option_path  # noqa: E402
from sfd_arch.utils.checkpoints import CheckpointError  # noqa: E402
# isort: on


def main() -> None:
    opt_path = option_path(sys.argv[1:])
    if opt_path is not None:
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
