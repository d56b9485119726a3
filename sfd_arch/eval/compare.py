"""The paper's evaluation in one call: run models on the test sets of an option file, score, report.

``compare(CompareSettings) -> CompareResult`` is the engine of ``scripts/compare.py`` (see its ``--help`` for the
models it takes; ``run_compare`` is the same call with keyword arguments). Every
paired dataset of the option file is upscaled by every model and every SR image is scored with the plan of
``sfd_arch.eval.plan``; rows are appended to ``metrics.csv`` as they are computed, so an interrupted or failed
run keeps what it did, and a re-run skips every value still valid (``reconcile``). The table, the PD plot, the
visual comparisons and ``report.md`` come from ``sfd_arch.eval.report``: ``build_result`` works out everything
they say without writing a file, and ``write_outputs`` writes each file from that result.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np

import sfd_arch.metrics as metrics_lib
from sfd_arch.metrics import records

from ..utils import upsampler as inference
from ..utils.files import (
    UnsafePathError,
    atomic_path,
    check_name,
    drop_cut_line,
    refuse_output_over_input,
    write_atomic,
)
from ..utils.results import AppendOnlyRows, ResultRow, marked
from .comparison import CompareResult, CompareSettings, command_line, page_data, report_text, results_record
from .html_report import COPY_DIR, write_compare_html
from .plan import (
    DEFAULT_METRICS,
    CompareError,
    MetricPlan,
    compute_dataset_metric,
    compute_image_metric,
    plan_metrics,
)
from .report import (
    CSV_COLUMNS,
    DATASET_LEVEL,
    choose_crop,
    dataset_means,
    format_value,
    pd_panels,
    plot_pd,
    plot_scores,
    plot_visual,
    read_compare_csv,
    table_markdown,
)
from .sources import (
    BICUBIC,
    Dataset,
    Model,
    bicubic_upscale,
    build_models,
    file_stat,
    find_folder_outputs,
    is_lq_only,
    load_datasets,
    parse_model_arg,
    parse_models,
    parse_network_args,
    test_blocks,
)
from .standins import stand_in_notes

STATE_FILE = 'compare_state.json'

__all__ = [
    'BICUBIC', 'DEFAULT_METRICS', 'STATE_FILE', 'CompareError', 'CompareResult', 'CompareSettings', 'Dataset',
    'MetricPlan', 'Model', 'Run', 'bicubic_upscale', 'build_result', 'command_line', 'compare',
    'compute_all', 'parse_model_arg', 'parse_models', 'plan_metrics', 'reconcile', 'run_compare', 'write_outputs',
]


# -- the run: state, cache, rows ---------------------------------------------------------------------------------
def _write_json(path: str, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def _imwrite(path: str, img: np.ndarray) -> None:
    with atomic_path(path, keep_extension=True) as tmp:
        if not cv2.imwrite(tmp, img):
            raise CompareError(f'cannot write {path}')


def metric_key(block: dict) -> str:
    """What a metric's values depend on besides the images: its settings, and the size and modification time of
    each file it reads (its weight files, an SFD-IQA file): new weights under the same name redo its values."""
    files = {w['path'] for w in metrics_lib.weight_report(block)}
    files |= {v for v in block.values() if isinstance(v, str) and osp.isfile(v)}
    return json.dumps([block, {f: file_stat(f) for f in sorted(files)}], sort_keys=True, default=str)


def reconcile(out_dir: str, models: list[Model], datasets: list[Dataset],
              plan: MetricPlan) -> tuple[list[ResultRow], bool, dict]:
    """Drop the rows and SR images that no longer hold: changed model, dataset or metric settings.

    Returns the rows still valid, whether ``metrics.csv`` must be rewritten without the others, and the new
    state. The state file records what the kept rows were computed with; it is
    written after the stale rows are gone, so a crash in between only makes the next run drop nothing twice.
    """
    csv_path, state_path = osp.join(out_dir, 'metrics.csv'), osp.join(out_dir, STATE_FILE)
    if osp.isfile(csv_path):
        drop_cut_line(csv_path)  # a run killed mid-row: that value is computed again, the row not misread
    try:
        rows = read_compare_csv(csv_path) if osp.isfile(csv_path) else []
    except ValueError as err:
        raise CompareError(f'{err}; move the file away to start this comparison over') from None
    state = {'models': {}, 'datasets': {}, 'metrics': {}}
    if osp.isfile(state_path):
        try:
            with open(state_path) as f:
                state.update(json.load(f))
        except (OSError, ValueError) as err:
            raise CompareError(f'{state_path} is damaged ({err}); delete it to recompute everything') from None
    elif rows:
        # rows without a record of what made them cannot be trusted to match these models
        state = {'models': {}, 'datasets': {}, 'metrics': {}, 'unknown': True}
    metric_keys = {n: metric_key(b) for n, b in plan.blocks.items()}
    stale_models = {m.label for m in models if state['models'].get(m.label) != m.fingerprint}
    stale_datasets = {d.name for d in datasets if state['datasets'].get(d.name) != d.fingerprint}
    stale_metrics = {n for n, k in metric_keys.items() if state['metrics'].get(n) != k}
    kept = [r for r in rows if not (r.model in stale_models or r.dataset in stale_datasets
                                    or r.metric in stale_metrics)]
    for m in models:
        for d in datasets:
            if m.label in stale_models or d.name in stale_datasets:
                shutil.rmtree(osp.join(out_dir, 'sr', m.label, d.name), ignore_errors=True)
    for d in datasets:
        if d.name in stale_datasets:
            shutil.rmtree(osp.join(out_dir, 'lq', d.name), ignore_errors=True)
    writer_rewrite = len(kept) != len(rows)
    state['models'].update({m.label: m.fingerprint for m in models})
    state['datasets'].update({d.name: d.fingerprint for d in datasets})
    state['metrics'].update(metric_keys)
    state.pop('unknown', None)
    return kept, writer_rewrite, state


@dataclass
class Run:
    out_dir: str
    models: list[Model]
    datasets: list[Dataset]
    plan: MetricPlan
    scale: int
    bicubic_kernel: str
    computed_sr: int = 0
    computed_values: int = 0
    # (dataset, image, metric) -> why the metric cannot measure that image's SR (from the LQ header x scale)
    unmeasurable: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def sr_path(self, model: Model, ds: Dataset, image: str) -> str:
        if model.kind == 'folder':
            return model.folder_files[(ds.name, image)]
        return osp.join(self.out_dir, 'sr', model.label, ds.name, f'{image}.png')

    def sr_image(self, model: Model, ds: Dataset, index: int, lq: Optional[np.ndarray] = None) -> np.ndarray:
        """The SR image of one model: from the cache or the model's folder, else made now and cached."""
        path = self.sr_path(model, ds, ds.images[index])
        if osp.isfile(path):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise CompareError(f'{model.label}: cannot read {path} as an image')
            return img
        if model.kind == 'folder':
            raise CompareError(f'{model.label}: {path} disappeared')
        if lq is None:
            lq, _ = ds.pair(index)
        if model.kind == BICUBIC:
            sr = bicubic_upscale(lq, self.scale, self.bicubic_kernel)
        else:
            sr = model.upsampler.enhance(lq)
        _imwrite(path, sr)
        self.computed_sr += 1
        return sr

    def check_sizes(self, model: Model, ds: Dataset, index: int, sr: np.ndarray, hr: np.ndarray) -> None:
        if sr.shape[:2] != hr.shape[:2]:
            image = ds.images[index]
            raise CompareError(f'{model.label} on {ds.name}/{image}: SR {self.sr_path(model, ds, image)} '
                               f'is {sr.shape[1]}x{sr.shape[0]} but HR {ds.hr_paths[index]} is '
                               f'{hr.shape[1]}x{hr.shape[0]} (width x height)')

    def check_lq_size(self, model: Model, ds: Dataset, index: int, sr: np.ndarray, lq: np.ndarray) -> None:
        h, w = lq.shape[0] * self.scale, lq.shape[1] * self.scale
        if sr.shape[:2] != (h, w):
            image = ds.images[index]
            raise CompareError(f'{model.label} on {ds.name}/{image}: SR {self.sr_path(model, ds, image)} is '
                               f'{sr.shape[1]}x{sr.shape[0]} but the LQ image x{self.scale} is {w}x{h} '
                               '(width x height)')

    def lq_display_path(self, ds: Dataset, index: int) -> str:
        return osp.join(self.out_dir, 'lq', ds.name, f'{ds.images[index]}.png')

    def lq_display(self, ds: Dataset, index: int) -> str:
        """The LQ image of an LQ-only set, enlarged x scale by nearest neighbour (its pixels, shown at SR size),
        written once under ``lq/``: report.html shows it beside the models."""
        path = self.lq_display_path(ds, index)
        if not osp.isfile(path):
            lq, _ = ds.pair(index)
            _imwrite(path, cv2.resize(lq, (lq.shape[1] * self.scale, lq.shape[0] * self.scale),
                                      interpolation=cv2.INTER_NEAREST))
        return path

    def value(self, name: str, model: Model, ds: Dataset, image: str, compute, *args) -> float:
        """``compute(*args)`` as a finite float; any failure becomes an error naming metric, model and image."""
        try:
            value = compute(*args)
        except CompareError:
            raise
        except Exception as err:
            raise CompareError(f'metric {name} failed on {model.label} {ds.name}/{image}: '
                               f'{type(err).__name__}: {err}') from err
        if not math.isfinite(value):
            raise CompareError(f'metric {name} of {model.label} on {ds.name}/{image} is {value}, not a finite '
                               f'number ({self.plan.blocks[name]})')
        self.computed_values += 1
        return value


