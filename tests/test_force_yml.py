"""--force_yml overrides: one reading for the check before BasicSR and for `sfd-iqa export`, which must see them in
the copy of the option file BasicSR writes into the experiment folder (the copy keeps only the command line)."""
import yaml

from sfd_arch.iqa.export import read_option_blocks
from sfd_arch.utils.force_yml import apply_force_yml, force_yml_entries, recorded_overrides

OPTIONS = {'name': 'run', 'model_type': 'SFDModel',
           'clip': {'model': 'RN50', 'pretrained': 'openai', 'layers': ['layer1', 'layer2', 'layer3']},
           'network_featd': {'type': 'FeatD', 'num_feat': 64},
           'train': {'total_iter': 400000}}


def basicsr_copy(command: str) -> str:
    """What basicsr.utils.options.copy_opt_file writes: the command line on top of the file as it was on disk."""
    return f'# GENERATE TIME: Mon Nov 30 12:00:00 2026\n# CMD:\n# {command}\n\n' + yaml.safe_dump(OPTIONS)


def test_entries_are_read_back_from_the_recorded_command_line():
    command = ('sfd_arch/train.py -opt options/train_sfd_x4.yml --force_yml clip:model=local-dir:tiny_clip '
               'clip:pretrained=~ clip:layers=[layer1, layer2] train:total_iter=60 --auto_resume')
    assert recorded_overrides(basicsr_copy(command)) == [
        'clip:model=local-dir:tiny_clip', 'clip:pretrained=~', 'clip:layers=[layer1, layer2]', 'train:total_iter=60']
    assert recorded_overrides(yaml.safe_dump(OPTIONS)) == []  # a file BasicSR did not copy
    assert force_yml_entries(['-opt', 'x.yml']) == []


def test_apply_sets_values_as_basicsr_does_and_names_a_missing_block():
    opt = yaml.safe_load(yaml.safe_dump(OPTIONS))
    assert apply_force_yml(opt, ['clip:pretrained=~', 'train:total_iter=60']) == ['clip.pretrained', 'train.total_iter']
    assert opt['clip']['pretrained'] is None and opt['train']['total_iter'] == 60
    try:
        apply_force_yml(opt, ['trian:total_iter=1'])
    except KeyError as err:
        assert '`trian` is not in the option file' in str(err)
    else:
        raise AssertionError('a missing block must be an error')
    try:
        apply_force_yml(opt, ['clip:layers=[layer1]'])
    except ValueError as err:
        assert 'clip:layers=[layer1]' in str(err) and "['a', 'b']" in str(err)
    else:
        raise AssertionError('a value BasicSR cannot read must be an error naming the entry')


def test_export_reads_the_clip_the_run_trained_with(tmp_path):
    path = tmp_path / 'run.yml'
    path.write_text(basicsr_copy('sfd_arch/train.py -opt t.yml --force_yml clip:pretrained=~ clip:layers=[\'layer2\']'))
    clip, featd, _ = read_option_blocks(str(path))
    assert clip['pretrained'] is None and clip['layers'] == ['layer2']
    assert featd['num_feat'] == 64
