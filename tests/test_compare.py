"""sfd_arch.eval.compare and scripts/compare.py: every output file, its rows and values, re-runs, bad input."""
import csv
import dataclasses
import json
import os
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from sfd_testutil import make_paired_dataset

from sfd_arch.eval.report import ResultRow, choose_crop, dataset_means, read_compare_csv, table_markdown

pytestmark = pytest.mark.usefixtures('single_thread')

NET = {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4}
DATASETS = {'TinyA': 0, 'TinyB': 1}  # name -> seed
N_IMAGES = 3
PSNR = {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}
SSIM = {'type': 'calculate_ssim', 'crop_border': 4, 'test_y_channel': True}

try:
    from sfd_arch.metrics.standins import write_stand_in_weights
except ImportError:  # the metric library is optional for this file: PSNR/SSIM still cover the pipeline
    write_stand_in_weights = None


@pytest.mark.skipif(write_stand_in_weights is None, reason='needs the lpips package for stand-in LPIPS weights')
def test_new_weights_under_the_same_name_redo_that_metric_only(ws, compare, tmp_path):
    """A metric's values depend on its weight files: new LPIPS weights written over the old file (a new export,
    a real file replacing a stand-in) redo LPIPS, and nothing else."""
    out = str(tmp_path / 'o')
    models = {'bicubic': 'bicubic'}
    first = compare.run_compare('test.yml', models, out, metrics=['psnr', 'lpips'], progress=False,
                                visual_per_dataset=0)
    n = N_IMAGES * len(DATASETS)
    assert first.computed == {'sr': n, 'values': 2 * n}
    head = next(w['path'] for w in first.weights if w['name'].startswith('lpips_'))
    stat = os.stat(head)
    os.utime(head, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = compare.run_compare('test.yml', models, out, metrics=['psnr', 'lpips'], progress=False,
                                visual_per_dataset=0)
    assert again.computed == {'sr': 0, 'values': n}


def save_generator(path: Path, key: str, seed: int) -> None:
    """A tiny random RRDBNet saved as BasicSR saves net_g (under params_ema or params)."""
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(seed)
    torch.save({key: RRDBNet(**NET).state_dict()}, path)


def write_options(path: Path, root: Path, metrics: dict) -> Path:
    opt = {'name': 'compare_test', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {f'test_{i}': {'name': name, 'type': 'PairedImageDataset',
                                      'dataroot_gt': str(root / name / 'gt'), 'dataroot_lq': str(root / name / 'lq'),
                                      'io_backend': {'type': 'disk'}} for i, name in enumerate(DATASETS)},
           'network_g': {'type': 'RRDBNet', **NET},
           'val': {'metrics': metrics}}
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """Two tiny paired datasets, two generator checkpoints, LPIPS stand-in weights, a test option file."""
    root = tmp_path_factory.mktemp('compare')
    for name, seed in DATASETS.items():
        make_paired_dataset(str(root / 'data' / name), n=N_IMAGES, size=64, seed=seed)
    save_generator(root / 'g1.pth', 'params_ema', 1)
    save_generator(root / 'g2.pth', 'params', 2)
    if write_stand_in_weights is not None:
        write_stand_in_weights(str(root / 'experiments' / 'pretrained_models'), ['lpips'])
    write_options(root / 'test.yml', root / 'data', {'psnr': PSNR, 'ssim': SSIM})
    return root


@pytest.fixture
def ws(workspace, monkeypatch, tmp_path):
    # weights are looked up under the current directory; an empty torch hub keeps real weights out of the test
    monkeypatch.chdir(workspace)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return workspace


@pytest.fixture(scope='module')
def compare():
    from sfd_arch.eval import compare

    return compare


def read_rows(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


MODELS = {'bicubic': 'bicubic', 'G1': 'g1.pth', 'G2': 'g2.pth'}


# -- a full comparison, a re-run, a changed checkpoint ------------------------------------------------------------
def test_compare_writes_every_file_skips_on_rerun_and_redoes_a_changed_checkpoint(ws, compare):
    from basicsr.metrics import calculate_psnr

    from sfd_arch.utils import upsampler as inference

    out = ws / 'report'
    result = compare.run_compare('test.yml', compare.parse_models(['bicubic', 'G1=g1.pth', 'G2=g2.pth']), str(out),
                                 progress=False)
    metrics = ['psnr', 'ssim'] + (['lpips'] if write_stand_in_weights else [])
    assert result.metrics == metrics
    assert set(result.skipped_metrics) >= {'dists', 'fid'}  # no VGG-16 / Inception weights here
    for name in ('metrics.csv', 'table.md', 'pd.png', 'report.md', 'report.html'):
        assert (out / name).is_file(), name
    assert (out / 'report.html').read_text().count('<section class="viewer"') == len(DATASETS) * N_IMAGES
    assert sorted(os.listdir(out / 'visual')) == sorted(Path(p).name for p in result.visual)
    assert len(result.visual) == len(DATASETS)  # one figure per dataset by default

    rows = read_rows(out / 'metrics.csv')
    assert list(rows[0]) == ['model', 'dataset', 'image', 'metric', 'value']
    keys = {(r['model'], r['dataset'], r['image'], r['metric']) for r in rows}
    expected = {(m, d, f'{i:04d}', k) for m in MODELS for d in DATASETS for i in range(N_IMAGES) for k in metrics}
    assert keys == expected and len(rows) == len(expected)

    # values: the bicubic baseline is BasicSR's MATLAB imresize; G1's SR image is inference_sfd's output
    lq = cv2.imread('data/TinyB/lq/0001.png')
    hr = cv2.imread('data/TinyB/gt/0001.png')
    value = {(r['model'], r['dataset'], r['image'], r['metric']): float(r['value']) for r in rows}
    bicubic = compare.bicubic_upscale(lq, 4, 'matlab')
    assert value[('bicubic', 'TinyB', '0001', 'psnr')] == pytest.approx(calculate_psnr(bicubic, hr, **{
        k: v for k, v in PSNR.items() if k != 'type'}), abs=1e-9)
    net, _ = inference.build_generator('g1.pth')
    sr = inference.RRDBUpsampler(net, 4).enhance(lq)
    np.testing.assert_array_equal(cv2.imread(str(out / 'sr' / 'G1' / 'TinyB' / '0001.png')), sr)
    assert value[('G1', 'TinyB', '0001', 'psnr')] == pytest.approx(
        calculate_psnr(sr, hr, crop_border=4, test_y_channel=True), abs=1e-9)

    # table: a row group per dataset, arrows, best bold, second underlined (three models)
    table = (out / 'table.md').read_text().splitlines()
    assert table[0].startswith('| Dataset | Model | PSNR ↑ | SSIM ↑')
    means = result.means
    for d_index, dataset in enumerate(DATASETS):
        group = table[2 + d_index * 3: 5 + d_index * 3]
        assert group[0].startswith(f'| {dataset} | bicubic |') and group[1].startswith('|  | G1 |')
        order = sorted(MODELS, key=lambda m: -means[dataset][m]['psnr'])
        cells = {line.split('|')[2].strip(): line.split('|')[3].strip() for line in group}
        assert cells[order[0]].startswith('**')
        assert cells[order[1]].startswith('<u>') and not cells[order[2]].startswith(('**', '<u>'))

    # pd.png at paper-column size: 3.5 in at 300 dpi, within the tight bounding box
    from PIL import Image

    width, height = Image.open(out / 'pd.png').size
    assert 900 <= width <= 1100 and height > 600  # two rows of panels: two datasets and the mean

    report = (out / 'report.md').read_text()
    assert 'python scripts/compare.py -opt test.yml --model bicubic' in report
    assert '![perception-distortion plane](pd.png)' in report
    assert all(f'](visual/{Path(p).name})' in report for p in result.visual)
    assert '`dists`' in report and 'vgg16-397923af.pth' in report
    if write_stand_in_weights:
        assert 'alexnet-owt-7be5be79.pth' in report and 'random stand-in' in report

    # re-run: nothing recomputed, no SR image rewritten, the same rows
    sr_files = sorted((out / 'sr').rglob('*.png'))
    mtimes = [p.stat().st_mtime_ns for p in sr_files]
    again = compare.run_compare('test.yml', MODELS, str(out), progress=False)
    assert again.computed == {'sr': 0, 'values': 0}
    # called in-process, the report gives the command line that repeats the call
    assert f'python scripts/compare.py -opt test.yml --model bicubic --model G1=g1.pth --model G2=g2.pth -o {out}\n' \
        in (out / 'report.md').read_text()
    assert [p.stat().st_mtime_ns for p in sr_files] == mtimes
    assert read_rows(out / 'metrics.csv') == rows

    # a run killed while writing a row: the half row is dropped and that one value computed again
    text = (out / 'metrics.csv').read_bytes()
    (out / 'metrics.csv').write_bytes(text[:-6])
    resumed = compare.run_compare('test.yml', MODELS, str(out), progress=False)
    assert resumed.computed == {'sr': 0, 'values': 1}
    assert sorted(map(str, read_rows(out / 'metrics.csv'))) == sorted(map(str, rows))

    # a changed checkpoint: only that model is redone
    save_generator(ws / 'g2.pth', 'params', 3)
    redone = compare.run_compare('test.yml', MODELS, str(out), progress=False)
    n_images = N_IMAGES * len(DATASETS)
    assert redone.computed == {'sr': n_images, 'values': n_images * len(metrics)}
    new = {(r['model'], r['dataset'], r['image'], r['metric']): float(r['value'])
           for r in read_rows(out / 'metrics.csv')}
    assert set(new) == expected
    assert all(new[k] == value[k] for k in expected if k[0] != 'G2')
    assert any(new[k] != value[k] for k in expected if k[0] == 'G2')
    save_generator(ws / 'g2.pth', 'params', 2)


def test_folder_models_and_option_file_generator(ws, compare, tmp_path):
    """A folder of SR images made elsewhere (BasicSR's <image>_<suffix>.png) and the option file's network_g:
    with path.pretrain_network_g (model given by name only), and for a checkpoint that is not an RRDBNet."""
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(5)
    vgg_opt = {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2, 'upscale': 4}
    compact = SRVGGNetCompact(**vgg_opt).eval()
    torch.save({'params': compact.state_dict()}, tmp_path / 'compact.pth')
    folder = tmp_path / 'bicubic_cv2'
    for dataset in DATASETS:
        (folder / dataset).mkdir(parents=True)
        for i in range(N_IMAGES):
            lq = cv2.imread(f'data/{dataset}/lq/{i:04d}.png')
            cv2.imwrite(str(folder / dataset / f'{i:04d}_Cubic.png'), compare.bicubic_upscale(lq, 4, 'cv2'))
    opt = yaml.safe_load((ws / 'test.yml').read_text())
    opt['path'] = {'pretrain_network_g': str(ws / 'g1.pth')}
    opt['network_g'] = {'type': 'SRVGGNetCompact', **vgg_opt}
    opt['val']['metrics']['sfd_iqa'] = {'type': 'calculate_sfd_iqa', 'weights': 'model'}  # training-only
    (tmp_path / 'opt.yml').write_text(yaml.safe_dump(opt))
    models = {'Cubic': str(folder), 'G1': '', 'Compact': str(tmp_path / 'compact.pth')}
    result = compare.run_compare(str(tmp_path / 'opt.yml'), models, str(tmp_path / 'o'), metrics=['psnr'],
                                 progress=False, visual_per_dataset=0, bicubic='cv2')
    assert result.visual == [] and result.pd_png is None  # one metric: no PD plane, and no LPIPS asked
    assert 'weights: model' in result.skipped_metrics['sfd_iqa']
    rows = {(r.model, r.dataset, r.image): r.value for r in read_compare_csv(result.metrics_csv)}
    assert len(rows) == 3 * N_IMAGES * len(DATASETS)
    # G1 through network_g + pretrain_network_g: the checkpoint's generator; Cubic: the folder's images
    from basicsr.metrics import calculate_psnr

    from sfd_arch.utils import upsampler as inference

    lq, hr = cv2.imread('data/TinyA/lq/0002.png'), cv2.imread('data/TinyA/gt/0002.png')
    sr = inference.RRDBUpsampler(inference.build_generator('g1.pth')[0], 4).enhance(lq)
    assert rows[('G1', 'TinyA', '0002')] == pytest.approx(calculate_psnr(sr, hr, 4, test_y_channel=True), abs=1e-9)
    with torch.no_grad():
        x = torch.from_numpy(lq[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
        y = compact(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()[..., ::-1]
    sr = np.round(y * 255).astype(np.uint8)
    assert rows[('Compact', 'TinyA', '0002')] == pytest.approx(calculate_psnr(sr, hr, 4, test_y_channel=True),
                                                               abs=1e-6)
    cubic = compare.bicubic_upscale(lq, 4, 'cv2')
    assert rows[('Cubic', 'TinyA', '0002')] == pytest.approx(calculate_psnr(cubic, hr, 4, test_y_channel=True),
                                                             abs=1e-9)
    assert 'No PD plot' in Path(result.report_md).read_text()


def test_added_metric_reuses_sr_images_and_crop_picks_the_figure(ws, compare, tmp_path):
    from PIL import Image

    out = str(tmp_path / 'o')
    first = compare.run_compare('test.yml', {'bicubic': 'bicubic'}, out, metrics=['psnr'], progress=False,
                                visual_per_dataset=0)
    assert first.computed == {'sr': N_IMAGES * len(DATASETS), 'values': N_IMAGES * len(DATASETS)}
    second = compare.run_compare('test.yml', {'bicubic': 'bicubic'}, out, metrics=['psnr', 'ssim'], progress=False,
                                 crops=['TinyB/0002:8,16,32'])
    assert second.computed == {'sr': 0, 'values': N_IMAGES * len(DATASETS)}  # only SSIM is new
    assert [Path(p).name for p in second.visual] == ['TinyB_0002.png']
    width, height = Image.open(second.visual[0]).size
    assert width == round(3.5 * 300) and height < width  # one paper column at 300 dpi
    for bad, words in (('TinyB/0002:40,40,32', ['leaves the 64x64']), ('TinyC/0002:0,0,32', ['TinyC', 'TinyA']),
                       ('TinyB/0002', ['DATASET/IMAGE:X,Y,SIZE'])):
        with pytest.raises(compare.CompareError) as info:
            compare.run_compare('test.yml', {'bicubic': 'bicubic'}, out, metrics=['psnr'], progress=False,
                                crops=[bad])
        assert all(w in str(info.value) for w in words), str(info.value)
    with pytest.raises(compare.CompareError, match='--pd niqe'):
        compare.run_compare('test.yml', {'bicubic': 'bicubic'}, out, pd_metric='niqe', progress=False)


# -- settings in, result out --------------------------------------------------------------------------------------
def test_settings_are_frozen_and_their_command_line_parses_back_to_them(compare):
    from sfd_arch.eval.comparison import command_line

    plain = compare.CompareSettings('opt dir/t.yml', {'bicubic': 'bicubic', 'G': 'g.pth'}, 'out dir')
    assert plain.models == (('bicubic', 'bicubic'), ('G', 'g.pth'))  # a mapping is stored as its pairs
    assert hash(plain) == hash(compare.CompareSettings('opt dir/t.yml', [('bicubic', 'bicubic'), ('G', 'g.pth')],
                                                       'out dir'))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.tile = 64
    assert command_line(plain) == "python scripts/compare.py -opt 'opt dir/t.yml' --model bicubic --model G=g.pth " \
                                  "-o 'out dir'"
    every = compare.CompareSettings(
        'opt dir/t.yml', {'Bicubic': 'BICUBIC', 'x y': '', 'bicubic': 'BiCubic'}, 'out dir', device='cpu',
        metrics=['psnr', 'lpips'], default_metrics=False, datasets=['A b'], pd_metric='dists', x_metric='ssim',
        visual_per_dataset=0, crops=['A/x:1,2,40', "B/it's:3,4,50"], bicubic='cv2', tile=64, half=True,
        network_g={'G': '{type: X}'}, protocol='pyiqa')
    line = command_line(every)
    assert line == ("python scripts/compare.py -opt 'opt dir/t.yml' --protocol pyiqa --model Bicubic=BICUBIC "
                    "--model 'x y' --model bicubic --network_g 'G={type: X}' -o 'out dir' --device cpu --pd dists "
                    "--pd-x ssim --visual 0 --bicubic cv2 --tile 64 --metrics psnr lpips --datasets 'A b' "
                    "--crop A/x:1,2,40 --crop 'B/it'\"'\"'s:3,4,50' --half --no-default-metrics")
    args = runpy.run_path(str(REPO / 'scripts' / 'compare.py'), run_name='parser')['build_parser']().parse_args(
        shlex.split(line)[2:])
    assert compare.CompareSettings(
        args.opt, compare.parse_models(args.model), args.output, device=args.device, metrics=args.metrics,
        default_metrics=not args.no_default_metrics, datasets=args.datasets, pd_metric=args.pd, x_metric=args.pd_x,
        visual_per_dataset=args.visual, crops=args.crop, bicubic=args.bicubic, tile=args.tile, half=args.half,
        network_g=dict(a.split('=', 1) for a in args.network_g), protocol=args.protocol) == \
        dataclasses.replace(every, models=(('Bicubic', 'BICUBIC'), ('x y', ''), ('bicubic', 'bicubic')))


def test_every_output_is_a_function_of_the_result_and_the_script_prints_from_it(ws, compare, tmp_path, capsys,
                                                                                 monkeypatch):
    """table.md, report.md, results.json and report.html are what the result says; the script's printout is the
    result's; the result is made whole before any of those files is written."""
    from sfd_arch.eval.comparison import page_data, report_text, results_record
    from sfd_arch.eval.html_report import write_compare_html

    out = tmp_path / 'o'
    argv = ['-opt', 'test.yml', '--model', 'bicubic', '-o', str(out), '--metrics', 'psnr', 'ssim', '--pd', 'ssim',
            '--visual', '0', '--no-progress']
    result = runpy.run_path(str(REPO / 'scripts' / 'compare.py'), run_name='compare_script')['main'](argv)
    protocol = result.protocol
    assert protocol['name'] == 'sfd' and '| TinyA | bicubic |' in result.table
    assert capsys.readouterr().out == (f'Protocol: sfd ({protocol["title"]}; chosen by the default)\n'
                                       f'Report: {out / "report.md"}\n{result.table}\n')
    assert result.models == ['bicubic'] and result.datasets == list(DATASETS) and result.metrics == ['psnr', 'ssim']
    assert len(result.rows) == 2 * N_IMAGES * len(DATASETS) and result.pd_metric == 'ssim'
    assert result.means == dataset_means(read_compare_csv(result.metrics_csv))
    assert (out / 'table.md').read_text() == result.table
    assert (out / 'report.md').read_text() == report_text(result)
    assert (out / 'results.json').read_text() == json.dumps(results_record(result), indent=1, sort_keys=True)
    again_html = write_compare_html(str(out), page_data(result), name='again.html')
    assert Path(again_html).read_text() == (out / 'report.html').read_text()

    for name in ('table.md', 'report.md', 'report.html', 'results.json', 'pd.png'):
        (out / name).unlink()
    monkeypatch.setattr(compare, 'write_outputs', lambda run, res: None)  # the result alone, nothing written
    settings = compare.CompareSettings('test.yml', {'bicubic': 'bicubic'}, str(out), metrics=['psnr', 'ssim'],
                                       pd_metric='ssim', visual_per_dataset=0, progress=False, command=result.command)
    again = compare.compare(settings)
    assert again.computed == {'sr': 0, 'values': 0} and again.table == result.table
    assert report_text(again) == report_text(result) and results_record(again) == results_record(result)
    assert not any((out / name).exists() for name in ('table.md', 'report.md', 'report.html', 'results.json', 'pd.png'))


# -- bad input: a clear message, a non-zero exit, results already written stay ---------------------------------
def run_cli(compare, argv) -> str:
    """What ``scripts/compare.py`` does with these arguments, in-process: the message of its error."""
    opts: dict[str, list[str]] = {}
    for arg in argv:
        if arg.startswith('-'):
            flag = opts.setdefault(arg, [])
        else:
            flag.append(arg)
    with pytest.raises(compare.CompareError) as info:
        compare.run_compare(opts['-opt'][0], compare.parse_models(opts['--model']), opts['-o'][0],
                            metrics=opts.get('--metrics'), default_metrics='--no-default-metrics' not in opts,
                            progress=False)
    return str(info.value)


@pytest.mark.slow  # about 25 s: several runs of the script in subprocesses
def test_the_script_repeats_its_command_line_and_exits_with_one_line_on_bad_input(ws, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    script = str(REPO / 'scripts' / 'compare.py')
    argv = ['-opt', 'test.yml', '--model', 'bicubic', '-o', str(tmp_path / 'o'), '--metrics', 'psnr', '--visual', '0',
            '--no-progress']
    run = subprocess.run([sys.executable, script, *argv], cwd=ws, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert f'Report: {tmp_path / "o" / "report.md"}' in run.stdout and '| Dataset | Model | PSNR ↑ |' in run.stdout
    assert f'python scripts/compare.py {" ".join(argv)}\n' in (tmp_path / 'o' / 'report.md').read_text()
    run = subprocess.run([sys.executable, script, '-opt', 'test.yml', '--model', 'bicubic', '--model',
                          'bicubic=bicubic', '-o', str(tmp_path / 'o2')], cwd=ws, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == \
        'compare: error: --model bicubic=bicubic: the name bicubic is given twice'


def test_size_mismatch_names_the_pair_and_keeps_earlier_rows(ws, compare, tmp_path):
    folder = tmp_path / 'sr'
    for dataset in DATASETS:
        (folder / dataset).mkdir(parents=True)
        for i in range(N_IMAGES):
            img = cv2.imread(f'data/{dataset}/gt/{i:04d}.png') ^ 1  # off by one grey level: a finite PSNR
            if dataset == 'TinyA' and i == 2:
                img = img[:60]
            cv2.imwrite(str(folder / dataset / f'{i:04d}.png'), img)
    out = tmp_path / 'o'
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', f'Copy={folder}', '-o', str(out), '--metrics', 'psnr'])
    assert 'TinyA/0002' in msg and '64x60' in msg and '64x64' in msg and str(folder / 'TinyA' / '0002.png') in msg
    rows = read_rows(out / 'metrics.csv')
    assert [(r['image'], r['metric']) for r in rows] == [('0000', 'psnr'), ('0001', 'psnr')]
    assert all(40 < float(r['value']) < 60 for r in rows)


def test_missing_outputs_unknown_metric_and_checkpoint_without_generator(ws, compare, tmp_path):
    folder = tmp_path / 'sr'
    (folder / 'TinyA').mkdir(parents=True)
    cv2.imwrite(str(folder / 'TinyA' / '0000.png'), cv2.imread('data/TinyA/gt/0000.png'))
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', f'Part={folder}', '-o', str(tmp_path / 'o1')])
    assert 'Part' in msg and 'TinyA/0001' in msg and 'TinyB/0000' in msg and '5 image(s)' in msg

    write_options(tmp_path / 'bad.yml', ws / 'data', {'psnr': PSNR, 'sharpness': {'type': 'calculate_sharpness'}})
    msg = run_cli(compare, ['-opt', str(tmp_path / 'bad.yml'), '--model', 'bicubic', '-o', str(tmp_path / 'o2')])
    assert 'val.metrics.sharpness' in msg and 'calculate_sharpness' in msg and 'unknown metric type' in msg
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', 'bicubic', '-o', str(tmp_path / 'o2'),
                            '--metrics', 'psnr', 'ms_ssim'])
    assert 'ms_ssim' in msg and 'psnr, ssim' in msg
    (tmp_path / 'o4').mkdir()
    (tmp_path / 'o4' / 'metrics.csv').write_text('dataset,image,metric,value\n')  # sfd_arch/test.py's file
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', 'bicubic', '-o', str(tmp_path / 'o4')])
    assert 'metrics.csv' in msg and 'model,dataset,image,metric,value' in msg
    assert (tmp_path / 'o4' / 'metrics.csv').read_text() == 'dataset,image,metric,value\n'

    torch.save({'params': {'heads.0.weight': torch.zeros(1, 8, 1, 1)}}, tmp_path / 'featd.pth')
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', f'D={tmp_path / "featd.pth"}', '-o', str(tmp_path / 'o3')])
    assert 'featd.pth holds no generator' in msg
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    msg = run_cli(compare, ['-opt', 'test.yml', '--model', f'J={tmp_path / "junk.pth"}', '-o', str(tmp_path / 'o3')])
    assert 'junk.pth' in msg and 'checkpoint' in msg
    assert not (tmp_path / 'o3').exists()  # models are loaded before anything is written


def test_non_finite_metric_value_stops_with_rows_kept(ws, compare, tmp_path):
    from basicsr.utils.registry import METRIC_REGISTRY

    if 'calculate_nan_for_compare_test' not in METRIC_REGISTRY._obj_map:
        def calculate_nan_for_compare_test(img, img2, **kwargs):
            return float('nan')

        METRIC_REGISTRY.register(calculate_nan_for_compare_test)
    broken = {'type': 'calculate_nan_for_compare_test'}
    write_options(tmp_path / 'nan.yml', ws / 'data', {'psnr': PSNR, 'broken': broken})
    out = tmp_path / 'o'
    msg = run_cli(compare, ['-opt', str(tmp_path / 'nan.yml'), '--model', 'bicubic', '-o', str(out),
                            '--no-default-metrics'])
    assert 'broken' in msg and 'bicubic' in msg and 'TinyA/0000' in msg and 'nan' in msg
    assert [(r['image'], r['metric']) for r in read_rows(out / 'metrics.csv')] == [('0000', 'psnr')]


# -- the table and crop functions on their own ------------------------------------------------------------------
def test_table_marks_best_and_second_per_direction():
    rows = [ResultRow(m, 'Set5', 'a', metric, v) for m, metric, v in (
        ('A', 'psnr', 30.0), ('B', 'psnr', 31.0), ('C', 'psnr', 29.0),
        ('A', 'lpips', 0.20), ('B', 'lpips', 0.30), ('C', 'lpips', 0.10))]
    rows.append(ResultRow('A', 'Set5', '*', 'fid', 12.5))
    means = dataset_means(rows)
    assert means['Set5']['A'] == {'psnr': 30.0, 'lpips': 0.2, 'fid': 12.5}
    table = table_markdown(means, ['A', 'B', 'C'], ['Set5'], ['psnr', 'lpips', 'fid'],
                           {'psnr': 'higher', 'lpips': 'lower', 'fid': 'lower'}, {'psnr': 'PSNR'})
    lines = table.splitlines()
    assert lines[0] == '| Dataset | Model | PSNR ↑ | lpips ↓ | fid ↓ |'
    assert lines[2] == '| Set5 | A | <u>30.00</u> | <u>0.2000</u> | 12.50 |'
    assert lines[3] == '|  | B | **31.00** | 0.3000 | - |'
    assert lines[4] == '|  | C | 29.00 | **0.1000** | - |'


def test_choose_crop_finds_where_images_differ():
    base = np.full((40, 50, 3), 128, np.uint8)
    other = base.copy()
    other[22:30, 31:39] = 255
    assert choose_crop([base, other], 8) == (31, 22)
    assert choose_crop([base, base], 8) == (8, 8)  # nothing to choose: the first place one crop size in


def test_crop_lands_on_central_texture_away_from_border_artefacts():
    """HR is textured only at its centre; the models differ most along the border (edge stripes of a
    convolution): the crop stays a crop size in from every border and lands on the texture."""
    rng = np.random.default_rng(0)
    h, w, size = 120, 160, 24
    hr = np.full((h, w, 3), 128, np.uint8)
    hr[48:72, 68:92] = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)  # texture only at the centre
    a, b = hr.copy(), hr.copy()
    a[:6], b[:6] = 0, 255  # stripes at the top rows, where the models disagree most
    a[:, -6:], b[:, -6:] = 0, 255
    b[48:72, 68:92] = np.clip(hr[48:72, 68:92].astype(int) + 20, 0, 255)  # a smaller difference on the texture
    x, y = choose_crop([a, b], size, hr)
    assert size <= x <= w - 2 * size and size <= y <= h - 2 * size
    assert (x, y) == (68, 48)
    # a small image still gets a centred margin: 40 px wide with a 24 px crop leaves 8 px each side
    small = np.zeros((40, 40, 3), np.uint8)
    assert choose_crop([small, small], 24, small) == (8, 8)


def test_dataset_level_metric_rows(ws, compare, tmp_path, monkeypatch):
    """FID gets one row per model and dataset (image ``*``), from all SR and HR images of the dataset.

    The Frechet distance itself is the metric library's (tested there; a 2048-d matrix square root per value is
    too slow here), so it is replaced by the mean absolute difference of the two image lists.
    """
    import sfd_arch.metrics as metrics_lib

    calls = []

    def mean_abs_difference(metric_opt, sr_images, hr_images, names=None, dataset=''):
        calls.append((metric_opt['type'], dataset, len(sr_images), len(hr_images)))
        return float(np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(sr_images, hr_images)]))

    monkeypatch.setattr(metrics_lib, 'compute_dataset_metric', mean_abs_difference)
    weights = tmp_path / 'experiments' / 'pretrained_models'
    weights.mkdir(parents=True)
    (weights / 'pt_inception-2015-12-05-6726825d.pth').write_bytes(b'stand-in')  # only its presence is checked
    monkeypatch.chdir(tmp_path)
    opt = write_options(tmp_path / 'test.yml', ws / 'data', {'psnr': PSNR})
    models = {'bicubic': 'bicubic', 'G1': str(ws / 'g1.pth')}
    result = compare.run_compare(str(opt), models, 'o', progress=False, visual_per_dataset=0,
                                 metrics=['psnr', 'fid'])
    assert sorted(calls) == sorted(('calculate_fid', d, N_IMAGES, N_IMAGES) for d in DATASETS for _ in models)
    fid_rows = [r for r in read_compare_csv('o/metrics.csv') if r.metric == 'fid']
    assert sorted((r.model, r.dataset, r.image) for r in fid_rows) == sorted(
        (m, d, '*') for m in models for d in DATASETS)
    bicubic = [compare.bicubic_upscale(cv2.imread(str(ws / 'data' / 'TinyA' / 'lq' / f'{i:04d}.png')), 4)
               for i in range(N_IMAGES)]
    hrs = [cv2.imread(str(ws / 'data' / 'TinyA' / 'gt' / f'{i:04d}.png')) for i in range(N_IMAGES)]
    expected = mean_abs_difference({'type': 'calculate_fid'}, bicubic, hrs)
    assert [r.value for r in fid_rows if (r.model, r.dataset) == ('bicubic', 'TinyA')] == [pytest.approx(expected)]
    table = Path(result.table_md).read_text()
    assert '| FID (stand-in weights) ↓ |' in table.splitlines()[0]  # the file is not the published one
    assert 'pt_inception-2015-12-05-6726825d.pth' in Path(result.report_md).read_text()
    calls.clear()
    assert compare.run_compare(str(opt), models, 'o', progress=False, visual_per_dataset=0,
                               metrics=['psnr', 'fid']).computed == {'sr': 0, 'values': 0}
    assert calls == []


@pytest.mark.skipif(write_stand_in_weights is None, reason='needs the metric library')
def test_stand_in_marks_reach_the_table_and_the_figures(ws, compare, tmp_path, monkeypatch):
    """LPIPS on random stand-in weights: its header, the PD axis and the visual key all say so; PSNR does not."""
    figures = {}

    def keep(name, draw):
        def wrapper(*args, **kwargs):
            out = draw(*args, **kwargs)
            figures[name] = out[0] if isinstance(out, tuple) else out
            return out
        return wrapper

    monkeypatch.setattr(compare, 'plot_pd', keep('pd', compare.plot_pd))
    monkeypatch.setattr(compare, 'plot_visual', keep('visual', compare.plot_visual))
    out = tmp_path / 'o'
    compare.run_compare('test.yml', {'bicubic': 'bicubic', 'G1': 'g1.pth'}, str(out), metrics=['psnr', 'lpips'],
                        progress=False, visual_per_dataset=1)
    header = (out / 'table.md').read_text().splitlines()[0]
    assert '| PSNR ↑ |' in header and '| LPIPS (stand-in weights) ↓ |' in header
    assert figures['pd'].axes[0].get_ylabel() == 'LPIPS (stand-in weights) ↓'
    assert 'stand-in' not in figures['pd'].axes[-2].get_xlabel()
    hr_key = figures['visual'].axes[-1].get_xlabel()
    assert 'LPIPS (stand-in weights)' in hr_key and 'PSNR↑' in hr_key.replace('\n', ' ')
    from sfd_arch.eval.standins import stand_in_note

    assert stand_in_note({'type': 'calculate_psnr', 'crop_border': 4}) == ''
    assert stand_in_note({'type': 'calculate_sfd_iqa', 'weights': 'model'}, {'pretrained': None}) == 'random CLIP'
    assert stand_in_note({'type': 'calculate_sfd_iqa', 'weights': 'model'}, {'pretrained': 'openai'}) == ''


# -- protocols ---------------------------------------------------------------------------------------------------
def test_protocol_heads_the_reports_and_is_stored_in_results_json(ws, compare, tmp_path):
    """The option file's `protocol: pyiqa`, a file block winning over the preset's, and --protocol over the file."""
    opt = yaml.safe_load((ws / 'test.yml').read_text())
    opt['protocol'] = 'pyiqa'
    (tmp_path / 'pyiqa.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    out = tmp_path / 'o'
    result = compare.run_compare(str(tmp_path / 'pyiqa.yml'), {'bicubic': 'bicubic'}, str(out), progress=False,
                                 visual_per_dataset=0)
    # pyiqa's lpips and lpips-vgg: the stand-in AlexNet is there, VGG is not (skipped, saying why)
    assert set(result.metrics) == {'psnr', 'ssim', 'lpips'} and 'lpips_vgg' in result.skipped_metrics
    saved = json.loads((out / 'results.json').read_text())
    record = saved['protocol']
    assert record['name'] == 'pyiqa' and record['chosen_by'] == 'the option file'
    rows = {r['metric']: r for r in record['metrics']}
    # the file's psnr/ssim (Y, crop 4) win over pyiqa's (RGB/YIQ, whole image); LPIPS is the preset's
    assert rows['psnr']['from'].startswith("the option file, in place of protocol pyiqa's (type calculate_psnr "
                                           '(protocol: calculate_psnr_pyiqa), crop_border 4 (protocol: 0)')
    assert rows['lpips'] == dict(rows['lpips'], colour='rgb', crop=0, backbone='alex',
                                 source='chaofengc/IQA-PyTorch: pyiqa/archs/lpips_arch.py')
    assert saved['metrics']['lpips'] == {'type': 'calculate_lpips', 'crop_border': 0, 'net': 'alex'}
    report = (out / 'report.md').read_text().splitlines()
    assert report[2].startswith("**Protocol: `pyiqa`**, pyiqa's default settings (IQA-PyTorch) (chosen by the option "
                                'file).')
    assert any(line.startswith('| lpips | rgb | 0 | alex |') and 'protocol pyiqa (chaofengc/IQA-PyTorch' in line
               for line in report[:12])
    page = (out / 'report.html').read_text()
    assert page.index('Protocol: <code>pyiqa</code>') < page.index('id="metrics"')
    assert 'Not in this protocol: <code>niqe</code>' in page

    # --protocol wins over the file; the values of the new settings are computed, the file's kept
    again = compare.run_compare(str(tmp_path / 'pyiqa.yml'), {'bicubic': 'bicubic'}, str(out), progress=False,
                                visual_per_dataset=0, protocol='sfd')
    assert again.protocol['chosen_by'] == '--protocol' and again.protocol['name'] == 'sfd'
    assert again.computed['values'] == N_IMAGES * len(DATASETS)  # LPIPS after the border crop, nothing else
    assert '--protocol sfd' in (out / 'report.md').read_text()


def test_no_pd_point_for_any_dataset_is_a_note_not_a_traceback(ws, compare, tmp_path):
    """The basicsr protocol has NIQE and no LPIPS: on 64 px images NIQE measures nothing, so no dataset has a
    PD point for every model; the report says so and everything else is written."""
    result = compare.run_compare(str(ws / 'test.yml'), {'bicubic': 'bicubic', 'G1': 'g1.pth'}, str(tmp_path / 'o'),
                                 progress=False, visual_per_dataset=0, protocol='basicsr')
    assert result.pd_png is None and not (tmp_path / 'o' / 'pd.png').exists()
    assert result.pd_note.startswith('No PD plot: no dataset has both PSNR and NIQE for every model (lpips: ')
    assert result.pd_note in (tmp_path / 'o' / 'report.md').read_text()
    assert (tmp_path / 'o' / 'report.html').is_file() and '| TinyA |' in result.table


def test_unknown_protocol_in_the_option_file_fails_before_any_work(ws, compare, tmp_path):
    opt = yaml.safe_load((ws / 'test.yml').read_text())
    opt['protocol'] = 'basicsrr'
    (tmp_path / 'bad.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    with pytest.raises(compare.CompareError, match=r"bad.yml: protocol: input should be 'sfd', 'basicsr' or 'pyiqa', "
                                                   r"got 'basicsrr'"):
        compare.run_compare(str(tmp_path / 'bad.yml'), {'bicubic': 'bicubic'}, str(tmp_path / 'o'), progress=False)
# -- images a metric cannot measure, images cut short --------------------------------------------------------------
def _textured(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC) * 255, 0, 255).astype(np.uint8)


def _write_tiny_set(root: Path, sizes: dict) -> Path:
    """A dataset ``Tiny`` of textured GT images of the given (height, width) and their x4 LQ, and its option file
    with PSNR and NIQE (crop_border 4)."""
    for sub in ('gt', 'lq'):
        (root / 'Tiny' / sub).mkdir(parents=True)
    for i, (h, w) in enumerate(sizes.values()):
        hr = _textured(h, w, i)
        cv2.imwrite(str(root / 'Tiny' / 'gt' / f'{i:04d}.png'), hr)
        cv2.imwrite(str(root / 'Tiny' / 'lq' / f'{i:04d}.png'), cv2.resize(hr, (w // 4, h // 4),
                                                                          interpolation=cv2.INTER_AREA))
    opt = {'name': 'tiny', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset',
                                   'dataroot_gt': str(root / 'Tiny' / 'gt'), 'dataroot_lq': str(root / 'Tiny' / 'lq'),
                                   'io_backend': {'type': 'disk'}}},
           'network_g': {'type': 'RRDBNet', **NET},
           'val': {'metrics': {'psnr': PSNR, 'niqe': {'type': 'calculate_niqe', 'crop_border': 4}}}}
    (root / 'tiny.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
    return root / 'tiny.yml'


def test_niqe_on_an_image_below_two_blocks_is_said_per_image_and_stops_nothing(compare, tmp_path, capsys):
    """192x192 with crop_border 4 leaves one 96 px block: NIQE's covariance is singular there ("SVD did not
    converge" stopped the whole comparison). Known from the LQ header before any SR image is made; PSNR of that
    image and NIQE of the next are still computed, and the report says which image NIQE left out."""
    opt = _write_tiny_set(tmp_path, {'one_block': (192, 192), 'two_blocks': (104, 200)})
    out = tmp_path / 'o'
    result = compare.run_compare(str(opt), {'bicubic': 'bicubic'}, str(out), progress=False, visual_per_dataset=0,
                                 default_metrics=False)
    assert ('compare: niqe cannot measure Tiny/0000: 192x192 leaves 184x184 after crop_border 4: 1 96 px block, '
            'NIQE needs 2; its other metrics are computed') in capsys.readouterr().err
    rows = read_rows(out / 'metrics.csv')
    assert sorted((r['image'], r['metric']) for r in rows) == [('0000', 'psnr'), ('0001', 'niqe'), ('0001', 'psnr')]
    assert all(np.isfinite(float(r['value'])) for r in rows)
    assert result.means['Tiny']['bicubic']['niqe'] == pytest.approx(
        float(next(r['value'] for r in rows if r['metric'] == 'niqe')))
    assert ('NIQE is left out of the means on 1 image(s) it cannot measure: Tiny/0000 (192x192 leaves 184x184 '
            'after crop_border 4: 1 96 px block, NIQE needs 2).') in (out / 'report.md').read_text()


def test_a_truncated_image_stops_the_comparison_before_any_work(compare, tmp_path):
    """OpenCV decodes a cut PNG or JPEG into a partly gray image without an error; the comparison finds the cut
    from the file's structure and names the file before any SR image is made (scripts/compare.py exits 1)."""
    opt = _write_tiny_set(tmp_path, {'a': (64, 64), 'b': (64, 64)})
    cut = tmp_path / 'Tiny' / 'gt' / '0001.png'
    data = cut.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(compare.CompareError) as info:
        compare.run_compare(str(opt), {'bicubic': 'bicubic'}, str(tmp_path / 'o'), progress=False,
                            metrics=['psnr'], default_metrics=False)
    assert str(info.value) == (f'{opt}: datasets.test_1 (Tiny): {cut}: truncated PNG (the file ends inside its '
                               f'IDAT chunk: {len(data) // 2} bytes)')
    assert not (tmp_path / 'o').exists()
