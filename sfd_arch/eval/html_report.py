"""``report.html``: a comparison or an IQA bench as one page that opens from its folder, with no network.

SR results are judged by looking, so the page lets a reader flip between two outputs over the same region:
pick any two of HR and the models, drag a divider between them, zoom with the wheel and pan by dragging, both
images in step. The metrics tables sort by any column (click a header). The IQA bench page draws one scatter
plot per dataset and metric; hovering a point names the image, its MOS and its score.

The page is built from plain data (the rows of ``metrics.csv`` and the paths the comparison already knows), so
it can be written again from a finished run. The style sheet and script (``assets/``) are inlined into the
page; images are referenced by relative paths. Images outside the output folder (HR images, SR folders of other
tools) are copied into ``report_files/`` so the folder can be moved or shared as a whole.
"""
from __future__ import annotations

import csv
import html
import json
import math
import os
import os.path as osp
import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional
from urllib.parse import quote

from ..utils.directions import lower_is_better
from ..utils.files import write_atomic
from .report import (
    ARROWS,
    DATASET_LEVEL,
    PROTOCOL_COLUMNS,
    CompareRow,
    _ranks,
    column_digits,
    dataset_means,
    format_value,
)

ASSETS = osp.join(osp.dirname(osp.abspath(__file__)), 'assets')
HR = 'HR'
LQ = 'LQ'  # the input of a dataset without ground truth, enlarged by nearest neighbour to the SR size
COPY_DIR = 'report_files'  # images from outside the output folder, copied so the folder is self-contained
WEIGHT_MEANING = {'published': 'published', 'stand-in': 'random stand-in (numbers not comparable to published ones)',
                  'missing': 'missing (metric skipped)'}


# -- shared page parts ------------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    with open(osp.join(ASSETS, name), encoding='utf-8') as f:
        return f.read()


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: Sequence[str], data: Mapping[str, Any]) -> str:
    """The whole document: style and script inlined, ``data`` as JSON the script reads (``</`` escaped so no
    value can close the script element)."""
    payload = json.dumps(data, allow_nan=False, ensure_ascii=False).replace('</', '<\\/')
    return '\n'.join([
        '<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing on this page may come from the network: the report is read offline, and a CDN could change it
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src \'self\' data:; '
        'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">',
        f'<title>{_e(title)}</title>', '<style>', _asset('report.css'), '</style>', '</head>', '<body>',
        *body,
        f'<script type="application/json" id="report-data">{payload}</script>',
        '<script>', _asset('report.js'), '</script>', '</body>', '</html>', ''])


def _write(out_dir: str, name: str, text: str) -> str:
    return write_atomic(osp.join(out_dir, name), text)  # a reader never opens half a page


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def image_link(path: str, out_dir: str, copy_as: Sequence[str] = ()) -> str:
    """A relative URL of ``path`` from ``out_dir``; a file outside ``out_dir`` is first linked or copied to
    ``report_files/<copy_as...>/<name>`` (kept when already there with the same size and time)."""
    path, root = osp.abspath(path), osp.abspath(out_dir)
    if osp.commonpath([path, root]) != root:
        target = osp.join(root, COPY_DIR, *copy_as, osp.basename(path))
        src = os.stat(path)
        if not (osp.isfile(target) and os.stat(target).st_size == src.st_size
                and int(os.stat(target).st_mtime) == int(src.st_mtime)):
            os.makedirs(osp.dirname(target), exist_ok=True)
            if osp.lexists(target):
                os.remove(target)
            try:  # a hard link costs no space on the same file system; a copy elsewhere
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
        path = target
    return quote(osp.relpath(path, root).replace(os.sep, '/'))


# -- comparison page --------------------------------------------------------------------------------------------
def _as_row(row: Any) -> CompareRow:
    if isinstance(row, CompareRow):
        return row
    if isinstance(row, Mapping):
        return CompareRow(row['model'], row['dataset'], row['image'], row['metric'], float(row['value']))
    model, dataset, image, metric, value = row
    return CompareRow(model, dataset, image, metric, float(value))


def _mark(rank: Optional[int], competitors: int) -> str:
    """``best`` / ``second`` as in report.md: a best needs two competitors, a second three."""
    if rank == 1 and competitors >= 2:
        return 'best'
    if rank == 2 and competitors >= 3:
        return 'second'
    return ''