def unmeasurable_images(datasets: list[Dataset], plan: MetricPlan, scale: int) -> dict[tuple[str, str, str], str]:
    """Per image and metric, why a per-image metric cannot measure it (NIQE on fewer than two 96 px blocks),
    from the LQ image's header (the SR image is LQ x scale): known before any SR image is made."""
    from ..utils.imagefiles import ImageFileError, image_size

    checks = {n: b for n, b in plan.blocks.items() if n in plan.per_image() and records.size_limited(b)}
    out: dict[tuple[str, str, str], str] = {}
    if not checks:
        return out
    for ds in datasets:
        for image, lq_path in zip(ds.images, ds.lq_paths):
            try:
                width, height = image_size(lq_path)
            except ImageFileError as err:
                raise CompareError(str(err)) from None
            for name, block in checks.items():
                reason = records.cannot_measure(block, width * scale, height * scale)
                if reason:
                    out[(ds.name, image, name)] = reason
    return out


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc='compare', unit='SR image', disable=not enabled, dynamic_ncols=True)


def compute_all(run: Run, rows: list[ResultRow], writer: AppendOnlyRows, progress: bool) -> list[ResultRow]:
    """Score every model on every image (dataset, then image, then model, so each pair is decoded once)."""
    per_image, per_dataset = run.plan.per_image(), run.plan.per_dataset()
    done = {(r.model, r.dataset, r.image, r.metric) for r in rows}
    rows = list(rows)

    def add(row: ResultRow) -> None:
        writer.write(row)
        rows.append(row)
        done.add((row.model, row.dataset, row.image, row.metric))

    with _progress(sum(len(d.images) for d in run.datasets) * len(run.models), progress) as bar:
        for ds in run.datasets:
            bar.set_postfix_str(ds.name)
            for index, image in enumerate(ds.images):
                todo = {m.label: [n for n in per_image if (m.label, ds.name, image, n) not in done
                                  and run.plan.applies(n, ds.paired)
                                  and (ds.name, image, n) not in run.unmeasurable] for m in run.models}
                if not any(todo.values()):
                    bar.update(len(run.models))
                    continue
                lq, hr = ds.pair(index)
                for model in run.models:
                    if todo[model.label]:
                        sr = run.sr_image(model, ds, index, lq)
                        if hr is None:  # no ground truth: the SR image must still be the LQ image x scale
                            run.check_lq_size(model, ds, index, sr, lq)
                        else:
                            run.check_sizes(model, ds, index, sr, hr)
                        for name in todo[model.label]:
                            block = run.plan.blocks[name]
                            value = run.value(name, model, ds, image, compute_image_metric, block, sr, hr)
                            add(ResultRow(model.label, ds.name, image, name, value))
                    bar.update(1)
            for name in (per_dataset if ds.paired else [n for n in per_dataset if run.plan.applies(n, False)]):
                models = [m for m in run.models if (m.label, ds.name, DATASET_LEVEL, name) not in done]
                if not models:
                    continue
                hrs = [ds.pair(i)[1] for i in range(len(ds.images))]
                for model in models:
                    srs = [run.sr_image(model, ds, i) for i in range(len(ds.images))]
                    for i, (sr, hr) in enumerate(zip(srs, hrs)):
                        run.check_sizes(model, ds, i, sr, hr)
                    block = run.plan.blocks[name]
                    value = run.value(name, model, ds, DATASET_LEVEL, compute_dataset_metric, block, srs, hrs,
                                      ds.images, ds.name)
                    add(ResultRow(model.label, ds.name, DATASET_LEVEL, name, value))
    return rows


