"""`sfd-iqa bench` over synthetic copies of three released datasets: the table, the intervals, the figures, the
resumable cache, the baselines against their reference implementations, and bad input."""
import csv
import json
import os

import cv2
import numpy as np
import openpyxl
import pytest
import torch
import torch.nn.functional as F
from scipy import io, stats
from sfd_testutil import tiny_clip_from_file

from sfd_arch.archs import FeatD, PromptLearner
from sfd_arch.cli import main as cli
from sfd_arch.iqa import SFDIQA
from sfd_arch.iqa.images import read_image
from sfd_arch.iqa_bench import baselines, bench, datasets
from sfd_arch.iqa_bench import correlation as ev
from sfd_arch.metrics.records import lower_is_better

N = 8       # images per dataset
SIZE = 192  # NIQE needs about this much


@pytest.fixture(scope='module')
def weights(tmp_path_factory, single_thread):
    """An SFD-IQA weights file exported from tiny random networks (CLIP weights from a file, so reproducible)."""
    root = tmp_path_factory.mktemp('weights')
    clip, clip_file = tiny_clip_from_file(root)
    featd, lpp = FeatD(clip=clip, num_feat=8, depth=1), PromptLearner(clip=clip, n_ctx=2)
    return SFDIQA(clip, featd, lpp).save(str(root / 'sfd_iqa.pth'))