def _metric_head(metric: str, data: Mapping[str, Any], standin: set[str]) -> str:
    direction = data['directions'].get(metric, 'higher')
    label = data.get('labels', {}).get(metric, metric)
    mark = ' <span class="standin-mark" title="random stand-in weights">&dagger;</span>' if metric in standin else ''
    cls = ' class="standin"' if metric in standin else ''
    title = f'{"higher" if direction == "higher" else "lower"} is better'
    return (f'<th{cls} data-dir="{direction}" data-metric="{_e(metric)}" title="{title}; click to sort">'
            f'{_e(label)} {ARROWS.get(direction, "")}{mark}</th>')


def metrics_table(values: Mapping[str, Mapping[str, float]], rows: Sequence[str], metrics: Sequence[str],
                  data: Mapping[str, Any], standin: set[str], first: str = 'Model',
                  digits: Optional[Mapping[str, int]] = None, table_id: str = '',
                  not_applicable: Iterable[str] = ()) -> str:
    """A sortable table: one row per name of ``rows`` (``values[row][metric]``), best and second marked; a metric
    of ``not_applicable`` reads n/a (full-reference on a dataset without ground truth)."""
    not_applicable = set(not_applicable)
    digits = digits or {m: column_digits(values.get(r, {}).get(m, float('nan')) for r in rows) for m in metrics}
    ranks = {m: _ranks({r: values[r][m] for r in rows if m in values.get(r, {})},
                       data['directions'].get(m, 'higher'), digits[m]) for m in metrics}
    ident = f' id="{_e(table_id)}"' if table_id else ''
    out = ['<div class="table-box">', f'<table class="metrics sortable"{ident}>', '<thead><tr>',
           f'<th data-dir="text">{_e(first)}</th>',
           *(_metric_head(m, data, standin) for m in metrics), '</tr></thead>', '<tbody>']
    for name in rows:
        cells = [f'<td data-v="{_e(name)}">{_e(name)}</td>']
        for m in metrics:
            value = values.get(name, {}).get(m)
            if value is None or not _finite(value):
                na = value is None and m in not_applicable
                cells.append('<td class="na" data-v="" title="needs ground truth">n/a</td>' if na
                             else '<td data-v="">-</td>')
                continue
            cls = ' '.join(c for c in (_mark(ranks[m].get(name), len(ranks[m])), 'standin' if m in standin else '')
                           if c)
            attr = f' class="{cls}"' if cls else ''
            cells.append(f'<td{attr} data-v="{value!r}">{format_value(value, digits[m])}</td>')
        out.append(f'<tr data-source="{_e(name)}">' + ''.join(cells) + '</tr>')
    out += ['</tbody>', '</table>', '</div>']
    return '\n'.join(out)


def _viewer(entry: Mapping[str, Any], models: Sequence[str], per_image: Mapping[str, Mapping[str, float]],
            metrics: Sequence[str], data: Mapping[str, Any], standin: set[str], digits: Mapping[str, int],
            out_dir: str) -> str:
    """One image's viewer: the stage with two layers and the divider; the two pickers; the per-image table."""
    dataset, image = entry['dataset'], entry['image']
    sources: list[tuple[str, str]] = []
    if entry.get('hr') and osp.isfile(entry['hr']):
        sources.append((HR, image_link(entry['hr'], out_dir, (HR, dataset))))
    elif entry.get('lq') and osp.isfile(entry['lq']):  # no ground truth: the input itself is the reference
        sources.append((LQ, image_link(entry['lq'], out_dir, (LQ, dataset))))
    sr = entry.get('sr', {})
    sources += [(m, image_link(sr[m], out_dir, (m, dataset))) for m in models if sr.get(m) and osp.isfile(sr[m])]
    if len(sources) < 2:
        return ''
    # default pair: the last model (usually the proposed one) against HR (or LQ), or the first two sources
    left, right = (0, len(sources) - 1) if sources[0][0] in (HR, LQ) else (0, 1)

    def picker(side: str, cls: str, chosen: int) -> str:
        options = ''.join(f'<option value="{url}"{" selected" if i == chosen else ""}>{_e(name)}</option>'
                          for i, (name, url) in enumerate(sources))
        return f'<label>{side} <select class="{cls}">{options}</select></label>'

    rows = [m for m in models if m in per_image]
    table = metrics_table(per_image, rows, metrics, data, standin, digits=digits) if rows and metrics else ''
    key = f'{dataset}/{image}'
    return '\n'.join([
        f'<section class="viewer" data-key="{_e(key)}">', f'<h3>{_e(dataset)} / {_e(image)}</h3>',
        '<div class="viewer-body">', '<div class="stage" tabindex="0">',
        f'<div class="layer a"><img alt="" loading="lazy" decoding="async" src="{sources[left][1]}"></div>',
        f'<div class="layer b"><img alt="" loading="lazy" decoding="async" src="{sources[right][1]}"></div>',
        '<div class="divider" title="drag to move"><span></span></div>',
        '<span class="tag left"></span><span class="tag right"></span><span class="zoom"></span>', '</div>',
        '<div class="side">', '<div class="picks">', picker('left', 'pick-a', left), picker('right', 'pick-b', right),
        '<button class="fit" type="button">fit</button>', '</div>', table,
        '<p class="legend">Wheel: zoom; drag: pan; drag the white bar: move the divider. '
        'Both images share one view.</p>', '</div>', '</div>', '</section>'])


