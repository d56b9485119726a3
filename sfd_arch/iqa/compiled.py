"""``--compile``: the SFD-IQA forward pass through ``torch.compile``, with a clear fall-back to eager.

On CUDA a batch of 1 to 8 crops is bound by kernel launches, not arithmetic: CLIP, the Feat-D heads, the
sigmoid means and the TG-D product are dozens of small kernels. ``mode='reduce-overhead'`` (the default on
CUDA) records them once per batch shape as a CUDA graph and replays it; on the CPU the default mode fuses
element-wise work. The scores stay those of the eager fp32 pass up to float rounding (a test bounds the gap
by 1e-3).

Compiling can be impossible (no C++ compiler for the CPU backend, no Triton for CUDA, a Python that
TorchDynamo does not support) or fail for one model: then the scorer warns once, naming the reason, and
scores eagerly: same scores, no speed-up. Each new batch shape (batch size x crop size) compiles again, so it
pays off on many images of one size.
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional, Union

import torch

Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class CompileFallbackWarning(RuntimeWarning):
    """``--compile`` was asked for but the forward pass runs eagerly (the message says why)."""


def default_mode(device: torch.device) -> str:
    return 'reduce-overhead' if device.type == 'cuda' else 'default'


class CompiledForward:
    """Calls ``torch.compile(forward)``; on any failure warns once and calls ``forward`` itself from then on.

    Args:
        forward: ``(batch, text_features) -> (q_feat, p_pos)`` on the device.
        device: the scoring device (picks the default mode).
        mode: ``torch.compile`` mode (default: ``reduce-overhead`` on CUDA, ``default`` elsewhere).
        backend: ``torch.compile`` backend (``inductor``; ``eager`` traces without generating code).
    """

    def __init__(self, forward: Forward, device: Union[str, torch.device], mode: Optional[str] = None,
                 backend: str = 'inductor'):
        self.eager = forward
        self.device = torch.device(device)
        self.mode = mode or default_mode(self.device)
        self.backend = backend
        self.fallback_reason: Optional[str] = None
        self.compiled: Optional[Forward] = None
        if not hasattr(torch, 'compile'):
            self._fall_back(f'torch {torch.__version__} has no torch.compile (it needs torch >= 2.0)')
            return
        try:
            # inductor takes no mode with another backend: pass it only where it means something
            kwargs = {'mode': self.mode} if backend == 'inductor' else {}
            self.compiled = torch.compile(forward, backend=backend, dynamic=False, **kwargs)
        except Exception as err:  # noqa: BLE001 - e.g. "Dynamo is not supported on this Python": score eagerly
            self._fall_back(f'{type(err).__name__}: {err}')

    @property
    def active(self) -> bool:
        """True while calls go through the compiled function."""
        return self.compiled is not None

    def _fall_back(self, reason: str) -> None:
        self.compiled = None
        self.fallback_reason = reason.strip().splitlines()[0] if reason.strip() else reason
        warnings.warn(f'SFD-IQA --compile: cannot compile the forward pass on {self.device} '
                      f'(torch.compile backend {self.backend!r}, mode {self.mode!r}): {self.fallback_reason}. '
                      'Scoring in eager mode instead: same scores, no speed-up.', CompileFallbackWarning,
                      stacklevel=3)

    def __call__(self, batch: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.compiled is None:
            return self.eager(batch, text)
        try:
            if self.device.type == 'cuda' and self.mode == 'reduce-overhead':
                # a new step: the graphs' output buffers of the previous call may be reused (they were copied
                # to the CPU already)
                torch.compiler.cudagraph_mark_step_begin()
            q_feat, p_pos = self.compiled(batch, text)
            # outputs of a CUDA graph live in buffers the next replay overwrites: hand out copies
            return q_feat.clone(), p_pos.clone()
        except Exception as err:  # noqa: BLE001 - compile errors surface at the first call of each shape
            self._fall_back(f'{type(err).__name__}: {err}')
            return self.eager(batch, text)
