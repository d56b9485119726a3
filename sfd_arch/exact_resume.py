"""A resumed training run is the same run: what BasicSR 1.4.2's pipeline needs for that, in one place.

BasicSR, like Real-ESRGAN, lets a resumed run drift from the uninterrupted one: its sampler restarts the
interrupted epoch from its first batch, the DataLoader workers are seeded per worker (so every epoch repeats the
same crops and flips, and a restart repeats them again), ``iter(loader)`` draws the workers' base seed from the
training's own torch generator, and the random states of Python, NumPy and torch are not saved. Two ideas fix it
(docs/design.md, "Exact resume"):

* **Randomness keyed by the sample, not by the draws before it.** The training sampler yields
  ``(epoch, position, index)`` keys (the order is BasicSR's own); each sample is loaded with ``random``, NumPy and
  torch seeded from ``(manual_seed, epoch, position)`` (``numpy.random.SeedSequence`` mixes the words), in
  whatever worker, and the global states are put back afterwards. Each training batch carries its keys
  (``SAMPLE_KEY``), so a model can key its own per-batch draws (Real-ESRGAN's degradations) the same way. No
  worker state ever needs saving, and the loader gets a generator of its own, so starting workers draws nothing
  from the training's random stream.
* **What the next iteration still depends on is saved** (by the models, ``sfd_arch.models``): the position in the
  epoch, every rank's random states, the fp16 GradScalers and Real-ESRGAN's training-pair queue. On resume the
  sampler skips the samples of the interrupted epoch that were already trained on, without loading them.

Everything saved is a tensor, an int, a float, a string, None or a list / dict of them, which
``torch.load(..., weights_only=True)`` reads.

``install()`` wraps three names of ``basicsr.train`` (``EnlargedSampler``, ``build_dataloader``,
``load_resume_state``); ``sfd_arch.compat.patch_basicsr_for_cpu`` calls it when ``sfd_arch`` is imported.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import torch

# the key each training sample (and so each batch) carries: int64 ``[epoch, position]`` per sample
SAMPLE_KEY = 'sample_key'
# the training state's entry written by sfd_arch's models (absent in states of older versions)
STATE_KEY = 'exact_resume'
STATE_FORMAT = 1
# the first word after the seed tells sample draws, batch draws (the model's) and the loader's generator apart
SAMPLE_STREAM, BATCH_STREAM = 1, 2
# what torch's reproducibility notes ask for cuBLAS (CUDA >= 10.2) with deterministic algorithms
CUBLAS_WORKSPACE = ':4096:8'

_pending: dict[str, Any] = {}  # resume point found by load_resume_state, taken by the next training sampler


# ---------------------------------------------------------------------------------------------- random states
def _seeds(words: Iterable[int]) -> np.ndarray:
    """Four uint32 words mixed from ``words`` (any non-negative or negative ints) by NumPy's SeedSequence."""
    return np.random.SeedSequence([int(w) % 2**64 for w in words]).generate_state(4)


def _cuda_index(device: Optional[torch.device]) -> Optional[int]:
    if device is None or torch.device(device).type != 'cuda':
        return None
    index = torch.device(device).index
    return torch.cuda.current_device() if index is None else index


@contextlib.contextmanager
def _kept_rng(device: Optional[torch.device] = None) -> Iterator[None]:
    """Puts the states of ``random``, NumPy, torch's CPU generator (and ``device``'s CUDA one) back on exit."""
    cuda = _cuda_index(device)
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_saved = torch.cuda.get_rng_state(cuda) if cuda is not None else None
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        if cuda_saved is not None:
            torch.cuda.set_rng_state(cuda_saved, cuda)


@contextlib.contextmanager
def keyed_rng(words: Iterable[int], device: Optional[torch.device] = None) -> Iterator[None]:
    """Inside: ``random``, NumPy and torch (CPU, and ``device`` if it is a GPU) seeded from ``words`` alone; after:
    the states they had before, so what runs inside neither depends on nor moves the surrounding random stream."""
    seeds = _seeds(words)
    with _kept_rng(device):
        random.seed(int(seeds[0]) << 32 | int(seeds[1]))
        np.random.seed(seeds)
        torch.default_generator.manual_seed(int(seeds[2]) << 32 | int(seeds[3]))
        cuda = _cuda_index(device)
        if cuda is not None:
            with torch.cuda.device(cuda):
                torch.cuda.manual_seed(int(seeds[3]) << 32 | int(seeds[2]))
        yield


def kept_rng(device: Optional[torch.device] = None) -> contextlib.AbstractContextManager:
    """Whatever runs inside (a validation pass) leaves the training's random states as they were."""
    return _kept_rng(device)


