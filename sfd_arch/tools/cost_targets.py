"""The verdicts and the markdown report of the cost benchmark (``scripts/benchmarks/benchmark.py``).

Pure functions over the measured rows (dicts), kept apart from the measuring so that the targets can be read
and tested without running a network: SFD's training cost next to ESRGAN's, SFD-IQA's next to a bare CLIP
pass, and ``sfd-iqa score`` on files next to the same images held in memory.
"""
from __future__ import annotations

from typing import Optional

import torch

IQA_SIZE = (512, 384)  # W x H of the SFD-IQA targets
TARGET_TIME, TARGET_MEMORY, TARGET_IQA, TARGET_IPS = 1.10, 1.25, 1.15, 1000.0
TARGET_AMP_TIME = 0.60  # CUDA: SFD with train.amp at most this times ESRGAN's fp32 iteration
TARGET_FILES_RATIO, TARGET_FILES_PER_S = 0.90, 1500.0  # CUDA: end to end vs in memory; files/s with bf16


def _verdict(ok: bool) -> str:
    return 'met' if ok else 'NOT met'


def _ms(s: Optional[float]) -> str:
    return 'n/a' if s is None else f'{s * 1e3:.1f}'


def targets(train: list[dict], iqa: list[dict], extra: dict, device: torch.device,
            files: Optional[list[dict]] = None) -> list[dict]:
    out = []
    for size in sorted({r['gt_size'] for r in train}):
        e = next(r for r in train if r['gt_size'] == size and r['model'] == 'ESRGANModel')
        s = next(r for r in train if r['gt_size'] == size and r['model'] == 'SFDModel')
        ratio = s['median_s'] / e['median_s']
        out.append({'target': f'SFD iteration time <= {TARGET_TIME:.2f}x ESRGAN (GT {size})', 'ratio': ratio,
                    'limit': TARGET_TIME, 'met': ratio <= TARGET_TIME})
        ratio = s['peak_mib'] / e['peak_mib']
        out.append({'target': f'SFD peak memory <= {TARGET_MEMORY:.2f}x ESRGAN (GT {size})', 'ratio': ratio,
                    'limit': TARGET_MEMORY, 'met': ratio <= TARGET_MEMORY})
        mixed = next((r for r in train if r['gt_size'] == size and r.get('amp')), None)
        if mixed is not None:
            ratio = mixed['median_s'] / e['median_s']
            if device.type == 'cuda':
                out.append({'target': f'SFD with train.amp: {mixed["amp"]} <= {TARGET_AMP_TIME:.2f}x ESRGAN fp32 '
                                      f'iteration time (GT {size})', 'ratio': ratio, 'limit': TARGET_AMP_TIME,
                            'met': ratio <= TARGET_AMP_TIME})
            else:
                out.append({'target': f'SFD with train.amp: {mixed["amp"]} / ESRGAN fp32 iteration time (GT {size}; '
                                      'CPU, reported)', 'ratio': ratio, 'met': None})
            out.append({'target': f'SFD with train.amp: {mixed["amp"]} / SFD fp32 iteration time (GT {size}; '
                                  'reported)', 'ratio': mixed['median_s'] / s['median_s'], 'met': None})
    label = f'{IQA_SIZE[0]}x{IQA_SIZE[1]}'
    at_size = [r for r in iqa if r['size'] == label]
    for prec in sorted({r['precision'] for r in at_size if r['what'].startswith('SFD-IQA')}):
        for b in sorted({r['batch'] for r in at_size if r['precision'] == prec}):
            rows = {r['what']: r for r in at_size if r['precision'] == prec and r['batch'] == b}
            sfd = next(r for w, r in rows.items() if w.endswith('default)'))
            bare = rows['CLIP image encoder, whole image']
            ratio = sfd['s_per_image'] / bare['s_per_image']
            out.append({'target': f'SFD-IQA per {label} image <= {TARGET_IQA:.2f}x bare CLIP forward '
                                  f'({prec}, batch {b})', 'ratio': ratio, 'limit': TARGET_IQA,
                        'met': ratio <= TARGET_IQA})
    sfd_rows = [r for r in at_size if r['what'].endswith('default)')]
    if device.type == 'cuda' and sfd_rows:
        best = max(sfd_rows, key=lambda r: r['images_per_s'])
        out.append({'target': f'SFD-IQA >= {TARGET_IPS:.0f} images/s at {label} (CUDA; best: {best["precision"]}, '
                              f'batch {best["batch"]})', 'ratio': best['images_per_s'] / TARGET_IPS,
                    'value': best['images_per_s'], 'limit': 1.0, 'met': best['images_per_s'] >= TARGET_IPS})
    for prec in sorted({r['precision'] for r in at_size if r['what'] == 'SFD-IQA --compile'}):
        for b in sorted({r['batch'] for r in at_size if r['what'] == 'SFD-IQA --compile' and r['precision'] == prec}):
            rows = {r['what']: r for r in at_size if r['precision'] == prec and r['batch'] == b}
            ratio = rows['SFD-IQA --compile']['s_per_image'] / rows['CLIP image encoder, whole image']['s_per_image']
            out.append({'target': f'SFD-IQA --compile per {label} image <= {TARGET_IQA:.2f}x bare CLIP forward '
                                  f'({prec}, batch {b})', 'ratio': ratio, 'limit': TARGET_IQA,
                        'met': ratio <= TARGET_IQA})
    if 'compile_max_abs_score_diff' in extra:
        out.append({'target': '--compile: max abs(score - eager fp32 score) <= 1e-3', 'ratio': None, 'limit': 1e-3,
                    'value': extra['compile_max_abs_score_diff'], 'met': extra['compile_max_abs_score_diff'] <= 1e-3})
    out += file_targets(files or [], device)
    if 'amp_max_abs_score_diff' in extra:
        out.append({'target': f'{extra["amp"]} autocast: max abs(score - fp32 score) (informational)',
                    'value': extra['amp_max_abs_score_diff'], 'ratio': None, 'limit': None, 'met': None})
    return out