def distorted(level: int, seed: int, size: int = SIZE) -> np.ndarray:
    """A smooth random picture with noise growing with ``level``: uint8 BGR."""
    g = torch.Generator().manual_seed(seed)
    img = F.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(size, size), mode='bicubic',
                        align_corners=False)[0]
    img = (img + 0.04 * (level + 1) * torch.randn(img.shape, generator=g)).clamp(0, 1)  # noise-free = flat
    return (img.permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round().astype(np.uint8)


def mos_of(level: int, i: int) -> float:
    return 80.0 - 8.0 * level + 3.0 * ((-1) ** i)


def cell(strings):
    arr = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        arr[i, 0] = np.array([s])
    return arr


def make_releases(root, seed=0):
    """kadid10k (dmos.csv), ChallengeDB_release (.mat) and SPAQ (.xlsx) with N images each."""
    kadid = root / 'kadid10k'
    (kadid / 'images').mkdir(parents=True)
    with open(kadid / 'dmos.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['dist_img', 'ref_img', 'dmos', 'var'])
        for i in range(N):
            name = f'I01_01_{i + 1:02d}.png'
            cv2.imwrite(str(kadid / 'images' / name), distorted(i, seed + i))
            w.writerow([name, 'I01.png', 5 - 0.5 * i + 0.1 * ((-1) ** i), 0.1])
    clive = root / 'ChallengeDB_release'
    (clive / 'Data').mkdir(parents=True)
    (clive / 'Images' / 'trainingImages').mkdir(parents=True)
    names = [f't{i}.bmp' for i in range(1, 8)] + [f'{100 + i}.bmp' for i in range(N)]
    io.savemat(clive / 'Data' / 'AllImages_release.mat', {'AllImages_release': cell(names)})
    io.savemat(clive / 'Data' / 'AllMOS_release.mat',
               {'AllMOS_release': np.array([[50.0] * 7 + [mos_of(i, i) for i in range(N)]])})
    for i, name in enumerate(names[7:]):
        cv2.imwrite(str(clive / 'Images' / name), distorted(i, seed + 100 + i))
    spaq = root / 'SPAQ'
    (spaq / 'Annotations').mkdir(parents=True)
    (spaq / 'TestImage').mkdir()
    book = openpyxl.Workbook()
    book.active.append(['Image name', 'MOS', 'Brightness'])
    for i in range(N):
        name = f'{i + 1:05d}.jpg'
        cv2.imwrite(str(spaq / 'TestImage' / name), distorted(i, seed + 200 + i, size=SIZE + 32))
        book.active.append([name, mos_of(i, i), 50])
    book.save(spaq / 'Annotations' / 'MOS and Image attribute scores.xlsx')
    return root


class Counter:
    """Wraps a scoring function: counts calls, and raises KeyboardInterrupt on call number ``stop_at``."""

    def __init__(self, fn, stop_at=None):
        self.fn, self.calls, self.stop_at = fn, 0, stop_at

    def __call__(self, *args):
        self.calls += 1
        if self.stop_at is not None and self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.fn(*args)


def counting_sfd(monkeypatch):
    seen = []
    real = bench.iter_sfd_iqa

    def spy(scorer, items, short_side, *resize):
        for row in real(scorer, items, short_side, *resize):
            seen.append(row[0])
            yield row

    monkeypatch.setattr(bench, 'iter_sfd_iqa', spy)
    return seen


def args(root, out, weights, *extra):
    return ['bench', '--root', str(root), '--datasets', 'kadid10k', 'clive', 'spaq', 'csiq', '--metric', 'sfd_iqa',
            'niqe', 'piqe', 'brisque', '-w', weights, '-o', str(out), '--bootstrap', '10', '--tile', '0',
            '--workers', '0', '--no-progress', *extra]


def test_bench_table_intervals_figures_and_resume(tmp_path, weights, monkeypatch, capsys, single_thread):
    root = make_releases(tmp_path / 'IQA')
    out = tmp_path / 'report'
    monkeypatch.setattr(baselines, 'unavailable_reason',
                        lambda m, real=baselines.unavailable_reason: 'pyiqa is not installed' if m == 'brisque'
                        else real(m))
    # first run: interrupted during PIQE on the first dataset, after 4 images
    sfd_seen = counting_sfd(monkeypatch)
    piqe = Counter(baselines.piqe_of_array, stop_at=5)
    monkeypatch.setattr(baselines, 'piqe_of_array', piqe)
    assert cli(args(root, out, weights)) == 130
    assert len(sfd_seen) == N and piqe.calls == 5
    cache = out / 'cache' / 'kadid10k' / 'asis'
    assert len(list(csv.DictReader((cache / 'sfd_iqa.csv').open()))) == N
    assert len(list(csv.DictReader((cache / 'piqe.csv').open()))) == 4
    assert not (out / 'table.md').exists()

    # second run: nothing scored twice
    sfd_seen.clear()
    piqe = Counter(baselines.piqe_of_array)
    niqe = Counter(baselines.niqe_of_array)
    monkeypatch.setattr(baselines, 'piqe_of_array', piqe)
    monkeypatch.setattr(baselines, 'niqe_of_array', niqe)
    capsys.readouterr()
    assert cli(args(root, out, weights)) == 0
    printed = capsys.readouterr()
    assert len(sfd_seen) == 2 * N and piqe.calls == 3 * N - 4 and niqe.calls == 2 * N
    assert 'not found: csiq' in printed.err and 'unavailable: brisque: pyiqa is not installed' in printed.err

    # a third run scores nothing and gives the same table
    table = (out / 'table.md').read_text()
    sfd_seen.clear()
    piqe.calls = niqe.calls = 0
    assert cli(args(root, out, weights)) == 0
    assert not sfd_seen and piqe.calls == niqe.calls == 0
    assert (out / 'table.md').read_text() == table
    page = (out / 'report.html').read_text()  # the same results as a page: a scatter section per scored dataset
    assert all(f'data-dataset="{title}"' in page for title in ('KADID-10k', 'CLIVE', 'SPAQ'))
    # every file is a function of the result: the engine run again on the finished caches (nothing to score)
    # gives a result whose page and files are those the command wrote
    from sfd_arch.cli import build_parser
    from sfd_arch.cli.bench import settings_from_args, write_bench
    from sfd_arch.eval.html_report import bench_page_data, write_bench_html
    from sfd_arch.iqa_bench.run import run_bench

    argv = args(root, out, weights)
    again = run_bench(settings_from_args(build_parser(argv).parse_args(argv)), report=lambda line: None)
    assert not sfd_seen and piqe.calls == niqe.calls == 0
    (folder, result), = again.results.items()
    assert folder == str(out) and result.table.text == table
    html = write_bench_html(str(tmp_path / 'again'), bench_page_data(result.report, result.points, bench.titles()))
    assert open(html).read() == page
    write_bench(result, str(tmp_path / 'rewritten'))
    for name in ('results.json', 'table.md', 'report.html', 'kadid10k/scores.csv', 'spaq/scores.csv'):
        assert (tmp_path / 'rewritten' / name).read_text() == (out / name).read_text(), name

    # table.md: datasets as rows, methods as columns, best of each row in bold, notes
    lines = table.splitlines()
    assert '| Dataset | n | SFD-IQA | NIQE | PIQE |' in lines
    rows = {ln.split('|')[1].strip(): ln for ln in lines if ln.startswith('| ') and ln.count('/') == 3}
    assert set(rows) == {'KADID-10k', 'CLIVE', 'SPAQ', 'AVG_D', 'AVG_W'}
    assert all(rows[r].count('**') == 4 for r in rows)  # one bold SRCC and one bold PLCC per row (no ties here)
    assert '- not found: csiq' in lines and any('BRISQUE: pyiqa is not installed' in ln for ln in lines)

    # results.json equals scipy on the per-image scores; intervals bracket sensible values
    res = json.loads((out / 'results.json').read_text())
    per = {}
    for name in ('kadid10k', 'clive', 'spaq'):
        got = res['datasets'][name]
        scores = list(csv.DictReader((out / name / 'scores.csv').open()))
        assert len(scores) == N and got['evaluated'] == N and not any(r['error'] for r in scores)
        y = np.array([float(r['mos']) for r in scores])
        for metric in ('sfd_iqa', 'niqe', 'piqe'):
            x = np.array([float(r[metric]) for r in scores]) * (-1 if lower_is_better(metric) else 1)
            r = got['results'][metric]
            assert r['srcc'] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
            assert r['krcc'] == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)
            mapped = ev.logistic4(x, *r['logistic']) if r['logistic'] else x
            sign = -1 if r['logistic'] and r['logistic'][0] < r['logistic'][1] else 1  # a decreasing fit
            assert r['plcc'] == pytest.approx(sign * stats.pearsonr(mapped, y)[0], abs=1e-9)
            for crit in ('srcc', 'plcc', 'krcc'):
                lo, hi = r['ci95'][crit]
                assert -1 <= lo <= hi <= 1
            per.setdefault(metric, []).append((r['srcc'], got['evaluated']))
        assert f'{got["title"]}' in rows
    for metric, vals in per.items():
        avg_d = res['averages']['AVG_D'][metric]['srcc']
        avg_w = res['averages']['AVG_W'][metric]['srcc']
        assert avg_d == pytest.approx(np.mean([v for v, _ in vals]), abs=1e-12)
        assert avg_w == pytest.approx(sum(v * n for v, n in vals) / sum(n for _, n in vals), abs=1e-12)
    # the noise levels make PIQE agree with the opinion scores; relative PLCC is PLCC / NIQE's
    assert res['datasets']['kadid10k']['results']['piqe']['srcc'] > 0.5
    rel = res['relative_plcc']['kadid10k']['piqe'][0]
    assert rel == pytest.approx(res['datasets']['kadid10k']['results']['piqe']['plcc']
                                / res['datasets']['kadid10k']['results']['niqe']['plcc'], rel=1e-12)
    assert res['unavailable'] == {'brisque': 'pyiqa is not installed'} and res['missing'] == ['csiq']
    for png in ('relative_plcc.png', 'scatter/kadid10k.png', 'scatter/clive.png', 'scatter/spaq.png'):
        assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_cache_refuses_other_settings_and_resizes_spaq(tmp_path, weights, monkeypatch, single_thread):
    root = make_releases(tmp_path / 'IQA', seed=5)
    out = tmp_path / 'report'
    base = ['bench', '--root', str(root), '--datasets', 'spaq', '--metric', 'sfd_iqa', 'piqe', '--baseline', 'piqe',
            '-w', weights, '-o', str(out), '--bootstrap', '0', '--tile', '0', '--workers', '0', '--no-progress']
    assert cli(base + ['--spaq-short-side', '64']) == 0
    cache = out / 'cache' / 'spaq' / 'short64' / 'sfd_iqa.csv'
    rows = list(csv.DictReader(cache.open()))
    scorer = SFDIQA.from_file(weights, tile=0)
    first = bench.resize_short_side(read_image(str(root / 'SPAQ' / 'TestImage' / '00001.jpg')), 64)
    assert first.height == first.width == 64
    assert float(rows[0]['score']) == pytest.approx(scorer.score_arrays([first])[0].score, abs=1e-6)
    before = cache.read_bytes()
    assert cli(base + ['--spaq-short-side', '64', '--alpha', '0.3']) == 2  # other settings: refused, kept
    assert cache.read_bytes() == before
    seen = counting_sfd(monkeypatch)
    assert cli(base + ['--spaq-short-side', '64', '--alpha', '0.3', '--overwrite']) == 0
    assert len(seen) == N
    assert float(list(csv.DictReader(cache.open()))[0]['score']) != float(rows[0]['score'])


def test_bad_input_gives_error_rows_and_nonzero_exit(tmp_path, weights, capsys, single_thread):
    root = make_releases(tmp_path / 'IQA', seed=9)
    os.remove(root / 'ChallengeDB_release' / 'Data' / 'AllMOS_release.mat')           # missing MOS file
    (root / 'kadid10k' / 'images' / 'I01_01_03.png').write_bytes(b'\x89PNG\r\n\x1a\nbroken')  # fails to decode
    os.remove(root / 'SPAQ' / 'TestImage' / '00002.jpg')                             # listed but absent
    out = tmp_path / 'report'
    code = cli(['bench', '--root', str(root), '--datasets', 'kadid10k', 'clive', 'spaq', '--metric', 'sfd_iqa',
                'piqe', '--baseline', 'piqe', '-w', weights, '-o', str(out), '--bootstrap', '0', '--tile', '0',
                '--workers', '0', '--no-progress'])
    err = capsys.readouterr().err
    assert code == 1
    assert 'AllMOS_release.mat: not found' in err and 'clive' in err
    kadid = {r['image']: r for r in csv.DictReader((out / 'kadid10k' / 'scores.csv').open())}
    assert 'cannot decode' in kadid['I01_01_03.png']['error'] and kadid['I01_01_03.png']['sfd_iqa'] == ''
    assert all(r['sfd_iqa'] and r['piqe'] for n, r in kadid.items() if n != 'I01_01_03.png')
    spaq = {r['image']: r for r in csv.DictReader((out / 'spaq' / 'scores.csv').open())}
    assert 'listed in' in spaq['00002.jpg']['error'] and 'not found' in spaq['00002.jpg']['error']
    res = json.loads((out / 'results.json').read_text())
    assert res['datasets']['kadid10k']['evaluated'] == N - 1 and res['datasets']['kadid10k']['failed'] == 1
    assert res['datasets']['spaq']['absent'] == 1 and 'clive' in res['unreadable']
    # usage errors: exit 2, nothing written
    assert cli(['bench', '--root', str(tmp_path / 'nowhere'), '-o', str(tmp_path / 'x'), '--no-progress']) == 2
    assert cli(['bench', '--root', str(root), '--datasets', 'csiq', '--metric', 'piqe', '-o', str(tmp_path / 'y'),
                '--no-progress']) == 2
    assert not (tmp_path / 'x').exists() and not (tmp_path / 'y').exists()


def test_baselines_equal_their_reference_implementations(tmp_path):
    from basicsr.metrics.niqe import calculate_niqe
    from pypiqe import piqe

    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, distorted(3, 42))
    bgr = cv2.imread(path)
    assert baselines.piqe_of_array(read_image(path)) == pytest.approx(piqe(bgr)[0], abs=1e-12)
    assert baselines.niqe_of_array(read_image(path)) == pytest.approx(
        calculate_niqe(bgr, crop_border=0, input_order='HWC', convert_to='y'), abs=1e-9)
    assert baselines.unavailable_reason('niqe') is None and baselines.unavailable_reason('piqe') is None