def _weights_section(data: Mapping[str, Any]) -> list[str]:
    weights = data.get('weights') or []
    out = ['<h2 id="weights">Metric networks and their weights</h2>']
    if not weights:
        out.append('<p>No metric of this comparison uses network weights.</p>')
    else:
        out += ['<div class="table-box"><table class="metrics weights"><thead><tr><th>metric</th><th>weight file</th>'
                '<th>loaded from</th><th>weights</th></tr></thead><tbody>']
        out += [f'<tr><td>{_e(w.get("metric", ""))}</td><td>{_e(w.get("name", ""))}</td>'
                f'<td><code>{_e(w.get("path", ""))}</code></td><td class="status-{_e(w.get("status", ""))}">'
                f'{_e(WEIGHT_MEANING.get(w.get("status", ""), w.get("status", "")))}</td></tr>' for w in weights]
        out.append('</tbody></table></div>')
    skipped = data.get('skipped') or {}
    if skipped:
        out.append('<p>Skipped metrics:</p><ul>' + ''.join(f'<li><code>{_e(k)}</code>: {_e(v)}</li>'
                                                          for k, v in skipped.items()) + '</ul>')
    notes = data.get('notes') or []
    if notes:
        out += ['<h2 id="notes">Notes</h2>', '<ul>' + ''.join(f'<li>{_e(n)}</li>' for n in notes) + '</ul>']
    return out


def _protocol_section(record: Mapping[str, Any]) -> list[str]:
    """The protocol of the comparison (``MetricPlan.protocol_record``), as ``report.md`` prints it at its top."""
    if not record:
        return []
    out = [f'<p class="protocol"><b>Protocol: <code>{_e(record["name"])}</code></b>, {_e(record["title"])} '
           f'(chosen by {_e(record["chosen_by"])}). Matches: {_e(record["matches"])}</p>',
           '<table class="metrics protocol"><thead><tr>' + ''.join(f'<th>{_e(h)}</th>' for _, h in PROTOCOL_COLUMNS)
           + '</tr></thead><tbody>']
    out += ['<tr>' + ''.join(f'<td>{_e(row.get(k, ""))}</td>' for k, _ in PROTOCOL_COLUMNS) + '</tr>'
            for row in record.get('metrics') or []]
    out.append('</tbody></table>')
    if record.get('omitted'):
        out.append('<p class="note">Not in this protocol: ' + '; '.join(
            f'<code>{_e(k)}</code>: {_e(v)}' for k, v in record['omitted'].items()) + '.</p>')
    out.append('<p class="note">Sources: ' + '; '.join(f'<code>{_e(s)}</code>' for s in record.get('sources') or [])
               + '.</p>')
    return out


