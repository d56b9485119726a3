"""Per-image metrics of BasicSR's test pipeline (sfd_arch/test.py) and the plots drawn from them."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # appended: an installed or shimmed package on PYTHONPATH still wins
    sys.path.append(str(REPO))

from sfd_testutil import basicsr_log  # noqa: E402

from sfd_arch.compat import ensure_basicsr_importable  # noqa: E402

ensure_basicsr_importable()

import basicsr.metrics  # noqa: E402
import basicsr.models.sr_model  # noqa: E402
from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402
from basicsr.metrics import calculate_psnr, calculate_ssim  # noqa: E402
from basicsr.utils import img2tensor, tensor2img  # noqa: E402

from sfd_arch.utils.results import (  # noqa: E402
    ResultRow,
    dataset_means,
    read_metrics_csv,
    summary_markdown,
    write_metrics_csv,
)

NET = {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8}


pytestmark = pytest.mark.usefixtures('single_thread')


def make_pairs(folder: Path, names: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    (folder / 'gt').mkdir(parents=True)
    (folder / 'lq').mkdir()
    for name in names:
        coarse = rng.random((6, 6, 3)).astype(np.float32)
        gt = np.round(np.clip(cv2.resize(coarse, (32, 32), interpolation=cv2.INTER_CUBIC), 0, 1) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / 'gt' / f'{name}.png'), gt)
        cv2.imwrite(str(folder / 'lq' / f'{name}.png'), cv2.resize(gt, (8, 8), interpolation=cv2.INTER_AREA))


def write_test_run(tmp_path: Path, datasets: dict, metrics: dict) -> torch.nn.Module:
    """Paired images, a tiny RRDBNet checkpoint and ``test.yml`` over them with the given metric blocks."""
    for seed, (name, images) in enumerate(datasets.items()):
        make_pairs(tmp_path / name, images, seed)
    torch.manual_seed(0)
    net = RRDBNet(**NET).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    lines = ['name: tiny_sfd_test', 'model_type: SRModel', 'scale: 4', 'num_gpu: 0', 'manual_seed: 0', 'datasets:']
    for i, name in enumerate(datasets, start=1):
        lines += [f'  test_{i}:', f'    name: {name}', '    type: PairedImageDataset',
                  f'    dataroot_gt: {tmp_path / name / "gt"}', f'    dataroot_lq: {tmp_path / name / "lq"}',
                  '    io_backend: {type: disk}']
    lines += ['network_g: {type: RRDBNet, num_in_ch: 3, num_out_ch: 3, num_feat: 8, num_block: 1, num_grow_ch: 8}',
              f'path: {{pretrain_network_g: {tmp_path / "net_g.pth"}, strict_load_g: true, param_key_g: params}}',
              'val:', '  save_img: false', '  metrics:']
    for name, opt in metrics.items():
        lines.append(f'    {name}: {json.dumps(opt)}')  # JSON is YAML's flow style
    (tmp_path / 'test.yml').write_text('\n'.join(lines) + '\n')
    return net


def run_sfd_test(tmp_path: Path, monkeypatch) -> tuple:
    """``sfd_arch.test.run`` on ``tmp_path/test.yml`` from ``tmp_path``; returns the recorder and BasicSR's log."""
    import sfd_arch.test as sfd_test

    monkeypatch.chdir(tmp_path)
    with basicsr_log() as records:
        recorder = sfd_test.run(['-opt', str(tmp_path / 'test.yml')])
    return recorder, [r.getMessage() for r in records]


