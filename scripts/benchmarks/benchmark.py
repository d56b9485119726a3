"""Cost of SFD next to BasicSR's ESRGAN, and of SFD-IQA next to a bare CLIP pass and NIQE, in one process.

Training: BasicSR's ``ESRGANModel`` (train_ESRGAN_x4.yml: L1 1e-2, VGG19 conv5_4 perceptual, vanilla
relativistic GAN 5e-3 with a VGGStyleDiscriminator of input_size = GT size) and ``SFDModel`` (the same file
switched: ``model_type: SFDModel``, ``keep_image_d: false``, a ``clip:`` block; same G, same pixel and
perceptual losses), both built through ``basicsr.models.build_model`` and stepped with
``optimize_parameters`` on the same batch held in memory. Reported per model: median iteration time after
warm-up and peak memory; then the SFD / ESRGAN ratios.

With ``--amp bf16|fp16`` the same SFDModel is also timed with ``train.amp`` set (mixed precision; CPU: bf16),
beside fp32, and on CUDA the IQA part is autocast too.

IQA: SFD-IQA (``SFDIQA`` over live random-weight networks; batch 1 and 8), a bare forward pass of its CLIP
image encoder, and BasicSR's ``calculate_niqe``, on the same images (512x384 and the GT sizes); with
``--compile`` also SFD-IQA through ``torch.compile``.

Files: ``sfd-iqa score`` end to end (the command's ``main`` in this process: weights file, decoding in
``--workers`` DataLoader workers, tiling, batching, CSV) on a folder of 512x384 JPEG files, beside
``SFDIQA.score_tensor`` on the same images already decoded and held on the device.

    python scripts/benchmarks/benchmark.py --preset small                   # quick: tiny RRDB, tiny CLIP (< 3 min)
    python scripts/benchmarks/benchmark.py --preset paper --json bench.json # RRDBNet 64x23, CLIP RN50, GT 128 and 256
    python scripts/benchmarks/benchmark.py --preset paper --device cuda --amp bf16 --compile --json bench_cuda.json
    python scripts/benchmarks/benchmark.py --preset small --skip-train --skip-iqa --files 64 --workers 0 2  # decoding

Markdown tables go to stdout, progress to stderr. Random weights throughout (no download): the cost of a
network does not depend on its weights. See docs/benchmarks.md for how to read the numbers.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Any, Callable, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its modules, also when run through scripts/benchmark.py

from cost_presets import PRESETS  # noqa: E402  (plain data)


def _import_the_work() -> None:
    """torch, BasicSR and the cost modules, imported once the command line is parsed: ``--help`` and argument
    errors answer at once. The names are this module's globals, as top-level imports would make them."""
    global torch, AMP_DTYPES, IQA_IMAGES, IQA_SIZE, T0, VGG_FILE, log, machine_info, write_random_vgg19
    global run_files, run_iqa, run_training, _load, exit_status, growth, markdown, targets
    import torch
    from cost_common import (  # puts the checkout's package on the path first
        AMP_DTYPES,
        IQA_IMAGES,
        IQA_SIZE,
        T0,
        VGG_FILE,
        log,
        machine_info,
        write_random_vgg19,
    )
    from cost_iqa import run_files, run_iqa
    from cost_train import run_training

    from sfd_arch.tools.cost_targets import _load, exit_status, growth, markdown, targets


# ------------------------------------------------------------------------------------------------------------

