"""Commands answer before the heavy imports; the SFD classes still reach BasicSR whichever way BasicSR is reached.

``import sfd_arch`` is light and registration happens when BasicSR is imported (sfd_arch.registration,
docs/design.md §2). The help and argument-error tests read ``python -X importtime``: what a command imported, not
how long it took (scripts/benchmarks/command_startup.py measures the time).
"""
import argparse
import ast
import glob
import importlib
import importlib.util
import os
import subprocess
import sys

import pytest

from sfd_arch.utils.basicsr_cli import add_basicsr_arguments, wrapper_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = {'torch', 'basicsr', 'open_clip', 'cv2'}
CLI = 'import sys; from sfd_arch.cli import main; sys.exit(main())'
TRAIN = 'import sys; from sfd_arch.train import main; sys.exit(main())'
TEST = 'import sys; from sfd_arch.test import main; sys.exit(main())'
# every file under scripts/ that runs as a script (the cost_* modules are imported by benchmark.py)
SCRIPTS = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'scripts', '**', '*.py'),
                                                            recursive=True)
                 if '__main__' in open(p).read())


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'SFD_ARCH_NO_HOOK')}
    env.update({'PYTHONPATH': REPO, 'HF_HUB_OFFLINE': '1', **extra})
    return env


def imported(args: list, cwd, env: dict = None) -> tuple[subprocess.CompletedProcess, set]:
    """Run ``python -X importtime ARGS``; returns the process and the top-level packages it imported."""
    out = subprocess.run([sys.executable, '-X', 'importtime', *args], cwd=cwd, env=env or _env(), capture_output=True,
                         text=True, timeout=300)
    names = {line.split('|')[-1].strip().split('.')[0] for line in out.stderr.splitlines()
             if line.startswith('import time:') and '|' in line}
    return out, names


def test_importtime_reading_sees_a_heavy_import(tmp_path):
    """The reading below can fail: a command that imports cv2 is seen doing so."""
    out, names = imported(['-c', 'import cv2'], tmp_path)
    assert out.returncode == 0 and 'cv2' in names and 'torch' not in names


def test_scripts_are_all_listed():
    assert {'scripts/inference_sfd.py', 'scripts/compare.py', 'scripts/demo.py', 'scripts/plot/plot_results.py',
            'scripts/data_preparation/prepare_data.py', 'scripts/model_conversion/convert_rrdb_keys.py',
            'scripts/benchmarks/benchmark.py', 'scripts/benchmarks/command_startup.py'} <= set(SCRIPTS)


