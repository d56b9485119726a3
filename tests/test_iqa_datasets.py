"""Readers of the released IQA dataset layouts, on small synthetic copies of each release (file names, formats,
columns and score direction as published), their errors, and EXIF orientation on reading."""
import os
import os.path as osp

import cv2
import numpy as np
import openpyxl
import pytest
from PIL import Image, ImageOps
from scipy import io

from sfd_arch.iqa.images import read_image
from sfd_arch.iqa_bench import datasets as ds


def put_image(path, size=(8, 8), seed=0):
    """A small image file at ``path`` (format from the extension), parent folders created."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), (rng.random((*size, 3)) * 255).astype(np.uint8))


def cell(strings):
    """A MATLAB cell array column of strings, as scipy.io.savemat writes one."""
    arr = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        arr[i, 0] = np.array([s])
    return arr


def write_xlsx(path, sheet, rows, title_rows=()):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in title_rows:
        ws.append(list(row))
    for row in rows:
        ws.append(list(row))
    os.makedirs(osp.dirname(path), exist_ok=True)
    book.save(path)


# -- the releases ------------------------------------------------------------------------------------------------
def make_live(root):
    """databaserelease2: 982 entries in dmos.mat; only entries 0, 1 of each folder are distorted images here."""
    base = root / 'databaserelease2'
    total = 227 + 233 + 174 * 3
    dmos = np.linspace(10, 80, total)
    orgs = np.ones(total)
    start, kept = 0, []
    for sub, n in ds.LIVE_FOLDERS:
        for k in (0, 1):
            orgs[start + k] = 0
            kept.append((f'{sub}/img{k + 1}.bmp', dmos[start + k]))
            put_image(base / sub / f'img{k + 1}.bmp', seed=start + k)
        start += n
    base.mkdir(parents=True, exist_ok=True)
    io.savemat(base / 'dmos.mat', {'dmos': dmos[None], 'orgs': orgs[None]})
    io.savemat(base / 'refnames_all.mat', {'refnames_all': cell([f'ref{i % 29}.bmp' for i in range(total)]).T})
    return base, kept


def test_live_release(tmp_path):
    base, kept = make_live(tmp_path)
    assert ds.find_dataset('live', str(tmp_path)) == str(base)
    d = ds.read_dataset('live', str(base))
    assert d.names == [n for n, _ in kept] and len(d) == 10 and not d.absent
    assert d.paths[0] == str(base / 'jp2k' / 'img1.bmp')
    np.testing.assert_allclose(d.mos, [-m for _, m in kept])  # DMOS, lower is better -> negated
    assert 'negated' in d.turned and '972 reference copies' in d.notes[0]


def test_csiq_release(tmp_path):
    base = tmp_path / 'CSIQ'
    rows = [(None, None, None, 'image', 'dst_idx', 'dst_type', 'dst_lev', 'dmos_std', 'dmos')]
    expect = []
    for i, (image, kind, token, folder) in enumerate([(1600, 'noise', 'AWGN', 'awgn'), ('aerial_city', 'jpeg 2000',
                                                                                         'jpeg2000', 'jpeg2000'),
                                                      ('bridge', 'blur', 'BLUR', 'blur'), (1600, 'fnoise', 'fnoise',
                                                                                            'fnoise')]):
        level = i + 1
        dmos = 0.1 * (i + 1)
        rows.append((None, None, None, float(image) if isinstance(image, int) else image, 1, kind, level, 0.05, dmos))
        put_image(base / 'dst_imgs' / folder / f'{image}.{token}.{level}.png', seed=i)
        expect.append((f'{image}.{ds.CSIQ_TYPES[kind]}.{level}.png', -dmos))
    write_xlsx(str(base / 'csiq.DMOS.xlsx'), 'all_by_image', rows, title_rows=[('CSIQ DMOS',), (), ()])
    d = ds.read_dataset('csiq', str(ds.find_dataset('csiq', str(tmp_path))))
    assert [n for n, _ in expect] == d.names and not d.absent
    assert d.paths[0].endswith(osp.join('awgn', '1600.AWGN.1.png'))
    np.testing.assert_allclose(d.mos, [m for _, m in expect])


def test_tid2013_release_names_in_either_case(tmp_path):
    base = tmp_path / 'tid2013'
    (base).mkdir()
    (base / 'mos_with_names.txt').write_text('5.51429 i01_01_1.bmp\n3.0 i25_02_3.bmp\n4.25 i02_01_1.bmp\n')
    put_image(base / 'distorted_images' / 'i01_01_1.bmp')
    put_image(base / 'distorted_images' / 'I25_02_3.bmp')  # the release spells image 25 in capitals
    put_image(base / 'distorted_images' / 'i02_01_1.bmp')
    d = ds.read_dataset('tid2013', str(ds.find_dataset('tid2013', str(tmp_path))))
    assert d.names == ['i01_01_1.bmp', 'i25_02_3.bmp', 'i02_01_1.bmp'] and d.paths[1].endswith('I25_02_3.bmp')
    assert d.mos.tolist() == [5.51429, 3.0, 4.25] and d.turned == ''


def test_kadid10k_dmos_column_is_higher_is_better(tmp_path):
    base = tmp_path / 'kadid10k'
    base.mkdir()
    (base / 'dmos.csv').write_text('dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.1\n'
                                   'I01_01_05.png,I01.png,1.2,0.3\n')
    put_image(base / 'images' / 'I01_01_01.png')
    put_image(base / 'images' / 'I01_01_05.png')
    d = ds.read_dataset('kadid10k', str(base))
    assert d.mos.tolist() == [4.57, 1.2] and d.turned == ''  # kept: level 1 (mild) scores higher than level 5


def test_mdlive_release(tmp_path):
    root = tmp_path / 'LIVEmultidistortiondatabase' / 'To_Release'
    expect = []
    for part, sub, offset in (('Part 1', 'blurjpeg', 0), ('Part 2', 'blurnoise', 10)):
        names = [f'babygirl_{sub[:4]}{i}.bmp' for i in range(3)]
        scores = np.array([5.0, 20.0, 40.0]) + offset
        (root / part).mkdir(parents=True)
        io.savemat(root / part / 'Imagelists.mat', {'distimgs': cell(names), 'refimgs': cell(['babygirl.bmp'])})
        io.savemat(root / part / 'Scores.mat', {'DMOSscores': scores[None]})
        for n in names:
            put_image(root / part / sub / n)
        expect += [(f'{part}/{sub}/{n}', -s) for n, s in zip(names, scores)]
    d = ds.read_dataset('mdlive', ds.find_dataset('mdlive', str(tmp_path)))
    assert d.names == [n for n, _ in expect] and not d.absent
    np.testing.assert_allclose(d.mos, [m for _, m in expect])


def test_mdivl_release_with_a_mat_score_table(tmp_path):
    base = tmp_path / 'MDIVL'
    names = ['baby_blur_0.001_jpg_100.jpg', 'baby_blur_0.001_jpg_10.jpg', 'bus_noise_3_jpg_50.jpg']
    for n in names[:2]:
        put_image(base / 'Data_Blur_JPEG' / n)
    put_image(base / 'Data_Noise_JPEG' / names[2])
    io.savemat(base / 'scores.mat', {'names': cell(names), 'mos': np.array([[96.9, 18.3, 73.4]])})
    d = ds.read_dataset('mdivl', ds.find_dataset('mdivl', str(tmp_path)))
    assert d.names == names and d.mos.tolist() == [96.9, 18.3, 73.4] and not d.absent
    assert d.source.endswith('scores.mat')
    os.remove(base / 'scores.mat')
    with pytest.raises(ds.DatasetError, match='no score table'):
        ds.read_dataset('mdivl', str(base))


def test_koniq10k_release_and_alias(tmp_path):
    base = tmp_path / 'koniq10k'
    base.mkdir()
    (base / 'koniq10k_scores_and_distributions.csv').write_text(
        '"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","MOS_zscore"\n'
        '"10004473376.jpg",0,0,1,2,2,5,3.83,0.4,70.1\n"10007357496.jpg",1,1,1,1,1,5,2.1,0.9,40.2\n')
    for n in ('10004473376.jpg', '10007357496.jpg'):
        put_image(base / '1024x768' / n)
    assert ds.find_dataset('koniq', str(tmp_path)) == str(base)
    d = ds.read_dataset('koniq', str(base))
    assert d.preset == 'koniq10k' and d.mos.tolist() == [3.83, 2.1]
    assert ds.read_koniq10k(str(base), score_column='MOS_zscore').mos.tolist() == [70.1, 40.2]


def make_clive(root, absent=()):
    base = root / 'ChallengeDB_release'
    names = [f't{i}.bmp' for i in range(1, 8)] + [f'{100 + i}.bmp' for i in range(4)]
    mos = np.arange(len(names), dtype=float) * 5 + 20
    (base / 'Data').mkdir(parents=True)
    io.savemat(base / 'Data' / 'AllImages_release.mat', {'AllImages_release': cell(names)})
    io.savemat(base / 'Data' / 'AllMOS_release.mat', {'AllMOS_release': mos[None]})
    for n in names[:7]:
        put_image(base / 'Images' / 'trainingImages' / n)
    for n in names[7:]:
        if n not in absent:
            put_image(base / 'Images' / n)
    return base, names, mos


def test_clive_release_leaves_out_the_7_training_images(tmp_path):
    base, names, mos = make_clive(tmp_path)
    for alias in ('clive', 'livec'):
        assert ds.find_dataset(alias, str(tmp_path)) == str(base)
    d = ds.read_dataset('livec', str(base))
    assert d.names == names[7:] and d.mos.tolist() == mos[7:].tolist() and not d.absent


def test_cid2013_release(tmp_path):
    base = tmp_path / 'CID2013'
    rows = [('Source_ID', 'MOS', 'Realigned MOS', 'Sharpness')]
    rows += [('IS_I_C01_D01', 10.0, 3.34, 1), ('IS_II_C03_D05', 50.0, 71.2, 2)]
    write_xlsx(str(base / 'CID2013 data - version 12112014.xlsx'), 'CID2013 MOS', rows)
    put_image(base / 'IS1' / 'co1' / 'IS_I_C01_D01.jpg')
    put_image(base / 'IS2' / 'co3' / 'IS_II_C03_D05.jpg')
    d = ds.read_dataset('cid2013', ds.find_dataset('cid2013', str(tmp_path)))
    assert d.names == ['IS_I_C01_D01', 'IS_II_C03_D05'] and d.mos.tolist() == [3.34, 71.2] and not d.absent


def test_spaq_release_and_short_side_option(tmp_path):
    base = tmp_path / 'SPAQ'
    write_xlsx(str(base / 'Annotations' / 'MOS and Image attribute scores.xlsx'), 'Sheet1',
               [('Image name', 'MOS', 'Brightness'), ('00001.jpg', 48.86, 40), ('00002.jpg', 62.5, 50)])
    put_image(base / 'TestImage' / '00001.jpg')
    put_image(base / 'TestImage' / '00002.jpg')
    d = ds.read_dataset('spaq', ds.find_dataset('spaq', str(tmp_path)))
    assert d.names == ['00001.jpg', '00002.jpg'] and d.mos.tolist() == [48.86, 62.5]
    assert d.short_side is None and d.protocol == 'asis'
    assert ds.read_dataset('spaq', str(base), short_side=512).protocol == 'short512'


def test_generic_csv_layout(tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'scores.csv').write_text('image,mos\na.png,1.5\nsub/b.png,2.5\n')
    put_image(tmp_path / 'mine' / 'a.png')
    put_image(tmp_path / 'mine' / 'sub' / 'b.png')
    d = ds.read_dataset('csv', str(tmp_path / 'mine' / 'scores.csv'))
    assert d.names == ['a.png', 'sub/b.png'] and not d.absent and d.mos.tolist() == [1.5, 2.5]


# -- bad input ---------------------------------------------------------------------------------------------------
def test_missing_mos_file_names_the_file_and_layout(tmp_path):
    base, _, _ = make_clive(tmp_path)
    os.remove(base / 'Data' / 'AllMOS_release.mat')
    with pytest.raises(ds.DatasetError, match=r'AllMOS_release\.mat: not found.*expected layout: ChallengeDB'):
        ds.read_dataset('clive', str(base))
    (tmp_path / 'SPAQ').mkdir()
    with pytest.raises(ds.DatasetError, match='MOS and Image attribute scores.xlsx: not found'):
        ds.read_dataset('spaq', str(tmp_path / 'SPAQ'))


def test_mat_without_the_expected_key(tmp_path):
    base, _ = make_live(tmp_path)
    io.savemat(base / 'dmos.mat', {'dmos': np.zeros((1, 982))})
    with pytest.raises(ds.DatasetError, match=r"dmos\.mat: no variable 'orgs' \(it has dmos\)"):
        ds.read_dataset('live', str(base))
    io.savemat(base / 'dmos.mat', {'dmos': np.zeros((1, 10)), 'orgs': np.zeros((1, 10))})
    with pytest.raises(ds.DatasetError, match='dmos has 10 entries, expected 982'):
        ds.read_dataset('live', str(base))


def test_images_listed_but_absent_are_reported(tmp_path):
    base, names, _ = make_clive(tmp_path, absent=('101.bmp',))
    d = ds.read_dataset('clive', str(base))
    assert d.absent == ['101.bmp'] and d.paths[d.names.index('101.bmp')] is None


def test_xlsx_without_the_columns(tmp_path):
    base = tmp_path / 'SPAQ'
    write_xlsx(str(base / 'Annotations' / 'MOS and Image attribute scores.xlsx'), 'Sheet1', [('name', 'score')])
    with pytest.raises(ds.DatasetError, match="no sheet with the columns 'Image name', 'MOS'"):
        ds.read_dataset('spaq', str(base))


def test_unknown_preset_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match='unknown dataset preset'):
        ds.canonical('imagenet')
    assert ds.find_dataset('csiq', str(tmp_path)) is None
    with pytest.raises(ds.DatasetError, match='no such folder'):
        ds.read_dataset('csiq', str(tmp_path / 'nope'))


# -- EXIF orientation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_jpeg_with_orientation_tag_is_read_as_displayed(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    stored = (rng.random((40, 64, 3)) * 20).astype(np.uint8)
    stored[:10, :20] = 255  # a bright corner at the stored top left
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    path = str(tmp_path / 'photo.jpg')
    im.save(path, quality=95, exif=exif)
    got = np.asarray(read_image(path).pixels, dtype=np.float64)
    want = np.asarray(ImageOps.exif_transpose(Image.open(path)), dtype=np.float64)
    assert got.shape == want.shape == ((64, 40, 3) if orientation in (6, 8) else (40, 64, 3))
    assert np.abs(got - want).mean() < 2.0  # two JPEG decoders, same orientation
    # the bright stored top-left corner is where a viewer shows it: 180 deg -> bottom right, 90 deg clockwise (6)
    # -> top right, 90 deg counter-clockwise (8) -> bottom left
    h, w = got.shape[:2]
    corners = {'tl': got[:8, :8], 'tr': got[:8, w - 8:], 'bl': got[h - 8:, :8], 'br': got[h - 8:, w - 8:]}
    bright = max(corners, key=lambda k: corners[k].mean())
    assert bright == {3: 'br', 6: 'tr', 8: 'bl'}[orientation] and corners[bright].mean() > 200


def test_matlab_v73_file_is_named_with_what_reads_it(tmp_path):
    base, _, _ = make_clive(tmp_path)
    header = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .'
    (base / 'Data' / 'AllMOS_release.mat').write_bytes(header.ljust(116) + b'\0' * 8 + b'\x00\x02IM' + b'\0' * 64)
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(ds.DatasetError, match=r'AllMOS_release\.mat: a MATLAB v7\.3 \(HDF5\) file; install h5py'):
            ds.read_dataset('clive', str(base))
    else:  # not a real HDF5 body
        with pytest.raises(ds.DatasetError, match=r'AllMOS_release\.mat: a MATLAB v7\.3 header but not a readable'):
            ds.read_dataset('clive', str(base))


# -- releases as users unpack them (shapes from third-party loaders) ----------------------------------------------
def write_koniq_csv(base, names):
    base.mkdir(parents=True, exist_ok=True)
    lines = ['"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","MOS_zscore"']
    lines += [f'"{n}",0,0,1,2,2,5,{3.0 + i / 10},0.4,{60.0 - i}' for i, n in enumerate(names)]
    (base / 'koniq10k_scores_and_distributions.csv').write_text('\n'.join(lines) + '\n')


def test_koniq10k_with_only_512x384_and_its_choices(tmp_path):
    """pyiqa's KonIQ options read ``datasets/koniq10k/512x384`` (only koniq10k_512x384.zip unpacked); hyperIQA's
    Koniq_10kFolder reads ``1024x768/`` and the ``MOS_zscore`` column."""
    names = ['10004473376.jpg', '10007357496.jpg']
    base = tmp_path / 'koniq10k'
    write_koniq_csv(base, names)
    for n in names:
        put_image(base / '512x384' / n)
    d = ds.read_dataset('koniq10k', str(base))
    assert not d.absent and d.paths[0] == str(base / '512x384' / names[0])
    assert d.variant == {'resolution': '512x384', 'score_column': 'MOS'} and d.protocol == 'asis-512x384'
    with pytest.raises(ds.DatasetError, match='1024x768/'):
        ds.read_dataset('koniq10k', str(base), resolution='1024x768')
    for n in names:
        put_image(base / '1024x768' / n, size=(12, 16))
    both = ds.read_dataset('koniq10k', str(base), score_column='MOS_zscore')
    assert both.variant == {'resolution': '1024x768', 'score_column': 'MOS_zscore'}
    assert both.mos.tolist() == [60.0, 59.0] and both.paths[1] == str(base / '1024x768' / names[1])
    assert ds.read_dataset('koniq10k', str(base), resolution='512x384').protocol == 'asis-512x384'


def test_spaq_unpacked_one_level_deeper(tmp_path):
    """SPAQ's archive as some copies unpack it: ``SPAQ/Dataset/TestImage/`` beside ``SPAQ/Annotations/`` (pyiqa's
    SPAQ options expect ``SPAQ/TestImage``)."""
    base = tmp_path / 'SPAQ'
    write_xlsx(str(base / 'Annotations' / 'MOS and Image attribute scores.xlsx'), 'Sheet1',
               [('Image name', 'MOS'), ('00001.jpg', 48.86), ('00002.jpg', 62.5)])
    put_image(base / 'Dataset' / 'TestImage' / '00001.jpg')
    put_image(base / 'Dataset' / 'TestImage' / '00002.jpg')
    d = ds.read_dataset('spaq', str(base))
    assert not d.absent and d.paths[1] == str(base / 'Dataset' / 'TestImage' / '00002.jpg')


def test_csiq_with_symlinked_type_folders(tmp_path):
    """The release's ``dst_imgs/<type>/`` (the layout pyiqa's CSIQ preparation reads), each type a symlink to a
    folder elsewhere (files on another disk)."""
    base, store = tmp_path / 'CSIQ', tmp_path / 'store'
    rows = [('image', 'dst_idx', 'dst_type', 'dst_lev', 'dmos_std', 'dmos'), (1600.0, 1, 'noise', 1, 0.01, 0.06),
            ('bridge', 1, 'blur', 2, 0.02, 0.3)]
    write_xlsx(str(base / 'csiq.DMOS.xlsx'), 'all_by_image', rows)
    put_image(store / 'awgn' / '1600.AWGN.1.png')
    put_image(store / 'blur' / 'bridge.BLUR.2.png')
    (base / 'dst_imgs').mkdir()
    for kind in ('awgn', 'blur'):
        os.symlink(store / kind, base / 'dst_imgs' / kind, target_is_directory=True)
    os.symlink(base, base / 'dst_imgs' / 'loop', target_is_directory=True)  # a link back up: walked once
    d = ds.read_dataset('csiq', str(base))
    assert d.names == ['1600.awgn.1.png', 'bridge.blur.2.png'] and not d.absent
    assert d.paths[0] == str(base / 'dst_imgs' / 'awgn' / '1600.AWGN.1.png')
    np.testing.assert_allclose(d.mos, [-0.06, -0.3])


@pytest.mark.parametrize('suffix', ['.png', ''])
def test_csiq_from_csiq_label_txt_without_the_xlsx(tmp_path, suffix):
    """hyperIQA's CSIQFolder reads ``csiq_label.txt`` ("1600.AWGN.1.png 0.061" per line) and ``dst_imgs_all/``;
    other loaders list the names without ``.png`` and append it."""
    base = tmp_path / 'CSIQ'
    base.mkdir()
    (base / 'csiq_label.txt').write_text(f'1600.AWGN.1{suffix} 0.061\nbridge.BLUR.2{suffix} 0.3\n\n')
    put_image(base / 'dst_imgs_all' / '1600.AWGN.1.png')
    put_image(base / 'dst_imgs_all' / 'bridge.BLUR.2.png')
    d = ds.read_dataset('csiq', str(base))
    assert d.names == ['1600.AWGN.1.png', 'bridge.BLUR.2.png'] and not d.absent
    np.testing.assert_allclose(d.mos, [-0.061, -0.3])  # DMOS, lower is better -> negated
    assert d.variant == {'score_file': 'csiq_label.txt'} and d.source.endswith('csiq_label.txt')
    (base / 'csiq_label.txt').unlink()
    with pytest.raises(ds.DatasetError, match='csiq.DMOS.xlsx: not found, nor csiq_label.txt'):
        ds.read_dataset('csiq', str(base))


def test_live_realigned_dmos_and_a_release_nested_one_level_deeper(tmp_path):
    """hyperIQA's and DBCNN-style LIVE loaders read ``dmos_realigned.mat`` (``dmos_new``, ``orgs``); the release
    here sits one folder deeper (``databaserelease2/databaserelease2/``, as a zip of the folder unpacks)."""
    outer = tmp_path / 'databaserelease2'
    base, kept = make_live(outer)
    total = 227 + 233 + 174 * 3
    realigned = np.linspace(0, 100, total)
    orgs = io.loadmat(base / 'dmos.mat')['orgs']
    io.savemat(base / 'dmos_realigned.mat', {'dmos_new': realigned[None], 'orgs': orgs})
    default = ds.read_dataset('live', str(outer))
    assert default.variant == {'dmos_file': 'dmos.mat'} and default.folder == str(base)
    np.testing.assert_allclose(default.mos, [-m for _, m in kept])
    d = ds.read_dataset('live', str(outer), dmos_file='dmos_realigned.mat')
    assert d.variant == {'dmos_file': 'dmos_realigned.mat'} and d.names == default.names and not d.absent
    np.testing.assert_allclose(d.mos, -realigned[orgs[0] == 0])
    with pytest.raises(ds.DatasetError, match='choose one of'):
        ds.read_dataset('live', str(outer), dmos_file='dmos_new.mat')


def test_release_options_reach_the_reader_through_bench_and_dataset_dir(tmp_path):
    """``bench --dataset-dir koniq10k=PATH --koniq-resolution 512x384 --koniq-score MOS_zscore`` (argparse as the
    command line builds it) reads that variant; --datasets is not consulted without --root."""
    from sfd_arch.cli import build_parser
    from sfd_arch.cli.bench import settings_from_args
    from sfd_arch.iqa_bench import run

    names = ['10004473376.jpg', '10007357496.jpg']
    base = tmp_path / 'kq'
    write_koniq_csv(base, names)
    for res in ('512x384', '1024x768'):
        for n in names:
            put_image(base / res / n)
    args = build_parser().parse_args(['bench', '--dataset-dir', f'koniq={base}', '--koniq-resolution', '512x384',
                                      '--koniq-score', 'MOS_zscore', '--metric', 'piqe'])
    found, missing, broken = run.load_datasets(settings_from_args(args))
    assert list(found) == ['koniq10k'] and not missing and not broken
    assert found['koniq10k'].variant == {'resolution': '512x384', 'score_column': 'MOS_zscore'}
    assert found['koniq10k'].mos.tolist() == [60.0, 59.0]
