"""One record per metric (sfd_arch/metrics/records.py): every table is read from it, and a new metric is one record
and one registered function that reaches the comparison, its report and ``sfd-iqa bench``."""
import ast
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from basicsr.utils.registry import METRIC_REGISTRY
from conftest import REPO
from sfd_testutil import make_paired_dataset

from sfd_arch.metrics import records
from sfd_arch.metrics.records import BenchEntry, Metric

pytestmark = pytest.mark.usefixtures('single_thread')


def worked_example() -> tuple:
    """The function and the record of docs/design.md's worked example, run as the document shows them."""
    text = (REPO / 'docs' / 'design.md').read_text()
    section = text[text.index('### One record per metric'):]
    start = section.index('```python\n') + len('```python\n')
    code = section[start:section.index('\n```', start)]
    registered = {}

    class Registry:  # BasicSR's registry as the example uses it; the test fixture below adds the function for real
        def register(self):
            return lambda fn: registered.setdefault(fn.__name__, fn)

    namespace = {'METRIC_REGISTRY': Registry(), 'Metric': Metric, 'BenchEntry': BenchEntry, 'cv2': cv2, 'np': np}
    tree = ast.parse(code)
    exec(compile(ast.Module(tree.body[:-1], []), 'docs/design.md', 'exec'), namespace)
    (record,) = eval(compile(ast.Expression(tree.body[-1].value), 'docs/design.md', 'eval'), namespace)
    return registered[record.type], record


calculate_toy_blur, TOY = worked_example()


@pytest.fixture
def toy(monkeypatch):
    """The toy metric added as a user adds one: its record in the table, its function in BasicSR's registry."""
    monkeypatch.setitem(records.METRICS, TOY.name, TOY)
    monkeypatch.setitem(METRIC_REGISTRY._obj_map, TOY.type, calculate_toy_blur)
    return TOY


def test_the_tables_are_read_from_the_records():
    import sfd_arch.metrics as M
    from sfd_arch.eval.compare import metric_labels
    from sfd_arch.iqa_bench import bench

    for name, label in (('psnr', 'PSNR'), ('lpips_vgg', 'LPIPS-VGG'), ('sfd_iqa', 'SFD-IQA'), ('clipiqa', 'CLIP-IQA')):
        assert records.label(name) == label and metric_labels({})[name] == label
    assert records.label('kid') == 'kid' and records.label('kid', 'KID') == 'KID'  # a record without a label
    assert M.is_dataset_metric({'type': 'calculate_kid'}) and not M.is_dataset_metric({'type': 'calculate_dists'})
    assert M.is_no_reference({'type': 'calculate_piqe'}) and not M.is_no_reference({'type': 'calculate_lpips'})
    assert M.metric_direction({'type': 'calculate_lpips', 'net': 'vgg'}) == records.direction('lpips_vgg') == 'lower'
    assert bench.metric_names() == ('sfd_iqa', 'niqe', 'piqe', 'brisque', 'ilniqe', 'clipiqa', 'qualiclip')
    assert bench.titles()['ilniqe'] == 'IL-NIQE'
    assert records.METRICS['fid'].weights({'inception_path': 'x.pth'})[0][1] == 'x.pth'
    with pytest.raises(ValueError, match=r"net must be one of \['alex', 'vgg'\], got 'squeeze'"):
        M.weight_report({'type': 'calculate_lpips', 'net': 'squeeze'})


def test_every_preset_metric_has_a_record():
    """The protocol presets keep their settings; their metrics' labels and directions are the records'."""
    from sfd_arch.metrics.protocols import PROTOCOLS

    names = {m.name for p in PROTOCOLS.values() for m in p.metrics}
    assert names >= {'psnr', 'ssim', 'lpips', 'dists', 'fid', 'niqe'}
    assert not [n for n in names if records.named(n) is None]


def test_every_record_of_a_function_says_the_same_of_its_weights_and_kind():
    """The weight files, the per-dataset kind and the stand-in mark are facts of the function (``type``): records
    that share a function (lpips and lpips_vgg, pyiqa's metrics) must agree on them."""
    by_type = {}
    for m in records.METRICS.values():
        by_type.setdefault(m.type, []).append(m)
    for metric_type, group in by_type.items():
        assert len({(m.weights, m.per_dataset, m.stand_in) for m in group}) == 1, metric_type


def test_a_new_metric_is_one_record_and_one_function(toy, tmp_path, monkeypatch, capsys):
    """The toy no-reference metric reaches the comparison (its rows and the table), the comparison's report and
    ``sfd-iqa bench`` (its --metric choices, its table and its results), labelled and oriented by its record."""
    import yaml

    from sfd_arch.cli import main as cli
    from sfd_arch.eval.compare import run_compare

    # the comparison: one tiny paired dataset, bicubic only
    make_paired_dataset(str(tmp_path / 'data' / 'Tiny'), n=2, size=32, seed=0)
    opt = {'name': 'toy', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'datasets': {'test_0': {'name': 'Tiny', 'type': 'PairedImageDataset', 'io_backend': {'type': 'disk'},
                                   'dataroot_gt': str(tmp_path / 'data' / 'Tiny' / 'gt'),
                                   'dataroot_lq': str(tmp_path / 'data' / 'Tiny' / 'lq')}},
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1},
           'val': {'metrics': {'toy_blur': {'type': 'calculate_toy_blur'}}}}
    (tmp_path / 'toy.yml').write_text(yaml.safe_dump(opt))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    result = run_compare('toy.yml', {'bicubic': 'bicubic'}, 'out', metrics=['toy_blur'], progress=False,
                         visual_per_dataset=0)
    with open('out/metrics.csv', newline='') as f:
        rows = [r for r in csv.DictReader(f) if r['metric'] == 'toy_blur']
    assert sorted(r['image'] for r in rows) == ['0000', '0001']
    sr = cv2.imread('out/sr/bicubic/Tiny/0000.png')  # the value is the registered function's, on the SR image
    assert float(next(r['value'] for r in rows if r['image'] == '0000')) == pytest.approx(calculate_toy_blur(sr))
    assert '| Toy-Blur ↓ |' in Path(result.table_md).read_text().splitlines()[0]
    assert json.loads(Path(result.results_json).read_text())['directions']['toy_blur'] == 'lower'
    assert '| Dataset | Model | Toy-Blur ↓ |' in Path(result.report_md).read_text()
    assert 'Toy-Blur' in Path(result.report_html).read_text()

    # the bench: a folder of images with a MOS table, scored by the toy metric as a baseline
    mine = tmp_path / 'mine'
    mine.mkdir()
    rng = np.random.default_rng(0)
    with open(mine / 'labels.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['image', 'mos'])
        for i in range(4):
            image = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (0, 0), 0.5 + i)
            cv2.imwrite(str(mine / f'p{i}.png'), image)
            w.writerow([f'p{i}.png', 4 - i])
    assert cli(['bench', '--dataset-dir', f'mine={mine / "labels.csv"}', '--metric', 'toy_blur', '--baseline',
                'toy_blur', '-o', 'bench', '--bootstrap', '0', '--no-progress']) == 0, capsys.readouterr().err
    table = Path('bench/table.md').read_text()
    assert 'Toy-Blur' in table
    bench_results = json.loads(Path('bench/results.json').read_text())
    assert bench_results['datasets']['mine']['evaluated'] == 4
    # sharper images have higher MOS here and a lower toy value: negated, the rank correlation is +1
    assert bench_results['datasets']['mine']['results']['toy_blur']['srcc'] == pytest.approx(1.0)
    assert 'negated before correlating (lower is better): Toy-Blur' in bench_results['notes']
