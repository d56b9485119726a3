"""report.html in a real browser: Debian's headless Chromium, driven by Playwright, loads a tiny generated report.

A JavaScript error (console error or uncaught exception) or a request leaving the folder fails the test. The
checks are on what the browser renders: the table order after a header click, the pixels on either side of the
viewer's divider, the view after a wheel zoom and a drag. Screenshots go to the test's tmp_path (kept when it fails).
"""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from sfd_arch.eval.html_report import COPY_DIR, bench_page_data, write_bench_html, write_compare_html
from sfd_arch.eval.plan import plan_metrics

CHROMIUM = os.environ.get('SFD_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
MODELS = ('bicubic', 'ESRGAN', 'SFD')
DATASETS = {'Set5': ('baby', 'bird'), 'Urban100': ('img_004',)}


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    """One headless Chromium for the module. Missing is a failure, not a skip: CI must run these tests."""
    if not (osp.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f'no Chromium at {CHROMIUM}: run make browser')
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('the playwright package is missing: run make browser')
    profile = tmp_path_factory.mktemp('chromium-profile')
    with sync_playwright() as p:
        # a persistent context is how Playwright takes a fresh --user-data-dir of our own
        context = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={'width': 1280, 'height': 900})
        yield context
        context.close()


def open_page(context, path: str):
    """The page at ``path`` with every JavaScript error and every non-file request recorded on it."""
    page = context.new_page()
    page.js_errors = []
    page.on('console', lambda msg: page.js_errors.append(f'console: {msg.text}') if msg.type == 'error' else None)
    page.on('pageerror', lambda err: page.js_errors.append(f'page error: {err}'))
    page.outside = []
    page.on('request', lambda req: None if req.url.startswith(('file://', 'data:')) else page.outside.append(req.url))
    page.goto('file://' + osp.abspath(path))
    page.wait_for_selector('html[data-ready="1"]')
    return page


def _photo(size: tuple[int, int] = (120, 80)) -> np.ndarray:
    from skimage import data

    return cv2.resize(data.chelsea()[:, 60:420, ::-1], size, interpolation=cv2.INTER_AREA)  # BGR, as cv2 writes