def test_eval_reads_a_release_with_its_preset(tmp_path, weights, capsys, single_thread):
    root = make_releases(tmp_path / 'IQA', seed=3)
    out = tmp_path / 'eval'
    assert cli(['eval', str(root / 'ChallengeDB_release'), '--preset', 'livec', '-w', weights, '--metric',
                'sfd_iqa', 'niqe', '--out-dir', str(out), '--tile', '0', '--workers', '0', '--no-progress']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    rows = list(csv.DictReader((out / 'scores.csv').open()))
    assert summary['preset'] == 'clive' and summary['listed'] == N and len(rows) == N
    assert [r['image'] for r in rows] == [f'{100 + i}.bmp' for i in range(N)]  # training images left out
    assert [float(r['mos']) for r in rows] == [mos_of(i, i) for i in range(N)]
    assert summary['results']['sfd_iqa']['n'] == N and (out / 'scatter.png').is_file()
    assert cli(['eval', str(root / 'SPAQ'), '-w', weights, '--out-dir', str(out), '--no-progress']) == 2


def write_labelled_folder(folder, count: int, first_seed: int):
    """A user's own folder: ``count`` distorted images and ``labels.csv`` (image, mos) beside them."""
    folder.mkdir()
    with open(folder / 'labels.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['image', 'mos'])
        for i in range(count):
            cv2.imwrite(str(folder / f'p{i}.png'), distorted(i, first_seed + i))
            w.writerow([f'p{i}.png', mos_of(i, i)])
    return folder


def test_dataset_dir_points_at_a_release_or_a_csv(tmp_path, capsys):
    root = make_releases(tmp_path / 'IQA', seed=7)
    mine = write_labelled_folder(tmp_path / 'mine', count=4, first_seed=300)
    moved = tmp_path / 'elsewhere' / 'kadid_copy'
    os.makedirs(moved.parent)
    os.rename(root / 'kadid10k', moved)
    out = tmp_path / 'report'
    code = cli(['bench', '--datasets', 'kadid10k', '--dataset-dir', f'kadid10k={moved}', '--dataset-dir',
                f'phone={mine / "labels.csv"}', '--metric', 'piqe', '--baseline', 'piqe', '-o', str(out),
                '--bootstrap', '0', '--no-progress'])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / 'results.json').read_text())
    assert sorted(res['datasets']) == ['kadid10k', 'phone'] and res['missing'] == []
    assert res['datasets']['phone']['evaluated'] == 4 and res['datasets']['kadid10k']['evaluated'] == N
    assert '| phone | 4 |' in (out / 'table.md').read_text()
    assert cli(['bench', '--dataset-dir', 'phone=nothing.txt', '-o', str(tmp_path / 'z'), '--no-progress']) == 2


