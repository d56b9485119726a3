"""Throughput at scale: decoding in DataLoader workers, --compile, sharded scoring under torchrun, and SFD
training across two "nodes" on this machine (CPU, gloo, tiny CLIP).

Multi-process tests start real ``torch.distributed.run`` processes with the checkout first on PYTHONPATH (so
they run this checkout's code), on free ports, with timeouts; they are marked slow where they take longer
than about 20 s on a busy 2-core machine.
"""
import csv
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap
import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from sfd_testutil import tiny_clip_from_file

from sfd_arch.archs import FeatD, PromptLearner
from sfd_arch.cli import SCORE_COLUMNS
from sfd_arch.cli import distributed as dist_score
from sfd_arch.cli import main as cli
from sfd_arch.cli import rows as rows_module
from sfd_arch.iqa import SFDIQA, read_image
from sfd_arch.iqa import loader as iqa_loader
from sfd_arch.iqa.compiled import CompileFallbackWarning
from sfd_arch.iqa.tiles import tile_boxes

TILE = 64
TIMEOUT = 300


# -- fixtures ----------------------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures('single_thread')  # conftest: tiny networks run fastest on one thread


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """An SFD-IQA weights file over a tiny CLIP saved to a file (so other processes build the same CLIP)."""
    root = tmp_path_factory.mktemp('scale_weights')
    clip, clip_file = tiny_clip_from_file(root)
    torch.manual_seed(1)
    scorer = SFDIQA(clip, FeatD(clip=clip, num_feat=16, depth=1).eval(), PromptLearner(clip=clip, n_ctx=4).eval(),
                    tile=TILE, batch_size=4)
    return scorer.save(str(root / 'sfd_iqa.pth'))


@pytest.fixture(scope='module')
def scorer(weights):
    return SFDIQA.from_file(weights, device='cpu', tile=TILE, batch_size=4)