# -- the recorder on BasicSR's real test pipeline -----------------------------------------------------------
def test_sfd_test_records_every_image_and_metric_and_means_match_basicsr(tmp_path, monkeypatch):
    datasets = {'TinyA': ['zebra', 'apple', 'moon'], 'TinyB': ['x1', 'x2']}
    metrics = {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': False},
               'ssim': {'type': 'calculate_ssim', 'crop_border': 4, 'test_y_channel': False}}
    net = write_test_run(tmp_path, datasets, metrics)
    recorder, messages = run_sfd_test(tmp_path, monkeypatch)

    # the wrapper is gone afterwards: BasicSR is left as it was
    assert basicsr.models.sr_model.calculate_metric is basicsr.metrics.calculate_metric

    results = tmp_path / 'results' / 'tiny_sfd_test'
    with open(results / 'metrics.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['dataset', 'image', 'metric', 'value']  # no value is marked: no note column
    rows = rows[1:]
    # one row per image per metric, in the loader's (sorted) order and the option file's metric order
    expected_keys = [(d, img, m) for d, imgs in datasets.items() for img in sorted(imgs) for m in metrics]
    assert [tuple(r[:3]) for r in rows] == expected_keys

    # each value belongs to the image it is filed under: recompute it from that image
    for dataset, image, metric, value in rows:
        lq = cv2.imread(str(tmp_path / dataset / 'lq' / f'{image}.png')).astype(np.float32) / 255
        gt = cv2.imread(str(tmp_path / dataset / 'gt' / f'{image}.png'))
        with torch.no_grad():
            sr = tensor2img(net(img2tensor(lq).unsqueeze(0)))
        fn = calculate_psnr if metric == 'psnr' else calculate_ssim
        assert float(value) == pytest.approx(fn(sr, gt, crop_border=4), rel=1e-6, abs=1e-6)

    # the means equal BasicSR's model.metric_results, and what it logged (to its 4 decimals)
    means = dataset_means(read_metrics_csv(str(results / 'metrics.csv')))
    assert set(recorder.logged) == set(datasets)
    for dataset, logged in recorder.logged.items():
        assert set(logged) == set(metrics)
        for metric, value in logged.items():
            assert means[dataset][metric] == pytest.approx(value, rel=1e-9, abs=1e-9)
    log = '\n'.join(messages)
    for dataset in datasets:
        block = log[log.index(f'Validation {dataset}'):]
        for metric in metrics:
            logged_value = float(re.search(rf'# {metric}: ([-\d.]+)', block).group(1))
            assert means[dataset][metric] == pytest.approx(logged_value, abs=6e-5)

    summary = (results / 'summary.md').read_text()
    assert summary.splitlines()[0] == '| dataset | images | psnr | ssim |'
    assert f'| TinyA | 3 | {means["TinyA"]["psnr"]:.4f} | {means["TinyA"]["ssim"]:.4f} |' in summary
    assert f'| TinyB | 2 | {means["TinyB"]["psnr"]:.4f} | {means["TinyB"]["ssim"]:.4f} |' in summary
    assert 'Per-dataset means' in log and f'{means["TinyB"]["psnr"]:.4f}' in log  # the summary is logged too


def test_stand_in_lpips_is_marked_in_the_log_line_csv_and_summary(tmp_path, monkeypatch):
    """LPIPS on random stand-in weights: sfd-test's log line, metrics.csv's note and summary.md say so."""
    from sfd_arch.metrics import write_stand_in_weights

    write_stand_in_weights(str(tmp_path / 'experiments' / 'pretrained_models'), ['lpips'])
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))  # no real weights found by accident
    metrics = {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': False},
               'lpips': {'type': 'calculate_lpips', 'crop_border': 0}}
    write_test_run(tmp_path, {'TinyA': ['a1', 'a2']}, metrics)
    _, messages = run_sfd_test(tmp_path, monkeypatch)
    block = '\n'.join(messages)
    block = block[block.index('Validation TinyA'):]
    assert re.search(r'# lpips \(stand-in weights\): [\d.]+', block)
    assert re.search(r'# psnr: [\d.]+', block)  # a metric without weights stays as BasicSR writes it
    csv_path = tmp_path / 'results' / 'tiny_sfd_test' / 'metrics.csv'
    assert csv_path.read_text().splitlines()[0] == 'dataset,image,metric,value,note'
    records = read_metrics_csv(str(csv_path))
    assert {(r.metric, r.note) for r in records} == {('psnr', ''), ('lpips', 'stand-in weights')}
    summary = (tmp_path / 'results' / 'tiny_sfd_test' / 'summary.md').read_text()
    assert summary.splitlines()[0] == '| dataset | images | psnr | lpips (stand-in weights) |'


