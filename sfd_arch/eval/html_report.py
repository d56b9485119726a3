"""``report.html``: a comparison or an IQA bench as one page that opens from its folder, with no network.

SR results are judged by looking, so the page lets a reader flip between two outputs over the same region:
pick any two of HR and the models, drag a divider between them, zoom with the wheel and pan by dragging, both
images in step. The metrics tables sort by any column (click a header). The IQA bench page draws one scatter
plot per dataset and metric; hovering a point names the image, its MOS and its score.

The page is built from plain data (the rows of ``metrics.csv`` and the paths the comparison already knows), so
it can be written again from a finished run. The pages are Jinja2 templates (``templates/``, autoescaping on);
the style sheet and script (``assets/``) are inlined into the page; images are referenced by relative paths.
Images outside the output folder (HR images, SR folders of other tools) are copied into ``report_files/`` so the
folder can be moved or shared as a whole.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional
from urllib.parse import quote

from ..metrics.records import lower_is_better
from ..utils.files import write_atomic
from .report import (
    ARROWS,
    DATASET_LEVEL,
    PROTOCOL_COLUMNS,
    ResultRow,
    _ranks,
    column_digits,
    dataset_means,
    format_value,
)

ASSETS = osp.join(osp.dirname(osp.abspath(__file__)), 'assets')
TEMPLATES = osp.join(osp.dirname(osp.abspath(__file__)), 'templates')  # the Jinja2 pages
HR = 'HR'
LQ = 'LQ'  # the input of a dataset without ground truth, enlarged by nearest neighbour to the SR size
COPY_DIR = 'report_files'  # images from outside the output folder, copied so the folder is self-contained
WEIGHT_MEANING = {'published': 'published', 'stand-in': 'random stand-in (numbers not comparable to published ones)',
                  'missing': 'missing (metric skipped)'}


# -- shared page parts ------------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    with open(osp.join(ASSETS, name), encoding='utf-8') as f:
        return f.read()


def _environment() -> Any:
    """The Jinja2 environment of ``templates/``, autoescaping on: every value a page shows (model, dataset and
    image names, notes, paths) is escaped unless the code marks it as markup (the inlined assets, the JSON)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _page(template: str, title: str, data: Mapping[str, Any], **context: Any) -> str:
    """The whole document from ``template``: style and script inlined, ``data`` as JSON the script reads (``</``
    escaped so no value can close the script element)."""
    from markupsafe import Markup

    payload = json.dumps(data, allow_nan=False, ensure_ascii=False).replace('</', '<\\/')
    return _environment().get_template(template).render(
        title=title, css=Markup(_asset('report.css')), js=Markup(_asset('report.js')), payload=Markup(payload),
        **context)


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
def _as_row(row: Any) -> ResultRow:
    if isinstance(row, ResultRow):
        return row
    if isinstance(row, Mapping):
        return ResultRow(row['model'], row['dataset'], row['image'], row['metric'], float(row['value']))
    model, dataset, image, metric, value = row
    return ResultRow(model, dataset, image, metric, float(value))


def _mark(rank: Optional[int], competitors: int) -> str:
    """``best`` / ``second`` as in report.md: a best needs two competitors, a second three."""
    if rank == 1 and competitors >= 2:
        return 'best'
    if rank == 2 and competitors >= 3:
        return 'second'
    return ''


def _metric_head(metric: str, data: Mapping[str, Any], standin: set[str]) -> dict[str, Any]:
    direction = data['directions'].get(metric, 'higher')
    return {'metric': metric, 'label': data.get('labels', {}).get(metric, metric), 'direction': direction,
            'arrow': ARROWS.get(direction, ''), 'standin': metric in standin,
            'title': f'{"higher" if direction == "higher" else "lower"} is better'}


