"""``python -m sfd_arch.cli ...``: the ``sfd-iqa`` command without its console script."""
import sys

from . import main

sys.exit(main())