def test_csv_round_trip_summary_and_bad_files(tmp_path):
    records = [ResultRow('', 'Set5', 'baby', 'psnr', 30.123456789012), ResultRow('', 'Set5', 'bird', 'psnr', 28.5),
               ResultRow('', 'Set5', 'baby', 'lpips', 0.25), ResultRow('', 'Urban', 'img1', 'psnr', 22.0)]
    write_metrics_csv(records, str(tmp_path / 'm.csv'))
    assert read_metrics_csv(str(tmp_path / 'm.csv')) == records  # values survive exactly
    assert dataset_means(records) == {'Set5': {'psnr': (30.123456789012 + 28.5) / 2, 'lpips': 0.25},
                                      'Urban': {'psnr': 22.0}}
    table = summary_markdown(records).splitlines()
    assert table[0] == '| dataset | images | psnr | lpips |'
    noted = [ResultRow('', 'Set5', 'baby', 'psnr', 30.0),
             ResultRow('', 'Set5', 'baby', 'lpips', 0.25, 'stand-in weights')]
    write_metrics_csv(noted, str(tmp_path / 'n.csv'))
    assert read_metrics_csv(str(tmp_path / 'n.csv')) == noted
    assert summary_markdown(noted).splitlines()[0] == '| dataset | images | psnr | lpips (stand-in weights) |'
    assert table[2] == '| Set5 | 2 | 29.3117 | 0.2500 |' and table[3] == '| Urban | 1 | 22.0000 | - |'
    (tmp_path / 'bad.csv').write_text('image,value\nbaby,1\n')
    with pytest.raises(ValueError, match='bad.csv'):
        read_metrics_csv(str(tmp_path / 'bad.csv'))


def test_append_only_rows_start_continue_repair_and_refuse(tmp_path, capsys):
    """The one writer of results files: a started file, continued after a cut last line, rewritten whole from kept
    rows, JSON Lines, standard output, and a file of other columns refused by name."""
    from sfd_arch.utils.results import AppendOnlyRows, read_appended

    path = tmp_path / 'sub' / 'rows.csv'
    columns = ('model', 'dataset', 'image', 'metric', 'value')
    with AppendOnlyRows(str(path), columns) as rows:
        rows.write(ResultRow('SFD', 'Set5', 'baby', 'psnr', 0.1 + 0.2))
        rows.write({'model': 'SFD', 'dataset': 'Set5', 'image': '*', 'metric': 'fid', 'value': None})
    assert path.read_text().splitlines() == ['model,dataset,image,metric,value',
                                             'SFD,Set5,baby,psnr,0.30000000000000004', 'SFD,Set5,*,fid,']
    with open(path, 'a') as f:
        f.write('SFD,Set5,bird,psnr,2')  # an interrupted run's half row, no newline
    with AppendOnlyRows(str(path), columns) as rows:  # continued: the half row dropped, the rest kept
        rows.write(ResultRow('SFD', 'Set5', 'bird', 'psnr', 25.0))
    assert [r['image'] for r in read_appended(str(path))] == ['baby', '*', 'bird']
    with AppendOnlyRows(str(path), columns, start=[ResultRow('E', 'Set5', 'baby', 'psnr', 1.5)]):
        pass  # rewritten whole: the old rows gone in one rename
    assert read_appended(str(path)) == [{'model': 'E', 'dataset': 'Set5', 'image': 'baby', 'metric': 'psnr',
                                         'value': '1.5'}]
    with pytest.raises(ValueError, match=r'rows.csv: its header is model,dataset,image,metric,value, expected a,b'):
        AppendOnlyRows(str(path), ('a', 'b'))
    jsonl = tmp_path / 'rows.jsonl'
    with AppendOnlyRows(str(jsonl), ('image', 'value'), fmt='jsonl') as rows:
        rows.write({'image': 'x', 'value': 2.5, 'other': 1})
    jsonl.write_text(jsonl.read_text() + '{"image": "y", "va')
    assert read_appended(str(jsonl), 'jsonl') == [{'image': 'x', 'value': 2.5}]
    with AppendOnlyRows('-', ('image', 'value')) as rows:
        rows.write({'image': 'z', 'value': 1.0})
    assert capsys.readouterr().out.splitlines() == ['image,value', 'z,1.0']