def metrics_table_data(values: Mapping[str, Mapping[str, float]], rows: Sequence[str], metrics: Sequence[str],
                       data: Mapping[str, Any], standin: set[str], first: str = 'Model',
                       digits: Optional[Mapping[str, int]] = None, table_id: str = '',
                       not_applicable: Iterable[str] = ()) -> dict[str, Any]:
    """A sortable table (``tables.html.j2``'s ``metrics_table``): one row per name of ``rows``
    (``values[row][metric]``), best and second marked; a metric of ``not_applicable`` reads n/a (full-reference on
    a dataset without ground truth)."""
    not_applicable = set(not_applicable)
    digits = digits or {m: column_digits(values.get(r, {}).get(m, float('nan')) for r in rows) for m in metrics}
    ranks = {m: _ranks({r: values[r][m] for r in rows if m in values.get(r, {})},
                       data['directions'].get(m, 'higher'), digits[m]) for m in metrics}
    body = []
    for name in rows:
        cells = []
        for m in metrics:
            value = values.get(name, {}).get(m)
            if value is None or not _finite(value):
                cells.append({'kind': 'na' if value is None and m in not_applicable else 'none'})
                continue
            cls = ' '.join(c for c in (_mark(ranks[m].get(name), len(ranks[m])), 'standin' if m in standin else '')
                           if c)
            cells.append({'kind': 'value', 'cls': cls, 'v': repr(value), 'text': format_value(value, digits[m])})
        body.append({'name': name, 'cells': cells})
    return {'id': table_id, 'first': first, 'heads': [_metric_head(m, data, standin) for m in metrics], 'rows': body}


def _viewer(entry: Mapping[str, Any], models: Sequence[str], per_image: Mapping[str, Mapping[str, float]],
            metrics: Sequence[str], data: Mapping[str, Any], standin: set[str], digits: Mapping[str, int],
            out_dir: str) -> Optional[dict[str, Any]]:
    """One image's viewer: its sources (name, URL), the default pair and the per-image table; None with fewer than
    two sources."""
    dataset, image = entry['dataset'], entry['image']
    sources: list[tuple[str, str]] = []
    if entry.get('hr') and osp.isfile(entry['hr']):
        sources.append((HR, image_link(entry['hr'], out_dir, (HR, dataset))))
    elif entry.get('lq') and osp.isfile(entry['lq']):  # no ground truth: the input itself is the reference
        sources.append((LQ, image_link(entry['lq'], out_dir, (LQ, dataset))))
    sr = entry.get('sr', {})
    sources += [(m, image_link(sr[m], out_dir, (m, dataset))) for m in models if sr.get(m) and osp.isfile(sr[m])]
    if len(sources) < 2:
        return None
    # default pair: the last model (usually the proposed one) against HR (or LQ), or the first two sources
    left, right = (0, len(sources) - 1) if sources[0][0] in (HR, LQ) else (0, 1)
    rows = [m for m in models if m in per_image]
    table = metrics_table_data(per_image, rows, metrics, data, standin, digits=digits) if rows and metrics else None
    return {'key': f'{dataset}/{image}', 'dataset': dataset, 'image': image, 'sources': sources, 'left': left,
            'right': right, 'table': table}