def file_targets(files: list[dict], device: torch.device) -> list[dict]:
    """Verdicts of ``sfd-iqa score`` on files: workers not slower on the CPU; on CUDA, near in-memory speed."""
    out: list[dict] = []
    memory = next((r for r in files if r.get('kind', 'memory') == 'memory' and r['workers'] is None), None)
    command = {r['workers']: r for r in files if r['workers'] is not None}
    if memory is None or not command:
        return out
    label = f"{memory['size']} JPEG"
    if device.type == 'cpu' and 0 in command:
        for w, row in sorted(command.items()):
            if w > 0:
                ratio = row['median_s'] / command[0]['median_s']
                out.append({'target': f'sfd-iqa score --workers {w} not slower than --workers 0 ({label}; time ratio)',
                            'ratio': ratio, 'limit': 1.0, 'met': ratio <= 1.0})
    best = max(command.values(), key=lambda r: r['per_s'])
    ratio = best['per_s'] / memory['per_s']
    out.append({'target': f"sfd-iqa score end to end >= {TARGET_FILES_RATIO:.2f}x in-memory images/s ({label}, "
                          f"{best['precision']}, best: --workers {best['workers']})", 'ratio': ratio,
                'limit': TARGET_FILES_RATIO, 'met': ratio >= TARGET_FILES_RATIO if device.type == 'cuda' else None})
    if device.type == 'cuda':
        out.append({'target': f"sfd-iqa score >= {TARGET_FILES_PER_S:.0f} files/s ({label}, {best['precision']})",
                    'value': best['per_s'], 'ratio': best['per_s'] / TARGET_FILES_PER_S, 'limit': 1.0,
                    'met': best['per_s'] >= TARGET_FILES_PER_S and best['precision'] == 'bf16'})
    return out


def growth(train: list[dict], iqa: list[dict], sizes: list[int]) -> list[dict]:
    if len(sizes) < 2:
        return []
    lo, hi = sizes[0], sizes[-1]
    pixel_ratio = (hi / lo) ** 2
    out = []
    for model in ('ESRGANModel', 'SFDModel') if train else ():
        a = next(r for r in train if r['gt_size'] == lo and r['model'] == model)
        b = next(r for r in train if r['gt_size'] == hi and r['model'] == model)
        out.append({'cost': f'{model} iteration time (s)', 'lo': a['median_s'], 'hi': b['median_s']})
        out.append({'cost': f'{model} peak memory (MiB)', 'lo': a['peak_mib'], 'hi': b['peak_mib']})
    for what in sorted({r['what'] for r in iqa}, key=lambda w: (not w.startswith('SFD'), w)):
        for prec in sorted({r['precision'] for r in iqa if r['what'] == what}):
            for b in sorted({r['batch'] for r in iqa if r['what'] == what and r['precision'] == prec}):
                pick = {r['size']: r for r in iqa if r['what'] == what and r['precision'] == prec and r['batch'] == b}
                a, c = pick.get(f'{lo}x{lo}'), pick.get(f'{hi}x{hi}')
                if a is None or c is None:
                    continue
                out.append({'cost': f'{what}, {prec}, batch {b} (s/image)', 'lo': a['s_per_image'],
                            'hi': c['s_per_image']})
    for row in out:
        row['growth'] = row['hi'] / row['lo'] if row['lo'] and row['hi'] else None
        row['pixel_ratio'] = pixel_ratio
    return out