@pytest.mark.parametrize('args, expect', [
    (['-c', CLI, '--help'], 'usage: sfd-iqa'),
    (['-c', CLI, 'score', '--help'], '--weights'),
    (['-c', CLI, 'export', '--help'], '--overwrite'),
    (['-c', CLI, 'eval', '--help'], '--mos'),
    (['-c', CLI, 'bench', '--help'], '--protocol'),
    (['-c', TRAIN, '--help'], 'extra_keys'),
    (['-c', TEST, '--help'], 'extra_keys'),
] + [([script, '--help'], 'usage:') for script in SCRIPTS], ids=lambda v: v if isinstance(v, str) else ' '.join(v[-2:]))
def test_help_imports_no_heavy_module(args, expect, tmp_path):
    out, names = imported([os.path.join(REPO, a) if a.startswith('scripts/') else a for a in args], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout
    assert not names & HEAVY, f'{" ".join(args[-2:])} imported {sorted(names & HEAVY)}'


@pytest.mark.parametrize('args', [['--help'], ['score', '--help'], ['export', '--help']], ids=' '.join)
def test_sfd_iqa_lists_every_command_without_numpy(args, tmp_path):
    """``eval`` and ``bench`` read their choices from the dataset modules (numpy): ``sfd-iqa --help`` lists them by
    their help line and the other commands do not build them."""
    out, names = imported(['-c', CLI, *args], tmp_path)
    assert out.returncode == 0 and 'numpy' not in names, out.stderr[-2000:]
    if args == ['--help']:
        text = ' '.join(out.stdout.split())
        assert 'eval correlate scores of a folder with a MOS table' in text and 'bench the OU NR-IQA table' in text


@pytest.mark.parametrize('case, args, expect', [
    ('no command', ['-c', CLI], 'the following arguments are required'),
    ('no path', ['-c', CLI, 'score', '-w', 'w.pth'], 'the following arguments are required: PATH'),
    ('bad number', ['-c', CLI, 'score', 'img.png', '-w', 'w.pth', '--tile', 'x'], "invalid int value: 'x'"),
    ('output exists', ['-c', CLI, 'score', 'img.png', '-w', 'w.pth', '--csv', 'exists.csv'],
     'output exists: exists.csv'),
    ('weights not found', ['-c', CLI, 'score', 'img.png', '-w', 'none.pth'], 'weights file not found: none.pth'),
    ('sfd-train without -opt', ['-c', TRAIN], 'the following arguments are required: -opt'),
    ('sfd-train bad launcher', ['-c', TRAIN, '-opt', 'x.yml', '--launcher', 'mpi'], "invalid choice: 'mpi'"),
    ('sfd-train file not found', ['-c', TRAIN, '-opt', 'none.yml'], 'error: option file not found: none.yml'),
    ('sfd-test file not found', ['-c', TEST, '-opt', 'none.yml'], 'error: option file not found: none.yml'),
], ids=lambda v: v if isinstance(v, str) else None)
def test_argument_errors_and_missing_files_answer_before_heavy_imports(case, args, expect, tmp_path):
    (tmp_path / 'exists.csv').write_text('kept\n')
    (tmp_path / 'w.pth').write_bytes(b'not read')
    out, names = imported(args, tmp_path)
    assert out.returncode != 0 and expect in out.stderr, out.stderr[-2000:]
    assert not names & HEAVY, f'{case}: imported {sorted(names & HEAVY)}'
    assert (tmp_path / 'exists.csv').read_text() == 'kept\n'


def _basicsr_parse_options_arguments() -> dict:
    """``{option: keyword arguments}`` of the add_argument calls in BasicSR's parse_options, read from its source."""
    spec = importlib.util.find_spec('basicsr')  # finds the package without importing it
    path = os.path.join(spec.submodule_search_locations[0], 'utils', 'options.py')
    tree = ast.parse(open(path).read())
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == 'parse_options')
    calls = [n for n in ast.walk(func) if isinstance(n, ast.Call) and getattr(n.func, 'attr', '') == 'add_argument']
    # type=str / type=int name a builtin: kept as its name
    return {ast.literal_eval(c.args[0]): {k.arg: k.value.id if isinstance(k.value, ast.Name) else
                                          ast.literal_eval(k.value) for k in c.keywords} for c in calls}


def test_wrapper_parsers_have_basicsr_arguments_and_say_what_sfd_adds():
    """sfd-train / sfd-test parse exactly BasicSR's arguments (as its parse_options declares them) and their help
    says what the wrapper adds: the option check, extra_keys, where the docs are."""
    expected = _basicsr_parse_options_arguments()
    assert set(expected) == {'-opt', '--launcher', '--auto_resume', '--debug', '--local_rank', '--force_yml'}
    parser = argparse.ArgumentParser()
    add_basicsr_arguments(parser)
    ours = {a.option_strings[0]: a for a in parser._actions if a.option_strings and a.dest != 'help'}
    assert set(ours) == set(expected)
    for option, kwargs in expected.items():
        action = ours[option]
        for key, value in kwargs.items():
            if key == 'action':
                assert isinstance(action, argparse._StoreTrueAction)
            elif key == 'type':
                assert action.type.__name__ == value, option
            else:
                assert getattr(action, key) == (list(value) if key == 'choices' else value), (option, key)
    for kind in ('train', 'test'):
        text = wrapper_parser(kind, prog=f'sfd-{kind}').format_help()
        for words in ('the option file is checked', 'extra_keys:', 'docs/training.md "Option keys"', 'docs/tutorial.md',
                      "BasicSR's own arguments follow", '--force_yml', '--auto_resume', 'Path to option YAML file.'):
            assert words in ' '.join(text.split()), (kind, words)
    assert 'metrics.csv' in wrapper_parser('test').format_help()
    # sfd-test's own --model / --network_g / --iter (any generator), which BasicSR never sees
    test_options = {a.option_strings[0] for a in wrapper_parser('test')._actions if a.option_strings}
    assert {'--model', '--network_g', '--iter'} <= test_options
    assert wrapper_parser('test').parse_args(['-opt', 'x.yml', '--model', 'g.pth', '--iter', '5']).iter == 5
    assert not {'--model', '--network_g', '--iter'} & {a.option_strings[0] for a in wrapper_parser('train')._actions
                                                        if a.option_strings}