def test_debiased_ema_of_a_constant_is_the_constant_from_the_first_point():
    from sfd_arch.eval.plots import debiased_ema

    for weight in (0.0, 0.6, 0.9, 0.99):
        np.testing.assert_allclose(debiased_ema([0.095] * 12, weight), [0.095] * 12, rtol=1e-12)
    # a falling series: the smoothed line stays inside the raw values and follows them down
    raw = list(np.linspace(0.3, 0.095, 12))
    smooth = debiased_ema(raw, 0.9)
    assert all(min(raw) <= v <= max(raw) for v in smooth) and smooth[-1] < 0.2


# -- plots --------------------------------------------------------------------------------------------------------
def write_model_csv(root: Path, model: str, values: dict) -> str:
    """values: {dataset: {metric: [per-image values]}} -> results/<model>/metrics.csv"""
    records = [ResultRow('', d, f'img{i}', m, v) for d, per_metric in values.items()
               for m, vs in per_metric.items() for i, v in enumerate(vs)]
    (root / model).mkdir(parents=True)
    path = root / model / 'metrics.csv'
    write_metrics_csv(records, str(path))
    return str(path)


def assert_png(path: Path) -> None:
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 1


def tutorial_health_curves() -> list[str]:
    """The scalars docs/tutorial.md's step 4 names as the curves of a healthy run (its table's first column)."""
    section = (REPO / 'docs' / 'tutorial.md').read_text().split('## 4. Watch the run')[1].split('## 5.')[0]
    rows = [line.split('|')[1] for line in section.splitlines() if line.startswith('| `')]
    return [name for row in rows for name in re.findall(r'`([a-z_]+)`', row)]


def test_curves_draw_every_scalar_the_tutorial_names_and_one_validation_point_honestly(tmp_path):
    """The run's scalars as SFDModel logs them (BasicSR puts ``l_*`` under ``losses/``), one validation at the end:
    each name of the tutorial's health table is a line of the figure, the accuracies share a panel, and the lone
    validation point sits at the end of the run's own iteration axis with its value written beside it."""
    from torch.utils.tensorboard import SummaryWriter

    from sfd_arch.eval import plots as plot

    names = tutorial_health_curves()
    assert {'acc_featd_real', 'acc_featd_fake', 'acc_tgd', 'p_pos_real', 'l_d_tgd'} <= set(names), names
    logdir = tmp_path / 'tb_logger' / 'sfd_run'
    steps = [25, 50, 75, 100, 125, 150]
    with SummaryWriter(str(logdir)) as writer:
        for k, step in enumerate(steps):
            for name in names + ['l_g_pix', 'out_featd_real', 'out_featd_fake']:
                writer.add_scalar(f'losses/{name}' if name.startswith('l_') else name, 0.5 + 0.01 * k, step)
        writer.add_scalar('metrics/demo_val/psnr', 29.1365, 152)
    fig, plotted = plot.plot_curves(str(logdir), output=str(tmp_path / 'curves.png'))
    drawn = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert set(names) <= drawn, set(names) - drawn
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert list(panels)[:2] == ['discriminator accuracy', 'p_pos (TG-D)']
    assert {line.get_label() for line in panels['discriminator accuracy'].get_lines()} >= {
        'acc_featd_real', 'acc_featd_fake', 'acc_tgd'}
    assert {line.get_label() for line in panels['l_d_featd (real, fake)'].get_lines()} == {
        'l_d_featd_real', 'l_d_featd_fake'}
    val = panels['val psnr']
    (point,) = val.get_lines()
    assert list(point.get_xdata()) == [152] and point.get_marker() == 'o'
    assert val.get_xlim()[0] == 0 and 152 < val.get_xlim()[1] < 170  # the run's axis, not 147.5 .. 156.5
    assert all(ax.get_xlim() == val.get_xlim() for ax in panels.values())
    assert [t.get_text() for t in val.texts] == ['29.14']
    assert_png(tmp_path / 'curves.png')


