"""Per-image metric values from BasicSR's validation loop, for ``sfd_arch/test.py``'s metrics.csv and summary.md.

BasicSR logs only the mean of each metric per dataset. Comparing models image by image, or plotting the
perception-distortion plane, needs every value, so the recorder listens to the calls BasicSR already makes:
``SRModel.nondist_validation`` (and every model that copies it) calls ``calculate_metric`` once per image and
metric, in the order of ``opt['val']['metrics']``, over a non-shuffled loader. The recorder wraps that name in
each module that imported it, and wraps ``model.validation`` so that it knows the dataset and the image being
scored. Nothing in BasicSR is edited and nothing is computed twice.

Dataset-level metrics (FID, KID; ``sfd_arch.metrics.dataset``) have no per-image value: the watched validation
reports them once per dataset, and they get one row whose image is ``*`` (``DATASET_LEVEL``). A metric whose
network runs on stand-in weights (``sfd_arch.eval.standins``) is marked in its rows' ``note``, in ``summary.md``
and in BasicSR's validation log line. The file formats are those of ``sfd_arch.utils.results``; the recorder
sits above the metrics because it asks them which metrics are dataset-level and which weights are stand-ins.
"""
import logging
import os
import os.path as osp
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

from ..utils.files import write_atomic
from ..utils.results import (
    DATASET_LEVEL,
    METRICS_CSV,
    SUMMARY_MD,
    ResultRow,
    dataset_means,
    marked_metric_log,
    summary_markdown,
    write_metrics_csv,
)
from .standins import stand_in_notes


def _to_float(value: Any) -> float:
    # metrics return Python floats, NumPy scalars or 0-d tensors depending on their implementation
    return float(value.item()) if hasattr(value, 'item') else float(value)


def _image_name(batch: Any, dataset: Any, index: int) -> str:
    """The name BasicSR itself uses for a test image: the basename of ``lq_path`` without extension."""
    if isinstance(batch, dict):
        for key in ('lq_path', 'gt_path'):
            path = batch.get(key)
            if isinstance(path, (list, tuple)) and path:
                path = path[0]
            if isinstance(path, str):
                return osp.splitext(osp.basename(path))[0]
    paths = getattr(dataset, 'paths', None)
    if paths is not None and index < len(paths):
        entry = paths[index]
        path = entry.get('lq_path', entry.get('gt_path')) if isinstance(entry, dict) else entry
        if isinstance(path, str):
            return osp.splitext(osp.basename(path))[0]
    return f'{index:08d}'


class _NamedBatches:
    """A dataloader proxy that tells the recorder which image each batch is before the model scores it."""

    def __init__(self, loader: Any, recorder: 'MetricsRecorder'):
        self._loader = loader
        self._recorder = recorder

    def __len__(self) -> int:
        return len(self._loader)

    def __getattr__(self, name: str) -> Any:  # dataset, batch_size... as the real loader has them
        return getattr(self._loader, name)

    def __iter__(self) -> Iterator[Any]:
        dataset = getattr(self._loader, 'dataset', None)
        for index, batch in enumerate(self._loader):
            self._recorder._start_image(_image_name(batch, dataset, index))
            yield batch


