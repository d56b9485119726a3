"""SFD-IQA: opinion-unaware no-reference quality from a trained Feat-D and LPP (docs/design.md, "4 One score").

For an image tile ``x`` (RGB in [0, 1]), one frozen-CLIP pass gives the tapped maps and the embedding, then

    q_feat = mean over tapped layers of the mean over positions of sigmoid(Feat-D logit map)
    p_pos = softmax(TG-D logits)[:, 0]
    score  = alpha * q_feat + (1 - alpha) * p_pos          # in [0, 1], higher is better

An image no larger than ``tile`` in either side is one tile, scored at its native size. A larger image is cut
into ``tile`` x ``tile`` crops on a regular grid (stride = tile, the last row/column shifted back to end at the
border, so every crop has the same size and lies inside the image) and ``q_feat``, ``p_pos`` are the plain means
over its crops. A side shorter than ``tile`` is not split. Crops of one size are batched together; crops of
different sizes never share a batch and nothing is padded. Scores agree within 1e-6 whatever the batch size
or the images scored together; for the same bits (``sfd-iqa score`` under torchrun writes the single-process
file) the batches must be the same, which ``iter_files(paths, group=n)`` makes a function of the path list
alone: inputs are scored in fixed groups of ``n`` consecutive paths (docs/iqa.md, "Batches").

    iqa = SFDIQA.from_file('sfd_iqa.pth')                       # trained weights + CLIP from the recorded block
    score, q_feat, p_pos = iqa.score_tensor(img)              # img (B, 3, H, W) in [0, 1] -> three (B,) tensors
    results = iqa.score_files(['a.png', 'b.jpg'])              # list[IQAResult], errors captured per file
    iqa = SFDIQA(clip, featd, lpp)                             # live networks (validation during training)
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..archs.clip_arch import MIN_SIZE, CLIPFeatureExtractor, CLIPWeightsError, build_clip
from ..archs.featd_arch import FeatD
from ..archs.prompt_learner_arch import PromptLearner
from .defaults import DEFAULT_ALPHA, DEFAULT_BATCH_SIZE, DEFAULT_TILE, ScorerSettings  # noqa: F401  (public here too)
from .export import load_weights, make_payload, save_weights
from .images import ImageArray, as_rgb, read_image
from .tiles import Box, check_size, tile_boxes  # noqa: F401  (Box, tile_boxes: public names of this module too)

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}  # the autocast dtypes of `amp=` / --amp

@dataclass
class IQAResult:
    """The SFD-IQA of one input; ``error`` is set (and the numbers are None) when it could not be scored."""

    path: str
    score: Optional[float] = None
    q_feat: Optional[float] = None
    p_pos: Optional[float] = None
    height: Optional[int] = None
    width: Optional[int] = None
    tiles: Optional[int] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _TensorImage:
    """A (3, H, W) tensor as a tile source (crops are views on the tensor's device)."""

    def __init__(self, img: torch.Tensor):
        self.img = img

    @property
    def height(self) -> int:
        return int(self.img.shape[-2])

    @property
    def width(self) -> int:
        return int(self.img.shape[-1])

    def crop(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        return self.img[:, top:top + height, left:left + width]


Source = Union[ImageArray, _TensorImage]


class SFDIQA:
    """Scores images with a Feat-D and an LPP over a frozen CLIP (see the module docstring).

    Args:
        clip: the frozen extractor (``build_clip``) both networks were trained on.
        featd: the Feat-D (its heads must match ``clip``'s taps); ``None`` for a run trained without it.
        lpp: the prompt learner (its text encoder is ``clip``'s); ``None`` for a run trained without it.
        alpha: weight of ``q_feat``; ``1 - alpha`` goes to ``p_pos``. In [0, 1]. With only one network the
            score is that network's quantity (``q_feat`` or ``p_pos``), ``alpha`` is ignored, the other
            quantity is None (NaN in ``score_tensor``) and ``note`` says so.
        tile: crop size for large images (0 or None: always score the whole image).
        batch_size: crops per forward pass; memory, not the score, depends on it.
        device: where to score; default: the device CLIP is on.
        workers: DataLoader worker processes that decode files for ``iter_files`` (0: in this process; None:
            ``loader.default_workers()``). Speed only.
        amp: autocast dtype of the forward pass, ``'bf16'``, ``'fp16'``, a torch dtype, or None (fp32); moves
            scores by about 1e-3.
        compiled: run the forward pass through ``torch.compile`` (:meth:`compile`). Speed only.

    Live networks stay owned by their caller: while scoring they are put in eval mode and given back in the
    mode they had (a training loop's Feat-D keeps training afterwards).
    """

    def __init__(self, clip: CLIPFeatureExtractor, featd: Optional[FeatD], lpp: Optional[PromptLearner],
                 alpha: float = DEFAULT_ALPHA,
                 tile: Optional[int] = DEFAULT_TILE, batch_size: int = DEFAULT_BATCH_SIZE,
                 device: Union[str, torch.device, None] = None, workers: Optional[int] = 0,
                 amp: Union[str, torch.dtype, None] = None, compiled: bool = False):
        if workers is not None and int(workers) < 0:
            raise ValueError(f'SFD-IQA workers must be >= 0, got {workers}')
        if isinstance(amp, str) and amp not in AMP_DTYPES:
            raise ValueError(f'SFD-IQA amp must be one of {", ".join(AMP_DTYPES)} or None (fp32), got {amp!r}')
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f'SFD-IQA alpha must be in [0, 1], got {alpha}')
        if tile and int(tile) < MIN_SIZE:
            raise ValueError(f'SFD-IQA tile must be at least {MIN_SIZE} px (or 0 for no tiling), got {tile}')
        if int(batch_size) < 1:
            raise ValueError(f'SFD-IQA batch_size must be >= 1, got {batch_size}')
        if featd is None and lpp is None:
            raise ValueError('SFD-IQA needs a Feat-D, an LPP or both')
        self.clip, self.featd, self.lpp = clip, featd, lpp
        # one network (an ablation run): its quantity is the score; the absent one enters as 0 with weight 0
        self.alpha = float(alpha) if featd is not None and lpp is not None else float(lpp is None)
        self.note = ('' if featd is not None and lpp is not None else
                     'Feat-D only (no LPP in these weights): score = q_feat, alpha ignored' if lpp is None else
                     'TG-D only (no Feat-D in these weights): score = p_pos, alpha ignored')
        self.tile = int(tile) if tile else 0
        self.batch_size = int(batch_size)
        self.device = _resolve_device(device) if device is not None else clip.device
        self._text_cache: Optional[tuple[tuple, torch.Tensor]] = None
        self.weights_path: Optional[str] = None
        # DataLoader worker processes that decode files for iter_files (0: in this process)
        if workers is None:
            from .loader import default_workers  # imports torch's DataLoader: only when it will be used

            workers = default_workers()
        self.workers = int(workers)
        # autocast dtype of the forward pass (None: fp32)
        self.amp: Optional[torch.dtype] = AMP_DTYPES[amp] if isinstance(amp, str) else amp
        self.forwarded = 0  # crops run through the network so far (the cost that padding would inflate)
        self.passes = 0  # forward passes (batches) so far
        self._forward: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] = self._forward_eager
        if compiled:
            self.compile()

    # -- construction from a weights file -------------------------------------------------------------------
    @classmethod
    def from_file(cls, weights: str, clip_weights: Optional[str] = None,
                  device: Union[str, torch.device, None] = None, alpha: float = DEFAULT_ALPHA,
                  tile: Optional[int] = DEFAULT_TILE, batch_size: int = DEFAULT_BATCH_SIZE,
                  workers: Optional[int] = 0, amp: Union[str, torch.dtype, None] = None,
                  compiled: bool = False) -> 'SFDIQA':
        """Load an SFD-IQA weights file (``sfd-iqa export``). CLIP weights come from the recorded
        ``clip.pretrained`` unless ``clip_weights`` (a tag or a local file) overrides it. ``workers``, ``amp`` and
        ``compiled``: the speed settings of the constructor."""
        payload = load_weights(weights)
        clip_opt = dict(payload['clip'])
        if clip_weights is not None:
            clip_opt['pretrained'] = clip_weights
        try:
            clip = build_clip(clip_opt)
        except CLIPWeightsError as err:
            raise CLIPWeightsError(f'{err}\n(SFD-IQA weights {weights} record clip.pretrained='
                                   f"{payload['clip'].get('pretrained')!r}; pass clip_weights= / --clip-weights "
                                   'to use another copy of the same CLIP weights)') from err
        featd = FeatD(**payload['featd']['kwargs'], clip=clip) if payload['featd'] is not None else None
        lpp = PromptLearner(**payload['lpp']['kwargs'], clip=clip) if payload['lpp'] is not None else None
        for name, net in (('featd', featd), ('lpp', lpp)):
            if net is None:
                continue
            try:
                net.load_state_dict(payload[name]['params'], strict=True)
            except RuntimeError as err:
                raise ValueError(f'SFD-IQA weights file {weights}: {name} weights do not fit: {err}') from err
        device = _resolve_device(device) if device is not None else default_device()
        for net in (featd, lpp):
            if net is not None:
                net.to(device).eval()
        scorer = cls(clip, featd, lpp, alpha=alpha, tile=tile, batch_size=batch_size, device=device,
                     workers=workers, amp=amp, compiled=compiled)
        scorer.weights_path = weights
        return scorer

    def payload(self, source: Optional[dict] = None) -> dict:
        """The weights-file dict of these networks (FeatD/LPP constructor args read from the live modules)."""
        featd, lpp = self.featd, self.lpp
        networks = {}
        if featd is not None:
            networks['featd'] = ({'in_channels': list(featd.in_channels), 'num_feat': featd.num_feat,
                                  'depth': featd.depth, 'kernel_size': featd.kernel_size}, featd.state_dict())
        if lpp is not None:
            networks['lpp'] = (lpp.init_kwargs(), lpp.state_dict())
        return make_payload(self.clip.opt, networks, source)

    def save(self, path: str, overwrite: bool = False) -> str:
        """Write these networks as an SFD-IQA weights file (e.g. from a training model)."""
        return save_weights(self.payload({'saved_by': 'SFDIQA.save'}), path, overwrite)

    def to(self, device: Union[str, torch.device]) -> 'SFDIQA':
        self.device = _resolve_device(device)
        for net in self._nets():
            net.to(self.device)
        self.clip.to(self.device)
        self._text_cache = None
        return self

    # -- scoring --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _scoring(self) -> Iterator[None]:
        """Eval mode, inference mode and the right device for the duration; everything restored after."""
        modes = [(net, net.training) for net in self._nets()]
        clip_device = self.clip.device
        if clip_device != self.device:  # the CLIP is shared process-wide (build_clip's cache): give it back
            self.clip.to(self.device)
        for net, _ in modes:
            net.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            for net, mode in modes:
                net.train(mode)
            if clip_device != self.device:
                self.clip.to(clip_device)

    def text_features(self) -> torch.Tensor:
        """(2, D) prompt features, computed once per state of the LPP's context vectors.

        The key includes the context tensor's version counter, so a live LPP that an optimiser has stepped
        since the last call gets fresh features, and a fixed one never recomputes them.
        """
        if self.lpp is None:
            return None
        ctx = self.lpp.ctx if self.lpp.ctx is not None else self.lpp.tokens  # fixed prompts: no context vectors
        key = (id(self.lpp), ctx.data_ptr(), ctx._version, str(ctx.device))
        if self._text_cache is None or self._text_cache[0] != key:
            self._text_cache = (key, self.lpp.text_features())
        return self._text_cache[1]

    def _score_batch(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, h, w) crops of one size -> q_feat (N,), p_pos (N,) as float64 on the CPU."""
        text = self.text_features()
        autocast = torch.autocast(self.device.type, dtype=self.amp) if self.amp else contextlib.nullcontext()
        with autocast:
            q_feat, p_pos = self._forward(batch, text)
        return q_feat.double().cpu(), p_pos.double().cpu()

    def _forward_eager(self, batch: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pass on the device that :meth:`compile` compiles: (N, 3, h, w) crops and (2, D) prompt features ->
        q_feat (N,), p_pos (N,) float32."""
        feats, embedding = self.clip(batch)
        absent = torch.zeros(batch.shape[0], device=batch.device)  # weight 0 in the score (see ``alpha``)
        q_feat = p_pos = absent
        if self.featd is not None:
            logits = self.featd(feats)
            q_feat = torch.stack([torch.sigmoid(m.float()).flatten(1).mean(dim=1) for m in logits]).mean(dim=0)
        if self.lpp is not None:
            tg_logits = self.lpp(embedding, text)
            p_pos = F.softmax(tg_logits.float(), dim=1)[:, 0]
        return q_feat, p_pos

    def _nets(self) -> list:
        return [net for net in (self.featd, self.lpp) if net is not None]

    def compile(self, mode: Optional[str] = None, backend: str = 'inductor') -> 'SFDIQA':
        """Run the forward pass through ``torch.compile`` (default mode on CUDA: ``reduce-overhead``, i.e. CUDA
        graphs, which removes the launch cost of small batches). Compiles once per batch shape. Where compiling
        is impossible the scorer warns once and stays eager (see :mod:`sfd_arch.iqa.compiled`)."""
        from .compiled import CompiledForward

        self._forward = CompiledForward(self._forward_eager, self.device, mode=mode, backend=backend)
        return self

    def _score_sources(self, sources: Sequence[Source]) -> list[tuple[float, float, int]]:
        """Per source: (q_feat, p_pos, number of crops). Crops are cut lazily, one batch at a time."""
        boxes = [tile_boxes(s.height, s.width, self.tile) for s in sources]
        per_crop = [(np.zeros(len(b)), np.zeros(len(b))) for b in boxes]
        groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i, source_boxes in enumerate(boxes):
            for j, box in enumerate(source_boxes):
                groups.setdefault(box[2:], []).append((i, j))
        with self._scoring():
            for members in groups.values():
                for start in range(0, len(members), self.batch_size):
                    chunk = members[start:start + self.batch_size]
                    crops = [sources[i].crop(*boxes[i][j]) for i, j in chunk]
                    batch = torch.stack(crops).to(self.device, torch.float32, non_blocking=True)
                    q_feat, p_pos = self._score_batch(batch.clamp(0.0, 1.0))
                    self.forwarded += len(chunk)
                    self.passes += 1
                    for (i, j), qf, qt in zip(chunk, q_feat.tolist(), p_pos.tolist()):
                        per_crop[i][0][j], per_crop[i][1][j] = qf, qt
        # means in crop order: the same sum whatever batches the crops travelled in
        return [(float(qf.mean()), float(qt.mean()), len(qf)) for qf, qt in per_crop]

    def mix(self, q_feat: Any, p_pos: Any, alpha: Optional[float] = None) -> Any:
        """The score from its two quantities (floats or tensors): ``alpha * q_feat + (1 - alpha) * p_pos``, the one
        place of SFD-IQA's formula. ``alpha`` None is the scorer's own; weights with one network (an ablation run)
        have one quantity, which is then the score whatever ``alpha`` says."""
        if self.lpp is None:
            return q_feat
        if self.featd is None:
            return p_pos
        alpha = self.alpha if alpha is None else float(alpha)
        return alpha * q_feat + (1.0 - alpha) * p_pos

    def score_tensor(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, 3, H, W)`` or ``(3, H, W)`` RGB in [0, 1] (clamped) -> ``(score, q_feat, p_pos)``, each a
        ``(B,)`` float64 CPU tensor. Gray ``(B, 1, H, W)`` is replicated. No gradients."""
        if img.dim() == 3:
            img = img.unsqueeze(0)
        if img.dim() != 4 or img.shape[1] not in (1, 3):
            raise ValueError(f'SFD-IQA expects (B, 3, H, W) RGB in [0, 1], got shape {tuple(img.shape)}')
        check_size(int(img.shape[-2]), int(img.shape[-1]), 'input tensor')
        img = img.detach()
        if img.shape[1] == 1:
            img = img.expand(-1, 3, -1, -1)
        values = self._score_sources([_TensorImage(x) for x in img])
        q_feat = torch.tensor([v[0] for v in values], dtype=torch.float64)
        p_pos = torch.tensor([v[1] for v in values], dtype=torch.float64)
        score = self.mix(q_feat, p_pos)
        nan = torch.full_like(score, float('nan'))  # a quantity the weights cannot measure
        return score, (q_feat if self.featd is not None else nan), (p_pos if self.lpp is not None else nan)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B,)`` SFD-IQA scores."""
        return self.score_tensor(img)[0]

    def score_arrays(self, images: Sequence[Union[np.ndarray, ImageArray]], channel_order: str = 'RGB',
                     names: Optional[Sequence[str]] = None) -> list[IQAResult]:
        """NumPy images (``HxW``/``HxWxC``, uint8/uint16/float, ``channel_order`` RGB or BGR) -> results.
        Raises on an unusable image (``score_files`` turns that into an error row instead)."""
        names = list(names) if names is not None else [f'image{i}' for i in range(len(images))]
        arrays = [im if isinstance(im, ImageArray) else as_rgb(im, channel_order, name)
                  for im, name in zip(images, names)]
        return self.score_sources(arrays, names)

    def iter_files(self, paths: Iterable[str], workers: Optional[int] = None,
                   group: Optional[int] = None) -> Iterator[IQAResult]:
        """Results for image files, in input order, as soon as they are scored.

        Files are decoded and cut into tiles by :mod:`sfd_arch.iqa.loader`, in ``workers`` DataLoader worker
        processes (default ``self.workers``; 0: in this process); the scores do not depend on it. A file that
        cannot be read or is too small yields a result with ``error`` set. ``group``: see :meth:`iter_sources`.
        """
        from .loader import decoded_images  # imports torch's DataLoader: only when files are scored

        workers = self.workers if workers is None else workers
        return self.iter_sources(decoded_images(list(paths), self.tile, self.device, workers), group)

    def iter_sources(self, items: Iterable[tuple[str, Union[Source, str]]],
                     group: Optional[int] = None) -> Iterator[IQAResult]:
        """``(name, image)`` pairs -> results in input order. An image is anything with ``height``, ``width`` and
        ``crop(top, left, h, w) -> (3, h, w)`` in [0, 1] (an :class:`ImageArray`, a loader tile stack); a ``str``
        in its place is an error message and becomes an error row.

        Without ``group``, images are scored together once they hold ``batch_size`` crops, so at most about one
        batch of images is held. With ``group`` n, every n consecutive inputs (error items counted) are scored
        together, whatever their crops: the batches, hence the score bits, are then a function of the input
        list alone, and a list cut at multiples of n scores the same in pieces (``sfd-iqa score``'s shards).
        Either way crops of one size share batches, as in :meth:`score_arrays`, and nothing is padded.
        """
        if group is not None and int(group) < 1:
            raise ValueError(f'group must be >= 1, got {group}')
        pending: list[tuple[str, Union[Source, IQAResult]]] = []
        crops = count = 0
        for path, item in items:
            count += 1
            if isinstance(item, str):
                pending.append((path, IQAResult(path, error=item)))
            else:
                pending.append((path, item))
                crops += len(tile_boxes(item.height, item.width, self.tile))
            full = count % group == 0 if group else crops >= self.batch_size or crops == 0
            if full:  # (without group, an error with nothing waiting is reported at once)
                yield from self._flush(pending)
                pending, crops = [], 0
        yield from self._flush(pending)

    def score_sources(self, sources: Sequence[Source], names: Sequence[str]) -> list[IQAResult]:
        """Images already decoded (see :meth:`iter_sources`) -> results; raises on one under 32 px."""
        for source, name in zip(sources, names):
            check_size(source.height, source.width, name)
        values = self._score_sources(sources)
        return [IQAResult(name, self.mix(qf, qt), qf if self.featd is not None else None,
                          qt if self.lpp is not None else None, s.height, s.width, n)
                for name, s, (qf, qt, n) in zip(names, sources, values)]

    def _flush(self, pending: list[tuple[str, Union[Source, IQAResult]]]) -> Iterator[IQAResult]:
        images = [(path, item) for path, item in pending if not isinstance(item, IQAResult)]
        try:
            scored = self.score_sources([arr for _, arr in images], names=[p for p, _ in images]) if images else []
        except RuntimeError as err:  # e.g. out of memory on a batch: every image of it gets the error
            scored = [IQAResult(p, height=a.height, width=a.width, error=f'{type(err).__name__}: {err}')
                      for p, a in images]
        in_order = iter(scored)
        for _, item in pending:
            yield item if isinstance(item, IQAResult) else next(in_order)

    def score_files(self, paths: Iterable[str]) -> list[IQAResult]:
        return list(self.iter_files(paths))

    def score_file(self, path: str) -> IQAResult:
        """One file; raises instead of returning an error result."""
        arr = read_image(path)
        return self.score_arrays([arr], names=[path])[0]


def _resolve_device(device: Union[str, torch.device]) -> torch.device:
    # 'cuda' and 'cuda:0' must compare equal, or the shared CLIP would be moved around on every call
    device = torch.device(device)
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    return device


def default_device() -> torch.device:
    return _resolve_device('cuda' if torch.cuda.is_available() else 'cpu')


def load_sfd_iqa(weights: str, **kwargs: Any) -> SFDIQA:
    """Shorthand for :meth:`SFDIQA.from_file`."""
    return SFDIQA.from_file(weights, **kwargs)


def build_scorer(settings: ScorerSettings) -> SFDIQA:
    """The scorer of ``settings.weights`` with every setting, its speed settings (workers, AMP, compile) as
    constructor arguments: the one place the ``sfd-iqa`` commands build a scorer."""
    if not settings.weights:
        raise ValueError('no SFD-IQA weights file given')
    return SFDIQA.from_file(settings.weights, clip_weights=settings.clip_weights, device=settings.device,
                            alpha=settings.alpha, tile=settings.tile, batch_size=settings.batch_size,
                            workers=settings.workers, amp=settings.amp or None, compiled=settings.compile)
