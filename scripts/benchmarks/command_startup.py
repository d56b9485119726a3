#!/usr/bin/env python
"""How long each command makes its user wait before it answers, against a bare interpreter on the same machine.

    python scripts/benchmarks/command_startup.py               # every case, median of 5 runs each
    python scripts/benchmarks/command_startup.py --runs 9 --only help

Every case is a fresh ``python`` process running this checkout (``PYTHONPATH`` = the checkout, as the tests run
it; the console scripts are called as their entry points are, ``from sfd_arch.cli import main; main()``):

* **help**: ``--help`` of ``sfd-iqa`` and each subcommand, ``sfd-train``, ``sfd-test`` and every script under
  ``scripts/``; target: the median within ``--help-limit`` (0.3 s) of the median of ``python -c pass``.
* **usage**: argument errors and the messages that need no work ("output exists", "weights file not found",
  "option file not found"); same target. Each case checks its exit status and message, so a case that
  answered for the wrong reason is reported as such.
* **score**: ``sfd-iqa score`` of one 256 px image with a tiny random CLIP (the workload is nothing; what is
  timed is what the command loads): seconds from the start of the process until its first row is in the CSV
  file, against ``python -c "import torch"``; target: within ``--score-limit`` (3 s).

The machine may be busy: the cases are run in rounds (each round runs every case once), so load that comes and
goes touches every case alike, and the medians are reported. Exit status 1 when a target is missed or a case
did not answer as expected.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI = 'import sys; from sfd_arch.cli import main; sys.exit(main())'
TRAIN = 'import sys; from sfd_arch.train import main; sys.exit(main())'
TEST = 'import sys; from sfd_arch.test import main; sys.exit(main())'
SCRIPTS = ('inference_sfd.py', 'compare.py', 'demo.py', 'switch_to_sfd.py', 'plot/plot_results.py',
           'plot/method_figure.py', 'data_preparation/prepare_data.py', 'data_preparation/make_toy_data.py',
           'model_conversion/convert_rrdb_keys.py', 'benchmarks/benchmark.py', 'benchmarks/gpu_check.py',
           'benchmarks/option_check.py', 'benchmarks/padding_cost.py',
           'benchmarks/startup_overhead.py', 'benchmarks/time_iqa.py', 'benchmarks/time_metrics.py',
           'benchmarks/command_startup.py')

# run in a child process once: a tiny SFD-IQA weights file (random CLIP saved beside it) and a 256 px image
MAKE_WORKLOAD = '''
import sys, numpy as np, cv2, torch
from sfd_arch.archs.clip_arch import build_clip
from sfd_arch.archs.featd_arch import FeatD
from sfd_arch.archs.prompt_learner_arch import PromptLearner
from sfd_arch.iqa.scorer import SFDIQA
folder = sys.argv[1]
text = {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}
cfg = {'embed_dim': 64, 'vision_cfg': {'image_size': 64, 'layers': [1, 1, 1, 1], 'width': 8, 'patch_size': None},
       'text_cfg': text}
opt = {'model': 'tiny-RN', 'model_cfg': cfg, 'pretrained': None, 'layers': ['layer1', 'layer2', 'layer3']}
torch.manual_seed(0)
torch.save(build_clip(opt).clip_model.state_dict(), folder + '/tiny_clip.pt')
clip = build_clip({**opt, 'pretrained': folder + '/tiny_clip.pt'})
SFDIQA(clip, FeatD(clip=clip, num_feat=16, depth=1), PromptLearner(clip=clip, n_ctx=4)).save(folder + '/w.pth')
rng = np.random.default_rng(0)
cv2.imwrite(folder + '/img.png', cv2.resize(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), (256, 256)))
'''


@dataclass
class Case:
    group: str  # help, usage, score, or base (the references)
    name: str
    argv: list
    expect_rc: Optional[int] = 0  # None: any
    expect_text: str = ''  # must appear in stdout + stderr
    first_row: Optional[str] = None  # score: time until this CSV file holds a row
    seconds: list = field(default_factory=list)
    problem: str = ''

    def run(self, env: dict, cwd: str) -> None:
        if self.first_row and osp.exists(self.first_row):
            os.remove(self.first_row)
        start = time.perf_counter()
        proc = subprocess.Popen(self.argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        first = None
        if self.first_row:
            while proc.poll() is None and first is None:
                if _has_row(self.first_row):
                    first = time.perf_counter() - start
                else:
                    time.sleep(0.005)
        out, err = proc.communicate()
        elapsed = time.perf_counter() - start
        if self.first_row and first is None and _has_row(self.first_row):
            first = elapsed  # written in the last few milliseconds
        if self.expect_rc is not None and proc.returncode != self.expect_rc:
            self.problem = f'exit status {proc.returncode}, expected {self.expect_rc}: {(err or out)[-300:]!r}'
        elif self.expect_text and self.expect_text not in out + err:
            self.problem = f'{self.expect_text!r} not in its output: {(err or out)[-300:]!r}'
        elif self.first_row and first is None:
            self.problem = f'no row written to {self.first_row}'
        self.seconds.append(first if self.first_row else elapsed)


def _has_row(path: str) -> bool:
    # the header and one whole row: the command writes and flushes each row with its newline
    try:
        with open(path) as f:
            return f.read().count('\n') >= 2
    except OSError:
        return False


def cases(python: str, work: str) -> list[Case]:
    py = [python]
    weights, image, csv = osp.join(work, 'w.pth'), osp.join(work, 'img.png'), osp.join(work, 'exists.csv')
    out = [Case('base', 'python -c pass', py + ['-c', 'pass']),
           Case('base', 'python -c "import torch"', py + ['-c', 'import torch'])]
    for sub in ('', 'score', 'export', 'eval', 'bench'):
        out.append(Case('help', f'sfd-iqa {sub} --help'.replace('  ', ' '), py + ['-c', CLI] + ([sub] if sub else [])
                        + ['--help'], expect_text='usage: sfd-iqa'))
    out.append(Case('help', 'sfd-train --help', py + ['-c', TRAIN, '--help'], expect_text='-opt'))
    out.append(Case('help', 'sfd-test --help', py + ['-c', TEST, '--help'], expect_text='-opt'))
    for script in SCRIPTS:
        out.append(Case('help', f'scripts/{script} --help', py + [osp.join(REPO, 'scripts', script), '--help'],
                        expect_text='usage:'))
    out += [
        Case('usage', 'sfd-iqa (no command)', py + ['-c', CLI], expect_rc=2, expect_text='required'),
        Case('usage', 'sfd-iqa score (no path)', py + ['-c', CLI, 'score', '-w', weights], expect_rc=2,
             expect_text='required'),
        Case('usage', 'sfd-iqa score --tile x', py + ['-c', CLI, 'score', image, '-w', weights, '--tile', 'x'],
             expect_rc=2, expect_text='invalid int value'),
        Case('usage', 'sfd-iqa score: output exists', py + ['-c', CLI, 'score', image, '-w', weights, '--csv', csv],
             expect_rc=2, expect_text='output exists'),
        Case('usage', 'sfd-iqa score: weights not found',
             py + ['-c', CLI, 'score', image, '-w', osp.join(work, 'none.pth')], expect_rc=2,
             expect_text='weights file not found'),
        Case('usage', 'sfd-iqa export (no output)', py + ['-c', CLI, 'export', 'experiments/x'], expect_rc=2,
             expect_text='required'),
        Case('usage', 'sfd-train (no -opt)', py + ['-c', TRAIN], expect_rc=2, expect_text='-opt'),
        Case('usage', 'sfd-train: option file not found', py + ['-c', TRAIN, '-opt', osp.join(work, 'none.yml')],
             expect_rc=None, expect_text='none.yml'),
        Case('usage', 'sfd-test: option file not found', py + ['-c', TEST, '-opt', osp.join(work, 'none.yml')],
             expect_rc=None, expect_text='none.yml'),
        Case('usage', 'inference_sfd.py (no input)', py + [osp.join(REPO, 'scripts', 'inference_sfd.py')],
             expect_rc=2, expect_text='required'),
        Case('usage', 'compare.py (no option file)', py + [osp.join(REPO, 'scripts', 'compare.py')], expect_rc=2,
             expect_text='required'),
        Case('score', 'sfd-iqa score: first row', py + ['-c', CLI, 'score', image, '-w', weights, '--csv',
                                                       osp.join(work, 'rows.csv'), '--overwrite', '--no-progress'],
             first_row=osp.join(work, 'rows.csv')),
    ]
    return out


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=5, help='rounds; the median of each case is reported '
                                                             '(default %(default)s)')
    parser.add_argument('--only', choices=['help', 'usage', 'score'], nargs='+',
                        help='only these groups (the two references always run)')
    parser.add_argument('--help-limit', type=float, default=0.3,
                        help='seconds above python -c pass allowed to --help and usage errors (default %(default)s)')
    parser.add_argument('--score-limit', type=float, default=3.0,
                        help='seconds above python -c "import torch" allowed to the first scored row '
                             '(default %(default)s)')
    parser.add_argument('--python', default=sys.executable, help='the interpreter (default: this one)')
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHONPATH=REPO, HF_HUB_OFFLINE='1', OMP_NUM_THREADS=env.get('OMP_NUM_THREADS', '1'))
    with tempfile.TemporaryDirectory(prefix='sfd_startup_') as work:
        made = subprocess.run([args.python, '-c', MAKE_WORKLOAD, work], env=env, capture_output=True, text=True)
        if made.returncode != 0:
            print(f'could not make the workload:\n{made.stderr[-2000:]}', file=sys.stderr)
            return 1
        open(osp.join(work, 'exists.csv'), 'w').close()
        todo = [c for c in cases(args.python, work) if c.group == 'base' or not args.only or c.group in args.only]
        for r in range(args.runs):
            for case in todo:
                case.run(env, work)
            print(f'round {r + 1}/{args.runs} done', file=sys.stderr)
    return report(todo, args)


def report(todo: list[Case], args: argparse.Namespace) -> int:
    median = {c.name: statistics.median(c.seconds) for c in todo}
    bare, torch_ = median['python -c pass'], median['python -c "import torch"']
    print(f'median of {args.runs} run(s) each; python -c pass: {bare:.3f} s, python -c "import torch": {torch_:.3f} s')
    print(f'{"case":50} {"median s":>9} {"- ref s":>8} {"x ref":>6} {"limit":>6}  result')
    failed = 0
    for c in todo:
        if c.group == 'base':
            continue
        ref, limit = (torch_, args.score_limit) if c.group == 'score' else (bare, args.help_limit)
        extra = median[c.name] - ref
        ok = extra <= limit and not c.problem
        failed += not ok
        verdict = 'ok' if ok else (c.problem or 'SLOWER THAN THE TARGET')
        print(f'{c.name:50} {median[c.name]:9.3f} {extra:8.3f} {median[c.name] / ref:6.2f} {limit:6.2f}  {verdict}')
    print(f'reference of help/usage: python -c pass; of score: python -c "import torch". {failed} case(s) missed.')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
