"""SFD-IQA cost: live-network scoring, a bare CLIP pass and NIQE on the same images; ``sfd-iqa score`` on files."""
from __future__ import annotations

import contextlib
import copy
import functools
import os
import os.path as osp
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np
import torch
from cost_common import AMP_DTYPES, IQA_IMAGES, IQA_SIZE, MIB, log, release_memory, smooth_images, sync
from cost_train import forget_clip

from sfd_arch import FeatD, PromptLearner, build_clip

# ------------------------------------------------------------------------------------------------------------
# SFD-IQA vs a bare CLIP pass vs NIQE
# ------------------------------------------------------------------------------------------------------------

def make_scorer(clip_opt: dict, device: torch.device, tile: Optional[int]):
    """SFD-IQA from live networks: the one place this script touches SFDIQA's constructor."""
    from sfd_arch.iqa import SFDIQA

    torch.manual_seed(0)
    clip = build_clip(clip_opt).to(device)
    featd = FeatD(clip=clip).to(device).eval()
    lpp = PromptLearner(clip=clip).to(device).eval()
    return SFDIQA(clip, featd, lpp, tile=tile, device=device)


def iqa_scores(scorer, images: torch.Tensor, crops_per_image: int = 1) -> torch.Tensor:
    """(B, 3, H, W) -> (B,) scores; every crop of the call in one CLIP batch (so batch B means one pass)."""
    scorer.batch_size = max(1, images.shape[0] * crops_per_image)
    return scorer.score_tensor(images)[0]


def tile_crops(images: torch.Tensor, tile: int) -> tuple[torch.Tensor, int]:
    """The crops SFD-IQA cuts, stacked: (B * n, 3, th, tw), n."""
    from sfd_arch.iqa import tile_boxes

    boxes = tile_boxes(images.shape[-2], images.shape[-1], tile)
    crops = torch.stack([img[:, t:t + h, left:left + w] for img in images for t, left, h, w in boxes])
    return crops, len(boxes)


