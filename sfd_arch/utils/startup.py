"""What the start-up hook (``sfd_arch_hook.pth``) costs every Python process, measured as a user pays it.

Used by ``scripts/benchmarks/startup_overhead.py`` and by the hook's test, so that the figure docs/install.md states and
the bound the tests enforce come from one measurement.

Default: a throwaway virtual environment (``python -m venv --without-pip``, no system site-packages) gets the
hook's ``_sfd_arch_hook.py`` (byte-compiled) and ``sfd_arch_hook.pth`` in its site-packages, as ``pip install .``
puts them. ``python -c CODE`` is then timed with the ``.pth`` file there and with it renamed away, alternating the
two so that a busy machine disturbs both alike. Same interpreter, same site-packages; the only difference is the
file.

``in_place``: the interpreter's own environment instead (to time ``import pyiqa`` where pyiqa is installed). Both
arms start Python with ``-S`` and run ``site.main()`` themselves, which is what start-up does; in the ``without``
arm every ``.pth`` file named ``sfd_arch_hook.pth`` is skipped.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

HOOK_MODULE = '_sfd_arch_hook.py'
HOOK_PTH = 'sfd_arch_hook.pth'
DEFAULT_MAX_MS = 3.0  # the limit the script and the hook's test enforce on the median paired wall-time difference

# -S start-up followed by site.main(), optionally skipping our .pth: the same steps as a normal start-up
IN_PLACE_PRELUDE = '''import site
if {skip!r}:
    _addpackage = site.addpackage
    site.addpackage = lambda d, name, known: known if name == {pth!r} else _addpackage(d, name, known)
site.main()
'''
PROBE = 'import sys; print(" ".join(sorted(sys.modules)))'


class HookNotLoaded(RuntimeError):
    """The ``with`` arm did not load the hook (or the ``without`` arm did): the measurement would compare nothing."""


def hook_source_dir() -> Path:
    """Where ``_sfd_arch_hook.py`` and ``sfd_arch_hook.pth`` lie: the checkout, or site-packages once installed.

    Both sit beside the ``sfd_arch`` folder in either case.
    """
    return Path(__file__).resolve().parents[2]


class Arm:
    """One way of starting Python: ``argv(code)`` runs ``code`` with or without the hook."""

    def __init__(self, name: str, python: str, hook: bool, in_place: bool, pth: Optional[Path] = None):
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
    source = hook_source_dir()
    for name in (HOOK_MODULE, HOOK_PTH):
        if not (source / name).is_file():
            raise FileNotFoundError(f'{source / name} not found (run from a checkout or an install of sfd_arch)')
    subprocess.run([python, '-m', 'venv', '--without-pip', str(root)], check=True, capture_output=True)
    bindir = 'Scripts' if os.name == 'nt' else 'bin'
    venv_python = str(root / bindir / Path(python).name)
    if not os.path.exists(venv_python):
        venv_python = str(root / bindir / 'python')
    purelib = subprocess.run([venv_python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             check=True, capture_output=True, text=True).stdout.strip()
    for name in (HOOK_MODULE, HOOK_PTH):
        shutil.copy2(source / name, Path(purelib) / name)
    # pip byte-compiles what it installs; without the .pyc every start would compile the module (~2 ms)
    subprocess.run([venv_python, '-m', 'compileall', '-q', str(Path(purelib) / HOOK_MODULE)], check=True,
                   capture_output=True)
    return venv_python, Path(purelib) / HOOK_PTH


def measure(with_hook: Arm, without_hook: Arm, code: str, runs: int, env: dict,
            progress: bool = False) -> tuple[list, list]:
    """``runs`` pairs of runs after one warm-up of each arm; (wall, CPU) seconds per run, pair i at index i.

    The two runs of a pair follow each other, in alternating order, so that a change of machine load between
    pairs shifts both alike and the first-or-second position favours neither arm.
    """
    for arm in (with_hook, without_hook):
        arm.time_once(code, env)
    timed = {with_hook.name: [], without_hook.name: []}
    pairs = range(runs)
    if progress:
        from tqdm import tqdm

        pairs = tqdm(pairs, desc=f'python -c {code!r}', unit='pair', leave=False, file=sys.stderr)
    for i in pairs:
        for arm in ((with_hook, without_hook) if i % 2 == 0 else (without_hook, with_hook)):
            timed[arm.name].append(arm.time_once(code, env))
    return timed[with_hook.name], timed[without_hook.name]


@dataclass
class Overhead:
    """Medians of one measurement, in milliseconds; ``difference_ms`` is the median of the paired differences."""

    code: str
    runs: int
    where: str
    python_version: str
    wall_without_ms: float
    wall_with_ms: float
    cpu_without_ms: float
    cpu_with_ms: float
    difference_ms: float
    cpu_difference_ms: float
    hook_modules: list[str]


def _arms(python: str, in_place: bool, root: Path, env: dict) -> tuple[Arm, Arm, str]:
    if in_place:
        return (Arm('with the hook', python, True, True), Arm('without the hook', python, False, True),
                f'in place ({python})')
    env.pop('PYTHONPATH', None)  # the bare venv's site-packages only
    venv_python, pth = make_venv(python, root / 'venv')
    return (Arm('with the hook', venv_python, True, False, pth),
            Arm('without the hook', venv_python, False, False, pth),
            f'fresh venv from {python}')


def startup_overhead(code: str = 'pass', runs: int = 30, python: str = sys.executable, in_place: bool = False,
                     progress: bool = False) -> Overhead:
    """Time ``python -c code`` with and without the hook, ``runs`` alternating pairs; see the module docstring.

    Raises ``HookNotLoaded`` when the arms do not differ by the hook, ``RuntimeError`` when a run fails.
    """
    if runs < 1:
        raise ValueError('runs must be at least 1')
    env = {**os.environ, 'HF_HUB_OFFLINE': os.environ.get('HF_HUB_OFFLINE', '1')}
    env.pop('SFD_ARCH_NO_HOOK', None)
    with tempfile.TemporaryDirectory(prefix='sfd_startup_') as tmp:
        with_hook, without_hook, where = _arms(python, in_place, Path(tmp), env)
        try:
            loaded, plain = with_hook.modules(env), without_hook.modules(env)
            if '_sfd_arch_hook' not in loaded or '_sfd_arch_hook' in plain:
                raise HookNotLoaded(f'the hook did not load as expected ({where}): with={"_sfd_arch_hook" in loaded}, '
                                    f'without={"_sfd_arch_hook" in plain}; is sfd_arch installed (`make setup`)?')
            timed_with, timed_without = measure(with_hook, without_hook, code, runs, env, progress)
        finally:
            with_hook.prepare()  # leaves the venv as installed; it is deleted next anyway
    wall_with, wall_without = [t[0] for t in timed_with], [t[0] for t in timed_without]
    cpu_with, cpu_without = [t[1] for t in timed_with], [t[1] for t in timed_without]
    version = subprocess.run([python, '-c', 'import platform; print(platform.python_version())'],
                             capture_output=True, text=True).stdout.strip()
    # the median of the pairwise differences: robust to load that changes during the measurement
    return Overhead(code, runs, where, version, statistics.median(wall_without) * 1000,
                    statistics.median(wall_with) * 1000, statistics.median(cpu_without) * 1000,
                    statistics.median(cpu_with) * 1000,
                    statistics.median(w - wo for w, wo in zip(wall_with, wall_without)) * 1000,
                    statistics.median(w - wo for w, wo in zip(cpu_with, cpu_without)) * 1000,
                    sorted(loaded - plain))


def report(result: Overhead, max_ms: float) -> str:
    """The table the script prints; its last lines name the limit and the modules the hook leaves loaded."""
    ok = result.difference_ms <= max_ms
    return '\n'.join([
        f'python -c {result.code!r}: median of {result.runs} runs each, {result.where}, Python {result.python_version}',
        '                                   wall time     CPU time (user + system)',
        f'  without the hook (.pth skipped): {result.wall_without_ms:9.2f} ms  {result.cpu_without_ms:9.2f} ms',
        f'  with the hook:                   {result.wall_with_ms:9.2f} ms  {result.cpu_with_ms:9.2f} ms',
        f'  difference (median of the pairs): {result.difference_ms:8.2f} ms  {result.cpu_difference_ms:9.2f} ms  '
        f'(limit {max_ms:g} ms on wall time: {"OK" if ok else "ABOVE THE LIMIT"})',
        f'  modules the hook leaves loaded at start-up: {" ".join(result.hook_modules) or "none"}'])