# -- figures and the report --------------------------------------------------------------------------------------
def parse_crop(text: str) -> tuple[str, str, int, int, int]:
    """``DATASET/IMAGE:X,Y,SIZE`` -> ``(dataset, image, x, y, size)`` (HR pixels, top-left corner)."""
    match = re.fullmatch(r'(.+?)/(.+):(\d+),(\d+),(\d+)', text.strip())
    if not match:
        raise CompareError(f'--crop {text!r}: expected DATASET/IMAGE:X,Y,SIZE, e.g. Set5/baby:120,200,96')
    dataset, image, x, y, size = match.groups()
    if int(size) < 4:
        raise CompareError(f'--crop {text!r}: the crop size must be at least 4 pixels')
    return dataset, image, int(x), int(y), int(size)


def parse_crops(crops: Sequence[str], datasets: list[Dataset]) -> list[tuple[str, str, tuple[int, int, int]]]:
    """Every ``--crop`` as ``(dataset, image, (x, y, size))``; unknown datasets and images are errors."""
    out = []
    by_name = {d.name: d for d in datasets}
    for text in crops:
        dataset, image, x, y, size = parse_crop(text)
        if dataset not in by_name:
            raise CompareError(f'--crop {text}: no dataset {dataset!r}; this run has {", ".join(by_name)}')
        if image not in by_name[dataset].images:
            raise CompareError(f'--crop {text}: {dataset} has no image {image!r}')
        if not by_name[dataset].paired:
            raise CompareError(f'--crop {text}: {dataset} has no ground truth, and a visual figure shows HR; '
                               'report.html shows its images beside the LQ input')
        out.append((dataset, image, (x, y, size)))
    return out