def write_compare_html(out_dir: str, data: Mapping[str, Any], name: str = 'report.html') -> str:
    """Write ``out_dir/report.html`` of a model comparison and return its path.

    ``data`` (plain values, as ``report.md`` is made from):

    - ``rows``: ``metrics.csv`` rows (``ResultRow``, ``(model, dataset, image, metric, value)`` or dicts);
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
    na = [tuple(p) for p in data.get('not_applicable') or ()]
    tables = [{'name': d, 'table': metrics_table_data(means.get(d, {}), models, metrics, data, standin, digits=digits,
                                                      table_id=f'table-{d}',
                                                      not_applicable={m for ds, m in na if ds == d})}
              for d in datasets]
    per_image = _per_image(rows)
    image_metrics = [m for m in metrics if any(m in v for d in per_image.values() for v in d.values())]
    viewers = [_viewer(e, models, per_image.get((e['dataset'], e['image']), {}), image_metrics, data, standin,
                       digits, out_dir) for e in data.get('images') or []]
    viewers = [v for v in viewers if v]
    protocol = data.get('protocol') or {}
    weights = [{**{k: w.get(k, '') for k in ('metric', 'name', 'path', 'status')},
                'meaning': WEIGHT_MEANING.get(w.get('status', ''), w.get('status', ''))}
               for w in data.get('weights') or []]
    page = _page(
        'compare.html.j2', title, {'kind': 'compare', 'images': len(viewers)},
        toc=[s for s in sections if s], protocol=protocol, protocol_heads=[h for _, h in PROTOCOL_COLUMNS],
        protocol_rows=[[row.get(k, '') for k, _ in PROTOCOL_COLUMNS] for row in protocol.get('metrics') or []],
        command=data.get('command') or '', dataset_tables=tables, any_na=bool(na), any_standin=bool(standin),
        pd_png=image_link(data['pd_png'], out_dir, ('figures',)) if data.get('pd_png') else '',
        pd_caption=data.get('pd_caption', ''),
        scores_png=image_link(data['scores_png'], out_dir, ('figures',)) if data.get('scores_png') else '',
        viewers=viewers, lq_note=any(not e.get('hr') and e.get('lq') for e in data.get('images') or []),
        weights=weights, skipped=data.get('skipped') or {}, notes=data.get('notes') or [])
    return _write(out_dir, name, page)


def _per_image(rows: Iterable[ResultRow]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """``{(dataset, image): {model: {metric: value}}}`` of the per-image rows (dataset-level ones left out)."""
    out: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for r in rows:
        if r.image != DATASET_LEVEL:
            out.setdefault((r.dataset, r.image), {}).setdefault(r.model, {})[r.metric] = r.value
    return out


# -- IQA bench page ---------------------------------------------------------------------------------------------
def _bench_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows: datasets and averages; cells: SRCC and PLCC of each metric (None: no value); the best of a row marked."""
    metrics = list(data['metrics'])
    columns = [(m, c) for m in metrics for c in ('srcc', 'plcc')]
    out = []
    for label, results in data['rows'].items():
        best = {}  # compared as displayed (4 decimals), so equal-looking cells are both bold
        for c in ('srcc', 'plcc'):
            vals = [round(results[m][c], 4) for m in metrics if m in results and _finite(results[m].get(c))]
            best[c] = max(vals) if len(vals) > 1 else None
        cells: list[Optional[dict[str, Any]]] = []
        for m, c in columns:
            v = results.get(m, {}).get(c)
            cells.append({'best': best[c] is not None and round(v, 4) == best[c], 'v': repr(v), 'text': f'{v:.4f}'}
                         if _finite(v) else None)
        out.append({'label': label, 'n': next((r.get('n') for r in results.values() if r.get('n')), ''),
                    'cells': cells})
    return out


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
    titles = data.get('titles', {})
    columns = [(m, titles.get(m, m), c) for m in data['metrics'] for c in ('srcc', 'plcc')]
    page = _page('bench.html.j2', title, {'kind': 'bench', 'scatter': scatter}, command=data.get('command') or '',
                 columns=columns, rows=_bench_rows(data), scatter=list(scatter), notes=data.get('notes') or [])
    return _write(out_dir, name, page)


def bench_page_data(results: Mapping[str, Any], points: Mapping[str, Mapping[str, Any]],
                    titles: Optional[Mapping[str, str]] = None, command: str = '') -> dict[str, Any]:
    """The data of :func:`write_bench_html` from a bench's ``results.json`` dict and, per dataset, the points of
    its scatter plots (``{'images', 'mos', 'scores': {metric: raw scores}}``)."""
    metrics = list(results['metrics'])
    rows: dict[str, Any] = {}
    scatter: dict[str, Any] = {}
    for name, info in results.get('datasets', {}).items():
        label = info.get('title') or name
        rows[label] = info.get('results', {})
        if points.get(name):
            scatter[label] = {**points[name], 'logistic': {m: res.get('logistic') for m, res in rows[label].items()}}
    rows.update(results.get('averages') or {})
    return {'metrics': metrics, 'titles': dict(titles or {}), 'rows': rows, 'scatter': scatter,
            'negated': [m for m in metrics if lower_is_better(m)], 'notes': list(results.get('notes') or []),
            'command': command}