def test_public_names_are_imported_when_first_used():
    """``from sfd_arch import SFDModel`` and the other public names still work; unknown names are errors."""
    import sfd_arch
    import sfd_arch.iqa
    import sfd_arch.metrics

    for package in (sfd_arch, sfd_arch.iqa, sfd_arch.metrics):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
            assert name in dir(package)
        with pytest.raises(AttributeError, match='no attribute'):
            package.NoSuchName  # noqa: B018
    from sfd_arch import SFDModel
    from sfd_arch.models.sfd_model import SFDModel as defined

    assert SFDModel is defined and sfd_arch.iqa.SFDIQA.__module__ == 'sfd_arch.iqa.scorer'
    assert sfd_arch.iqa.metric.calculate_sfd_iqa is sfd_arch.calculate_sfd_iqa  # submodules as attributes


def test_hook_points_at_the_registration():
    """The checkout's hook (read, not imported: importing it would put a second finder in this process) names the
    function that registers."""
    from sfd_arch import registration

    tree = ast.parse(open(os.path.join(REPO, '_sfd_arch_hook.py')).read())
    value = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 and [t.id for t in n.targets if isinstance(t, ast.Name)] == ['REGISTER'])
    module, _, name = value.partition(':')
    assert getattr(importlib.import_module(module), name) is registration.on_basicsr_import


def test_every_registered_name_is_listed_in_the_registration():
    """No module of the package registers itself (a decorator would import BasicSR with the module): every name
    BasicSR finds is one entry of ``SFD_NAMES``, among them the released generator layout, spandrel's generators, the
    suffix-paired dataset and PIQE."""
    import re

    from sfd_arch import registration

    decorated = [p for p in glob.glob(os.path.join(REPO, 'sfd_arch', '**', '*.py'), recursive=True)
                 if re.search(r'^@\w+_REGISTRY\.register\(', open(p).read(), re.M)]
    assert decorated == []
    listed = {name: registry for registry, names in registration.SFD_NAMES.items() for name in names}
    for name, registry in (('KAIRRRDBNet', 'ARCH_REGISTRY'), ('SpandrelNet', 'ARCH_REGISTRY'),
                           ('SuffixPairedImageDataset', 'DATASET_REGISTRY'), ('calculate_piqe', 'METRIC_REGISTRY'),
                           ('calculate_psnr_pyiqa', 'METRIC_REGISTRY'), ('calculate_ssim_pyiqa', 'METRIC_REGISTRY')):
        assert listed.get(name) == registry, name


REGISTRIES = '''
import sys
from sfd_arch import registration
from basicsr.utils import registry
import basicsr.metrics.niqe as niqe, basicsr.train as train
for registry_name, names in registration.SFD_NAMES.items():
    for name, module in names.items():
        assert registry_name.startswith(('ARCH', 'DATASET', 'LOSS', 'MODEL', 'METRIC')), registry_name
        assert getattr(registry, registry_name).get(name) is getattr(sys.modules[module], name), name
# the patches, in their order: the exact resume wraps the weights-only resume-state loader
loader = train.load_resume_state
assert hasattr(niqe.estimate_aggd_param, '_basicsr') and loader._sfd_exact_resume
assert [c.cell_contents for c in loader.__closure__ if getattr(c.cell_contents, '_sfd_safe', False)], 'weights-only'
from basicsr.utils import options
assert options.parse_options._sfd_safe
print('ok')
'''