def _targets_markdown(result: dict) -> list[str]:
    """The section of targets and verdicts; a verdict of ``None`` is a figure reported without a target."""
    lines: list[str] = []
    lines += ['### Targets', '']
    if result['config']['preset'] != 'paper':
        lines += ['The targets are set for the paper preset. With the small preset\'s tiny CLIP, Feat-D\'s heads '
                  '(64 channels) cost as much as the backbone, so the SFD-IQA ratio here says little.', '']
    lines += ['| target | ratio / value | verdict |', '| --- | ---: | --- |']
    for t in result['targets']:
        if t['met'] is None and t.get('value') is not None:
            lines.append(f"| {t['target']} | {t['value']:.2e} | - |")
        elif t['met'] is None:
            lines.append(f"| {t['target']} | {t['ratio']:.2f}x | reported |")
        elif t.get('value') is not None and t.get('ratio') is None:
            lines.append(f"| {t['target']} | {t['value']:.2e} | {_verdict(t['met'])} |")
        elif 'value' in t:
            lines.append(f"| {t['target']} | {t['value']:.0f} images/s | {_verdict(t['met'])} |")
        else:
            lines.append(f"| {t['target']} | {t['ratio']:.2f}x | {_verdict(t['met'])} |")
    lines.append('')
    return lines


def unmet(result: dict) -> list[str]:
    """The targets of ``result`` judged and not met (a reported figure, verdict ``None``, is never one)."""
    return [t['target'] for t in result.get('targets') or [] if t.get('met') is False]


def exit_status(result: dict, strict: bool = False) -> tuple[int, str]:
    """``(status, message)`` of a finished run: 1 when a part failed; with ``strict`` (``--strict``, for CI and
    ``make bench STRICT=1``) 2 when a target is not met; else 0. A plain run exits 0 on unmet targets: on a
    shared or small machine the verdicts are a report, not a failure of the code."""
    if result.get('errors'):
        return 1, 'failed: ' + '; '.join(result['errors'])
    missed = unmet(result)
    if strict and missed:
        return 2, 'targets NOT met: ' + '; '.join(missed)
    return 0, ''