def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', choices=sorted(PRESETS), default='small')
    p.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (cuda when present, else cpu)')
    p.add_argument('--iters', type=int, help='timed training iterations per model (preset default by device)')
    p.add_argument('--warmup', type=int, help='untimed training iterations first (preset default by device)')
    p.add_argument('--iqa-iters', type=int, help='timed calls per IQA measurement (preset default by device)')
    p.add_argument('--batch', type=int, help='training batch (paper: 4 on CPU, 16 on CUDA)')
    p.add_argument('--iqa-batches', type=int, nargs='+', help='images per SFD-IQA call (default 1 8; CUDA 1 8 64)')
    p.add_argument('--sizes', type=int, nargs='+',
                   help='GT patch sizes, 128 and/or 256 (paper: 128 256, small: 128); two sizes give the growth table')
    p.add_argument('--no-growth', action='store_true', help='only the first size: skip the 128 -> 256 growth')
    p.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='mixed precision: SFDModel with train.amp beside fp32 (CPU: bf16 only); on CUDA also the '
                        'IQA part and `sfd-iqa score --amp`')
    p.add_argument('--compile', action='store_true',
                   help='also time SFD-IQA with --compile (torch.compile; CUDA graphs on CUDA) and its score gap')
    p.add_argument('--files', type=int, help='JPEG files for the sfd-iqa score part (paper: 16 on CPU, 2048 on '
                                             'CUDA; small: 64 / 1024)')
    p.add_argument('--file-batch', type=int, help='--batch-size of that part (default 8 on CPU, 64 on CUDA)')
    p.add_argument('--workers', type=int, nargs='+', help='--workers values to time (default: 0 2 on CPU, 0 4 8 '
                                                          'on CUDA)')
    p.add_argument('--file-reps', type=int, default=2, help='timed runs of each file variant (default %(default)s)')
    p.add_argument('--files-input-only', action='store_true',
                   help='files part: time only the input pipeline (decode, tile, copy), no network')
    p.add_argument('--skip-train', action='store_true')
    p.add_argument('--skip-iqa', action='store_true')
    p.add_argument('--skip-files', action='store_true', help='skip the sfd-iqa score on JPEG files part')
    p.add_argument('--skip-niqe', action='store_true')
    p.add_argument('--json', metavar='PATH', help='also write the results as JSON')
    p.add_argument('--strict', action='store_true',
                   help='exit with status 2 when a target is NOT met (default: report the verdicts, exit 0)')
    p.add_argument('--workdir', help='where the temporary experiments/ folder goes (default: a temp dir)')
    return p.parse_args(argv)


def resolve(args: argparse.Namespace) -> tuple[torch.device, dict, dict]:
    """The device, the preset and the run's settings (the preset's values where no flag gives one); exits with a
    message on a combination that cannot run."""
    device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available() else
                          'cpu' if args.device == 'auto' else args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available here')
    if args.amp == 'fp16' and device.type != 'cuda':
        raise SystemExit('--amp fp16 needs CUDA (on the CPU use --amp bf16)')
    dev = device.type
    preset = copy.deepcopy(PRESETS[args.preset])
    sizes = args.sizes or preset['sizes']
    if args.no_growth:
        sizes = sizes[:1]
    bad = [s for s in sizes if s not in (128, 256)]
    if bad:
        raise SystemExit(f'--sizes {bad}: the ESRGAN baseline\'s VGGStyleDiscriminator takes 128 or 256 only')
    config = {'preset': args.preset, 'sizes': sizes, 'batch': args.batch or preset['batch'][dev],
              'iters': args.iters or preset['iters'][dev],
              'warmup': preset['warmup'][dev] if args.warmup is None else args.warmup,
              'iqa_iters': args.iqa_iters or preset['iqa_iters'][dev],
              'iqa_batches': args.iqa_batches or preset['iqa_batches'][dev], 'iqa_images': IQA_IMAGES,
              'iqa_size': list(IQA_SIZE), 'amp': args.amp, 'network_g': preset['network_g'],
              'compile': args.compile, 'files': args.files or preset['files'][dev],
              'file_batch': args.file_batch or preset['file_batch'][dev],
              'workers': args.workers or ([0, 2] if dev == 'cpu' else [0, 4, 8]),
              'clip': {k: v for k, v in preset['clip'].items() if k != 'model_cfg'},
              'clip_model_cfg': preset['clip'].get('model_cfg')}
    return device, preset, config


