"""The SFD core: registration, the CLIP door, FeatD, PromptLearner, the losses."""
import os
import time
from typing import Optional

import pytest
import torch
from conftest import tiny_clip_opt, tiny_vit_clip_opt
from safetensors.torch import save_file

import sfd_arch
from sfd_arch.archs.clip_arch import CLIPWeightsError, build_clip, load_clip_state_dict


def test_registries_hold_sfd_names():
    from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    for name in ('FeatD', 'PromptLearner'):
        assert name in ARCH_REGISTRY
    for name in ('FeatureGANLoss', 'TextGuidedGANLoss'):
        assert name in LOSS_REGISTRY
    for name in ('SFDModel', 'RealSFDModel'):
        assert name in MODEL_REGISTRY
    assert ARCH_REGISTRY.get('FeatD') is sfd_arch.FeatD


def test_basicsr_imports_on_current_torchvision():
    import torchvision
    from basicsr.data.degradations import rgb_to_grayscale

    img = torch.rand(1, 3, 8, 8)
    assert torch.allclose(rgb_to_grayscale(img), torchvision.transforms.functional.rgb_to_grayscale(img))


@pytest.mark.parametrize('make_opt', [tiny_clip_opt, tiny_vit_clip_opt])
def test_clip_is_frozen_but_passes_gradients_to_the_image(make_opt):
    torch.manual_seed(0)
    opt = make_opt()
    clip = build_clip(opt)
    featd, lpp = sfd_arch.FeatD(clip=opt), sfd_arch.PromptLearner(clip=opt)
    parent = torch.nn.ModuleDict({'featd': featd, 'clip': clip})
    parent.train()
    assert not clip.training and not clip.clip_model.training
    assert all(not p.requires_grad for p in clip.parameters())
    before = {k: v.clone() for k, v in clip.clip_model.state_dict().items()}

    img = torch.rand(2, 3, 64, 64, requires_grad=True)
    optim = torch.optim.Adam(list(featd.parameters()) + list(lpp.parameters()), lr=0.1)
    feats, emb = clip(img)
    loss = sum(m.mean() for m in featd(feats)) + lpp(emb).logsumexp(dim=1).mean()
    loss.backward()
    optim.step()

    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.clip_model.parameters())
    assert lpp.ctx.grad is not None and lpp.ctx.grad.abs().sum() > 0
    after = clip.clip_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), 'CLIP weights (or BN statistics) changed'


def test_clip_is_loaded_once_and_shared():
    opt = tiny_clip_opt()
    clip = build_clip(opt)
    assert build_clip(dict(opt)) is clip
    assert sfd_arch.PromptLearner(clip=opt).clip is clip


@pytest.mark.parametrize('size,expected', [(128, [(32, 32), (16, 16), (8, 8)]), (96, [(24, 24), (12, 12), (6, 6)])])
def test_featd_maps_for_full_size_rn50(size, expected):
    opt = {'model': 'RN50', 'pretrained': None}
    clip = build_clip(opt)
    featd = sfd_arch.FeatD(clip=opt)
    assert featd.in_channels == [256, 512, 1024]
    with torch.no_grad():
        feats, emb = clip(torch.rand(2, 3, size, size))
        maps = featd(feats)
    assert [tuple(f.shape[1:]) for f in feats] == [(c, *hw) for c, hw in zip([256, 512, 1024], expected)]
    assert [tuple(m.shape) for m in maps] == [(2, 1, *hw) for hw in expected]
    assert emb.shape == (2, 1024)


def test_featd_maps_for_vit():
    opt = tiny_vit_clip_opt(layers=[0, -1])
    clip = build_clip(opt)
    featd = sfd_arch.FeatD(clip=opt, num_feat=8)
    with torch.no_grad():
        maps = featd(clip(torch.rand(1, 3, 96, 64))[0])
    assert [tuple(m.shape) for m in maps] == [(1, 1, 6, 4), (1, 1, 6, 4)]  # patch 16: grid 6x4