def _compare_tables(data: Mapping[str, Any], means: Mapping, models: Sequence[str], datasets: Sequence[str],
                    metrics: Sequence[str], standin: set[str], digits: Mapping[str, int]) -> list[str]:
    out = ['<h2 id="metrics">Metrics</h2>']
    na = [tuple(p) for p in data.get('not_applicable') or ()]
    for d in datasets:
        out += [f'<h3>{_e(d)}</h3>', metrics_table(means.get(d, {}), models, metrics, data, standin, digits=digits,
                                                   table_id=f'table-{d}', not_applicable={m for ds, m in na
                                                                                          if ds == d})]
    out.append('<p class="note">Means over the images of each dataset (FID: one value over the whole dataset). '
               'Best in <b>bold</b>, second <u>underlined</u>; &uarr; higher is better, &darr; lower is better. '
               'Click a column head to sort.'
               + (' n/a: a full-reference metric on a dataset without ground truth.' if na else '')
               + (' <span class="standin-mark">&dagger;</span> random stand-in weights: not comparable to '
                  'published numbers.' if standin else '') + '</p>')
    return out


def write_compare_html(out_dir: str, data: Mapping[str, Any], name: str = 'report.html') -> str:
    """Write ``out_dir/report.html`` of a model comparison and return its path.

    ``data`` (plain values, as ``report.md`` is made from):

    - ``rows``: ``metrics.csv`` rows (``CompareRow``, ``(model, dataset, image, metric, value)`` or dicts);
    - ``directions``: ``{metric: 'higher' | 'lower'}``; optional ``labels`` (``{metric: column head}``);
    - ``models``, ``datasets``, ``metrics``: display orders (default: order of first appearance in ``rows``);
    - ``images``: ``[{'dataset', 'image', 'hr': path, 'sr': {model: path}}]``, one viewer each; without ground
      truth ``'hr'`` is ``None`` and ``'lq'`` the LQ input enlarged to the SR size, shown as ``LQ``;
    - optional ``scores_png`` (path: the scores of datasets without ground truth) and ``not_applicable``
      (``[(dataset, metric)]`` shown as n/a);
    - ``weights``: ``[{'metric', 'name', 'path', 'status'}]`` (a ``stand-in`` status marks the metric);
    - optional ``command``, ``pd_png`` (path), ``pd_caption``, ``skipped`` (``{metric: reason}``), ``notes``,
      ``title``, ``protocol`` (``MetricPlan.protocol_record()``, shown at the top).
    """
    rows = [_as_row(r) for r in data.get('rows', [])]
    models = list(data.get('models') or dict.fromkeys(r.model for r in rows))
    datasets = list(data.get('datasets') or dict.fromkeys(r.dataset for r in rows))
    metrics = list(data.get('metrics') or dict.fromkeys(r.metric for r in rows))
    data = dict(data, directions=dict(data.get('directions') or {}))
    standin = {w.get('metric') for w in data.get('weights') or [] if w.get('status') == 'stand-in'}
    means = dataset_means(r for r in rows if r.model in models)
    digits = {m: column_digits(means.get(d, {}).get(mo, {}).get(m, float('nan')) for d in datasets for mo in models)
              for m in metrics}
    title = data.get('title', 'Model comparison')
    sections = [('metrics', 'metrics'), ('pd', 'perception-distortion') if data.get('pd_png') else None,
                ('scores', 'scores (no ground truth)') if data.get('scores_png') else None,
                ('visual', 'images') if data.get('images') else None, ('weights', 'weights')]
    body = [f'<h1>{_e(title)}</h1>', '<nav class="toc">' + ''.join(
        f'<a href="#{anchor}">{text}</a>' for anchor, text in filter(None, sections)) + '</nav>']
    body += _protocol_section(data.get('protocol') or {})
    if data.get('command'):
        body += ['<p>Produced by:</p>', f'<pre class="cmd">{_e(data["command"])}</pre>']
    body += _compare_tables(data, means, models, datasets, metrics, standin, digits)
    if data.get('pd_png'):
        body += ['<h2 id="pd">Perception-distortion plane</h2>', '<figure class="pd">',
                 f'<img src="{image_link(data["pd_png"], out_dir, ("figures",))}" alt="perception-distortion plane">',
                 f'<figcaption class="note">{_e(data.get("pd_caption", ""))}</figcaption></figure>']
    if data.get('scores_png'):
        body += ['<h2 id="scores">Scores per model (no ground truth)</h2>', '<figure class="pd">',
                 f'<img src="{image_link(data["scores_png"], out_dir, ("figures",))}" alt="scores per model">',
                 '<figcaption class="note">Datasets without ground truth have no perception-distortion plane: each '
                 'panel is one no-reference metric, one point per model.</figcaption></figure>']
    per_image = _per_image(rows)
    image_metrics = [m for m in metrics if any(m in v for d in per_image.values() for v in d.values())]
    viewers = [_viewer(e, models, per_image.get((e['dataset'], e['image']), {}), image_metrics, data, standin,
                       digits, out_dir) for e in data.get('images') or []]
    viewers = [v for v in viewers if v]
    if viewers:
        lq_note = (' Without ground truth, LQ is the input enlarged by nearest neighbour to the SR size.'
                   if any(not e.get('hr') and e.get('lq') for e in data.get('images') or []) else '')
        body += ['<h2 id="visual">Images</h2>', '<p class="note">Pick any two of HR and the models for each image. '
                 f'Beside each: its metrics on that image.{lq_note}</p>', *viewers]
    body += _weights_section(data)
    return _write(out_dir, name, _page(title, body, {'kind': 'compare', 'images': len(viewers)}))


