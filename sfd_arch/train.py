"""Train with SFD: ``python sfd_arch/train.py -opt options/train_sfd_x4.yml [--auto_resume] [--launcher pytorch]``.

A few lines, as in Real-ESRGAN: importing ``sfd_arch`` registers the SFD classes in BasicSR's registries,
then BasicSR's own training pipeline runs with the current directory as root (experiments/, tb_logger/).
"""
import os
import os.path as osp
import sys

if __package__ in (None, ''):  # run as a script: make the package importable from a checkout
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from basicsr.train import train_pipeline  # noqa: E402

import sfd_arch  # noqa: E402,F401  (registers FeatD, PromptLearner, the losses, SFDModel, RealSFDModel)


def main() -> None:
    train_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