def test_rn_positional_embedding_interpolation_keeps_native_size_exact():
    opt = tiny_clip_opt()
    clip = build_clip(opt)
    img = torch.rand(2, 3, 64, 64)  # the config's native size: no interpolation
    with torch.no_grad():
        _, emb = clip(img)
        ref = clip.clip_model.encode_image((img - clip.mean) / clip.std)
    assert torch.allclose(emb, ref, atol=1e-5)


def _save_forms(model: torch.nn.Module, folder, forms, dtype: Optional[torch.dtype] = None) -> dict:
    state = {k: v.to(dtype) if dtype and v.is_floating_point() else v for k, v in model.state_dict().items()}
    writers = {
        # OpenAI's layout: the CLIP state dict plus three metadata entries (what its JIT archives hold too)
        'openai_state_dict': ('RN50.pt', lambda p: torch.save(dict(
            state, input_resolution=torch.tensor(224), context_length=torch.tensor(77),
            vocab_size=torch.tensor(49408)), p)),
        'open_clip_bin': ('open_clip_pytorch_model.bin', lambda p: torch.save(state, p)),
        'open_clip_train_ckpt': ('epoch_1.pt', lambda p: torch.save(
            {'epoch': 1, 'state_dict': {f'module.{k}': v for k, v in state.items()}}, p)),
        'open_clip_safetensors': ('open_clip_model.safetensors', lambda p: save_file(
            {k: v.contiguous() for k, v in state.items()}, str(p))),
    }
    paths = {}
    for form in forms:
        name, write = writers[form]
        paths[form] = folder / name
        write(paths[form])
    return paths


def _assert_round_trip(random_opt: dict, forms, tmp_path, size: int, dtype: Optional[torch.dtype] = None):
    """Each file form of a random CLIP's weights (stored as ``dtype``) builds a CLIP that computes exactly what the
    reference does."""
    reference = build_clip(random_opt)
    if dtype:  # the reference holds exactly what the file can: fp32 values rounded through dtype
        with torch.no_grad():
            for t in [*reference.clip_model.parameters(), *reference.clip_model.buffers()]:
                if t.is_floating_point():
                    t.copy_(t.to(dtype).float())
    paths = _save_forms(reference.clip_model, tmp_path, forms, dtype)
    img = torch.rand(1, 3, size, size)
    with torch.no_grad():
        ref_feats, ref_emb = reference(img)
    for form, path in paths.items():
        clip = build_clip(dict(random_opt, pretrained=str(path)))
        assert clip is not reference, form
        with torch.no_grad():
            feats, emb = clip(img)
        assert all(torch.equal(a, b) for a, b in zip(feats, ref_feats)), form
        assert torch.equal(emb, ref_emb), form
    return paths


def test_full_size_rn50_round_trips_through_openai_and_open_clip_files(tmp_path):
    """In half precision, as OpenAI publishes RN50.pt: half the disk and time of fp32 files, and the loader's
    conversion to the model's fp32 is checked on the way."""
    torch.manual_seed(1)
    paths = _assert_round_trip({'model': 'RN50', 'pretrained': None, 'quick_gelu': True},
                               ['openai_state_dict', 'open_clip_safetensors'], tmp_path, 96, dtype=torch.half)
    assert paths['openai_state_dict'].stat().st_size < 250e6  # fp16: about 200 MB (fp32: 400)
    assert load_clip_state_dict(str(paths['openai_state_dict']))[1] is True  # detected as OpenAI: QuickGELU
    assert load_clip_state_dict(str(paths['open_clip_safetensors']))[1] is False


def test_every_checkpoint_layout_round_trips(tmp_path):
    torch.manual_seed(2)
    _assert_round_trip(dict(tiny_clip_opt(), quick_gelu=False),
                       ['openai_state_dict', 'open_clip_bin', 'open_clip_train_ckpt', 'open_clip_safetensors'],
                       tmp_path, 64)


def test_prompt_learner_for_rn50_is_small(tmp_path):
    lpp = sfd_arch.PromptLearner(n_ctx=16, clip={'model': 'RN50', 'pretrained': None})
    path = tmp_path / 'lpp.pth'
    torch.save(lpp.state_dict(), path)
    assert set(lpp.state_dict()) == {'ctx', 'tokens'}
    assert lpp.ctx.shape == (2, 16, 512)
    assert path.stat().st_size < 1_000_000