def auto_crop_size(h: int, w: int) -> int:
    """A fifth of the short side, at least 32 px (LPIPS' AlexNet needs that much), at most the image."""
    return min(h, w, max(32, round(min(h, w) / 5)))


def visual_choices(run: Run, means_rows: list[ResultRow], metric: Optional[str], per_dataset: int,
                   crops: Sequence[str]) -> list[tuple[str, str, Optional[tuple[int, int, int]]]]:
    """``(dataset, image, box or None)`` of each visual figure.

    With ``--crop`` exactly those; otherwise, per dataset, the images where ``metric`` differs most between
    the models (bicubic left out of the spread when two or more other models compete).
    """
    if crops:
        return parse_crops(crops, run.datasets)
    if per_dataset <= 0 or metric is None:
        return []
    learned = [m.label for m in run.models if m.kind != BICUBIC]
    spread_models = set(learned) if len(learned) >= 2 else {m.label for m in run.models}
    values: dict[tuple[str, str], list[float]] = {}
    for r in means_rows:
        if r.metric == metric and r.model in spread_models and r.image != DATASET_LEVEL:
            values.setdefault((r.dataset, r.image), []).append(r.value)
    out = []
    for ds in (d for d in run.datasets if d.paired):  # a figure shows HR: LQ-only sets are in report.html
        spread = sorted(((max(v) - min(v), image) for (d, image), v in values.items() if d == ds.name),
                        key=lambda t: (-t[0], t[1]))
        out += [(ds.name, image, None) for _, image in spread[:per_dataset]]
    return out


