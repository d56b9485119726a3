"""The start-up hook (``_sfd_arch_hook``, run by ``sfd_arch_hook.pth``): what it costs and what it does.

Every test runs a fresh interpreter: the hook acts at start-up and on first imports, which the test process has
long passed. Stand-in ``basicsr`` / ``sfd_arch`` packages keep the mechanism tests free of torch.
"""
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from sfd_arch.utils.startup import DEFAULT_MAX_MS, HOOK_MODULE, HOOK_PTH, report, startup_overhead

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra) -> dict:
    """The checkout first on PYTHONPATH (so the installed .pth imports this checkout's hook), offline."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'SFD_ARCH_NO_HOOK')}
    env.update(PYTHONPATH=REPO, HF_HUB_OFFLINE='1', **extra)
    return env


def _run(args: list, cwd, env: dict, timeout: int = 300) -> list:
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


def test_hook_imports_nothing_beyond_what_start_up_has(tmp_path):
    """Without ``site`` (-S), importing the hook adds only itself to sys.modules, turned on or off, and an
    unrelated import afterwards adds only that module: the finder imports importlib's helpers only when one of
    its own names is imported."""
    code = ('import sys, os\n'  # `site` always loads os before it reads .pth files
            f'sys.path.insert(0, {REPO!r})\n'
            'before = set(sys.modules)\n'
            'import _sfd_arch_hook\n'
            'added = set(sys.modules) - before\n'
            'finder = any(type(f).__name__ == "SFDFinder" for f in sys.meta_path)\n'
            'before = set(sys.modules)\n'
            'import colorsys\n'
            'print(",".join(sorted(added)), ",".join(sorted(set(sys.modules) - before)), finder)\n')
    for no_hook, finder in (('', 'True'), ('1', 'False')):
        out = _run(['-S', '-c', code], tmp_path, _env(SFD_ARCH_NO_HOOK=no_hook))
        assert out == ['_sfd_arch_hook', 'colorsys', finder]


def test_hook_turned_off_installs_no_finder_but_compat_alias_still_works(tmp_path):
    """SFD_ARCH_NO_HOOK=1: no finder at start-up; ``install(targets=())`` (what sfd_arch.compat calls) then serves
    the removed torchvision module, and does not act on ``basicsr``."""
    code = ('import sys, _sfd_arch_hook as h\n'
            'print(any(type(f).__name__ == "SFDFinder" for f in sys.meta_path))\n'
            'h.install(targets=())\n'
            'finder = sys.meta_path[0]\n'
            'print(sorted(finder.targets) == [] and finder.find_spec("basicsr", None) is None)\n'
            'from torchvision.transforms import functional, functional_tensor\n'
            'print(functional_tensor.rgb_to_grayscale is functional.rgb_to_grayscale)\n'
            'h.install(targets=())\n'  # idempotent
            'print(sum(type(f).__name__ == "SFDFinder" for f in sys.meta_path))\n')
    assert _run(['-c', code], tmp_path, _env(SFD_ARCH_NO_HOOK='1')) == ['False', 'True', 'True', '1']


def test_after_import_runs_once_the_package_has_loaded_and_hands_back_its_loader(tmp_path):
    """A stand-in ``basicsr``: importing it runs ``sfd_arch.registration.on_basicsr_import`` right after basicsr's
    own code ran; the module keeps its real loader (importlib.resources, pkgutil see a normal package)."""
    (tmp_path / 'basicsr').mkdir()
    (tmp_path / 'basicsr' / '__init__.py').write_text('LOADED = True\n')
    (tmp_path / 'sfd_arch').mkdir()
    (tmp_path / 'sfd_arch' / '__init__.py').write_text('')
    (tmp_path / 'sfd_arch' / 'registration.py').write_text(
        'def on_basicsr_import():\n    import basicsr\n    basicsr.SEEN_FULLY_LOADED = basicsr.LOADED\n')
    code = (f'import sys; sys.path[:0] = [{str(tmp_path)!r}, {REPO!r}]\n'
            'import _sfd_arch_hook\n'
            'print("importlib.util" in sys.modules, "sfd_arch" in sys.modules)\n'
            'import basicsr\n'
            'print(basicsr.SEEN_FULLY_LOADED, type(basicsr.__loader__).__name__,\n'
            '      basicsr.__spec__.loader is basicsr.__loader__)\n')
    assert _run(['-S', '-c', code], tmp_path, _env()) == ['False', 'False', 'True', 'SourceFileLoader', 'True']


def test_startup_hook_registers_for_basicsr_without_importing_sfd_arch(tmp_path):
    """Outside the checkout, `import basicsr` alone (what basicsr.train does) must bring the SFD classes."""
    code = ('import sys\n'
            'assert "_sfd_arch_hook" in sys.modules, "sfd_arch_hook.pth is not installed: run `make setup`"\n'
            'assert "torch" not in sys.modules, "the hook must not import torch at start-up"\n'
            'import basicsr.train\n'
            'from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY\n'
            'print(ARCH_REGISTRY.get("FeatD").__module__, MODEL_REGISTRY.get("SFDModel").__name__)\n'
            'import _sfd_arch_hook; print(_sfd_arch_hook.__file__)')
    out = _run(['-c', code], tmp_path, _env())
    assert out[:2] == ['sfd_arch.archs.featd_arch', 'SFDModel']
    assert out[2] == os.path.join(REPO, '_sfd_arch_hook.py')  # this checkout's hook, not an older installed one


def test_startup_costs_at_most_a_few_milliseconds():
    """The figure of docs/install.md, "The start-up hook", measured as ``scripts/benchmarks/startup_overhead.py``
    measures it (median of the paired differences of 30 alternating runs of ``python -c pass`` in a fresh venv,
    with and without the .pth): at most DEFAULT_MAX_MS (3 ms), in wall time and in CPU time. A busy machine
    scatters wall time by more than that, so the measurement is taken up to three times and the best one counts;
    an overhead that is really above the limit (say, one module imported at start-up) is above it every time."""
    results = []
    for _ in range(3):
        result = startup_overhead('pass', runs=30)
        assert result.hook_modules == ['_sfd_arch_hook']  # the two arms differ by the hook, and only by it
        results.append(result)
        if max(result.difference_ms, result.cpu_difference_ms) <= DEFAULT_MAX_MS:
            break
    best = min(results, key=lambda r: max(r.difference_ms, r.cpu_difference_ms))
    assert max(best.difference_ms, best.cpu_difference_ms) <= DEFAULT_MAX_MS, report(best, DEFAULT_MAX_MS)


def test_startup_overhead_measures_a_module_imported_at_start_up(tmp_path):
    """The measurement can fail: a hook that imports asyncio (tens of ms) at start-up is above the limit."""
    slow = tmp_path / 'slow'
    slow.mkdir()
    for name in (HOOK_MODULE, HOOK_PTH):
        (slow / name).write_text((Path(REPO) / name).read_text())
    (slow / HOOK_MODULE).write_text('import asyncio  # noqa\n'
                                    + (slow / HOOK_MODULE).read_text())
    with mock.patch('sfd_arch.utils.startup.hook_source_dir', return_value=slow):
        result = startup_overhead('pass', runs=5)
    assert 'asyncio' in result.hook_modules
    assert min(result.difference_ms, result.cpu_difference_ms) > DEFAULT_MAX_MS, report(result, DEFAULT_MAX_MS)


def test_startup_overhead_script_reports_and_enforces_its_limit(tmp_path):
    """The script (a subprocess, as users run it): its table, exit 1 above the limit, 2 on bad arguments; the old
    path forwards to it."""
    script = os.path.join(REPO, 'scripts', 'benchmarks', 'startup_overhead.py')
    out = subprocess.run([sys.executable, script, '--runs', '1', '--max-ms', '-1000'], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]
    assert 'median of 1 runs each, fresh venv' in out.stdout and 'ABOVE THE LIMIT' in out.stdout
    assert 'modules the hook leaves loaded at start-up: _sfd_arch_hook\n' in out.stdout
    forward = os.path.join(REPO, 'scripts', 'startup_overhead.py')  # the old path runs the same script
    out = subprocess.run([sys.executable, forward, '--runs', '0'], cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 2 and '--runs must be at least 1' in out.stderr
    with pytest.raises(ValueError):
        startup_overhead(runs=0)