def run_parts(args: argparse.Namespace, preset: dict, config: dict, device: torch.device, workdir: str,
              result: dict, phase: Callable[[str, Callable[[], Any]], Any]) -> None:
    """The training, IQA and file parts that the flags leave in, each through ``phase``."""
    dev = device.type
    if not args.skip_train:
        log(f'random VGG19 weights for the perceptual loss in {osp.join(workdir, VGG_FILE)}')
        write_random_vgg19()
        result['train'] = phase('training', lambda: run_training(
            preset, config['sizes'], config['batch'], device, config['warmup'], config['iters'], workdir,
            args.amp)) or []
    if not args.skip_iqa:
        iqa_sizes = [IQA_SIZE] + [(s, s) for s in config['sizes']]
        amp = AMP_DTYPES.get(args.amp or '') if dev == 'cuda' else None  # the IQA part: autocast on CUDA
        out = phase('IQA', lambda: run_iqa(preset, iqa_sizes, config['iqa_batches'], device, config['iqa_iters'],
                                           amp, args.skip_niqe, args.compile))
        if out is not None:
            result['iqa'], result['extra'] = out
            _finish(result, config['sizes'], device)  # the IQA targets, before the file part runs
    if not args.skip_files:
        result['files'] = phase('files', lambda: run_files(
            preset, device, config['files'], config['file_batch'], config['workers'],
            args.amp if dev == 'cuda' else None, args.file_reps, workdir, args.files_input_only)) or []


def main(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    _import_the_work()
    device, preset, config = resolve(args)
    config['argv'] = sys.argv[1:] if argv is None else argv
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True  # as basicsr.train does
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    sizes = config['sizes']

    machine = machine_info(device)
    log(f"preset {args.preset} on {device} ({machine['device_name']}), {torch.get_num_threads()} threads, "
        f"load {_load(machine['loadavg_start'])}")
    # one-time lazy initialisation (thread pool, allocator, kernels) before anything is measured
    x = torch.randn(2, 8, 32, 32, device=device, requires_grad=True)
    torch.nn.functional.conv2d(x, torch.randn(8, 8, 3, 3, device=device)).sum().backward()
    del x
    if not args.skip_iqa:
        import sfd_arch.iqa  # noqa: F401  (fail now, not after the training part)

    cwd = os.getcwd()
    workdir = args.workdir or tempfile.mkdtemp(prefix='sfd_bench_')
    result: dict[str, Any] = {'machine': machine, 'config': config, 'train': [], 'iqa': [], 'files': [], 'extra': {},
                              'growth': [], 'targets': [], 'errors': []}

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        """Run one part; a failure is reported (and the other parts still run) instead of losing everything."""
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - reported in the output and the exit status
            log(f'{name} FAILED: {type(err).__name__}: {err}')
            result['errors'].append(f'{name}: {type(err).__name__}: {err}')
            return None
        finally:
            _finish(result, sizes, device)
            if args.json:
                _write_json(args.json, result)

    try:
        os.chdir(workdir)
        run_parts(args, preset, config, device, workdir, result, phase)
    finally:
        os.chdir(cwd)
        if not args.workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    _finish(result, sizes, device)
    print(markdown(result))
    if args.json:
        _write_json(args.json, result)
        log(f'wrote {args.json}')
    status, message = exit_status(result, args.strict)
    if status:
        log(message)
        raise SystemExit(status)
    return result


def _finish(result: dict, sizes: list[int], device: torch.device) -> None:
    result['machine']['loadavg_end'] = list(os.getloadavg()) if hasattr(os, 'getloadavg') else None
    result['growth'] = growth(result['train'], result['iqa'], sizes)
    result['targets'] = targets(result['train'], result['iqa'], result['extra'], device, result.get('files'))
    result['wall_s'] = time.perf_counter() - T0


def _write_json(path: str, result: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()