def rng_state() -> dict[str, Any]:
    """The random states of this process in forms the weights-only unpickler reads: Python's Mersenne Twister and
    NumPy's as int64 tensors plus ints and floats, torch's CPU generator and every CUDA device's as byte tensors."""
    version, words, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {'python': {'version': int(version), 'state': torch.tensor(words, dtype=torch.int64),
                       'gauss': None if gauss is None else float(gauss)},
            'numpy': {'name': str(name), 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                      'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
            'torch': torch.get_rng_state(), 'cuda': [s.cpu() for s in cuda]}


def set_rng_state(state: dict[str, Any]) -> list[str]:
    """Restore what ``rng_state`` saved; returns what could not be restored (CUDA states for another GPU count)."""
    py, npy = state['python'], state['numpy']
    random.setstate((py['version'], tuple(int(w) for w in py['state'].tolist()), py['gauss']))
    np.random.set_state((npy['name'], npy['keys'].cpu().numpy().astype(np.uint32), npy['pos'], npy['has_gauss'],
                         npy['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if not cuda:
        return []
    if not torch.cuda.is_available() or torch.cuda.device_count() != len(cuda):
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f'the CUDA random states of {len(cuda)} GPU(s) (this process sees {have})']
    torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    return []


# ---------------------------------------------------------------------------------------------- data
class KeyedSampler:
    """BasicSR's ``EnlargedSampler`` order, as ``(epoch, position, index)`` keys, able to start inside an epoch.

    ``position`` is the sample's place in the epoch's permutation over all processes (unique per epoch, so a
    ``dataset_enlarge_ratio`` > 1 repeats an image with fresh crops); ``index`` is the dataset index. When the run
    resumes inside epoch ``e`` after ``n`` samples of this process, every pass over epoch ``e`` starts at the
    ``n``-th key: the skipped samples are never loaded.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, ratio: int = 1) -> None:
        from basicsr.data.data_sampler import EnlargedSampler

        self._order = EnlargedSampler(dataset, num_replicas, rank, ratio)
        self.num_replicas, self.rank = num_replicas, rank
        point = _pending.pop('data', None) or {}
        self.resume_epoch = point.get('epoch')
        self.resume_samples = int(point.get('samples', 0))

    @property
    def epoch(self) -> int:
        return self._order.epoch

    def set_epoch(self, epoch: int) -> None:
        self._order.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        epoch = self.epoch
        skip = self.resume_samples if epoch == self.resume_epoch else 0
        for j, index in enumerate(self._order):
            if j >= skip:
                yield epoch, j * self.num_replicas + self.rank, index


class KeyedDataset(torch.utils.data.Dataset):
    """A training dataset whose sample for key ``(epoch, position, index)`` is a function of that key and the
    seed: random crops, flips, rotations and Real-ESRGAN's kernels are drawn from ``(seed, epoch, position)``."""

    def __init__(self, dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        epoch, position, index = key
        if torch.utils.data.get_worker_info() is None and threading.current_thread() is not threading.main_thread():
            # a prefetch thread beside training (prefetch_mode: cpu, no workers): seeding the global generators here
            # would move training's draws; the sample is loaded as BasicSR loads it (warned at loader build)
            sample = self.dataset[index]
        else:
            with keyed_rng((self.seed, SAMPLE_STREAM, epoch, position)):
                sample = self.dataset[index]
        sample[SAMPLE_KEY] = torch.tensor([epoch, position], dtype=torch.int64)
        return sample


def build_dataloader(dataset, dataset_opt, num_gpu=1, dist=False, sampler=None, seed=None):
    """BasicSR's ``build_dataloader``; a training loader over a ``KeyedSampler`` gets the keyed dataset and a
    generator of its own (so ``iter(loader)`` draws the workers' base seed from neither the training's stream)."""
    from basicsr.data import build_dataloader as basicsr_build_dataloader

    if not isinstance(sampler, KeyedSampler):
        return basicsr_build_dataloader(dataset, dataset_opt, num_gpu, dist, sampler, seed)
    seed = 0 if seed is None else int(seed)
    loader = basicsr_build_dataloader(KeyedDataset(dataset, seed), dataset_opt, num_gpu, dist, sampler, seed)
    loader.generator = torch.Generator().manual_seed(int(_seeds((seed, 0))[0]))
    if dataset_opt.get('prefetch_mode') == 'cpu' and not dataset_opt.get('num_worker_per_gpu'):
        from basicsr.utils import get_root_logger

        get_root_logger().warning(
            'datasets.train: prefetch_mode: cpu with num_worker_per_gpu: 0 loads samples in a thread beside '
            'training, whose random draws then interleave with training\'s: a resumed run is not bit-exact. '
            'Use num_worker_per_gpu >= 1 (or no prefetch_mode).')
    return loader


# ---------------------------------------------------------------------------------------------- options
def apply_determinism(opt: dict) -> bool:
    """``deterministic: true``: cuDNN benchmarking off (BasicSR's train.py turns it on), deterministic cuDNN and
    torch algorithms (an operation without one stops with torch's error naming it), and the cuBLAS workspace
    setting deterministic matrix products need. Returns whether it applied."""
    if not opt.get('deterministic'):
        return False
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', CUBLAS_WORKSPACE)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)
    return True


def adopt_resume_state(opt: dict, state: Optional[dict]) -> None:
    """What the resumed run takes from the state before its loaders exist: the seed the run started with (the
    per-sample draws depend on it; BasicSR draws a new one when ``manual_seed`` is empty) and the data position."""
    _pending.clear()
    extras = state.get(STATE_KEY) if isinstance(state, dict) else None
    if not isinstance(extras, dict):
        return
    seed = extras.get('manual_seed')
    if seed is not None and seed != opt.get('manual_seed'):
        _pending['seed_note'] = (f"the resumed run keeps the seed it started with (manual_seed: {seed}; the option "
                                 f"file now gives {opt.get('manual_seed')})")
        opt['manual_seed'] = seed
    if extras.get('data'):
        _pending['data'] = dict(extras['data'])


def take_seed_note() -> Optional[str]:
    """The note ``adopt_resume_state`` left for the log (BasicSR's logger does not exist yet when it runs)."""
    return _pending.pop('seed_note', None)


def install() -> None:
    """Wrap ``basicsr.train``'s sampler, loader builder and resume-state loader (idempotent)."""
    import importlib

    basicsr_train = importlib.import_module('basicsr.train')
    if getattr(basicsr_train.load_resume_state, '_sfd_exact_resume', False):
        return
    loader_of_states = basicsr_train.load_resume_state

    def load_resume_state(opt):
        # the first call train_pipeline makes after its `cudnn.benchmark = True`
        apply_determinism(opt)
        state = loader_of_states(opt)
        adopt_resume_state(opt, state)
        return state

    load_resume_state._sfd_exact_resume = True
    basicsr_train.load_resume_state = load_resume_state
    basicsr_train.EnlargedSampler = KeyedSampler
    basicsr_train.build_dataloader = build_dataloader


# ---------------------------------------------------------------------------------------------- model side
class DataProgress:
    """How far this process is into the current epoch, counted from the keys of the batches it trained on."""

    def __init__(self, epoch: Optional[int] = None, samples: int = 0, batches: int = 0) -> None:
        self.epoch, self.samples, self.batches = epoch, samples, batches

    def observe(self, keys: torch.Tensor) -> None:
        epoch = int(keys[0, 0])
        if epoch != self.epoch:
            self.epoch, self.samples, self.batches = epoch, 0, 0
        self.samples += int(keys.shape[0])
        self.batches += 1

    def batch_size(self) -> Optional[int]:
        """Samples per batch of this process so far in the epoch (None before a batch)."""
        return self.samples // self.batches if self.batches else None

    def state(self) -> Optional[dict[str, int]]:
        if self.epoch is None:
            return None
        return {'epoch': self.epoch, 'samples': self.samples, 'batches': self.batches}


def batch_words(seed: int, keys: torch.Tensor) -> list[int]:
    """The words a batch's own draws are keyed by: the seed, then every sample's ``(epoch, position)``."""
    return [int(seed), BATCH_STREAM, *keys.reshape(-1).tolist()]


def pack_images(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """A tensor of images in [0, 1], as uint8 when that is lossless (8-bit data: a quarter of the bytes), else
    as it is; on the CPU."""
    if images.is_floating_point():
        levels = (images * 255).round().clamp_(0, 255).to(torch.uint8)
        if torch.equal(levels.to(images.dtype) / 255, images):
            return {'uint8': levels.cpu(), 'dtype': str(images.dtype).replace('torch.', '')}
    return {'tensor': images.detach().cpu()}


def unpack_images(packed: dict[str, Any], device: torch.device) -> torch.Tensor:
    """The tensor ``pack_images`` packed, bit for bit, on ``device``."""
    if 'uint8' in packed:
        dtype = getattr(torch, packed['dtype'])
        return packed['uint8'].to(device).to(dtype) / 255
    return packed['tensor'].to(device)


def gather_to_rank0(obj: Any) -> Optional[list]:
    """Every process's ``obj``, in rank order, on rank 0 (None elsewhere); ``[obj]`` without distributed training."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    objects = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, objects, dst=0)
    return objects