def draw_visual(run: Run, dataset: str, image: str, box: Optional[tuple[int, int, int]], caption_metrics: list[str],
                output: str, labels: Optional[dict[str, str]] = None) -> str:
    """One visual comparison figure: crops of bicubic, the models and HR with their crop metrics beneath.

    ``labels`` name the metrics in the HR panel's key (with the stand-in marks of ``metric_labels``)."""
    labels = labels or records.labels()
    import matplotlib.pyplot as plt

    ds = next(d for d in run.datasets if d.name == dataset)
    index = ds.images.index(image)
    lq, hr = ds.pair(index)
    ordered = [m for m in run.models if m.kind == BICUBIC] + [m for m in run.models if m.kind != BICUBIC]
    srs = {}
    for m in ordered:
        srs[m.label] = run.sr_image(m, ds, index, lq)
        run.check_sizes(m, ds, index, srs[m.label], hr)
    h, w = hr.shape[:2]
    if box is None:
        size = auto_crop_size(h, w)
        learned = [srs[m.label] for m in ordered if m.kind != BICUBIC]
        x, y = choose_crop(learned if len(learned) >= 2 else list(srs.values()), size, hr)
    else:
        x, y, size = box
        if x + size > w or y + size > h:
            raise CompareError(f'--crop {dataset}/{image}:{x},{y},{size} leaves the {w}x{h} HR image')
    panels = []
    for label, sr in srs.items():
        cells = []
        for name in caption_metrics:
            block = dict(run.plan.blocks[name], crop_border=0)
            try:
                value = compute_image_metric(block, sr[y:y + size, x:x + size], hr[y:y + size, x:x + size])
                cells.append(format_value(value, 2 if run.plan.directions[name] == 'higher' and value > 1 else 3)
                             if math.isfinite(value) else '-')
            except Exception:  # a metric that cannot take so small a crop: shown as '-', never fatal here
                cells.append('-')
        panels.append((label, sr, ' / '.join(cells)))
    key = ' / '.join(f'{labels.get(n, n)}{"↑" if run.plan.directions[n] == "higher" else "↓"}' for n in caption_metrics)
    panels.append(('HR', hr, key))
    fig = plot_visual(hr, panels, (x, y, size), title=f'{dataset} / {image}', output=output)
    plt.close(fig)
    return output


def metric_labels(blocks: dict[str, dict]) -> dict[str, str]:
    """Display names of the metrics (``LPIPS``), marked where their network runs on stand-in weights or a random
    CLIP (``LPIPS (stand-in weights)``): the table headers, the PD axes and the visual captions all use them."""
    notes = stand_in_notes(blocks)
    return dict(records.labels(), **{n: marked(records.label(n), notes.get(n)) for n in blocks})


def labels_of(name: str) -> str:
    return records.label(name)


def _pick_pd_metric(plan: MetricPlan, wanted: str, x_metric: str) -> tuple[Optional[str], str]:
    """The PD y metric: the wanted one if computed, else the first other per-image metric (and a note why)."""
    if wanted in plan.blocks:
        return wanted, ''
    others = [n for n in plan.blocks if n != x_metric]
    fallback = next((n for n in others if n in plan.per_image() and plan.directions[n] == 'lower'),
                    others[0] if others else None)
    reason = plan.skipped.get(wanted, 'not in this run')
    return fallback, (f'The PD plot shows {fallback} because {wanted} is not available ({reason}).'
                      if fallback else f'No PD plot: {wanted} is not available ({reason}).')