def test_prompt_learner_logits_are_scaled_cosines():
    opt = tiny_clip_opt()
    lpp = sfd_arch.PromptLearner(n_ctx=4, ctx_init='a photo of a', clip=opt)
    emb = torch.randn(3, 64)
    text = lpp.text_features()
    assert text.shape == (2, 64) and torch.allclose(text.norm(dim=1), torch.ones(2))
    logits = lpp(emb)
    expected = lpp.logit_scale() * torch.nn.functional.cosine_similarity(emb[:, None], text[None], dim=-1)
    assert torch.allclose(logits, expected, atol=1e-5)
    # ctx_init: the context starts at the words' token embeddings
    words = lpp.clip.clip_model.token_embedding.weight[[320, 1125, 539, 320]]  # 'a', 'photo', 'of', 'a'
    assert torch.allclose(lpp.ctx[0], words) and torch.equal(lpp.ctx[0], lpp.ctx[1])


def test_prompt_features_equal_clip_encode_text_of_the_same_prompt():
    """With the context set to the placeholder words' embeddings, LPP must reproduce CLIP's own text encoder."""
    import open_clip

    lpp = sfd_arch.PromptLearner(n_ctx=5, pos='sharp photo', neg='blurry photo', clip=tiny_clip_opt())
    model = lpp.clip.clip_model
    with torch.no_grad():
        lpp.ctx.copy_(model.token_embedding(lpp.tokens[:, 1:6]))
        ours = lpp.text_features()
        ref = model.encode_text(open_clip.tokenize(['X X X X X sharp photo.', 'X X X X X blurry photo.']))
    assert torch.allclose(ours, torch.nn.functional.normalize(ref, dim=-1), atol=1e-6)


def test_feature_gan_loss_matches_basicsr_gan_loss_per_layer():
    from basicsr.losses.gan_loss import GANLoss

    maps = [torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4)]
    loss = sfd_arch.FeatureGANLoss(gan_type='vanilla', loss_weight=0.5, layer_weights=[0.25, 0.75])
    ref = GANLoss('vanilla')
    expected_d = 0.25 * ref(maps[0], False, True) + 0.75 * ref(maps[1], False, True)
    assert torch.allclose(loss(maps, False, is_disc=True), expected_d)
    expected_g = 0.5 * (0.25 * ref(maps[0], True, False) + 0.75 * ref(maps[1], True, False))
    assert torch.allclose(loss(maps, True, is_disc=False), expected_g)
    hinge = sfd_arch.FeatureGANLoss(gan_type='hinge', loss_weight=1.0)
    assert torch.allclose(hinge(maps, True, is_disc=False), -(maps[0].mean() + maps[1].mean()) / 2)
    with pytest.raises(ValueError, match='layer_weights has 2 entries'):
        loss(maps + [torch.zeros(1, 1, 2, 2)], True)


def test_text_guided_loss_targets():
    loss = sfd_arch.TextGuidedGANLoss(loss_weight=0.1)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    ce = torch.nn.functional.cross_entropy
    assert torch.allclose(loss(logits, True, is_disc=True), ce(logits, torch.tensor([0, 0])))
    assert torch.allclose(loss(logits, False, is_disc=True), ce(logits, torch.tensor([1, 1])))
    assert torch.allclose(loss(logits, True, is_disc=False), 0.1 * ce(logits, torch.tensor([0, 0])))


# ---------------------------------------------------------------------------------------------- bad input

def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown CLIP model `clip.model: RN5O`.*Close matches: .*RN50"):
        build_clip({'model': 'RN5O', 'pretrained': None})


def test_unknown_tap_lists_available_ones():
    with pytest.raises(ValueError, match=r"'layer5' is not a tap .*Available: layer1, layer2, layer3, layer4"):
        build_clip(tiny_clip_opt(layers=['layer1', 'layer5']))
    with pytest.raises(ValueError, match=r"'7' is not a tap .*block indices 0..1"):
        build_clip(tiny_vit_clip_opt(layers=[7]))