def _per_image(rows: Iterable[CompareRow]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """``{(dataset, image): {model: {metric: value}}}`` of the per-image rows (dataset-level ones left out)."""
    out: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for r in rows:
        if r.image != DATASET_LEVEL:
            out.setdefault((r.dataset, r.image), {}).setdefault(r.model, {})[r.metric] = r.value
    return out


# -- IQA bench page ---------------------------------------------------------------------------------------------
def _bench_table(data: Mapping[str, Any]) -> str:
    """Rows: datasets and averages; columns: SRCC and PLCC of each metric; the best of a row in bold."""
    metrics, titles = list(data['metrics']), data.get('titles', {})
    columns = [(m, c) for m in metrics for c in ('srcc', 'plcc')]
    head = ['<th data-dir="text">Dataset</th>', '<th data-dir="higher">n</th>']
    head += [f'<th data-dir="higher" data-metric="{_e(m)}">{_e(titles.get(m, m))} {c.upper()} &uarr;</th>'
             for m, c in columns]
    out = ['<div class="table-box">', '<table class="metrics sortable" id="bench-table">', '<thead><tr>', *head,
           '</tr></thead>', '<tbody>']
    for label, results in data['rows'].items():
        best = {}  # compared as displayed (4 decimals), so equal-looking cells are both bold
        for c in ('srcc', 'plcc'):
            vals = [round(results[m][c], 4) for m in metrics if m in results and _finite(results[m].get(c))]
            best[c] = max(vals) if len(vals) > 1 else None
        n = next((r.get('n') for r in results.values() if r.get('n')), '')
        cells = [f'<td data-v="{_e(label)}">{_e(label)}</td>', f'<td data-v="{n}">{n}</td>']
        for m, c in columns:
            v = results.get(m, {}).get(c)
            if not _finite(v):
                cells.append('<td data-v="">-</td>')
                continue
            cls = ' class="best"' if best[c] is not None and round(v, 4) == best[c] else ''
            cells.append(f'<td{cls} data-v="{v!r}">{v:.4f}</td>')
        out.append('<tr>' + ''.join(cells) + '</tr>')
    out += ['</tbody>', '</table>', '</div>']
    return '\n'.join(out)


def _scatter_data(data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, one plot per metric: ``x`` the oriented score (negated where lower is better, as correlated),
    ``score`` the score as the metric gives it (shown on hover), ``mos``, ``images`` and the ``logistic`` fit."""
    titles, negated = data.get('titles', {}), set(data.get('negated', ()))
    out: dict[str, list[dict[str, Any]]] = {}
    for dataset, plot in (data.get('scatter') or {}).items():
        for metric, scores in plot['scores'].items():
            keep = [i for i, s in enumerate(scores) if _finite(s) and _finite(plot['mos'][i])]
            sign = -1.0 if metric in negated else 1.0
            title = titles.get(metric, metric)
            fit = (plot.get('logistic') or {}).get(metric)
            out.setdefault(dataset, []).append({
                'metric': title, 'title': f'{title} (n = {len(keep)})',
                'xlabel': f'-{title} (lower is better)' if sign < 0 else title,
                'images': [str(plot['images'][i]) for i in keep], 'mos': [float(plot['mos'][i]) for i in keep],
                'score': [float(scores[i]) for i in keep], 'x': [sign * float(scores[i]) for i in keep],
                'logistic': [float(b) for b in fit] if fit and all(_finite(b) for b in fit) else None})
    return out


def write_bench_html(out_dir: str, data: Mapping[str, Any], name: str = 'report.html') -> str:
    """Write ``out_dir/report.html`` of an IQA bench (``sfd-iqa bench``) and return its path.

    ``data``:

    - ``metrics``: metric keys in column order; optional ``titles`` (``{metric: display name}``);
    - ``rows``: ``{dataset or AVG_D/AVG_W: {metric: {'n', 'srcc', 'plcc', 'krcc'}}}`` (``results.json``'s
      ``results`` per dataset and ``averages``);
    - ``scatter``: ``{dataset: {'images': [...], 'mos': [...], 'scores': {metric: [raw score per image]},
      'logistic': {metric: [b1, b2, b3, b4] of the fit on the oriented score}}}``;
    - optional ``negated`` (metrics where lower is better, negated before correlating), ``notes``, ``command``,
      ``title``.
    """
    title = data.get('title', 'Opinion-unaware NR-IQA benchmark')
    scatter = _scatter_data(data)
    body = [f'<h1>{_e(title)}</h1>']
    if data.get('command'):
        body += ['<p>Produced by:</p>', f'<pre class="cmd">{_e(data["command"])}</pre>']
    body += ['<h2 id="table">SRCC and PLCC against the opinion scores</h2>', _bench_table(data),
             '<p class="note">Higher is better; the best of each row in bold. PLCC after the 4-parameter logistic. '
             'Lower-is-better metrics are negated before correlating. Click a column head to sort.</p>']
    if scatter:
        body.append('<h2 id="scatter">Scores against MOS</h2>')
        body.append('<p class="note">One point per image; hover a point for its name, MOS and score. '
                    'Red: the fitted logistic.</p>')
        for dataset in scatter:
            body += [f'<h3>{_e(dataset)}</h3>', f'<div class="scatters" data-dataset="{_e(dataset)}"></div>']
    notes = data.get('notes') or []
    if notes:
        body += ['<h2 id="notes">Notes</h2>', '<ul>' + ''.join(f'<li>{_e(n)}</li>' for n in notes) + '</ul>']
    return _write(out_dir, name, _page(title, body, {'kind': 'bench', 'scatter': scatter}))


def bench_html_data(out_dir: str, titles: Optional[Mapping[str, str]] = None,
                    command: str = '') -> dict[str, Any]:
    """The data of :func:`write_bench_html` from a finished ``sfd-iqa bench`` folder: its ``results.json`` and
    ``<dataset>/scores.csv`` files (read, so the page can be made again without scoring anything)."""
    with open(osp.join(out_dir, 'results.json'), encoding='utf-8') as f:
        results = json.load(f)
    metrics = list(results['metrics'])
    rows: dict[str, Any] = {}
    scatter: dict[str, Any] = {}
    for name, info in results.get('datasets', {}).items():
        label = info.get('title') or name
        rows[label] = info.get('results', {})
        path = osp.join(out_dir, name, 'scores.csv')
        if not osp.isfile(path):
            continue
        with open(path, newline='', encoding='utf-8') as f:
            # images every metric scored, as the correlations used them
            kept = [r for r in csv.DictReader(f) if all(r.get(m) for m in metrics) and r.get('mos')]
        if kept:
            scatter[label] = {'images': [r['image'] for r in kept], 'mos': [float(r['mos']) for r in kept],
                              'scores': {m: [float(r[m]) for r in kept] for m in metrics},
                              'logistic': {m: res.get('logistic') for m, res in rows[label].items()}}
    rows.update(results.get('averages') or {})
    return {'metrics': metrics, 'titles': dict(titles or {}), 'rows': rows, 'scatter': scatter,
            'negated': [m for m in metrics if lower_is_better(m)], 'notes': list(results.get('notes') or []),
            'command': command}