def build_result(run: Run, rows: list[ResultRow], settings: CompareSettings, command: str) -> CompareResult:
    """Everything the reports say, from the rows of this run's models: means, table, notes, the PD and visual
    choices, the weights and the protocol, and where each file goes. Writes nothing (``write_outputs`` does)."""
    out_dir, plan, x_metric = run.out_dir, run.plan, settings.x_metric
    labels = [m.label for m in run.models]
    dataset_names = [d.name for d in run.datasets]
    current = [r for r in rows if r.model in labels and r.dataset in dataset_names and r.metric in plan.blocks]
    means = dataset_means(current)
    metric_names = list(plan.blocks)
    names = metric_labels(plan.blocks)
    not_applicable = {(d.name, n) for d in run.datasets for n in metric_names if not plan.applies(n, d.paired)}
    table = table_markdown(means, labels, dataset_names, metric_names, plan.directions, names, not_applicable)

    kernel = ('BasicSR MATLAB-like imresize (a = -0.5)' if run.bicubic_kernel == 'matlab'
              else 'OpenCV INTER_CUBIC (a = -0.75)')
    notes = [f'{m.label}: {kernel} upscaling of the LQ images, x{run.scale}.' for m in run.models if m.kind == BICUBIC]
    notes += [f'{m.label}: {m.describe()}.' for m in run.models if m.kind != BICUBIC]
    notes.append(f'Datasets: {", ".join(f"{d.name} ({len(d.images)} images)" for d in run.datasets)}.')
    lq_only = [d.name for d in run.datasets if not d.paired]
    nr_metrics = [n for n in metric_names if n in plan.no_reference]
    if lq_only:
        notes.append(f'{", ".join(lq_only)}: LQ images without ground truth, scored with the no-reference metrics '
                     f'only ({", ".join(names.get(n, n) for n in nr_metrics)}); '
                     'full-reference columns read n/a. report.html shows each image beside its LQ input, enlarged '
                     f'x{run.scale} by nearest neighbour.')
    scores_png = osp.join(out_dir, 'scores.png') if lq_only and nr_metrics else None
    for name in dict.fromkeys(n for _, _, n in run.unmeasurable):
        cases = [f'{d}/{i} ({reason})' for (d, i, n), reason in run.unmeasurable.items() if n == name]
        notes.append(f'{labels_of(name)} is left out of the means on {len(cases)} image(s) it cannot measure: '
                     f'{"; ".join(cases[:5])}{" ..." if len(cases) > 5 else ""}.')
    y_metric, pd_note = _pick_pd_metric(plan, settings.pd_metric, x_metric)
    pd_png = None
    if not any(d.paired for d in run.datasets):  # nothing to put on the perception-distortion plane
        y_metric, pd_note = None, 'No PD plot: no dataset has ground truth; scores.png shows each model\'s scores.'
    elif y_metric and x_metric in plan.blocks and not pd_panels(means, labels, dataset_names, x_metric, y_metric):
        # e.g. NIQE on images smaller than its two 96 px blocks: no dataset has a point for every model
        wanted = settings.pd_metric
        pd_note = (f'No PD plot: no dataset has both {names.get(x_metric, x_metric)} and '
                   f'{names.get(y_metric, y_metric)} for every model'
                   + ('' if y_metric == wanted else f' ({wanted}: {plan.skipped.get(wanted, "not in this run")})')
                   + '.')
    elif y_metric and x_metric in plan.blocks:
        pd_png = osp.join(out_dir, 'pd.png')
    elif x_metric not in plan.blocks:
        pd_note = f'No PD plot: the x metric {x_metric} is not in this run.'
    if pd_png and lq_only:
        pd_note = (pd_note + ' ' if pd_note else '') + (f'The PD plot has the datasets with ground truth; '
                                                        f'{", ".join(lq_only)} are in scores.png.')
    if pd_png is None and pd_note:
        notes.append(pd_note)

    caption_metrics = [n for n in (x_metric, y_metric) if n in plan.per_image()]
    choice_metric = y_metric if y_metric in plan.per_image() else (caption_metrics[0] if caption_metrics else None)
    choices = visual_choices(run, current, choice_metric, settings.visual_per_dataset, settings.crops)
    weights = []
    for name, block in plan.blocks.items():
        weights += [dict(w, metric=name) for w in metrics_lib.weight_report(block)]
    images = [{'dataset': d.name, 'image': image, 'hr': d.hr_paths[i] if d.paired else None,
               'lq': None if d.paired else run.lq_display_path(d, i),
               'sr': {m.label: run.sr_path(m, d, image) for m in run.models}}
              for d in run.datasets for i, image in enumerate(d.images)]
    return CompareResult(
        out_dir=out_dir, rows=current, means=means, models=labels, datasets=dataset_names, metrics=metric_names,
        labels=names, directions=plan.directions, not_applicable=sorted(not_applicable), lq_only=lq_only,
        no_reference=nr_metrics, blocks=dict(plan.blocks), notes=notes, pd_metric=y_metric, pd_note=pd_note,
        x_metric=x_metric, visual_choices=choices, caption_metrics=caption_metrics, images=images, weights=weights,
        skipped_metrics=dict(plan.skipped), protocol=plan.protocol_record(), table=table, command=command,
        metrics_csv=osp.join(out_dir, 'metrics.csv'), table_md=osp.join(out_dir, 'table.md'), pd_png=pd_png,
        scores_png=scores_png, visual=[osp.join(out_dir, 'visual', f'{d}_{i}.png') for d, i, _ in choices],
        report_md=osp.join(out_dir, 'report.md'), report_html=osp.join(out_dir, 'report.html'),
        results_json=osp.join(out_dir, 'results.json'))