def call_batches(images: torch.Tensor, batch: int, calls: int) -> list[torch.Tensor]:
    """``calls`` batches of ``batch`` images taken in turn from ``images`` (repeated when it holds fewer)."""
    n = images.shape[0]
    if batch >= n:
        big = images.repeat((batch + n - 1) // n, 1, 1, 1)[:batch]
        return [big] * calls
    starts = [(i * batch) % n for i in range(calls)]
    return [images[s:s + batch] if s + batch <= n else images[[(s + j) % n for j in range(batch)]] for s in starts]


def _unique(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [tensors[0]] if all(t is tensors[0] for t in tensors) else tensors


def time_round_robin(variants: list[tuple[Callable[[torch.Tensor], Any], list[torch.Tensor]]],
                     device: torch.device, amp: Optional[torch.dtype]) -> list[list[float]]:
    """Seconds per call of each ``(fn, batches)``, calls taken in turn (call i of every variant, then call i + 1),
    so a change in machine load during the measurement hits every variant alike. Round 0 is a warm-up."""
    times: list[list[float]] = [[] for _ in variants]
    autocast = torch.autocast('cuda', dtype=amp) if amp is not None else contextlib.nullcontext()
    with autocast, torch.inference_mode():
        for i in range(len(variants[0][1])):
            for k, (fn, batches) in enumerate(variants):
                sync(device)
                t = time.perf_counter()
                fn(batches[i])
                sync(device)
                if i > 0:
                    times[k].append(time.perf_counter() - t)
    return times


def run_iqa(preset: dict, sizes: list[tuple[int, int]], batches: list[int], device: torch.device, iters: int,
            amp: Optional[torch.dtype], skip_niqe: bool, compile_: bool = False) -> tuple[list[dict], dict]:
    from basicsr.metrics.niqe import calculate_niqe

    from sfd_arch.iqa import DEFAULT_TILE

    clip_opt = copy.deepcopy(preset['clip'])
    scorer = make_scorer(clip_opt, device, DEFAULT_TILE)
    whole = make_scorer(clip_opt, device, 0)  # same networks (build_clip cache, same seed), no tiling
    compiled = make_scorer(clip_opt, device, DEFAULT_TILE).compile() if compile_ else None
    clip = scorer.clip
    rows: list[dict] = []
    extra: dict[str, Any] = {'tile': DEFAULT_TILE}
    precisions = [('fp32', None)] + ([(str(amp).replace('torch.', ''), amp)] if amp is not None else [])
    for width, height in sizes:
        images = smooth_images(IQA_IMAGES, height, width, seed=width * 7 + height).to(device)
        crops_all, n_crops = tile_crops(images, DEFAULT_TILE)
        label = f'{width}x{height}'
        log(f'IQA {label}: {n_crops} crop(s) of tile {DEFAULT_TILE} per image')
        for prec_name, prec in precisions:
            for b in batches:
                calls = 1 + (iters if b > 1 else max(iters, IQA_IMAGES - 1))  # batch 1: every image at least once
                groups = call_batches(images, b, calls)
                crop_groups = [tile_crops(g, DEFAULT_TILE)[0] for g in _unique(groups)]
                crop_groups = [crop_groups[0]] * calls if len(crop_groups) == 1 else crop_groups
                variants = [
                    (f'SFD-IQA (tile {DEFAULT_TILE}, default)', functools.partial(iqa_scores, scorer,
                                                                                 crops_per_image=n_crops),
                     groups, n_crops),
                    ('SFD-IQA (tile 0: whole image)', functools.partial(iqa_scores, whole, crops_per_image=1), groups,
                     1),
                    ('CLIP image encoder, whole image', clip, groups, 1),
                    (f'CLIP image encoder, the {n_crops} tile(s)', clip, crop_groups, n_crops),
                ]
                if n_crops == 1:  # one crop is the whole image: the tile-0 and tile rows would repeat the work
                    variants = [variants[0], variants[2]]
                if compiled is not None:
                    fast = functools.partial(iqa_scores, compiled, crops_per_image=n_crops)
                    variants.insert(1, ('SFD-IQA --compile', fast, groups, n_crops))
                all_times = time_round_robin([(fn, inputs) for _, fn, inputs, _ in variants], device, prec)
                for (name, _, _, crops), times in zip(variants, all_times):
                    per_image = statistics.median(times) / b
                    rows.append({'size': label, 'what': name, 'precision': prec_name, 'batch': b,
                                 'crops_per_image': crops, 's_per_image': per_image, 'images_per_s': 1 / per_image,
                                 'calls': len(times)})
                done = {r['what']: r['s_per_image'] for r in rows[-len(variants):]}
                log(f'  {prec_name} batch {b}: SFD-IQA {done[variants[0][0]] * 1e3:.1f} ms/img, '
                    f"CLIP {done['CLIP image encoder, whole image'] * 1e3:.1f} ms/img")
        if compiled is not None and (width, height) == IQA_SIZE:
            with torch.inference_mode():
                gap = (iqa_scores(scorer, images, n_crops) - iqa_scores(compiled, images, n_crops)).abs().max()
            extra['compile_max_abs_score_diff'] = float(gap)
            extra['compile_fallback'] = compiled._forward.fallback_reason
        if amp is not None and (width, height) == IQA_SIZE:
            with torch.inference_mode():
                ref = iqa_scores(scorer, images, n_crops)
                with torch.autocast('cuda', dtype=amp):
                    low = iqa_scores(scorer, images, n_crops)
            extra['amp_max_abs_score_diff'] = float((ref - low).abs().max())
            extra['amp'] = str(amp).replace('torch.', '')
        if not skip_niqe:
            arrays = [np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy() * 255.0) for x in images]
            times, error = [], None
            for i, arr in enumerate(arrays):
                t = time.perf_counter()
                try:
                    calculate_niqe(arr, crop_border=0)
                except Exception as err:  # noqa: BLE001 - NIQE's failure on small images is a LinAlgError
                    error = f'{type(err).__name__}: {err} (NIQE needs room for 96x96 blocks at two scales)'
                    break
                if i > 0:
                    times.append(time.perf_counter() - t)
            row = {'size': label, 'what': 'BasicSR calculate_niqe (CPU, NumPy)', 'precision': 'fp64', 'batch': 1,
                   'crops_per_image': 1, 'calls': len(times)}
            if error:
                row.update(s_per_image=None, images_per_s=None, error=error)
                log(f'  NIQE: {error}')
            else:
                per_image = statistics.median(times)
                row.update(s_per_image=per_image, images_per_s=1 / per_image)
                log(f'  NIQE: {per_image * 1e3:.1f} ms/img')
            rows.append(row)
        del images, crops_all
    del scorer, whole, clip, compiled
    forget_clip()
    release_memory(device)
    return rows, extra


# ------------------------------------------------------------------------------------------------------------
# sfd-iqa score on JPEG files vs score_tensor on decoded images
# ------------------------------------------------------------------------------------------------------------

def write_jpegs(folder: str, n: int, width: int, height: int, quality: int = 95) -> list[str]:
    """``n`` different smooth-plus-grain JPEG files of ``width`` x ``height`` (cv2, 4:2:0, ``quality``)."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    paths = []
    for start in range(0, n, 16):
        images = smooth_images(min(16, n - start), height, width, seed=1000 + start)
        for k, img in enumerate(images):
            path = osp.join(folder, f'{start + k:06d}.jpg')
            bgr = (img.flip(0).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            paths.append(path)
    return paths


def run_files(preset: dict, device: torch.device, n_files: int, batch: int, workers_list: list[int],
              amp: Optional[str], reps: int, root: str, input_only: bool = False) -> list[dict]:
    """Files/s of ``sfd-iqa score DIR`` (in this process, after a warm-up call) for each ``--workers``, and
    images/s of ``score_tensor`` on the same images decoded beforehand and held on the device."""
    import cv2

    from sfd_arch.cli import main as sfd_iqa
    from sfd_arch.iqa import DEFAULT_TILE

    folder = osp.join(root, 'jpegs')
    width, height = IQA_SIZE
    paths = write_jpegs(folder, n_files, width, height)
    size_mib = sum(osp.getsize(p) for p in paths) / MIB
    log(f'files: {n_files} JPEGs of {width}x{height} ({size_mib:.1f} MiB) in {folder}')
    scorer = make_scorer(copy.deepcopy(preset['clip']), device, DEFAULT_TILE)
    weights = scorer.save(osp.join(root, 'sfd_iqa_bench.pth'), overwrite=True)
    scorer.batch_size = batch
    scorer.amp = AMP_DTYPES.get(amp or '')
    decoded = None if input_only else torch.stack([torch.from_numpy(cv2.imread(p)[:, :, ::-1].copy()).permute(2, 0, 1)
                                                   for p in paths])
    decoded = None if decoded is None else (decoded.float() / 255.0).to(device)
    precision = amp or 'fp32'

    def in_memory() -> None:
        with torch.inference_mode():
            for start in range(0, n_files, batch):
                scorer.score_tensor(decoded[start:start + batch])
        sync(device)

    def command(workers: int) -> Callable[[], None]:
        argv = ['score', folder, '-w', weights, '--csv', osp.join(root, f'scores_w{workers}.csv'), '--overwrite',
                '--workers', str(workers), '--batch-size', str(batch), '--device', str(device), '--no-progress']
        if amp:
            argv += ['--amp', amp]

        def call() -> None:
            with contextlib.redirect_stderr(open(os.devnull, 'w')):
                code = sfd_iqa(argv)
            if code != 0:
                raise RuntimeError(f'sfd-iqa {" ".join(argv)} exited with {code}')
            sync(device)
        return call

    def pipeline(workers: int) -> Callable[[], None]:
        """The input pipeline alone: decode, tile, pin and copy to the device, convert to [0, 1]; no network."""
        from sfd_arch.iqa.loader import decoded_images

        def call() -> None:
            for _, image in decoded_images(paths, DEFAULT_TILE, device, workers):
                if isinstance(image, str):
                    raise RuntimeError(image)
            sync(device)
        return call

    variants = [] if input_only else [('score_tensor, decoded images on the device', None, in_memory)]
    variants += [] if input_only else [(f'sfd-iqa score DIR --workers {w}', w, command(w)) for w in workers_list]
    variants += [(f'input pipeline only (decode, tile, to device), --workers {w}', -1 - w, pipeline(w))
                 for w in workers_list]
    times: list[list[float]] = [[] for _ in variants]
    for round_ in range(reps + 1):  # round 0 warms up (workers' first fork, kernels, allocator)
        for k, (_, _, fn) in enumerate(variants):
            t = time.perf_counter()
            fn()
            if round_ > 0:
                times[k].append(time.perf_counter() - t)
    rows = []
    for (what, workers, _), ts in zip(variants, times):
        median = statistics.median(ts)
        kind = 'memory' if workers is None else 'command' if workers >= 0 else 'input'
        workers = workers if workers is None or workers >= 0 else -1 - workers
        rows.append({'what': what, 'kind': kind, 'workers': workers if kind != 'input' else None,
                     'input_workers': workers if kind == 'input' else None, 'precision': precision, 'batch': batch,
                     'files': n_files,
                     'size': f'{width}x{height}', 'times_s': ts, 'median_s': median, 'per_s': n_files / median})
        log(f'  {what}: {n_files / median:.1f} images/s')
    forget_clip()
    release_memory(device)
    return rows


