#!/usr/bin/env python
"""The GPU checks of docs/benchmarks.md in one run, with the card they ran on.

    python scripts/benchmarks/gpu_check.py --json gpu_check.json     # on a machine with a CUDA GPU
    python scripts/benchmarks/gpu_check.py --device cpu --dry-run    # the same steps, tiny, on the CPU

One ``scripts/benchmarks/benchmark.py`` run (preset ``paper``, one GT size) with what the CUDA targets need: the
training step of ESRGAN and SFD at fp32 and SFD with ``train.amp: bf16`` (time and peak memory), ``sfd-iqa score``
files/s on generated 512x384 JPEGs (``--workers 0 4 8``), and SFD-IQA through ``--compile`` at batches 1, 2, 4
and 8 beside eager. Printed first: the card's name, its memory, torch and CUDA versions; then the benchmark's
tables. Paste both into docs/benchmarks.md.

Without a CUDA GPU it exits with status 3 and says so, unless ``--device cpu`` asks for the CPU on purpose;
``--dry-run`` shrinks every part (preset ``small``, one iteration, a few files, no ``--compile``, whose CPU
compilation takes minutes) so that the steps run anywhere in a minute or two.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

NO_GPU = 3
BENCHMARK = Path(__file__).resolve().with_name('benchmark.py')
FULL = ['--preset', 'paper', '--no-growth', '--amp', 'bf16', '--compile', '--iqa-batches', '1', '2', '4', '8',
        '--files', '2048', '--workers', '0', '4', '8']
DRY = ['--preset', 'small', '--no-growth', '--amp', 'bf16', '--iters', '1', '--warmup', '0', '--iqa-iters', '1',
       '--iqa-batches', '1', '--files', '2', '--file-batch', '2', '--workers', '0', '--file-reps', '1', '--skip-niqe']


def card(device: str) -> str:
    """One line naming what the checks ran on (the card, its memory, torch, CUDA), or '' without CUDA."""
    import torch

    if device == 'cpu' or not torch.cuda.is_available():
        return ''
    index = torch.device(device).index or 0
    props = torch.cuda.get_device_properties(index)
    return (f'GPU: {props.name}, {props.total_memory / 2 ** 30:.0f} GiB, compute capability {props.major}.'
            f'{props.minor}; torch {torch.__version__}, CUDA {torch.version.cuda}')


def benchmark_argv(device: str, dry_run: bool, json_path: str | None) -> list[str]:
    """The benchmark.py command line of this check."""
    argv = [sys.executable, str(BENCHMARK), *(DRY if dry_run else FULL), '--device', device]
    return argv + (['--json', json_path] if json_path else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda', help='cuda (default), cuda:N, or cpu (on purpose, with --dry-run)')
    parser.add_argument('--dry-run', action='store_true', help='every part tiny: checks the steps, measures nothing')
    parser.add_argument('--json', metavar='PATH', help="also write benchmark.py's results as JSON")
    args = parser.parse_args(argv)
    line = card(args.device)
    if not line and args.device != 'cpu':
        print(f'gpu_check: no CUDA GPU here (torch sees none for --device {args.device}); the GPU targets of '
              'docs/benchmarks.md stay "not measured". Run this on a machine with a GPU, or use --device cpu '
              '--dry-run to check the steps.', file=sys.stderr)
        return NO_GPU
    print(line or f'CPU only ({os.cpu_count()} cores): {"dry run, " if args.dry_run else ""}no GPU figure',
          flush=True)
    command = benchmark_argv(args.device, args.dry_run, args.json)
    print('$ ' + ' '.join(command[1:]), flush=True)
    return subprocess.run(command).returncode


if __name__ == '__main__':
    sys.exit(main())
