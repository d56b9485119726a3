#!/usr/bin/env python
"""What the start-up hook (``sfd_arch_hook.pth``) costs every Python process, measured as a user pays it.

    python scripts/startup_overhead.py                         # python -c pass, fresh venv, median of 30, limit 3 ms
    python scripts/startup_overhead.py --in-place --code 'import pyiqa' --runs 5 --max-ms 100

Default: a throwaway virtual environment (``python -m venv --without-pip``, no system site-packages) gets this
checkout's ``_sfd_arch_hook.py`` (byte-compiled) and ``sfd_arch_hook.pth`` in its site-packages, as
``pip install .`` puts them.
``python -c CODE`` is then timed with the ``.pth`` file there and with it renamed away, alternating the two so
that a busy machine disturbs both alike. Same interpreter, same site-packages; the only difference is the file.

``--in-place``: the interpreter's own environment instead (to time ``import pyiqa`` where pyiqa is installed).
Both arms start Python with ``-S`` and run ``site.main()`` themselves, which is what start-up does; in the
``without`` arm every ``.pth`` file named ``sfd_arch_hook.pth`` is skipped. The hook module found first on
``sys.path`` is the one timed (set ``PYTHONPATH`` to a checkout to time the checkout).

Prints the median wall time (and CPU time) of each arm, the median of the paired differences (the two runs of
a pair follow each other, in alternating order) and the modules the hook leaves loaded. The exit status is 1
when the wall-time difference is above ``--max-ms``, 2 when the hook did not load in the ``with`` arm (or did
in the ``without`` arm), so that the measurement would have compared nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
HOOK_MODULE = '_sfd_arch_hook.py'
HOOK_PTH = 'sfd_arch_hook.pth'

# -S start-up followed by site.main(), optionally skipping our .pth: the same steps as a normal start-up
IN_PLACE_PRELUDE = '''import site
if {skip!r}:
    _addpackage = site.addpackage
    site.addpackage = lambda d, name, known: known if name == {pth!r} else _addpackage(d, name, known)
site.main()
'''
PROBE = 'import sys; print(" ".join(sorted(sys.modules)))'


class Arm:
    """One way of starting Python: ``argv(code)`` runs ``code`` with or without the hook."""

    def __init__(self, name: str, python: str, hook: bool, in_place: bool, pth: Path | None = None):
        self.name, self.python, self.hook, self.in_place, self.pth = name, python, hook, in_place, pth

    def prepare(self) -> None:
        """Put the venv's ``.pth`` file in place or away (a rename; nothing else in the venv changes)."""
        if self.pth is None:
            return
        off = self.pth.with_name(self.pth.name + '.off')
        if self.hook and off.exists():
            off.rename(self.pth)
        elif not self.hook and self.pth.exists():
            self.pth.rename(off)

    def argv(self, code: str) -> list[str]:
        if self.in_place:
            return [self.python, '-S', '-c', IN_PLACE_PRELUDE.format(skip=not self.hook, pth=HOOK_PTH) + code]
        return [self.python, '-c', code]

    def modules(self, env: dict) -> set[str]:
        self.prepare()
        out = subprocess.run(self.argv(PROBE), env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f'{self.name}: {" ".join(self.argv(PROBE)[:2])} failed:\n{out.stderr[-2000:]}')
        return set(out.stdout.split())

    def time_once(self, code: str, env: dict) -> tuple[float, float]:
        """(wall seconds, CPU seconds user + system) of one process running ``code``."""
        self.prepare()
        cpu_before = _children_cpu()
        start = time.perf_counter()
        out = subprocess.run(self.argv(code), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f'{self.name}: python -c {code!r} failed:\n{out.stderr[-2000:]}')
        return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    # CPU time is less disturbed than wall time when other jobs share the machine; NaN where unavailable
    try:
        import resource
    except ImportError:  # Windows
        return float('nan')
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_venv(python: str, root: Path) -> tuple[str, Path]:
    """A bare venv with only the hook installed; returns its interpreter and its ``.pth`` path."""
    for name in (HOOK_MODULE, HOOK_PTH):
        if not (REPO / name).is_file():
            raise FileNotFoundError(f'{REPO / name} not found (run this script from a checkout)')
    subprocess.run([python, '-m', 'venv', '--without-pip', str(root)], check=True, capture_output=True)
    bindir = 'Scripts' if os.name == 'nt' else 'bin'
    venv_python = str(root / bindir / Path(python).name)
    if not os.path.exists(venv_python):
        venv_python = str(root / bindir / 'python')
    purelib = subprocess.run([venv_python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             check=True, capture_output=True, text=True).stdout.strip()
    for name in (HOOK_MODULE, HOOK_PTH):
        shutil.copy2(REPO / name, Path(purelib) / name)
    # pip byte-compiles what it installs; without the .pyc every start would compile the module (~2 ms)
    subprocess.run([venv_python, '-m', 'compileall', '-q', str(Path(purelib) / HOOK_MODULE)], check=True,
                   capture_output=True)
    return venv_python, Path(purelib) / HOOK_PTH


def measure(with_hook: Arm, without_hook: Arm, code: str, runs: int, env: dict) -> tuple[list, list]:
    """``runs`` pairs of runs after one warm-up of each arm; (wall, CPU) seconds per run, pair i at index i.

    The two runs of a pair follow each other, in alternating order, so that a change of machine load between
    pairs shifts both alike and the first-or-second position favours neither arm.
    """
    for arm in (with_hook, without_hook):
        arm.time_once(code, env)
    timed = {with_hook.name: [], without_hook.name: []}
    for i in tqdm(range(runs), desc=f'python -c {code!r}', unit='pair', leave=False, file=sys.stderr):
        for arm in ((with_hook, without_hook) if i % 2 == 0 else (without_hook, with_hook)):
            timed[arm.name].append(arm.time_once(code, env))
    return timed[with_hook.name], timed[without_hook.name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=30, help='runs of each arm (default 30); the median is reported')
    parser.add_argument('--max-ms', type=float, default=3.0,
                        help='exit 1 when the median difference is above this many milliseconds (default 3)')
    parser.add_argument('--code', default='pass', help="the code each process runs (default 'pass')")
    parser.add_argument('--python', default=sys.executable, help='the interpreter to measure (default: this one)')
    parser.add_argument('--in-place', action='store_true',
                        help="the interpreter's own environment (skipping the .pth) instead of a fresh venv")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    if shutil.which(args.python) is None and not os.path.isfile(args.python):
        parser.error(f'--python: no interpreter at {args.python}')
    env = {**os.environ, 'HF_HUB_OFFLINE': os.environ.get('HF_HUB_OFFLINE', '1')}
    env.pop('SFD_ARCH_NO_HOOK', None)

    with tempfile.TemporaryDirectory(prefix='sfd_startup_') as tmp:
        if args.in_place:
            where = f'in place ({args.python})'
            with_hook = Arm('with the hook', args.python, True, True)
            without_hook = Arm('without the hook', args.python, False, True)
        else:
            env.pop('PYTHONPATH', None)  # the bare venv's site-packages only
            venv_python, pth = make_venv(args.python, Path(tmp) / 'venv')
            where = f'fresh venv from {args.python}'
            with_hook = Arm('with the hook', venv_python, True, False, pth)
            without_hook = Arm('without the hook', venv_python, False, False, pth)
        try:
            loaded, plain = with_hook.modules(env), without_hook.modules(env)
            if '_sfd_arch_hook' not in loaded or '_sfd_arch_hook' in plain:
                print(f'the hook did not load as expected ({where}): with={"_sfd_arch_hook" in loaded}, '
                      f'without={"_sfd_arch_hook" in plain}; is sfd_arch installed (`make setup`)?', file=sys.stderr)
                return 2
            timed_with, timed_without = measure(with_hook, without_hook, args.code, args.runs, env)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        finally:
            with_hook.prepare()  # leaves the venv as installed; it is deleted next anyway

    wall_with, wall_without = [t[0] for t in timed_with], [t[0] for t in timed_without]
    cpu_with, cpu_without = [t[1] for t in timed_with], [t[1] for t in timed_without]
    # the median of the pairwise differences: robust to load that changes during the measurement
    difference_ms = statistics.median(w - wo for w, wo in zip(wall_with, wall_without)) * 1000
    cpu_difference_ms = statistics.median(w - wo for w, wo in zip(cpu_with, cpu_without)) * 1000
    ok = difference_ms <= args.max_ms
    python_version = subprocess.run([args.python, '-c', 'import platform; print(platform.python_version())'],
                                    capture_output=True, text=True).stdout.strip()
    print(f'python -c {args.code!r}: median of {args.runs} runs each, {where}, Python {python_version}')
    print('                                   wall time     CPU time (user + system)')
    print(f'  without the hook (.pth skipped): {statistics.median(wall_without) * 1000:9.2f} ms  '
          f'{statistics.median(cpu_without) * 1000:9.2f} ms')
    print(f'  with the hook:                   {statistics.median(wall_with) * 1000:9.2f} ms  '
          f'{statistics.median(cpu_with) * 1000:9.2f} ms')
    print(f'  difference (median of the pairs): {difference_ms:8.2f} ms  {cpu_difference_ms:9.2f} ms  '
          f'(limit {args.max_ms:g} ms on wall time: {"OK" if ok else "ABOVE THE LIMIT"})')
    print(f'  modules the hook leaves loaded at start-up: {" ".join(sorted(loaded - plain)) or "none"}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