class MetricsRecorder:
    """Collects the per-image values of BasicSR's validation metrics.

    Use ``watch(model)`` on a built model and run its ``validation`` inside ``with recorder.recording():``;
    ``record_test_metrics`` does both around ``basicsr.test.test_pipeline``.

    Attributes:
        records: every value seen, in the order BasicSR computed them.
        logged: per dataset, ``model.metric_results`` right after its validation: the means BasicSR logged.
        results_dir: ``opt['path']['results_root']`` of the last watched model, if it has one.
    """

    def __init__(self):
        self.records: list[ResultRow] = []
        self.logged: dict[str, dict[str, float]] = {}
        self.results_dir: Optional[str] = None
        self._dataset: Optional[str] = None
        self._metric_opts: dict[str, Any] = {}
        self._dataset_level: list[str] = []
        self._notes: dict[str, str] = {}
        self._image: Optional[str] = None
        self._calls_for_image = 0

    # -- hooks -------------------------------------------------------------------------------------------
    def watch(self, model: Any) -> Any:
        """Wrap ``model.validation`` (on the instance only) so that values are attributed to dataset and image.

        Dataset-level metrics are reported per dataset for any model type (``dataset_metrics``).
        """
        from ..metrics import dataset_metrics, is_dataset_metric

        original = model.validation
        self.results_dir = (getattr(model, 'opt', None) or {}).get('path', {}).get('results_root', self.results_dir)

        def validation(dataloader, current_iter, tb_logger, save_img=False):
            dataset = getattr(dataloader, 'dataset', None)
            self._dataset = (getattr(dataset, 'opt', None) or {}).get('name', 'dataset')
            self._metric_opts = dict((model.opt.get('val') or {}).get('metrics') or {})
            self._dataset_level = [n for n, o in self._metric_opts.items() if is_dataset_metric(o)]
            self._notes = stand_in_notes(self._metric_opts, getattr(model, 'clip_opt', None) or model.opt.get('clip'))
            self._image, self._calls_for_image = None, 0
            finished = False
            try:
                with dataset_metrics(model), marked_metric_log(self._notes):
                    out = original(_NamedBatches(dataloader, self), current_iter, tb_logger, save_img=save_img)
                finished = True
                return out
            finally:
                results = getattr(model, 'metric_results', None) or {}
                if results and finished:
                    self.logged[self._dataset] = {name: _to_float(v) for name, v in results.items()}
                    for name in self._dataset_level:
                        self.records.append(ResultRow('', self._dataset, DATASET_LEVEL, name, _to_float(results[name]),
                                                   self._notes.get(name, '')))
                self._dataset = None

        model.validation = validation
        return model

    def _start_image(self, name: str) -> None:
        self._image, self._calls_for_image = name, 0

    def _record(self, opt: Any, value: Any) -> None:
        if self._dataset is None:  # a metric computed outside a watched validation is not ours to attribute
            return
        metric = next((name for name, o in self._metric_opts.items() if o is opt), None)
        if metric is None and self._metric_opts:
            # a model that passes a copy of the option dict: fall back on BasicSR's call order
            metric = list(self._metric_opts)[self._calls_for_image % len(self._metric_opts)]
        if metric is None:
            metric = str(opt.get('type', 'metric')) if isinstance(opt, dict) else 'metric'
        self._calls_for_image += 1
        if metric in self._dataset_level:  # gathered, not a value: the dataset row comes after the validation
            return
        image = self._image if self._image is not None else f'{len(self.records):08d}'
        self.records.append(ResultRow('', self._dataset, image, metric, _to_float(value),
                                      self._notes.get(metric, '')))

    @contextmanager
    def recording(self) -> Iterator['MetricsRecorder']:
        """Wrap ``calculate_metric`` in every loaded module that imported BasicSR's function by name.

        ``basicsr.models.sr_model`` and the other model modules hold their own reference to the function
        (``from basicsr.metrics import calculate_metric``), so replacing it in ``basicsr.metrics`` alone would
        change nothing; each holder gets the wrapper, and each call goes through exactly one wrapper.
        """
        import basicsr.metrics
        import basicsr.models  # noqa: F401  (imports every basicsr model module, so all holders are patched)

        original: Callable = basicsr.metrics.calculate_metric

        from ..metrics import MetricInputError

        def calculate_metric(data, opt):
            try:
                value = original(data, opt)
            except MetricInputError as err:
                if not active or self._dataset is None:
                    raise
                raise MetricInputError(f'{self._dataset}/{self._image}: {err}') from None
            if active:
                self._record(opt, value)
            return value

        active = True
        patched = _replace_everywhere(original, calculate_metric)
        try:
            yield self
        finally:
            active = False
            # modules imported while recording may hold the wrapper too; hand all of them the original back
            for module in patched + _holders_of(calculate_metric):
                if vars(module).get('calculate_metric') is calculate_metric:
                    module.calculate_metric = original

    # -- results -----------------------------------------------------------------------------------------
    def means(self) -> dict[str, dict[str, float]]:
        """``{dataset: {metric: mean}}`` of the recorded values."""
        return dataset_means(self.records)

    def write(self, results_dir: str, logger: Optional[logging.Logger] = None) -> tuple[str, str]:
        """Write ``metrics.csv`` and ``summary.md`` into ``results_dir``; log the summary. Returns both paths."""
        os.makedirs(results_dir, exist_ok=True)
        csv_path = osp.join(results_dir, METRICS_CSV)
        md_path = osp.join(results_dir, SUMMARY_MD)
        write_metrics_csv(self.records, csv_path)
        table = summary_markdown(self.records)
        write_atomic(md_path, table)
        logger = logger or logging.getLogger('basicsr')  # BasicSR's root logger: console and the test log file
        logger.info(f'Per-dataset means ({len(self.records)} values, per image in {csv_path}):\n{table}')
        return csv_path, md_path


def _holders_of(function: Callable) -> list:
    return [m for m in list(sys.modules.values())
            if m is not None and getattr(m, '__dict__', {}).get('calculate_metric') is function]


def _replace_everywhere(original: Callable, replacement: Callable) -> list:
    holders = _holders_of(original)
    for module in holders:
        module.calculate_metric = replacement
    return holders


@contextmanager
def record_test_metrics() -> Iterator[MetricsRecorder]:
    """Record per-image metrics of every model that ``basicsr.test.test_pipeline`` builds inside the block."""
    import basicsr.test as basicsr_test

    recorder = MetricsRecorder()
    original_build = basicsr_test.build_model

    def build_model(opt):
        return recorder.watch(original_build(opt))

    basicsr_test.build_model = build_model
    try:
        with recorder.recording():
            yield recorder
    finally:
        basicsr_test.build_model = original_build