def test_models_with_nearly_the_same_numbers_get_labels_on_leader_lines():
    """Two models one marker apart: the second label goes further out on a thin line, inside the frame, over no
    other label."""
    from matplotlib.text import Text

    from sfd_arch.eval.report import plot_pd

    means = {'val': {'bicubic': {'psnr': 28.28, 'q': 0.50094}, 'PSNR_stage1': {'psnr': 29.11, 'q': 0.50151},
                     'SFD_demo': {'psnr': 29.12, 'q': 0.50156}, 'ESRGAN_demo': {'psnr': 29.12, 'q': 0.50155}}}
    fig, _ = plot_pd(means, list(means['val']), ['val'], y_metric='q', directions={'psnr': 'higher', 'q': 'higher'})
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = {t.get_text(): t for t in ax.texts}
    assert set(labels) == set(means['val'])
    assert labels['ESRGAN_demo'].arrow_patch is not None and labels['bicubic'].arrow_patch is None
    frame = ax.get_window_extent(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in labels.values()]
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(box.overlaps(other) for other in boxes[i + 1:])


def test_perception_distortion_plane_plots_the_csv_means(tmp_path):
    from sfd_arch.eval import plots as plot

    esrgan = write_model_csv(tmp_path, 'ESRGAN', {'Set5': {'psnr': [30.0, 28.0], 'LPIPS': [0.20, 0.10]},
                                                  'Set14': {'psnr': [26.0, 27.0, 25.0], 'LPIPS': [0.3, 0.2, 0.1]}})
    sfd = write_model_csv(tmp_path, 'SFD', {'Set5': {'psnr': [29.0, 28.0], 'LPIPS': [0.08, 0.06]},
                                            'Set14': {'psnr': [25.0, 25.5, 26.0], 'LPIPS': [0.1, 0.15, 0.2]},
                                            'Urban100': {'psnr': [23.0], 'LPIPS': [0.2]}})
    fig, panels = plot.plot_pd([esrgan, sfd], metric='lpips', output=str(tmp_path / 'pd.png'))
    expected = {'Set5': {'ESRGAN': (29.0, 0.15), 'SFD': (28.5, 0.07)},
                'Set14': {'ESRGAN': (26.0, 0.2), 'SFD': (25.5, 0.15)},  # Urban100: only one model has it
                'Mean': {'ESRGAN': (27.5, 0.175), 'SFD': (27.0, 0.11)}}
    assert list(panels) == list(expected)
    for ax, (dataset, points) in zip(fig.axes, expected.items()):
        assert ax.get_title() == (dataset if dataset != 'Mean' else 'mean of 2 datasets')
        offsets = np.concatenate([c.get_offsets() for c in ax.collections])
        np.testing.assert_allclose(offsets, [points['ESRGAN'], points['SFD']])
        frame = ax.get_window_extent()
        for text in ax.texts:  # the labels (the results folder names) sit inside the frame
            assert text.get_text() in ('ESRGAN', 'SFD')
            box = text.get_window_extent()
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert fig.axes[0].get_ylabel() == 'LPIPS ↓' and fig.axes[2].get_xlabel().startswith('PSNR (dB)')
    assert fig.get_size_inches()[0] == pytest.approx(3.5)  # a paper column, as docs/evaluation.md documents
    assert_png(tmp_path / 'pd.png')

    _, data = plot.plot_pd([esrgan, sfd], metric='LPIPS', labels=['A', 'B'], average=True,
                           output=str(tmp_path / 'avg.png'))
    np.testing.assert_allclose(data['Mean']['A'], ((29.0 + 26.0) / 2, (0.15 + 0.2) / 2))
    np.testing.assert_allclose(data['Mean']['B'], ((28.5 + 25.5) / 2, (0.07 + 0.15) / 2))
    assert list(data) == ['Mean']
    assert_png(tmp_path / 'avg.png')
    with pytest.raises(ValueError, match='no metric .niqe.*psnr, LPIPS'):
        plot.plot_pd([esrgan], metric='niqe', output=str(tmp_path / 'x.png'))