def test_unknown_clip_key_is_named():
    opt = dict(tiny_clip_opt(), layer=['layer1'])
    with pytest.raises(KeyError, match=r"'layer' \(did you mean 'layers'\?\)"):
        build_clip(opt)


def test_image_under_32_px_is_refused():
    clip = build_clip(tiny_clip_opt())
    with pytest.raises(ValueError, match=r'31x64 px is too small.*at least 32x32'):
        clip(torch.rand(1, 3, 31, 64))


def test_missing_pretrained_file_is_named(tmp_path):
    missing = str(tmp_path / 'nope' / 'RN50.pt')
    with pytest.raises(CLIPWeightsError, match=f'not found: `clip.pretrained: {missing}`'):
        build_clip({'model': 'RN50', 'pretrained': missing})


def test_featd_channels_that_do_not_match_the_taps():
    opt = tiny_clip_opt()
    with pytest.raises(ValueError, match=r'in_channels \[32, 64\] does not match the CLIP taps'):
        sfd_arch.FeatD(in_channels=[32, 64], clip=opt)
    featd = sfd_arch.FeatD(in_channels=[32, 64, 128])
    with pytest.raises(ValueError, match=r'built for 3 maps with channels \[32, 64, 128\].*received 2'):
        featd([torch.zeros(1, 32, 4, 4), torch.zeros(1, 64, 2, 2)])


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / 'tiny.pt'
    torch.save(build_clip(tiny_clip_opt()).clip_model.state_dict(), path)
    with pytest.raises(CLIPWeightsError, match=r'does not fit the model architecture'):
        build_clip({'model': 'RN50', 'pretrained': str(path)})


def test_offline_uncached_tag_fails_fast_with_the_file_to_supply(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    with pytest.raises(CLIPWeightsError) as err:
        build_clip({'model': 'RN50', 'pretrained': 'openai', 'cache_dir': str(tmp_path / 'cache')})
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert 'offline' in message and 'RN50.pt' in message
    assert os.path.join('experiments', 'pretrained_models', 'clip', 'RN50.pt') in message


def test_tag_found_in_the_weights_folder_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / 'experiments' / 'pretrained_models' / 'clip'
    folder.mkdir(parents=True)
    from sfd_arch.archs.clip_arch import resolve_pretrained

    torch.save({}, folder / 'RN50.pt')
    path, tag_cfg = resolve_pretrained('RN50', 'openai')
    assert path == os.path.join('experiments', 'pretrained_models', 'clip', 'RN50.pt')
    assert tag_cfg['quick_gelu'] is True


def test_one_direction_table_for_metric_types_pyiqa_names_and_baselines():
    from sfd_arch.iqa_bench.baselines import baselines
    from sfd_arch.metrics.records import direction, lower_is_better, oriented

    assert direction('calculate_lpips') == direction('LPIPS') == direction('lpips-vgg') == 'lower'
    assert direction('lpips_vgg') == 'lower'  # the comparison's name of LPIPS on VGG, the same record
    assert direction('calculate_sfd_iqa') == direction('calculate_psnr') == direction('musiq') == 'higher'
    assert lower_is_better('musiq_lower') and not lower_is_better('p_pos')
    assert [b for b, record in baselines().items() if record.lower_better] == ['niqe', 'piqe', 'brisque', 'ilniqe']
    assert oriented('niqe', 3.0) == -3.0 and oriented('sfd_iqa', 0.25) == 0.25


def test_start_up_hook_sits_below_the_package():
    """import-linter reads packages only: the hook's place at the bottom of the layers (.importlinter) is checked
    here. At module level it imports sys and os alone, and no import statement anywhere names sfd_arch: the hook
    reaches the package by name, with importlib, once basicsr or pyiqa has loaded."""
    import ast

    import _sfd_arch_hook

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, '_sfd_arch_hook.py')) as f:
        tree = ast.parse(f.read())
    top = [a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names]
    top += [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert sorted(top) == ['os', 'sys']
    named = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    named += [node.module or '' for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [n for n in named if n.split('.')[0] == 'sfd_arch']
    assert _sfd_arch_hook._by_name(_sfd_arch_hook.PYIQA_ARCH_PATH).__name__ == _sfd_arch_hook.PYIQA_ARCH