def _image(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth RGB uint8 content with some grain (BGR for cv2.imwrite makes no difference to the test)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, max(h // 10, 2), max(w // 10, 2), generator=g)
    img = F.interpolate(low, size=(h, w), mode='bicubic', align_corners=False)[0]
    img = (img + 0.05 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """Images of every kind the loader handles, of several sizes (some tiled), plus two bad files."""
    root = tmp_path_factory.mktemp('scale_images') / 'images'
    (root / 'sub').mkdir(parents=True)
    sizes = [(72, 90), (64, 64), (130, 100), (48, 40), (96, 150), (64, 64), (40, 200), (80, 80)]
    for i, (h, w) in enumerate(sizes):
        cv2.imwrite(str(root / f'img{i:02d}.png'), _image(h, w, i))
        cv2.imwrite(str(root / f'img{i:02d}.jpg'), _image(h, w, 100 + i), [cv2.IMWRITE_JPEG_QUALITY, 90])
    base = _image(70, 66, 50)
    cv2.imwrite(str(root / 'gray.png'), base[:, :, 0])
    cv2.imwrite(str(root / 'deep16.png'), base.astype(np.uint16) * 257 + 3)
    cv2.imwrite(str(root / 'alpha.png'), np.dstack([base, base[:, :, 1]]))
    cv2.imwrite(str(root / 'sub' / 'nested.png'), base)
    cv2.imwrite(str(root / 'tiny.png'), base[:20, :24])
    (root / 'corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg at all' * 4)
    return root


def _files(folder) -> list:
    from sfd_arch.iqa import find_images

    return find_images([str(folder)]).files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', **extra)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                'CUDA_VISIBLE_DEVICES'):
        env.pop(key, None)
    return env


def torchrun(args: list, cwd: str, nproc: int = 2, timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(nproc), '--master_addr',
           '127.0.0.1', '--master_port', str(_free_port()), *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def score_args(folder, weights, *extra, more=()) -> list:
    return ['score', str(folder), *map(str, more), '-w', weights, '--tile', str(TILE), '--batch-size', '4',
            '--device', 'cpu', '--no-progress', *extra]


# -- parallel input ------------------------------------------------------------------------------------------------
def test_workers_give_the_same_rows_in_the_same_order(folder, weights, scorer, tmp_path):
    outputs = {}
    for workers in (0, 2):
        out = tmp_path / f'w{workers}.csv'
        assert cli(score_args(folder, weights, '--workers', str(workers), '--csv', str(out))) == 1  # 2 bad files
        outputs[workers] = out.read_text()
    assert outputs[0] == outputs[2]
    rows = list(csv.DictReader(outputs[0].splitlines()))
    assert [r['path'] for r in rows] == _files(folder)
    errors = {osp.basename(r['path']): r['error'] for r in rows if r['error']}
    assert set(errors) == {'tiny.png', 'corrupt.jpg'}
    assert 'at least 32x32' in errors['tiny.png'] and 'cannot decode' in errors['corrupt.jpg']
    assert {r['tiles'] for r in rows if r['path'].endswith('img02.png')} == {'6'}  # 130x100 in 64 px tiles

    # the same bits as reading in the main process through ImageArray (score_arrays) in the same windows of
    # --batch-size inputs (the unit whose crops share batches), and within 1e-6 of each image scored alone
    paths = [r['path'] for r in rows]
    for start in range(0, len(paths), 4):
        window = [r for r in rows[start:start + 4] if not r['error']]
        expected = scorer.score_arrays([read_image(r['path']) for r in window], names=[r['path'] for r in window])
        for row, result in zip(window, expected):
            assert float(row['score']) == result.score and int(row['tiles']) == result.tiles, row['path']
            alone = scorer.score_arrays([read_image(row['path'])], names=[row['path']])[0]
            assert abs(alone.score - result.score) < 1e-6


def test_windows_are_a_function_of_the_list_and_never_pad(folder, weights):
    """Crops forwarded = crops of the images (no padding), batches fixed by windows of batch_size inputs."""
    paths = [p for p in _files(folder) if not p.endswith(('tiny.png', 'corrupt.jpg'))]
    crops = sum(len(tile_boxes(*read_image(p).pixels.shape[:2], TILE)) for p in paths)
    scorer = SFDIQA.from_file(weights, device='cpu', tile=TILE, batch_size=4)
    whole = [r.score for r in scorer.iter_files(paths, workers=0, group=4)]
    assert scorer.forwarded == crops
    halves = [r.score for part in (paths[:8], paths[8:]) for r in scorer.iter_files(part, workers=0, group=4)]
    assert halves == whole  # cut at a multiple of the window: the same bits
    assert rows_module.windows(['a', 'b', 'c', 'd', 'e'], {'a', 'b', 'e'}, 2) == [['c', 'd']]
    assert rows_module.windows(['a', 'b', 'c'], {'a'}, 2) == [['a', 'b'], ['c']]


def test_loader_ships_stored_pixels_and_converts_like_imagearray(folder):
    dataset = iqa_loader.TileDataset([str(folder / n) for n in ('img02.png', 'gray.png', 'deep16.png')], TILE)
    rgb, gray, deep = (dataset[i] for i in range(3))
    assert rgb.tiles.dtype == torch.uint8 and tuple(rgb.tiles.shape) == (6, 3, 64, 64) and rgb.scale == 255.0
    assert gray.tiles.dtype == torch.uint8 and gray.tiles.shape[1] == 1
    assert deep.tiles.dtype == torch.int32 and deep.scale == 65535.0 and int(deep.tiles.max()) > 255
    for item in (rgb, gray, deep):
        stack = iqa_loader.TileStack(item, 'cpu')
        image = read_image(item.path)
        for box in item.boxes:
            assert torch.equal(stack.crop(*box), image.crop(*box)), (item.path, box)
    with pytest.raises(ValueError, match='did not cut'):
        stack.crop(1, 1, 64, 64)
    assert dataset.paths and iqa_loader.TileDataset([str(folder / 'nope.png')], TILE)[0].error.endswith('no such file')


def test_workers_start_after_the_parent_used_opencv_threads(folder):
    """A parent whose OpenCV pool has threads (it resized a large image) must not hang its forked workers."""
    code = textwrap.dedent(f"""
        import cv2, numpy as np
        from sfd_arch.iqa.loader import decoded_images
        cv2.setNumThreads(2)
        cv2.resize(np.zeros((1500, 1500, 3), np.uint8), (2500, 2500))
        paths = [{str(folder / 'img02.png')!r}, {str(folder / 'gray.png')!r}]
        print(len([p for p, _ in decoded_images(paths, 64, 'cpu', workers=2)]), cv2.getNumThreads())
    """)
    run = subprocess.run([sys.executable, '-c', code], env=_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ['2', '2']  # every file came back, and the parent's setting is restored


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_input_is_pinned_copied_async_and_scores_like_the_cpu(folder, weights, scorer):
    paths = [p for p in _files(folder) if not p.endswith(('tiny.png', 'corrupt.jpg'))]
    items = list(iqa_loader.decoded_images(paths, TILE, 'cuda', workers=2))
    assert all(isinstance(image, iqa_loader.TileStack) and image.tiles.is_cuda for _, image in items)
    loader = torch.utils.data.DataLoader(iqa_loader.TileDataset(paths[:1], TILE), batch_size=None, pin_memory=True)
    assert next(iter(loader)).tiles.is_pinned()
    gpu = SFDIQA.from_file(weights, device='cuda', tile=TILE, batch_size=4)
    on_gpu = [r.score for r in gpu.iter_files(paths, workers=2)]
    on_cpu = [r.score for r in scorer.iter_files(paths, workers=0)]
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-5, rtol=0)


def test_default_workers_follow_the_cores_and_the_processes_per_node(monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda _: set(range(16)), raising=False)
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    assert iqa_loader.default_workers() == 8
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')
    assert iqa_loader.default_workers() == 3
    monkeypatch.setattr(os, 'sched_getaffinity', lambda _: {0}, raising=False)
    assert iqa_loader.default_workers() == 0
    assert cli(['score', 'x.png', '-w', 'none.pth', '--workers', '-1']) == 2


# -- --compile -----------------------------------------------------------------------------------------------------
def _batch():
    return torch.stack([torch.from_numpy(_image(64, 64, s)).permute(2, 0, 1).float() / 255 for s in range(3)])


def test_compile_falls_back_to_eager_with_a_clear_message(weights, monkeypatch):
    eager = SFDIQA.from_file(weights, device='cpu', tile=TILE)
    expected = eager.score_tensor(_batch())[0]

    def no_compiler(*args, **kwargs):
        raise RuntimeError('InvalidCxxCompiler: No working C++ compiler found')

    monkeypatch.setattr(torch, 'compile', no_compiler)
    with pytest.warns(CompileFallbackWarning, match='No working C\\+\\+ compiler.*eager mode'):
        scorer = SFDIQA.from_file(weights, device='cpu', tile=TILE).compile()
    assert not scorer._forward.active
    torch.testing.assert_close(scorer.score_tensor(_batch())[0], expected, rtol=0, atol=0)

    # a failure at the first call (where inductor compiles) falls back the same way, once
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError('BackendCompilerFailed: inductor could not build the kernel')
        return call

    monkeypatch.setattr(torch, 'compile', broken)
    scorer = SFDIQA.from_file(weights, device='cpu', tile=TILE).compile()
    with pytest.warns(CompileFallbackWarning, match='BackendCompilerFailed'):
        first = scorer.score_tensor(_batch())[0]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        second = scorer.score_tensor(_batch())[0]
    assert torch.equal(first, expected) and torch.equal(second, expected)


def test_compile_traces_the_forward_pass(weights):
    """TorchDynamo captures CLIP + Feat-D + TG-D (backend 'eager': no code generation, so it stays cheap)."""
    import torch._dynamo

    torch._dynamo.reset()
    eager = SFDIQA.from_file(weights, device='cpu', tile=TILE).score_tensor(_batch())
    scorer = SFDIQA.from_file(weights, device='cpu', tile=TILE).compile(backend='eager')
    with warnings.catch_warnings():
        warnings.simplefilter('error', CompileFallbackWarning)
        compiled = scorer.score_tensor(_batch())
    assert scorer._forward.active
    for a, b in zip(compiled, eager):
        assert float((a - b).abs().max()) < 1e-6


@pytest.mark.slow
def test_compiled_scores_within_1e3_of_eager_fp32(weights, folder, tmp_path):
    """Inductor on the CPU (C++ code generation: slow to compile, hence 'slow'); then the command end to end."""
    import torch._dynamo

    torch._dynamo.reset()
    eager = SFDIQA.from_file(weights, device='cpu', tile=TILE).score_tensor(_batch())[0]
    scorer = SFDIQA.from_file(weights, device='cpu', tile=TILE).compile()
    compiled = scorer.score_tensor(_batch())[0]
    assert scorer._forward.active, scorer._forward.fallback_reason
    assert float((compiled - eager).abs().max()) < 1e-3
    out_e, out_c = tmp_path / 'eager.csv', tmp_path / 'compiled.csv'
    assert cli(score_args(folder, weights, '--workers', '0', '--csv', str(out_e))) == 1
    assert cli(score_args(folder, weights, '--workers', '0', '--compile', '--csv', str(out_c))) == 1
    rows_e, rows_c = (list(csv.DictReader(p.open())) for p in (out_e, out_c))
    assert [r['path'] for r in rows_e] == [r['path'] for r in rows_c]
    for a, b in zip(rows_e, rows_c):
        assert a['error'] == b['error'] and (not a['score'] or abs(float(a['score']) - float(b['score'])) < 1e-3)


# -- sharding --------------------------------------------------------------------------------------------------------
def test_shards_are_deterministic_disjoint_and_complete():
    items = [f'f{i}' for i in range(11)]
    shards = [dist_score.shard(items, r, 3) for r in range(3)]
    assert shards[0] == ['f0', 'f3', 'f6', 'f9'] and shards == [dist_score.shard(items, r, 3) for r in range(3)]
    assert sorted(sum(shards, [])) == sorted(items) and max(map(len, shards)) - min(map(len, shards)) <= 1
    env = dist_score.DistEnv.from_env({'RANK': '1', 'WORLD_SIZE': '4', 'LOCAL_RANK': '1', 'LOCAL_WORLD_SIZE': '2'})
    assert env.distributed and (env.rank, env.world_size, env.local_rank) == (1, 4, 1)
    assert not dist_score.DistEnv.from_env({}).distributed
    with pytest.raises(ValueError, match='RANK=4 does not fit WORLD_SIZE=4'):
        dist_score.DistEnv.from_env({'RANK': '4', 'WORLD_SIZE': '4'})


def test_merge_prefers_rows_without_error_and_reads_both_formats(tmp_path):
    ok = {'path': 'a.png', 'score': 0.25, 'q_feat': 0.5, 'p_pos': 0.0, 'height': 64, 'width': 48, 'tiles': 1,
          'error': None}
    bad = {'path': 'a.png', 'score': None, 'q_feat': None, 'p_pos': None, 'height': None, 'width': None,
           'tiles': None, 'error': 'a.png: cannot decode'}
    assert dist_score.merge_rows([[ok], [bad]])['a.png'] == ok
    assert dist_score.merge_rows([[bad], [ok]])['a.png'] == ok
    out = tmp_path / 'o.csv'
    out.write_text(','.join(SCORE_COLUMNS) + '\na.png,0.25,0.5,0.0,64,48,1,\nb.png,0.1,0.2')  # b: cut by a kill
    assert dist_score.read_rows(str(out)) == [ok]
    part = tmp_path / 'o.csv.part3.jsonl'
    part.write_text(json.dumps(ok) + '\n{"path": "b.pn')
    (tmp_path / 'o.csv.part10.jsonl').write_text('')
    assert dist_score.read_rows(str(part)) == [ok]
    assert dist_score.part_files(str(out)) == [str(part), str(tmp_path / 'o.csv.part10.jsonl')]


def test_a_rank_refuses_parts_of_an_interrupted_run(folder, weights, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'o.csv'
    (tmp_path / 'o.csv.part1.jsonl').write_text('')
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '0')
    assert cli(score_args(folder, weights, '--csv', str(out))) == 2
    assert 'part files of an interrupted run' in capsys.readouterr().err
    assert cli(score_args(folder, weights)) == 2
    assert 'give --csv and/or --json' in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_torchrun_two_processes_write_the_single_process_file(folder, weights, tmp_path):
    single_csv, single_json = tmp_path / 'one.csv', tmp_path / 'one.jsonl'
    absent = [tmp_path / 'absent.png']
    assert cli(score_args(folder, weights, '--csv', str(single_csv), '--json', str(single_json), '--workers', '0',
                          more=absent)) == 1
    out_csv, out_json = tmp_path / 'two.csv', tmp_path / 'two.jsonl'
    args = score_args(folder, weights, '--csv', str(out_csv), '--json', str(out_json), '--workers', '1', more=absent)
    run = torchrun(['-m', 'sfd_arch.cli', *args], cwd=str(tmp_path))
    assert run.returncode == 1, run.stderr[-3000:]  # rank 0 reports the failed inputs
    assert 'on 2 ranks' in run.stderr
    assert out_csv.read_text() == single_csv.read_text()
    assert out_json.read_text() == single_json.read_text()
    assert not dist_score.part_files(str(out_csv))  # merged, then removed


INTERRUPT = '''
import sys
from sfd_arch.iqa.scorer import SFDIQA

real = SFDIQA.iter_files


def interrupted(self, paths, **kwargs):
    for i, result in enumerate(real(self, paths, **kwargs)):
        if i == {after}:
            raise KeyboardInterrupt  # as a preempted job would stop, half-way through its shard
        yield result


SFDIQA.iter_files = interrupted
from sfd_arch.cli import main

sys.exit(main())
'''


@pytest.mark.slow
def test_an_interrupted_two_rank_run_resumes(folder, weights, tmp_path):
    single = tmp_path / 'one.csv'
    assert cli(score_args(folder, weights, '--csv', str(single), '--workers', '0')) == 1
    script = tmp_path / 'interrupted_score.py'
    script.write_text(textwrap.dedent(INTERRUPT.format(after=3)))
    out = tmp_path / 'two.csv'
    first = torchrun([str(script), *score_args(folder, weights, '--csv', str(out), '--workers', '0')],
                     cwd=str(tmp_path))
    assert first.returncode != 0 and not out.exists()
    parts = dist_score.part_files(str(out))
    kept = {p: dist_score.read_rows(p) for p in parts}
    assert len(kept) == 2 and all(len(rows) <= 3 for rows in kept.values()), kept
    already = sum(r['error'] is None for rows in kept.values() for r in rows)
    assert already >= 3

    resumed = torchrun(['-m', 'sfd_arch.cli', *score_args(folder, weights, '--csv', str(out), '--resume')],
                       cwd=str(tmp_path))
    assert resumed.returncode == 1, resumed.stderr[-3000:]
    assert f'{already} already scored (--resume)' in resumed.stderr
    assert out.read_text() == single.read_text()
    assert not dist_score.part_files(str(out))


# -- training on two "nodes" ---------------------------------------------------------------------------------------
DUMP = '''
import os, sys
import torch
import sfd_arch.train
import basicsr.train as basicsr_train

built, start = [], {{}}
real_build = basicsr_train.build_model


def keep(opt):
    model = real_build(opt)
    built.append(model)
    start.update({{k: [p.detach().clone() for p in model.get_bare_model(n).parameters()]
                  for k, n in (('g', model.net_g), ('featd', model.net_featd), ('lpp', model.net_lpp))}})
    return model


basicsr_train.build_model = keep
sys.argv = [{train!r}, *sys.argv[1:]]
sfd_arch.train.main()
model = built[0]
nets = {{'g': model.net_g, 'featd': model.net_featd, 'lpp': model.net_lpp}}
params = {{k: [p.detach().clone() for p in model.get_bare_model(n).parameters()] for k, n in nets.items()}}
rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
torch.save({{'params': params, 'start': start, 'rank': rank, 'world': world}}, f'params_rank{{rank}}.pt')
'''


@pytest.mark.slow
def test_two_nodes_train_sfd_with_equal_parameters(tmp_path, monkeypatch):
    """Two torchrun agents ("nodes", one process each) meet through a c10d rendezvous on 127.0.0.1 and train
    SFD for 2 iterations with sfd_arch/train.py --launcher pytorch (gloo); every rank ends with the same
    generator, Feat-D and LPP."""
    from sfd_testutil import write_switched_sfd_run

    write_switched_sfd_run(tmp_path, 'sfd_2nodes')
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'dump.py').write_text(DUMP.format(train=str(REPO / 'sfd_arch' / 'train.py')))

    port = _free_port()
    node = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc_per_node', '1',
            '--rdzv_backend', 'c10d', '--rdzv_endpoint', f'127.0.0.1:{port}', '--rdzv_id', 'sfd_two_nodes',
            '--local_addr', '127.0.0.1', 'dump.py', '-opt', 'train_sfd.yml', '--launcher', 'pytorch']
    procs = [subprocess.Popen(node, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=TIMEOUT)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [p.returncode for p in procs] == [0, 0], '\n'.join(log[-3000:] for log in logs)
    dumps = [torch.load(tmp_path / f'params_rank{r}.pt') for r in (0, 1)]
    assert [d['world'] for d in dumps] == [2, 2]
    for name in ('g', 'featd', 'lpp'):
        a, b = dumps[0]['params'][name], dumps[1]['params'][name]
        assert len(a) == len(b) > 0 and all(torch.equal(x, y) for x, y in zip(a, b)), f'net_{name} differs'
        moved = [not torch.equal(x, y) for x, y in zip(a, dumps[0]['start'][name])]
        assert any(moved), f'net_{name} did not train'
    models = tmp_path / 'experiments' / 'sfd_2nodes' / 'models'
    assert {'net_g_2.pth', 'net_featd_2.pth', 'net_lpp_2.pth'} <= {p.name for p in models.iterdir()}


# -- the benchmark's verdicts ----------------------------------------------------------------------------------------
def test_benchmark_judges_the_file_targets():
    from sfd_arch.tools import cost_targets as bench

    files = [{'workers': None, 'median_s': 1.0, 'per_s': 100.0, 'precision': 'fp32', 'size': '512x384'},
             {'workers': 0, 'median_s': 2.0, 'per_s': 50.0, 'precision': 'fp32', 'size': '512x384'},
             {'workers': 2, 'median_s': 1.6, 'per_s': 62.5, 'precision': 'fp32', 'size': '512x384'}]
    cpu = bench.file_targets(files, torch.device('cpu'))
    assert cpu[0]['met'] is True and cpu[0]['ratio'] == pytest.approx(0.8)
    assert cpu[1]['met'] is None and cpu[1]['ratio'] == pytest.approx(0.625)  # the GPU target: reported only
    files[2]['median_s'] = 2.2
    assert bench.file_targets(files, torch.device('cpu'))[0]['met'] is False
    fast = [{**r, 'precision': 'bf16', 'per_s': r['per_s'] * 20} for r in files]  # 2000 / 1000 / 1250 per s
    assert [t['met'] for t in bench.file_targets(fast, torch.device('cuda'))] == [False, False]
    fast[2]['per_s'] = 1900.0
    cuda = bench.file_targets(fast, torch.device('cuda'))
    assert [t['met'] for t in cuda] == [True, True] and cuda[0]['ratio'] == pytest.approx(0.95)
    fp32 = [{**r, 'precision': 'fp32'} for r in fast]
    assert [t['met'] for t in bench.file_targets(fp32, torch.device('cuda'))] == [True, False]  # 1500/s: with bf16


def test_benchmark_strict_exits_non_zero_on_an_unmet_target():
    """``--strict`` turns a NOT met verdict into exit status 2; without it the verdicts are only reported."""
    from sfd_arch.tools import cost_targets as bench

    files = [{'workers': None, 'median_s': 1.0, 'per_s': 100.0, 'precision': 'fp32', 'size': '512x384'},
             {'workers': 0, 'median_s': 2.0, 'per_s': 50.0, 'precision': 'fp32', 'size': '512x384'},
             {'workers': 2, 'median_s': 2.2, 'per_s': 45.0, 'precision': 'fp32', 'size': '512x384'}]
    result = {'targets': bench.file_targets(files, torch.device('cpu')), 'errors': []}  # workers 2 slower: unmet
    assert bench.unmet(result) == [result['targets'][0]['target']]
    status, message = bench.exit_status(result, strict=True)
    assert status == 2 and 'NOT met' in message and result['targets'][0]['target'] in message
    assert bench.exit_status(result, strict=False) == (0, '')
    files[2]['median_s'] = 1.6  # now met; the reported-only GPU figure (verdict None) never fails a run
    assert bench.exit_status({'targets': bench.file_targets(files, torch.device('cpu')), 'errors': []},
                             strict=True) == (0, '')
    assert bench.exit_status({'targets': [], 'errors': ['IQA: boom']}, strict=False)[0] == 1
    script = REPO / 'scripts' / 'benchmarks' / 'benchmark.py'
    run = subprocess.run([sys.executable, str(script), '--help'], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and '--strict' in run.stdout