def test_import_without_hook_is_light_and_registers_when_basicsr_is_imported_from_inside(tmp_path):
    """No start-up hook (SFD_ARCH_NO_HOOK=1, as an editable install): ``import sfd_arch`` imports none of the heavy
    packages; ``from sfd_arch import SFDModel`` imports BasicSR from inside the package, which postpones the
    registration to BasicSR's first lookup; then every SFD name is in its registry and the compatibility patches
    are applied."""
    code = ('import sys\nimport sfd_arch\n'
            'assert not {"torch", "basicsr", "open_clip", "cv2", "numpy"} & set(sys.modules), sorted(sys.modules)\n'
            'from sfd_arch import SFDModel\n'
            'from sfd_arch import registration\n'
            'from basicsr.utils.registry import ARCH_REGISTRY\n'
            'print("pending", not registration._State.registered, "FeatD" not in ARCH_REGISTRY._obj_map)\n'
            + REGISTRIES)
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=_env(SFD_ARCH_NO_HOOK='1'),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['pending', 'True', 'True', 'ok']


@pytest.mark.slow
def test_basicsr_entry_point_registers_at_once_with_the_hook(tmp_path):
    """With the start-up hook, ``import basicsr`` alone (``python -m basicsr.train``, a clone's train.py) fills the
    registries right after BasicSR has loaded: the names are there before any lookup."""
    code = ('import basicsr\nfrom basicsr.utils.registry import MODEL_REGISTRY\n'
            'print("at once", "SFDModel" in MODEL_REGISTRY._obj_map)\n' + REGISTRIES)
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['at', 'once', 'True', 'ok']


def test_import_without_hook_adds_sfd_iqa_to_pyiqa_before_or_after(tmp_path):
    """No start-up hook: ``import sfd_arch`` adds ``sfd_iqa`` to a pyiqa imported before it at once, and to one
    imported after it as soon as that has loaded (a stand-in pyiqa: its config dict and a lazy ARCH registry)."""
    pkg = tmp_path / 'pyiqa'
    (pkg / 'utils').mkdir(parents=True)
    (pkg / '__init__.py').write_text('from . import default_model_configs, utils\n')
    (pkg / 'default_model_configs.py').write_text('DEFAULT_CONFIGS = {}\n')
    (pkg / 'utils' / '__init__.py').write_text('from . import registry\n')
    (pkg / 'utils' / 'registry.py').write_text(
        'class Registry:\n    _obj_map, _lazy_map = {}, {}\n'
        '    def register_lazy(self, name, path):\n        self._lazy_map[name] = path\n'
        'ARCH_REGISTRY = Registry()\n')
    check = ('from pyiqa.default_model_configs import DEFAULT_CONFIGS\n'
             'from pyiqa.utils.registry import ARCH_REGISTRY\n'
             'print("sfd_iqa" in DEFAULT_CONFIGS, ARCH_REGISTRY._lazy_map.get("SFDIQANet"), "torch" in sys.modules)\n')
    env = _env(SFD_ARCH_NO_HOOK='1', PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}')
    for first, second in (('pyiqa', 'sfd_arch'), ('sfd_arch', 'pyiqa')):
        out = subprocess.run([sys.executable, '-c', f'import sys\nimport {first}\nimport {second}\n' + check],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.split() == ['True', 'sfd_arch.iqa.pyiqa_plugin:SFDIQANet', 'False'], (first, out.stdout)


@pytest.mark.slow
def test_command_startup_benchmark_reports_and_enforces_its_targets(tmp_path):
    """scripts/benchmarks/command_startup.py: a row per case against python -c pass, exit 1 when a case is above
    its limit."""
    script = os.path.join(REPO, 'scripts', 'benchmarks', 'command_startup.py')
    out = subprocess.run([sys.executable, script, '--runs', '1', '--only', 'usage', '--help-limit', '1000'],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert 'median of 1 run(s) each; python -c pass:' in out.stdout
    assert 'sfd-iqa score: output exists' in out.stdout and '0 case(s) missed' in out.stdout
    out = subprocess.run([sys.executable, script, '--runs', '1', '--only', 'usage', '--help-limit', '-1000'],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 1 and 'SLOWER THAN THE TARGET' in out.stdout