def _outputs(hr: np.ndarray) -> dict[str, np.ndarray]:
    small = cv2.resize(hr, (hr.shape[1] // 4, hr.shape[0] // 4), interpolation=cv2.INTER_AREA)
    bicubic = cv2.resize(small, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC)
    blur = cv2.GaussianBlur(bicubic, (0, 0), 1.5)
    sharp = cv2.addWeighted(bicubic, 2.2, blur, -1.2, 0)
    return {'bicubic': bicubic, 'ESRGAN': sharp, 'SFD': cv2.addWeighted(sharp, 0.5, hr, 0.5, 0)}


def make_compare_report(root: str) -> tuple[str, dict]:
    """A comparison folder as compare.py leaves it (sr/<model>/<dataset>/, HR elsewhere) and the page's data."""
    out = osp.join(root, 'cmp')
    rows, images = [], []
    for d, names in DATASETS.items():
        for k, image in enumerate(names):
            hr = np.roll(_photo(), 17 * k, axis=1)
            hr_path = osp.join(root, 'datasets', d, 'HR', f'{image}.png')
            os.makedirs(osp.dirname(hr_path), exist_ok=True)
            cv2.imwrite(hr_path, hr)
            sr = {}
            for i, (model, img) in enumerate(_outputs(hr).items()):
                sr[model] = osp.join(out, 'sr', model, d, f'{image}.png')
                os.makedirs(osp.dirname(sr[model]), exist_ok=True)
                cv2.imwrite(sr[model], img)
                rows += [(model, d, image, 'psnr', 24.0 + i - 0.3 * k), (model, d, image, 'lpips', 0.30 - 0.05 * i)]
            images.append({'dataset': d, 'image': image, 'hr': hr_path, 'sr': sr})
        rows += [(m, d, '*', 'fid', 80.0 - 10 * i) for i, m in enumerate(MODELS)]
    data = {'rows': rows, 'models': list(MODELS), 'datasets': list(DATASETS), 'metrics': ['psnr', 'lpips', 'fid'],
            'directions': {'psnr': 'higher', 'lpips': 'lower', 'fid': 'lower'},
            'labels': {'psnr': 'PSNR', 'lpips': 'LPIPS', 'fid': 'FID'}, 'images': images,
            'command': 'python scripts/compare.py -opt options/test_sfd_x4.yml --model bicubic --model SFD=net_g.pth',
            'weights': [{'metric': 'lpips', 'name': 'alex.pth', 'path': '/w/alex.pth', 'status': 'stand-in'},
                        {'metric': 'fid', 'name': 'inception.pth', 'path': '/w/inception.pth', 'status': 'published'}],
            'skipped': {'dists': 'weights missing'}, 'notes': ['bicubic: MATLAB-like imresize, x4.']}
    return write_compare_html(out, data), data


def column(page, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(f'{table} tbody tr', f'rows => rows.map(r => r.cells[{col}].textContent)')


def stage_pixels(page, viewer) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(viewer.query_selector('.stage').screenshot(), np.uint8), cv2.IMREAD_COLOR)


def test_compare_page_renders_offline(tmp_path, browser):
    path, _ = make_compare_report(str(tmp_path))
    page = open_page(browser, path)
    assert page.title() == 'Model comparison'
    # HR lived outside the folder: copied in, so the folder stands alone
    assert osp.isfile(osp.join(tmp_path, 'cmp', COPY_DIR, 'HR', 'Set5', 'baby.png'))
    assert page.locator('.viewer').count() == 3
    assert page.locator('#table-Set5 th.standin').count() == 1  # LPIPS, whose weights are a stand-in
    assert page.text_content('#table-Set5 td.best') is not None
    page.screenshot(path=str(tmp_path / 'compare_page.png'), full_page=True)
    assert not page.js_errors, page.js_errors
    assert not page.outside, page.outside


def test_compare_table_sorts(tmp_path, browser):
    path, _ = make_compare_report(str(tmp_path))
    page = open_page(browser, path)
    assert column(page, '#table-Set5', 0) == list(MODELS)
    page.click('#table-Set5 th[data-metric="psnr"]')  # higher is better: best first
    assert column(page, '#table-Set5', 0) == ['SFD', 'ESRGAN', 'bicubic']
    assert page.get_attribute('#table-Set5 th[data-metric="psnr"]', 'aria-sort') == 'descending'
    page.click('#table-Set5 th[data-metric="psnr"]')
    assert column(page, '#table-Set5', 0) == ['bicubic', 'ESRGAN', 'SFD']
    page.click('#table-Set5 th[data-metric="fid"]')  # lower is better: best first
    assert column(page, '#table-Set5', 3) == ['60.00', '70.00', '80.00']
    page.click('#table-Set5 th:first-child')
    assert column(page, '#table-Set5', 0) == sorted(MODELS, key=str.lower)
    assert column(page, '#table-Urban100', 0) == list(MODELS)  # each table sorts on its own
    assert not page.js_errors, page.js_errors


def test_viewer_divider_zoom_pan(tmp_path, browser):
    path, _ = make_compare_report(str(tmp_path))
    page = open_page(browser, path)
    viewer = page.locator('.viewer').first
    viewer.scroll_into_view_if_needed()
    page.wait_for_function('Array.from(document.querySelectorAll(".viewer")[0].querySelectorAll("img"))'
                           '.every(i => i.complete && i.naturalWidth > 0)')
    assert viewer.locator('.tag.left').text_content() == 'HR'
    assert viewer.locator('.tag.right').text_content() == 'SFD'
    handle = viewer.element_handle()
    stage = viewer.locator('.stage').bounding_box()

    def set_split(fraction: float) -> np.ndarray:
        page.evaluate(f'window.sfdViewers[0].moveDivider({fraction} * window.sfdViewers[0].stage.clientWidth)')
        return stage_pixels(page, handle).astype(np.int16)

    only_b, only_a = set_split(0.0), set_split(1.0)
    w = only_a.shape[1]
    assert np.abs(only_a - only_b).mean() > 2, 'HR and SFD render alike: the test cannot tell them apart'
    # drag the divider with the mouse to 30% of the width: A left of it, B right of it, both on screen
    page.evaluate('window.sfdViewers[0].moveDivider(window.sfdViewers[0].stage.clientWidth / 2)')
    y = stage['y'] + stage['height'] / 2
    page.mouse.move(stage['x'] + stage['width'] / 2, y)
    page.mouse.down()
    page.mouse.move(stage['x'] + 0.3 * stage['width'], y, steps=5)
    page.mouse.up()
    split = page.evaluate('window.sfdViewers[0].split')
    assert split == pytest.approx(0.3, abs=0.02)
    mixed = stage_pixels(page, handle).astype(np.int16)
    cut = int(split * w)
    left, right = slice(0, cut - 6), slice(cut + 6, w)
    assert np.abs(mixed[:, left] - only_a[:, left]).mean() < 1.0
    assert np.abs(mixed[:, right] - only_b[:, right]).mean() < 1.0
    assert np.abs(mixed[:, right] - only_a[:, right]).mean() > 2
    page.screenshot(path=str(tmp_path / 'viewer_divider.png'), clip=viewer.bounding_box())

    # wheel zoom about the cursor, then a drag to pan: one transform for both images
    before = page.evaluate('[window.sfdViewers[0].scale, window.sfdViewers[0].tx]')
    page.mouse.move(stage['x'] + 0.7 * stage['width'], y)
    page.mouse.wheel(0, -600)
    page.mouse.down()
    page.mouse.move(stage['x'] + 0.6 * stage['width'], y + 20, steps=4)
    page.mouse.up()
    scale, tx = page.evaluate('[window.sfdViewers[0].scale, window.sfdViewers[0].tx]')
    assert scale > 1.5 * before[0]
    transforms = viewer.locator('img').evaluate_all('imgs => imgs.map(i => i.style.transform)')
    assert transforms[0] == transforms[1] and 'scale' in transforms[0]
    assert page.evaluate('window.sfdViewers[0].split') == pytest.approx(split)  # panning left the divider alone
    page.screenshot(path=str(tmp_path / 'viewer_zoomed.png'), clip=viewer.bounding_box())

    # any two sources: bicubic on the left now; its row in the per-image table is highlighted
    viewer.locator('select.pick-a').select_option(label='bicubic')
    page.wait_for_function('document.querySelector(".viewer .layer.a img").src.includes("/sr/bicubic/")')
    assert viewer.locator('.tag.left').text_content() == 'bicubic'
    assert viewer.locator('tr.shown td:first-child').all_text_contents() == ['bicubic', 'SFD']
    assert not page.js_errors, page.js_errors
    assert not page.outside, page.outside


def make_bench_report(root: str) -> tuple[str, dict]:
    """A bench's page from its result, as ``sfd-iqa bench`` draws it: the ``results.json`` dict and per dataset
    the points its correlations used."""
    rng = np.random.default_rng(0)
    out = osp.join(root, 'bench')
    results = {'metrics': ['sfd_iqa', 'niqe'], 'datasets': {}, 'notes': ['negated before correlating: NIQE']}
    points = {}
    for name, title, n in (('live', 'LIVE', 30), ('koniq10k', 'KonIQ-10k', 40)):
        mos = rng.uniform(1, 5, n)
        scores = {'sfd_iqa': mos + rng.normal(0, 0.6, n), 'niqe': 9 - mos + rng.normal(0, 1, n)}
        points[name] = {'images': [f'{name}_{i:03d}.bmp' for i in range(n)], 'mos': [float(v) for v in mos],
                        'scores': {m: [float(v) for v in values] for m, values in scores.items()}}
        results['datasets'][name] = {'title': title, 'results': {
            'sfd_iqa': {'n': n, 'srcc': 0.8, 'plcc': 0.82, 'krcc': 0.6, 'logistic': [5.0, 1.0, 3.0, 0.8]},
            'niqe': {'n': n, 'srcc': 0.5 + 0.01 * n, 'plcc': 0.55, 'krcc': 0.4, 'logistic': [5.0, 1.0, -6, 1.0]}}}
    results['averages'] = {'AVG_D': {'sfd_iqa': {'n': 70, 'srcc': 0.8, 'plcc': 0.82, 'krcc': 0.6},
                                     'niqe': {'n': 70, 'srcc': float('nan'), 'plcc': 0.55, 'krcc': 0.4}}}
    data = bench_page_data(results, points, {'sfd_iqa': 'SFD-IQA', 'niqe': 'NIQE'},
                           'sfd-iqa bench --weights sfd_iqa.pth')
    assert data['negated'] == ['niqe'] and len(data['scatter']['LIVE']['images']) == 30
    return write_bench_html(out, data), data


def test_bench_page_table_and_scatter(tmp_path, browser):
    path, data = make_bench_report(str(tmp_path))
    page = open_page(browser, path)
    assert page.locator('.scatters[data-dataset="LIVE"] circle').count() == 2 * 30
    assert page.locator('.scatters[data-dataset="KonIQ-10k"] .scatter').count() == 2
    live = page.locator('#bench-table tbody tr').nth(0)
    assert live.locator('td.best').all_text_contents() == ['0.8000', '0.8200', '0.8000']  # ties as displayed
    axis_fill = page.eval_on_selector('.scatter .axis', 'a => getComputedStyle(a).fill')
    assert axis_fill == 'none'  # a filled axis path paints a black triangle over the points
    page.click('#bench-table th:nth-child(5)')  # NIQE SRCC, best first; the NaN of AVG_D stays last
    assert column(page, '#bench-table', 0) == ['KonIQ-10k', 'LIVE', 'AVG_D']
    point = page.locator('.scatters[data-dataset="LIVE"] .scatter[data-metric="NIQE"] circle').nth(3)
    point.hover()
    tip = page.locator('.scatters[data-dataset="LIVE"] .scatter[data-metric="NIQE"] .tip')
    assert tip.is_visible()
    live = data['scatter']['LIVE']
    # the hovered image, its MOS and its score as NIQE gives it (plotted negated, shown as it is)
    mos, score = live['mos'][3], live['scores']['niqe'][3]
    assert tip.text_content() == f'live_003.bmp \u00b7 MOS {mos:.4f} \u00b7 NIQE {score:.4f}'
    page.screenshot(path=str(tmp_path / 'bench_page.png'), full_page=True)
    assert not page.js_errors, page.js_errors
    assert not page.outside, page.outside


def test_lq_only_folder_through_compare_into_report_html(tmp_path, browser, monkeypatch, single_thread):
    """Real-world photos without ground truth (a plain folder, SingleImageDataset): no-reference metrics only, the
    full-reference column n/a, a score-per-model plot instead of the PD plane, and each output beside its LQ input."""
    import torch
    import yaml

    from sfd_arch.eval import compare

    lq_dir = tmp_path / 'photos'
    lq_dir.mkdir()
    for i, box in enumerate(((0, 0), (40, 16))):  # NIQE needs SR images of 2 x 2 of its 96-pixel blocks at least
        crop = _photo((160, 120))[box[1]:box[1] + 64, box[0]:box[0] + 64]
        cv2.imwrite(str(lq_dir / f'phone_{i}.png'), crop)
    opt = {'name': 'lq', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Phone', 'type': 'SingleImageDataset', 'dataroot_lq': str(lq_dir),
                                   'io_backend': {'type': 'disk'}}},
           'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}}
    (tmp_path / 'lq.yml').write_text(yaml.safe_dump(opt))
    torch.manual_seed(0)
    from basicsr.archs.srresnet_arch import MSRResNet

    torch.save({'params': MSRResNet(num_feat=8, num_block=1, upscale=4).state_dict()}, tmp_path / 'msr.pth')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    result = compare.run_compare('lq.yml', {'bicubic': 'bicubic', 'MSR': 'msr.pth'}, 'cmp', progress=False,
                                 network_g={'MSR': '{type: MSRResNet, num_feat: 8, num_block: 1, upscale: 4}'})
    assert result.pd_png is None and osp.isfile(result.scores_png) and result.visual == []
    assert {'psnr', 'niqe', 'piqe'} <= set(result.metrics)
    with open(result.metrics_csv) as f:
        metrics = {line.split(',')[3] for line in f.read().splitlines()[1:]}
    assert metrics == {'niqe', 'piqe'}  # no PSNR row: there is no HR to compare with
    table = open(result.table_md).read()  # n/a: PSNR (the file's) and SSIM (the protocol's)
    assert '| Phone | bicubic | n/a |' in table and table.count('n/a') == 4
    report = open(result.report_md).read()
    assert '![scores per model](scores.png)' in report and 'Phone: LQ images without ground truth' in report
    lq_copy = cv2.imread(str(tmp_path / 'cmp' / 'lq' / 'Phone' / 'phone_1.png'))
    assert np.array_equal(lq_copy, cv2.resize(cv2.imread(str(lq_dir / 'phone_1.png')), (256, 256),
                                              interpolation=cv2.INTER_NEAREST))

    page = open_page(browser, result.report_html)
    assert page.locator('#table-Phone td.na').count() == 4
    assert page.locator('#table-Phone td.na').first.text_content() == 'n/a'
    assert page.locator('a[href="#scores"]').count() == 1 and page.locator('#scores').count() == 1
    viewer = page.locator('.viewer').first
    assert page.locator('.viewer').count() == 2
    assert viewer.locator('select.pick-a option').all_text_contents() == ['LQ', 'bicubic', 'MSR']
    viewer.scroll_into_view_if_needed()
    page.wait_for_function('Array.from(document.querySelectorAll(".viewer")[0].querySelectorAll("img"))'
                           '.every(i => i.complete && i.naturalWidth > 0)')
    assert viewer.locator('.tag.left').text_content() == 'LQ'
    assert viewer.locator('.tag.right').text_content() == 'MSR'
    page.screenshot(path=str(tmp_path / 'lq_page.png'), full_page=True)
    assert not page.js_errors, page.js_errors
    assert not page.outside, page.outside
# -- the page fits the window -----------------------------------------------------------------------------------
WIDTHS = (1024, 1400, 1920)
# the demo's comparison (scripts/demo.py): its models, its columns and their marks, its weight paths
DEMO_CASE = {
    'models': ('bicubic', 'PSNR_stage1', 'SFD_demo', 'ESRGAN_demo'),
    'labels': {'psnr': 'PSNR', 'ssim': 'SSIM', 'niqe': 'NIQE', 'lpips': 'LPIPS (stand-in weights)',
               'sfd_iqa': 'SFD-IQA (random CLIP)'},
    'standin': ('lpips',)}
# a paper-style comparison: 6 models, 7 metrics (FID per dataset), three of them on stand-in weights
WIDE_CASE = {
    'models': ('bicubic', 'ESRGAN_SRx4_DF2KOST', 'RealESRGAN_x4plus', 'LDL_x4_DF2KOST', 'SFD_x4_f64b23_DIV2K',
               'SFD_x4_f64b23_noLPP'),
    'labels': {'psnr': 'PSNR', 'ssim': 'SSIM', 'lpips': 'LPIPS (stand-in weights)',
               'dists': 'DISTS (stand-in weights)', 'niqe': 'NIQE', 'sfd_iqa': 'SFD-IQA (random CLIP)',
               'fid': 'FID (stand-in weights)'},
    'standin': ('lpips', 'dists', 'fid')}
LOWER = {'lpips', 'dists', 'niqe', 'fid'}


def make_sized_report(root: str, case: dict) -> str:
    """A comparison page with ``case``'s models and metrics on two images, weights at long absolute paths."""
    out, models, metrics = osp.join(root, 'cmp'), case['models'], list(case['labels'])
    rows, images = [], []
    for k, image in enumerate(('chelsea', 'coffee')):
        hr = np.roll(_photo(), 17 * k, axis=1)
        hr_path = osp.join(root, 'datasets', 'demo_val', 'HR', f'{image}.png')
        os.makedirs(osp.dirname(hr_path), exist_ok=True)
        cv2.imwrite(hr_path, hr)
        sr = {}
        for i, model in enumerate(models):
            sr[model] = osp.join(out, 'sr', model, 'demo_val', f'{image}.png')
            os.makedirs(osp.dirname(sr[model]), exist_ok=True)
            cv2.imwrite(sr[model], cv2.GaussianBlur(hr, (0, 0), 0.5 + 0.3 * i))
            rows += [(model, 'demo_val', image, m, 10.0 + i + 0.123456 * k) for m in metrics if m != 'fid']
        images.append({'dataset': 'demo_val', 'image': image, 'hr': hr_path, 'sr': sr})
    rows += [(m, 'demo_val', '*', 'fid', 80.0 - 10 * i) for i, m in enumerate(models) if 'fid' in metrics]
    weight_dir = osp.join(root, 'a_long_checkout_folder_name', 'demo_output', 'pretrained_models')
    weights = [{'metric': m, 'name': f'{m}_weights_v0.1-7be5be79.pth', 'path': osp.join(weight_dir, f'{m}.pth'),
                'status': 'stand-in' if m in case['standin'] else 'published'} for m in metrics]
    data = {'rows': rows, 'models': list(models), 'datasets': ['demo_val'], 'metrics': metrics,
            'labels': case['labels'], 'directions': {m: 'lower' if m in LOWER else 'higher' for m in metrics},
            'images': images, 'weights': weights, 'command': 'python scripts/compare.py ' + ' '.join(
                f'--model {m}=experiments/{m}/models/net_g_latest.pth' for m in models),
            'skipped': {'musiq': 'weights missing: ' + osp.join(weight_dir, 'musiq_koniq_ckpt-e95806b9.pth')},
            # the protocol heads the page with a table of its own (long source paths and origins)
            'protocol': plan_metrics({'scale': 4, 'val': {'metrics': {'psnr': {'type': 'calculate_psnr',
                                                                                'crop_border': 4}}}},
                                     osp.join(weight_dir, 'test_demo.yml'), protocol='pyiqa').protocol_record()}
    return write_compare_html(out, data)


@pytest.mark.parametrize('case', [DEMO_CASE, WIDE_CASE], ids=['demo', '6_models_7_metrics'])
def test_page_fits_1024_to_1920_px_windows(tmp_path, browser, case):
    """No sideways scroll of the page; a table wider than its place scrolls in its own box, inside its card, with
    every column head whole."""
    page = open_page(browser, make_sized_report(str(tmp_path), case))
    for width in WIDTHS:
        page.set_viewport_size({'width': width, 'height': 900})
        scroll, inner = page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')
        assert scroll <= inner, (width, scroll, inner)
        boxes = page.eval_on_selector_all('.table-box', '''boxes => boxes.map(b => {
            const card = b.closest('.viewer') || document.body, r = b.getBoundingClientRect();
            const c = card.getBoundingClientRect(), t = b.querySelector('table');
            return {right: r.right, card: c.right, reach: b.scrollWidth, table: t.offsetWidth,
                    cut: Array.from(t.tHead.rows[0].cells).filter(h => h.scrollWidth > h.clientWidth).length}; })''')
        assert len(boxes) == 1 + 1 + 2 + 1  # the protocol's, the dataset's table, one per viewer, the weights
        for box in boxes:
            assert box['right'] <= box['card'] + 0.5, (width, box)  # inside its card
            assert box['reach'] >= box['table'] and box['cut'] == 0, (width, box)  # every column reachable, whole
        # the per-image table beside the viewer's stage where it fits, else below it (the demo's fits at 1920 px)
        places = page.eval_on_selector_all('.viewer', '''vs => vs.map(v => {
            const s = v.querySelector('.stage').getBoundingClientRect();
            const t = v.querySelector('.side').getBoundingClientRect();
            return t.left >= s.right ? 'beside' : t.top >= s.bottom ? 'below' : 'over'; })''')
        assert len(places) == 2 and set(places) <= {'beside', 'below'}, (width, places)
        if case is DEMO_CASE and width == 1920:
            assert places == ['beside', 'beside']
        page.screenshot(path=str(tmp_path / f'page_{width}.png'))
    assert not page.js_errors, page.js_errors


HOSTILE = '<script>alert(1)</script>'


def test_names_that_look_like_markup_are_shown_as_text(tmp_path, browser):
    """Both pages are Jinja2 templates with autoescaping on: a model, a dataset, an image and a note named
    ``<script>alert(1)</script>`` are shown as that text, and the browser creates no script element from them."""
    png = str(tmp_path / 'x.png')
    cv2.imwrite(png, _photo())
    rows = [(HOSTILE, HOSTILE, HOSTILE, 'psnr', 25.0), ('SFD', HOSTILE, HOSTILE, 'psnr', 26.0)]
    compare = write_compare_html(str(tmp_path / 'cmp'), {
        'rows': rows, 'directions': {'psnr': 'higher'}, 'notes': [HOSTILE], 'command': HOSTILE,
        'images': [{'dataset': HOSTILE, 'image': HOSTILE, 'hr': png, 'sr': {HOSTILE: png, 'SFD': png}}]})
    bench = write_bench_html(str(tmp_path / 'bench'), {
        'metrics': ['sfd_iqa'], 'titles': {'sfd_iqa': HOSTILE},
        'rows': {HOSTILE: {'sfd_iqa': {'n': 3, 'srcc': 0.5, 'plcc': 0.6}}}, 'notes': [HOSTILE],
        'scatter': {HOSTILE: {'images': [HOSTILE] * 3, 'mos': [1.0, 2.0, 3.0], 'scores': {'sfd_iqa': [1.0, 2.5, 2.0]},
                              'logistic': {'sfd_iqa': None}}}})
    dialogs = []
    browser.on('dialog', lambda d: (dialogs.append(d.message), d.dismiss()))
    for path, shown in ((compare, ('h3', 'td', 'li', 'pre.cmd', 'option')), (bench, ('h3', 'td', 'li', 'th'))):
        page = open_page(browser, path)
        # the page's own two (its data and its script), none from a name
        assert page.locator('script').count() == 2
        for selector in shown:
            assert any(HOSTILE in t for t in page.locator(selector).all_text_contents()), (path, selector)
        assert not dialogs and not page.js_errors and not page.outside, (dialogs, page.js_errors, page.outside)
        page.close()