def _related(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A metric that agrees with the opinion scores up to noise: (scores, mos) of ``n`` images."""
    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, n)
    return mos + rng.normal(0, 0.8, n), mos


def test_avg_w_weights_datasets_by_their_images_as_by_hand():
    """Datasets of 10, 40 and 160 images with different agreement: AVG_W is the image-weighted mean, computed
    here by hand from scipy's SRCC/KRCC, and differs from AVG_D (weights of one would fail this)."""
    sizes = {'small': 10, 'medium': 40, 'large': 160}
    data = {name: _related(n, seed) for seed, (name, n) in enumerate(sizes.items())}
    data['small'] = (-data['small'][0], data['small'][1])  # a dataset where the metric disagrees
    per = {name: bench.evaluate_metrics({'m': x}, y, 0, 0) for name, (x, y) in data.items()}
    rows = bench.averages(per, ['m'])
    for crit, fn in (('srcc', stats.spearmanr), ('krcc', stats.kendalltau)):
        values = {name: fn(x, y)[0] for name, (x, y) in data.items()}
        by_hand = (10 * values['small'] + 40 * values['medium'] + 160 * values['large']) / 210
        assert getattr(rows['AVG_W']['m'], crit) == pytest.approx(by_hand, abs=1e-12)
        assert getattr(rows['AVG_D']['m'], crit) == pytest.approx(np.mean(list(values.values())), abs=1e-12)
        assert abs(getattr(rows['AVG_W']['m'], crit) - getattr(rows['AVG_D']['m'], crit)) > 0.1
    assert rows['AVG_W']['m'].n == 210


@pytest.mark.slow
def test_bootstrap_intervals_match_scipy():
    """Percentile intervals of 10,000 resamples against ``scipy.stats.bootstrap`` (paired, percentile) on the
    same data, within 0.02 (slow: 10,000 logistic refits on a busy 2-core machine take minutes)."""
    x, y = _related(60, 7)
    ours = bench.evaluate_metrics({'m': x}, y, 10_000, 0)['m']
    for crit, fn in (('srcc', stats.spearmanr), ('krcc', stats.kendalltau)):
        ref = stats.bootstrap((x, y), lambda a, b, fn=fn: fn(a, b)[0], paired=True, vectorized=False,
                              n_resamples=10_000, method='percentile', confidence_level=0.95,
                              random_state=1).confidence_interval
        assert ours.ci[crit] == pytest.approx([ref.low, ref.high], abs=0.02), crit


def test_bootstrap_intervals_narrow_with_four_times_the_images():
    """The interval's width shrinks about as 1/sqrt(n): four times the images, about half as wide."""
    widths = []
    for n, seed in ((50, 7), (200, 8)):
        x, y = _related(n, seed)
        ci = bench.evaluate_metrics({'m': x}, y, 400, 0)['m'].ci
        widths.append({crit: ci[crit][1] - ci[crit][0] for crit in ('srcc', 'plcc', 'krcc')})
    for crit in ('srcc', 'plcc', 'krcc'):
        assert widths[1][crit] < 0.75 * widths[0][crit], (crit, widths)


def test_only_the_datasets_asked_for_and_a_figure_not_written_says_why(tmp_path, capsys):
    """``--dataset-dir mine=labels.csv`` alone reports that dataset only; the relative-PLCC figure needs its
    baseline among --metric, and says so when it is not."""
    mine = write_labelled_folder(tmp_path / 'mine', count=5, first_seed=400)
    out = tmp_path / 'report'
    assert cli(['bench', '--dataset-dir', f'mine={mine / "labels.csv"}', '--metric', 'piqe', '-o', str(out),
                '--bootstrap', '0', '--no-progress']) == 0
    err = capsys.readouterr().err
    assert 'not found' not in err and 'relative_plcc.png,' not in err
    assert 'relative_plcc.png not written: the baseline niqe is not among --metric' in err
    res = json.loads((out / 'results.json').read_text())
    assert list(res['datasets']) == ['mine'] and res['missing'] == [] and not (out / 'relative_plcc.png').exists()
    assert 'relative_plcc.png not written' in (out / 'table.md').read_text()


def test_the_engine_stops_before_any_scoring_and_writes_nothing_of_the_report(tmp_path):
    """run_bench on settings: a setup problem is a one-line BenchError before any scorer is built, with what it
    met told to ``report``; a run returns its result, and write_bench writes the folder from it."""
    from dataclasses import replace

    from sfd_arch.cli.bench import write_bench
    from sfd_arch.iqa_bench import run

    mine = write_labelled_folder(tmp_path / 'mine', count=4, first_seed=500)
    lines = []

    def never(metric):
        raise AssertionError(f'{metric} built before the checks')

    settings = run.BenchSettings(root=str(tmp_path), datasets=('csiq',), metrics=('piqe',), bootstrap=0,
                                 out_dir=str(tmp_path / 'report'))
    with pytest.raises(bench.BenchError, match='^no dataset found$'):
        run.run_bench(settings, make_scorer=never, report=lines.append)
    assert lines == [f'not found: csiq (looked under {tmp_path} for CSIQ, csiq)']
    mine_only = replace(settings, root=None, datasets=None, dataset_dirs=(f'mine={mine / "labels.csv"}',))
    with pytest.raises(bench.BenchError, match=f'^output {tmp_path / "mine"} holds the input'):
        run.run_bench(replace(mine_only, out_dir=str(tmp_path)), make_scorer=never)  # <out>/mine/scores.csv
    with pytest.raises(bench.BenchError, match='^--bootstrap must be >= 0, got -1$'):
        run.run_bench(replace(mine_only, bootstrap=-1), make_scorer=never)
    assert not (tmp_path / 'cache').exists() and not (tmp_path / 'report').exists()

    done = run.run_bench(mine_only)
    (folder, result), = done.results.items()
    assert folder == str(tmp_path / 'report') and done.failed == 0 and result.failed == 0
    assert os.listdir(folder) == ['cache']  # the engine writes its caches only
    assert result.report['datasets']['mine']['evaluated'] == 4 and result.table.text.startswith('# Opinion-unaware')
    write_bench(result, folder)
    assert (tmp_path / 'report' / 'table.md').read_text() == result.table.text
    rows = list(csv.reader((tmp_path / 'report' / 'mine' / 'scores.csv').open()))
    assert rows[0] == ['image', 'path', 'mos', 'piqe', 'error'] and len(rows) == 5
    assert json.loads((tmp_path / 'report' / 'results.json').read_text())['notes'] == result.notes


def test_flagged_logistic_fits_are_marked_in_the_table_and_on_the_plot(tmp_path, monkeypatch):
    """A decreasing fit (scores against the MOS) and a step-shaped one (two clusters) are flagged in the
    results, with a mark and a note in table.md and in the scatter panel's title."""
    rng = np.random.default_rng(3)
    mos = np.sort(rng.uniform(1, 5, 40))
    step = np.where(mos > 3, 1.0, 0.0) + rng.normal(0, 1e-4, 40)
    sound = mos + rng.normal(0, 0.5, 40)
    results = bench.evaluate_metrics({'niqe': -mos + rng.normal(0, 0.3, 40), 'piqe': step, 'sfd_iqa': sound},
                                     mos, 0, 0)
    assert 'decreasing' in results['niqe'].fit and 'step-shaped' in results['piqe'].fit
    assert results['sfd_iqa'].fit == ''
    ds = datasets.IQADataset('koniq10k', str(tmp_path), 'scores.csv', ['a'], ['a'], np.ones(1),
                             variant={'resolution': '512x384', 'score_column': 'MOS_zscore'})
    notes = bench.dataset_notes('koniq10k', ds, 0, results)
    path = bench.write_table(str(tmp_path / 'table.md'), {'KonIQ-10k': results}, list(results), 0, notes)
    table = open(path).read()
    assert table.count(bench.FIT_MARK) == 2 + 2 + 1  # two cells, two notes, the legend
    # what `sfd-iqa bench` prints: the table's first part, from the result, not cut out of the file it wrote
    made = bench.bench_table({'KonIQ-10k': results}, list(results), 0, notes)
    assert made.text == table and made.headline == table.split('\n## KRCC')[0].rstrip()
    assert '| KonIQ-10k | 40 |' in made.headline and 'KRCC' not in made.headline
    assert 'KonIQ-10k: read with resolution = 512x384, score_column = MOS_zscore' in table
    titles = []
    real = ev.plot_scatter

    def keep_titles(path, scores, mos, found, **kw):
        titles.extend(c.fit for c in found.values())
        return real(path, scores, mos, found, **kw)

    monkeypatch.setattr(ev, 'plot_scatter', keep_titles)
    bench._scatter(str(tmp_path / 'scatter.png'), 'koniq10k', list(results),
                   {m: x for m, x in zip(results, (-mos, step, sound))}, mos, results)
    assert sorted(bool(t) for t in titles) == [False, True, True] and (tmp_path / 'scatter.png').is_file()


# -- protocols ---------------------------------------------------------------------------------------------------
KONIQ_SETS = ['training'] * 4 + ['validation'] * 2 + ['test'] * 5


def make_koniq(root):
    """A KonIQ-10k release with both image folders and the KonIQ repository's koniq10k_distributions_sets.csv."""
    koniq = root / 'koniq10k'
    names = [f'{826373 + 7 * i}.jpg' for i in range(len(KONIQ_SETS))]
    for folder, size in (('1024x768', (96, 72)), ('512x384', (48, 36))):
        (koniq / folder).mkdir(parents=True)
        for i, name in enumerate(names):
            img = cv2.resize(distorted(i % 6, 300 + i, size=96), size, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(koniq / folder / name), img)
    head = '"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD"'
    scores = [3.9 - 0.3 * (i % 6) + 0.05 * ((-1) ** i) for i in range(len(names))]
    (koniq / 'koniq10k_scores_and_distributions.csv').write_text('\n'.join(
        [head + ',"MOS_zscore"'] + [f'"{n}",0,0,0,0,0,100,{m},0.5,{20 * m}' for n, m in zip(names, scores)]) + '\n')
    (koniq / 'koniq10k_distributions_sets.csv').write_text('\n'.join(
        [head + ',"set"'] + [f'"{n}",0,0,0,0,0,100,{m},0.5,"{s}"' for n, m, s in zip(names, scores, KONIQ_SETS)])
        + '\n')
    return names


def test_bench_pyiqa_protocol_reads_the_koniq_test_split_at_512x384_and_shares_scores(tmp_path, weights, monkeypatch,
                                                                                      capsys, single_thread):
    """--protocol sfd pyiqa: KonIQ-10k read twice (all images at 1024x768; the official test split at 512x384),
    KADID-10k scored once for both; each protocol's statistics equal a hand computation on its split."""
    make_releases(tmp_path / 'IQA')
    names = make_koniq(tmp_path / 'IQA')
    test_split = [n for n, s in zip(names, KONIQ_SETS) if s == 'test']
    scored = []
    real = bench.iter_sfd_iqa

    def spy(scorer, items, *rest):
        scored.extend(path for _, path in items)
        yield from real(scorer, items, *rest)

    monkeypatch.setattr(bench, 'iter_sfd_iqa', spy)
    out = tmp_path / 'report'
    argv = ['bench', '--root', str(tmp_path / 'IQA'), '--datasets', 'koniq10k', 'kadid10k', '--metric', 'sfd_iqa',
            '-w', weights, '-o', str(out), '--bootstrap', '0', '--tile', '0', '--workers', '0', '--no-progress',
            '--protocol', 'sfd', 'pyiqa']
    assert cli(argv) == 0
    koniq_512 = sorted(p for p in scored if '512x384' in p)
    assert [os.path.basename(p) for p in koniq_512] == sorted(test_split)  # only the test split, only at 512x384
    assert len([p for p in scored if '1024x768' in p]) == len(names)  # sfd: every image, the larger folder
    kadid = [p for p in scored if 'kadid10k' in p]
    assert len(kadid) == len(set(kadid)) == N  # the same images for both protocols: scored once

    results = {p: json.loads((out / p / 'results.json').read_text()) for p in ('sfd', 'pyiqa')}
    assert results['pyiqa']['protocol']['name'] == 'pyiqa' and results['pyiqa']['protocol']['plcc'] == 'raw'
    koniq = results['pyiqa']['datasets']['koniq10k']
    assert koniq['evaluated'] == len(test_split) and koniq['variant']['resolution'] == '512x384'
    assert 'koniq10k_distributions_sets.csv' in koniq['source'] and 'set = test' in koniq['variant']['split']
    for protocol, dataset in (('pyiqa', 'koniq10k'), ('pyiqa', 'kadid10k'), ('sfd', 'kadid10k')):
        rows = list(csv.DictReader((out / protocol / dataset / 'scores.csv').open()))
        x = np.array([float(r['sfd_iqa']) for r in rows])
        y = np.array([float(r['mos']) for r in rows])
        got = results[protocol]['datasets'][dataset]['results']['sfd_iqa']
        assert got['n'] == len(x) and got['srcc'] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
        if protocol == 'pyiqa':  # PLCC on the raw scores, no logistic
            assert got['logistic'] is None and got['plcc'] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
        else:  # after the logistic (its sign kept when the fit decreases, as the bench does)
            sign = -1 if got['logistic'][0] < got['logistic'][1] else 1
            assert got['plcc'] == pytest.approx(sign * stats.pearsonr(ev.logistic4(x, *got['logistic']), y)[0],
                                                abs=1e-9)
    assert set(r['image'] for r in csv.DictReader((out / 'pyiqa' / 'koniq10k' / 'scores.csv').open())) == \
        set(test_split)
    table = (out / 'pyiqa' / 'table.md').read_text()
    assert '**Protocol: `pyiqa`**' in table and 'PLCC: raw scores, no fit' in table
    assert 'SRCC / PLCC (on the raw scores)' in table and 'KonIQ-10k: the official test split, 512x384' in table
    assert '**Protocol: `sfd`**' in (out / 'sfd' / 'table.md').read_text()

    # a second run scores nothing; --koniq-resolution overrides the preset's one field, and the test split at
    # 1024x768 is a subset of what sfd scored there: nothing to score either
    scored.clear()
    assert cli(argv) == 0 and not scored
    assert cli([*argv[:-3], '--protocol', 'pyiqa', '--koniq-resolution', '1024x768']) == 0 and not scored
    one = json.loads((out / 'results.json').read_text())  # one protocol: the report in -o itself
    assert one['protocol']['name'] == 'pyiqa' and one['datasets']['koniq10k']['variant']['resolution'] == '1024x768'
    assert one['datasets']['koniq10k']['evaluated'] == len(test_split)
    assert '**Protocol: `pyiqa`**' in (out / 'table.md').read_text()


def test_koniq_split_file_missing_or_without_the_split_is_one_line(tmp_path):
    names = make_koniq(tmp_path)
    (tmp_path / 'koniq10k' / 'koniq10k_distributions_sets.csv').unlink()
    with pytest.raises(datasets.DatasetError, match=r'koniq10k_distributions_sets.csv: not found; the official test '
                                                    r'split .*github\.com/subpic/koniq'):
        datasets.read_koniq10k(str(tmp_path / 'koniq10k'), split='test')
    (tmp_path / 'koniq10k' / 'koniq10k_distributions_sets.csv').write_text(
        '"image_name","set"\n' + ''.join(f'"{n}","training"\n' for n in names))
    with pytest.raises(datasets.DatasetError, match=r"no image has set = 'test' \(its set column holds training\)"):
        datasets.read_koniq10k(str(tmp_path / 'koniq10k'), split='test')


def test_pyiqa_spaq_resize_is_torchvision_resize_on_a_pil_image():
    """pyiqa's loader resizes SPAQ with torchvision's ``Resize(448)`` on PIL images; ours is the same, pixel for
    pixel (the long side truncated, PIL's bilinear filter)."""
    from PIL import Image
    from torchvision import transforms

    from sfd_arch.iqa.images import ImageArray

    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 256, (9, 7, 3)).astype(np.uint8), (70, 93), interpolation=cv2.INTER_CUBIC)
    expected = np.asarray(transforms.Resize(40)(Image.fromarray(img)))
    got = bench.resize_short_side(ImageArray(img, 1 / 255), 40, 'pil-bilinear').pixels
    assert got.shape == expected.shape == (int(40 * 93 / 70), 40, 3)
    assert np.array_equal(got, expected)