def write_outputs(run: Run, result: CompareResult) -> None:
    """Write the files of ``result``: ``table.md``, ``scores.png``, ``pd.png``, ``visual/*.png`` (drawn from the
    run's images), ``report.md``, ``report.html`` (with the enlarged LQ images it shows) and ``results.json``."""
    write_atomic(result.table_md, result.table)
    if result.scores_png or result.pd_png:
        import matplotlib.pyplot as plt
    if result.scores_png:
        plt.close(plot_scores(result.means, result.models, result.lq_only, result.no_reference, result.directions,
                              result.labels, result.scores_png))
    if result.pd_png:
        fig, _ = plot_pd(result.means, result.models, result.datasets, result.pd_png, result.x_metric,
                         result.pd_metric, result.directions, dict(result.labels, psnr=marked('PSNR (dB)', None)))
        plt.close(fig)
    visual_dir = osp.join(result.out_dir, 'visual')
    if osp.isdir(visual_dir):  # figures of an earlier choice would sit beside the new ones, unreported
        for f in os.listdir(visual_dir):
            if f.endswith('.png') and any(f.startswith(d + '_') for d in result.datasets):
                os.remove(osp.join(visual_dir, f))
    for (dataset, image, box), path in zip(result.visual_choices, result.visual):
        draw_visual(run, dataset, image, box, result.caption_metrics, path, result.labels)
    write_atomic(result.report_md, report_text(result))
    for d in run.datasets:
        if not d.paired:
            for i in range(len(d.images)):
                run.lq_display(d, i)
    write_compare_html(result.out_dir, page_data(result))
    _write_json(result.results_json, results_record(result))


# -- the entry points ------------------------------------------------------------------------------------------
def refuse_outputs_over_inputs(out_dir: str, opt_path: str, models: list[Model], datasets: list[Dataset]) -> None:
    """Before anything is written: ``out_dir`` is none of the input folders, and no input (option file, checkpoint,
    SR folder, LQ or GT image) lies in what the comparison writes or clears (``sr/``, ``visual/``, the reports)."""
    files = [opt_path]
    for ds in datasets:
        paths = getattr(ds.dataset, 'paths', None) or []
        files += [p[key] for p in paths for key in ('lq_path', 'gt_path') if key in p]
    folders = sorted({osp.dirname(f) for f in files[1:]})
    for model in models:
        if model.kind == 'folder':
            folders.append(model.path)
            files += list(model.folder_files.values())
        elif model.path:
            files.append(model.path)
    written = [osp.join(out_dir, 'sr', model.label) for model in models]  # cleared when a model changes
    written += [osp.join(out_dir, name) for name in ('visual', COPY_DIR, 'metrics.csv', STATE_FILE, 'table.md',
                                                     'pd.png', 'report.md', 'report.html')]
    try:
        refuse_output_over_input([out_dir], folders, '-o', nested=False)
        refuse_output_over_input(written, [*folders, *files], 'output', nested=True)
    except UnsafePathError as err:
        raise CompareError(str(err)) from None


