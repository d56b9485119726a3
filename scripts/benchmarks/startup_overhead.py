#!/usr/bin/env python
"""What the start-up hook (``sfd_arch_hook.pth``) costs every Python process, measured as a user pays it.

    python scripts/benchmarks/startup_overhead.py                # python -c pass, fresh venv, median of 30, limit 3 ms
    python scripts/benchmarks/startup_overhead.py --in-place --code 'import pyiqa' --runs 5 --max-ms 100

The measurement is ``sfd_arch.utils.startup`` (its docstring says how the two arms differ); the hook's test runs
the same function with the same limit in CI. Prints the median wall time (and CPU time) of each arm, the median of
the paired differences and the modules the hook leaves loaded. The exit status is 1 when the wall-time difference
is above ``--max-ms``, 2 when the hook did not load in the ``with`` arm (or did in the ``without`` arm), so that the
measurement would have compared nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

# the checkout's package and hook first: a checkout measures its own hook, not an older installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sfd_arch.utils.startup import DEFAULT_MAX_MS, HookNotLoaded, report, startup_overhead  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=30, help='runs of each arm (default 30); the median is reported')
    parser.add_argument('--max-ms', type=float, default=DEFAULT_MAX_MS,
                        help=f'exit 1 when the median difference is above this many milliseconds '
                             f'(default {DEFAULT_MAX_MS:g})')
    parser.add_argument('--code', default='pass', help="the code each process runs (default 'pass')")
    parser.add_argument('--python', default=sys.executable, help='the interpreter to measure (default: this one)')
    parser.add_argument('--in-place', action='store_true',
                        help="the interpreter's own environment (skipping the .pth) instead of a fresh venv")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    if shutil.which(args.python) is None and not os.path.isfile(args.python):
        parser.error(f'--python: no interpreter at {args.python}')
    try:
        result = startup_overhead(args.code, args.runs, args.python, args.in_place, progress=True)
    except HookNotLoaded as err:
        print(err, file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    print(report(result, args.max_ms))
    return 0 if result.difference_ms <= args.max_ms else 1


if __name__ == '__main__':
    sys.exit(main())
