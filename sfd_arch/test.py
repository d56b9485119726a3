"""Test entry point: ``python sfd_arch/test.py -opt options/test_sfd_x4.yml`` (or ``sfd-test -opt ...``).

Any generator instead of the option file's ``network_g`` and ``path.pretrain_network_g``, found as
``scripts/inference_sfd.py`` finds it (``sfd_arch.archs.generators``; the log's first line says which way)::

    python sfd_arch/test.py -opt options/test_realsr_lq.yml --model 4x_model.pth            # detected (spandrel)
    python sfd_arch/test.py -opt test.yml --model net_g.pth --network_g "{type: MSRResNet, upscale: 4}"
    python sfd_arch/test.py -opt test.yml --model experiments/sfd_demo_x4 --iter 5000      # experiment folder

BasicSR's own ``test_pipeline`` runs the test, with the SFD classes registered (as BasicSR is imported:
``sfd_arch.registration``) and the results root under the current directory. The command line is parsed first, so
``--help`` and argument errors answer before torch or BasicSR is imported. Besides BasicSR's log and images, it
writes ``results/<name>/metrics.csv`` (every metric of every image, and one ``*`` row per dataset for the
dataset-level metrics FID/KID) and ``results/<name>/summary.md`` (mean per dataset and metric). The option file is
checked first (data paths, metric types, metric weight files), so a missing file fails in a second; if a metric
fails midway, the values computed so far are still written. A top-level ``protocol:`` (``sfd``, ``basicsr``,
``pyiqa``; ``sfd_arch.metrics.protocols``) adds that preset's metrics to ``val.metrics`` as ``scripts/compare.py``
does: the file's blocks win, a preset metric without its weight files is skipped with a warning.
"""
import argparse
import logging
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

if __package__ in (None, ''):
    # run as a file: Python put sfd_arch/ itself on sys.path; the checkout root is what makes `sfd_arch` importable
    _package_dir = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != _package_dir]
    sys.path.insert(0, osp.dirname(_package_dir))

from sfd_arch.utils.basicsr_cli import add_generator_arguments, wrapper_parser  # noqa: E402  (argparse only)

if TYPE_CHECKING:
    from sfd_arch.eval.recorder import MetricsRecorder


@contextmanager
def _command_line(argv: Optional[list]):
    # BasicSR's parse_options reads sys.argv itself; an explicit argv (tests, scripts) stands in for it
    if argv is None:
        yield
        return
    saved = sys.argv
    sys.argv = [saved[0] if saved else 'sfd-test', *argv]
    try:
        yield
    finally:
        sys.argv = saved


def protocol_metrics(opt: dict, opt_path: str) -> dict:
    """The metric blocks a file's ``protocol:`` adds to its ``val.metrics`` (none without the key)."""
    if opt.get('protocol') is None:
        return {}
    from sfd_arch.eval.plan import CompareError, plan_metrics

    try:
        plan = plan_metrics(opt, opt_path)
    except CompareError as err:
        raise ValueError(str(err)) from None
    own = (opt.get('val') or {}).get('metrics') or {}
    for name, reason in plan.skipped.items():
        if name not in own:
            logging.getLogger('basicsr').warning(f'protocol {plan.protocol.name}: {name} skipped: {reason}')
    return {name: block for name, block in plan.blocks.items() if name not in own}


def _generator_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    add_generator_arguments(p)
    return p


def generator_override(args: argparse.Namespace, opt: dict[str, Any]) -> Optional[dict[str, Any]]:
    """``{'network_g', 'path', 'how'}`` that replace the option file's generator for ``--model``, or ``None``."""
    if args.model is None:
        if args.network_g is not None or args.iter is not None:
            raise ValueError('--network_g and --iter describe the generator of --model, which is not given')
        return None
    from sfd_arch.archs.generators import load_generator

    gen = load_generator(args.model, args.network_g, args.iter)
    if gen.scale != int(opt.get('scale', 4)):
        raise ValueError(f'{args.model}: a x{gen.scale} generator, but the option file has scale: {opt.get("scale")}')
    if gen.network_g is None:  # an architecture only spandrel knows: the wrapper reads the file itself
        return {'network_g': {'type': 'SpandrelNet', 'model_path': gen.path}, 'how': gen.how,
                'path': {'pretrain_network_g': None}}
    return {'network_g': dict(gen.network_g), 'how': gen.how,
            'path': {'pretrain_network_g': gen.path, 'param_key_g': gen.param_key or 'params', 'strict_load_g': True}}


def edit_parsed_options(opt: dict[str, Any], metrics: dict, override: Optional[dict[str, Any]]) -> None:
    """What the command line adds to the options BasicSR parses: the protocol's metrics, the ``--model`` generator."""
    if metrics and isinstance(opt.get('val'), dict):
        opt['val']['metrics'] = {**(opt['val'].get('metrics') or {}), **metrics}
    if override is not None:
        opt['network_g'] = dict(override['network_g'])
        opt.setdefault('path', {}).update(override['path'])


@contextmanager
def _edited_options(metrics: dict, override: Optional[dict[str, Any]]):
    # BasicSR's test_pipeline parses the option file itself: its parse_options is wrapped for this call only
    import basicsr.test

    original = basicsr.test.parse_options

    def parse_options(root_path: str, is_train: bool = True):
        opt, args = original(root_path, is_train)
        edit_parsed_options(opt, metrics, override)
        return opt, args

    basicsr.test.parse_options = parse_options
    try:
        yield
    finally:
        basicsr.test.parse_options = original


def run(argv: Optional[list] = None) -> 'MetricsRecorder':
    """Run BasicSR's test pipeline (root = current directory) and save the per-image metrics."""
    from basicsr.test import test_pipeline  # importing basicsr registers the SFD classes (sfd_arch.registration)

    from sfd_arch.eval.recorder import record_test_metrics
    from sfd_arch.options.preflight import check_option_file, option_path

    command_line = list(sys.argv[1:] if argv is None else argv)
    gen_args, command_line = _generator_parser().parse_known_args(command_line)
    opt_path = option_path(command_line)
    opt: dict[str, Any] = {}
    added = {}
    if opt_path is not None:
        opt = check_option_file(opt_path, is_train=False, argv=command_line)
        added = protocol_metrics(opt, opt_path)
    override = generator_override(gen_args, opt)
    if override is not None:
        print(f'sfd-test: generator: {override["how"]}', flush=True)
    recorder = None
    try:
        with _command_line(command_line), _edited_options(added, override), record_test_metrics() as recorder:
            test_pipeline(os.getcwd())
    except BaseException:
        # keep what was computed before the failure
        if recorder is not None and recorder.records and recorder.results_dir:
            recorder.write(recorder.results_dir)
        raise
    if recorder.results_dir:
        recorder.write(recorder.results_dir)
    return recorder


def main(argv: Optional[list] = None) -> None:
    """Console entry (``sfd-test``): returns nothing, so the exit status is 0 on success."""
    opt_path = wrapper_parser('test').parse_args(sys.argv[1:] if argv is None else argv).opt  # --help, errors
    if not osp.isfile(opt_path):
        sys.exit(f'error: option file not found: {opt_path}')
    from sfd_arch.metrics.fid_metric import DatasetMetricError

    try:
        run(argv)
    except (OSError, KeyError, ValueError, FloatingPointError, DatasetMetricError) as err:
        sys.exit(f'error: {err.args[0] if isinstance(err, KeyError) and err.args else err}')


if __name__ == '__main__':
    main()