def compare(settings: CompareSettings) -> CompareResult:
    """Compare ``settings.models`` on the datasets of ``settings.opt_path``; write everything into
    ``settings.out_dir`` and return what was found (``CompareResult``) with the paths written.

    A dataset without ground truth (``SingleImageDataset``) is scored with the no-reference metrics only. The
    metrics follow ``settings.protocol``, a preset of ``sfd_arch.metrics.protocols`` (default: the option file's
    ``protocol:``, else ``sfd``). Raises ``CompareError`` on bad input; rows computed before the error stay in
    ``metrics.csv``.
    """
    from ..options.preflight import check_option_file

    s = settings
    opt_path, models, out_dir, datasets, crops = s.opt_path, s.model_specs, s.out_dir, s.datasets, s.crops
    if not models:
        raise CompareError('no models to compare: give at least one --model')
    for label in models:
        try:  # a model's name becomes sr/<name>/: `..` would put its images beside the report
            check_name(label, '--model')
        except UnsafePathError as err:
            raise CompareError(str(err)) from None
    try:
        # it loads its own models and leaves images a metric cannot measure out of that metric's means
        opt = check_option_file(opt_path, is_train=False, check_weights=False, check_sizes=False)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise CompareError(str(err.args[0]) if err.args else str(err)) from None
    scale = int(opt.get('scale', 4))
    lq_only = any(is_lq_only(block) for _, _, block in test_blocks(opt, datasets))
    plan = plan_metrics(opt, opt_path, s.metrics, s.default_metrics, s.protocol, lq_only=lq_only)
    if not plan.blocks:
        raise CompareError(f'{opt_path}: no metrics to compute (val.metrics is empty and no default metric has '
                           'its weights)')
    # a metric of the preset (or of the default one) may be absent from the run (--no-default-metrics, --metrics):
    # the report then says so instead of drawing the plot
    known = set(plan.blocks) | set(plan.skipped) | set(DEFAULT_METRICS) | {m.name for m in plan.protocol.metrics}
    if s.pd_metric not in known:
        raise CompareError(f'--pd {s.pd_metric}: not a metric of this run; it has {", ".join(plan.blocks)}')
    dsets = load_datasets(opt, opt_path, datasets)
    for ds in dsets:
        if not ds.paired and not any(plan.applies(n, False) for n in plan.blocks):
            raise CompareError(f'{opt_path}: {ds.name} has no ground truth and no metric of this run scores an image '
                               f'alone ({", ".join(plan.blocks)}); add a no-reference one (niqe, piqe, sfd_iqa)')
    parse_crops(crops, dsets)  # a typo in --crop fails now, not after every model has run
    try:
        torch_device = inference.pick_device(s.device)
    except RuntimeError as err:
        raise CompareError(str(err)) from None
    built = build_models(models, opt, opt_path, torch_device, s.tile, s.half, s.bicubic,
                         parse_network_args([f'{k}={v}' for k, v in s.network_g], models))
    for model in built:
        if model.kind == 'folder':
            find_folder_outputs(model, dsets)
        elif model.how:
            print(f'compare: {model.label}: {model.how}', file=sys.stderr)
    refuse_outputs_over_inputs(out_dir, opt_path, built, dsets)

    os.makedirs(out_dir, exist_ok=True)
    kept, rewrite, state = reconcile(out_dir, built, dsets, plan)
    # stale rows dropped in one rename, else the file continued
    writer = AppendOnlyRows(osp.join(out_dir, 'metrics.csv'), CSV_COLUMNS, start=kept if rewrite else None)
    _write_json(osp.join(out_dir, STATE_FILE), state)
    run = Run(out_dir, built, dsets, plan, scale, s.bicubic, unmeasurable=unmeasurable_images(dsets, plan, scale))
    for name, reason in plan.skipped.items():
        print(f'compare: skipping {name}: {reason}', file=sys.stderr)
    for (dataset, image, name), reason in run.unmeasurable.items():
        print(f'compare: {name} cannot measure {dataset}/{image}: {reason}; its other metrics are computed',
              file=sys.stderr)
    try:
        rows = compute_all(run, kept, writer, s.progress)
    finally:
        writer.close()
    result = build_result(run, rows, s, command_line(s) if s.command is None else s.command)
    write_outputs(run, result)
    # the visual figures may have made an SR image the metrics did not need: counted after the writing
    result.computed = {'sr': run.computed_sr, 'values': run.computed_values}
    return result


def run_compare(opt_path: str, models: Mapping[str, str], out_dir: str, **options: Any) -> CompareResult:
    """``compare(CompareSettings(opt_path, models, out_dir, **options))``: compare ``models`` (label ->
    ``bicubic`` | checkpoint | experiment folder | SR folder | '' for the option file's network_g) on the datasets
    of ``opt_path`` and write everything into ``out_dir``. ``options`` are the other fields of
    ``CompareSettings`` (``device``, ``metrics``, ``default_metrics``, ``datasets``, ``pd_metric``, ``x_metric``,
    ``visual_per_dataset``, ``crops``, ``bicubic``, ``tile``, ``half``, ``progress``, ``command``, ``network_g``:
    a model's own BasicSR ``network_g`` block, inline YAML or a YAML file, by label; ``protocol``).
    Returns the ``CompareResult``.
    """
    return compare(CompareSettings(opt_path, models, out_dir, **options))
