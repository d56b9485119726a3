"""`make test` cleans up after itself: a passing run leaves no test folders, and no subprocess's temporary files
(torchrun's ``torchelastic_*``) in the temporary folder (pyproject.toml's retention settings, tests/conftest.py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SAMPLE = '''
import os
import subprocess
import sys
import tempfile


def test_writes_a_large_file_and_a_subprocess_temp_folder(tmp_path):
    (tmp_path / 'round_trip.bin').write_bytes(bytes(5_000_000))
    made = subprocess.run([sys.executable, '-c', 'import tempfile; print(tempfile.mkdtemp(prefix="torchelastic_"))'],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.isdir(made) and os.path.commonpath([made, tempfile.gettempdir()]) == tempfile.gettempdir()
'''


def test_a_passing_run_leaves_nothing_in_the_temporary_folder(tmp_path):
    suite = tmp_path / 'suite'
    (suite / 'tests').mkdir(parents=True)
    shutil.copy(REPO / 'pyproject.toml', suite)
    shutil.copy(REPO / 'tests' / 'conftest.py', suite / 'tests')
    (suite / 'tests' / 'test_sample.py').write_text(SAMPLE)
    temp = tmp_path / 'temp'
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    run = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], cwd=suite, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    left = [p for p in temp.rglob('*') if p.is_file()]
    assert left == [], left
    assert not list(temp.rglob('torchelastic_*'))