def test_training_curves_plot_the_tensorboard_scalars(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from sfd_arch.eval import plots as plot

    logdir = tmp_path / 'tb_logger' / 'train_SFD'
    written = {'losses/l_g_pix': [0.3, 0.2, 0.15], 'losses/l_featd_real': [0.7, 0.6, 0.65],
               'p_pos_real': [0.5, 0.7, 0.8], 'p_pos_fake': [0.5, 0.3, 0.25],
               'metrics/Set5/psnr': [20.5, 22.25], 'metrics/Set14/psnr': [19.0, 21.0], 'lr': [1.0, 1.0]}
    steps = {tag: [100 * (i + 1) for i in range(len(v))] for tag, v in written.items()}
    with SummaryWriter(str(logdir)) as writer:
        for tag, values in written.items():
            for step, value in zip(steps[tag], values):
                writer.add_scalar(tag, value, step)

    fig, plotted = plot.plot_curves(str(logdir), output=str(tmp_path / 'curves.png'))
    assert set(plotted) == set(written) - {'lr'}
    titles = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert list(titles) == ['p_pos (TG-D)', 'l_featd_real', 'l_g_pix', 'val psnr']  # TG-D, losses, validation
    for title, tags in (('l_g_pix', ['losses/l_g_pix']), ('p_pos (TG-D)', ['p_pos_fake', 'p_pos_real']),
                        ('val psnr', ['metrics/Set14/psnr', 'metrics/Set5/psnr'])):
        lines = [line for line in titles[title].get_lines() if not line.get_label().startswith('_')]  # not 0.5's
        assert len(lines) == len(tags)
        for line, tag in zip(lines, tags):
            np.testing.assert_array_equal(line.get_xdata(), steps[tag])
            np.testing.assert_allclose(line.get_ydata(), written[tag], rtol=1e-6)  # stored as float32
    assert_png(tmp_path / 'curves.png')
    fig, _ = plot.plot_curves(str(logdir), smooth=0.5)  # EMA drawn over the raw losses; validation left raw
    loss_lines = [ax for ax in fig.axes if ax.get_title() == 'l_g_pix'][0].get_lines()
    np.testing.assert_allclose(loss_lines[0].get_ydata(), written['losses/l_g_pix'], rtol=1e-6)
    # TensorBoard's debiased EMA: (0.5 * 0.3) / 0.5, (0.25 * 0.3 + 0.5 * 0.2) / 0.75, ...
    np.testing.assert_allclose(loss_lines[1].get_ydata(), [0.3, 0.175 / 0.75, 0.1625 / 0.875], rtol=1e-6)
    legend = [t.get_text() for t in [ax for ax in fig.axes if ax.get_title() == 'l_g_pix'][0].get_legend().get_texts()]
    assert legend == ['l_g_pix (raw)', 'l_g_pix (smoothed 0.5)']
    assert len([ax for ax in fig.axes if ax.get_title() == 'val psnr'][0].get_lines()) == 2
    (tmp_path / 'empty').mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    run = subprocess.run([sys.executable, str(REPO / 'scripts' / 'plot' / 'plot_results.py'), 'curves',
                          str(tmp_path / 'empty'), '-o', str(tmp_path / 'x.png')], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1 and 'plot_results: error: no tensorboard event files' in run.stderr
    with SummaryWriter(str(tmp_path / 'tb_logger' / 'other_run')) as writer:
        writer.add_scalar('losses/l_g_pix', 1.0, 1)
    with pytest.raises(ValueError, match='several runs'):
        plot.plot_curves(str(tmp_path / 'tb_logger'), output=str(tmp_path / 'x.png'))
