"""scripts/benchmarks/gpu_check.py: says so where there is no GPU, and its steps run (tiny, on the CPU).

Run as a subprocess, as users run it (nothing loads a script by path).
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'scripts', 'benchmarks', 'gpu_check.py')


def _run(args: list, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'HF_HUB_OFFLINE': '1'}  # no GPU, even on a machine with one
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)


def test_without_a_gpu_it_exits_3_and_says_the_targets_stay_unmeasured(tmp_path):
    out = _run([], tmp_path)
    assert out.returncode == 3, out.stderr[-3000:]
    assert 'no CUDA GPU here' in out.stderr and '"not measured"' in out.stderr
    assert '--device cpu --dry-run' in out.stderr
    assert not out.stdout  # nothing that could be mistaken for a figure


@pytest.mark.slow
def test_dry_run_on_the_cpu_runs_every_part(tmp_path):
    """Training (ESRGAN, SFD fp32, SFD bf16), SFD-IQA and sfd-iqa score on JPEG files, each tiny."""
    out = _run(['--device', 'cpu', '--dry-run', '--json', str(tmp_path / 'check.json')], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith('CPU only') and '--amp bf16' in out.stdout and '--device cpu' in out.stdout
    result = json.loads((tmp_path / 'check.json').read_text())
    assert result['errors'] == []
    assert result['train'] and result['iqa'] and result['files']
