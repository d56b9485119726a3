#!/usr/bin/env python
"""What the start-up hook costs every Python process: ``python scripts/startup_overhead.py [--runs 30]``.

Runs ``python -X importtime -c pass`` repeatedly and reports the median cumulative import time of
``_sfd_arch_hook`` (the module ``sfd_arch_hook.pth`` imports), the median wall time of ``python -c pass``,
and whether torch was imported at start-up (it must not be).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def hook_import_us() -> int | None:
    out = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'pass'], capture_output=True, text=True).stderr
    for line in out.splitlines():
        if line.rstrip().endswith(' _sfd_arch_hook'):
            return int(line.split('|')[1])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=30)
    args = parser.parse_args(argv)
    hook = [hook_import_us() for _ in range(args.runs)]
    if any(h is None for h in hook):
        print('the hook is not installed (run `make setup` / `pip install .`)', file=sys.stderr)
        return 1
    walls = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'pass'], check=True)
        walls.append(time.perf_counter() - start)
    torch_loaded = subprocess.run([sys.executable, '-c', 'import sys; print("torch" in sys.modules)'],
                                  capture_output=True, text=True).stdout.strip()
    print(f'_sfd_arch_hook import (cumulative, median of {args.runs}): {statistics.median(hook) / 1000:.2f} ms')
    print(f'python -c pass wall time (median of {args.runs}):           {statistics.median(walls) * 1000:.1f} ms')
    print(f'torch imported at start-up:                                {torch_loaded}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