def markdown(result: dict) -> str:
    """The whole report in markdown (stdout and docs/benchmarks.md): machine, tables, growth, targets."""
    m, cfg = result['machine'], result['config']
    lines = [f"## SFD benchmark: preset `{cfg['preset']}` on {m['device']} ({m['device_name']})", '',
             f"{m['date']}; CPU {m['cpu']}, {m['cpus_usable']} usable cores, {m['torch_threads']} torch threads; "
             f"torch {m['torch']}, basicsr {m['basicsr']}, open_clip {m['open_clip']}, Python {m['python']}; "
             f"load average {_load(m.get('loadavg_start'))} at start, {_load(m.get('loadavg_end'))} at end.", '',
             f"Generator {_net(cfg['network_g'])}; CLIP {cfg['clip'].get('model')} (random weights); batch "
             f"{cfg['batch']}; {cfg['warmup']} warm-up + {cfg['iters']} timed iterations per model.", '']
    if result['train']:
        lines += ['### Training iteration (same G, batch and patch; data in memory)', '',
                  '| GT | model | median s/iter | min s/iter | images/s | peak memory MiB | resident MiB | build s |',
                  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
        for r in result['train']:
            lines.append(f"| {r['gt_size']} | {r['model']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
                         f"{r['images_per_s']:.2f} | {r['peak_mib']:.0f} | {r['resident_mib']:.0f} | "
                         f"{r['build_s']:.1f} |")
        lines += ['', _memory_note(result), '']
    if result['iqa']:
        lines += ['### SFD-IQA, bare CLIP image encoder, NIQE (per image, same images)', '',
                  '| image WxH | what | precision | batch | crops/image | ms/image | images/s |',
                  '| --- | --- | --- | ---: | ---: | ---: | ---: |']
        for r in result['iqa']:
            ips = 'n/a' if r.get('images_per_s') is None else f"{r['images_per_s']:.1f}"
            ms = _ms(r.get('s_per_image')) if not r.get('error') else 'n/a (too small)'
            lines.append(f"| {r['size']} | {r['what']} | {r['precision']} | {r['batch']} | {r['crops_per_image']} | "
                         f'{ms} | {ips} |')
        tile = result['extra'].get('tile')
        lines += ['', f'SFD-IQA as built by default cuts an image larger than its tile ({tile} px) into equal crops '
                  '(crops/image; more crops than the image\'s area needs when they overlap); "tile 0" always scores '
                  'the whole image in one pass. "CLIP image encoder" is the bare `build_clip` extractor (taps and '
                  'embedding, no Feat-D/LPP) on the whole image or on the same crops. NIQE runs on the CPU whatever '
                  'the device; "too small": NIQE needs room for 96x96 blocks at two scales.', '']
    if result.get('files'):
        files = result['files']
        memory = next((r for r in files if r.get('kind') == 'memory'), None)
        lines += [f"### sfd-iqa score on {files[0]['files']} JPEG files of {files[0]['size']} vs in-memory tensors", '',
                  '| what | precision | batch | median s | min-max s | images/s | vs in memory |',
                  '| --- | --- | ---: | ---: | ---: | ---: | ---: |']
        for r in files:
            rel = f"{r['per_s'] / memory['per_s']:.2f}x" if memory and r.get('kind') != 'input' else '-'
            lines.append(f"| {r['what']} | {r['precision']} | {r['batch']} | {r['median_s']:.2f} | "
                         f"{min(r['times_s']):.2f}-{max(r['times_s']):.2f} | {r['per_s']:.1f} | {rel} |")
        lines += ['', 'The command runs in this process (`sfd_arch.cli.main`: weights file, CLIP from the '
                  'process cache, decoding and tiling in `--workers` DataLoader workers, batching, CSV rows), after '
                  'one untimed warm-up call; Python start-up and imports (seconds) are not included. "in memory": '
                  '`SFDIQA.score_tensor` on the same images decoded beforehand and held on the device. "input '
                  'pipeline only": `sfd_arch.iqa.loader.decoded_images` alone (read, tile, pin, copy, convert to '
                  '[0, 1]), no network: the most files/s the input side can feed. Variants run round-robin, one '
                  'call each per round, after one warm-up round.', '']
    if result['growth']:
        g = result['growth']
        lines += [f"### Growth from GT {result['config']['sizes'][0]} to {result['config']['sizes'][-1]} "
                  f"({g[0]['pixel_ratio']:.0f}x the pixels)", '',
                  '| cost | small | large | growth |', '| --- | ---: | ---: | ---: |']
        for r in g:
            fmt = '{:.1f}' if 'MiB' in r['cost'] else '{:.4f}'
            grow = 'n/a' if r['growth'] is None else f"{r['growth']:.2f}x"
            lines.append(f"| {r['cost']} | {fmt.format(r['lo']) if r['lo'] else 'n/a'} | "
                         f"{fmt.format(r['hi']) if r['hi'] else 'n/a'} | {grow} |")
        lines.append('')
    if result['targets']:
        lines += _targets_markdown(result)
    for err in result.get('errors', []):
        lines.append(f'**FAILED** {err}')
    lines.append(f"Wall time {result['wall_s']:.0f} s (after imports).")
    return '\n'.join(lines)


def _load(values: Optional[list]) -> str:
    return 'n/a' if not values else ' / '.join(f'{v:.2f}' for v in values)


def _net(opt: dict) -> str:
    return f"{opt['type']} (num_feat {opt['num_feat']}, num_block {opt['num_block']}, num_grow_ch {opt['num_grow_ch']})"


def _memory_note(result: dict) -> str:
    if result['machine']['device'].startswith('cuda'):
        return ('Peak memory: `torch.cuda.max_memory_allocated` over the timed iterations (peak stats reset after '
                'warm-up) minus the memory allocated just before the model was built (the shared batch), so it '
                'counts weights, optimiser states, EMA copy, frozen CLIP/VGG and activations of one iteration. '
                'Resident: allocated after warm-up, same base. The caching allocator\'s reserve is not counted.')
    hwm = [r for r in result['train'] if r.get('peak_hwm_mib') is not None]
    extra = ''
    if hwm:
        extra = (' Cross-check (kernel VmHWM, reset before the timed iterations, same base): '
                 + ', '.join(f"{r['model']} GT {r['gt_size']} {r['peak_hwm_mib']:.0f}" for r in hwm) + ' MiB.')
    return ('Peak memory (CPU): the process RSS sampled every 2 ms by a background thread during the timed '
            'iterations, minus the RSS just before the model was built (after `gc.collect()` and glibc '
            '`malloc_trim(0)`, with the previous model deleted and build_clip\'s process-wide CLIP cache cleared). '
            'Caveats: RSS counts pages, not tensors (freed memory the allocator keeps, library arenas and '
            'one-time lazy initialisation land on whichever model runs first: ESRGAN here); a peak shorter than '
            'the sampling interval can be missed; resident = RSS after warm-up minus the same base.' + extra)
