"""LPP and TG-D: learnable prompt pairs and the text-guided discriminator of SFD (CVPR 2025).

A positive and a negative prompt, each ``[SOS] v_1 ... v_{n_ctx} <class words>. [EOS]``, where the
``v_i`` are learnable vectors in CLIP's token-embedding space (CoOp-style) and the class words default to
"high quality" / "low quality". Both go through CLIP's frozen text encoder; TG-D's logits for an image are

    logits = logit_scale * cos(image_embedding, text_features)   # (B, D), (2, D) -> (B, 2)

and ``softmax(logits)[:, 0]`` is ``p_pos``. Only the context vectors are learned; CLIP is shared with the
image side (``build_clip`` loads it once per process) and never stored in this module's state dict.

``learnable=False`` is the fixed-prompt ablation: ``pos`` / ``neg`` are whole hand-written prompts (for
example "Good photo." / "Bad photo.", as CLIP-IQA uses) encoded once by the frozen text encoder; the module
then has no trainable tensor and its text features are cached.
"""
from __future__ import annotations

from typing import Optional

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from .clip_arch import CLIPFeatureExtractor, build_clip


class _TextTower:
    """The pieces of an open_clip CLIP-style text encoder, wherever the model keeps them."""

    def __init__(self, clip_model: nn.Module):
        owner = getattr(clip_model, 'text', clip_model)  # CustomTextCLIP keeps them in .text
        if not hasattr(owner, 'token_embedding'):
            raise ValueError(f'{type(owner).__name__} has no token embedding: PromptLearner needs a CLIP-style text '
                             'transformer (Hugging Face text towers are not supported)')
        self.owner = owner
        self.context_length = int(owner.positional_embedding.shape[0])
        self.width = int(owner.token_embedding.weight.shape[1])

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.owner.token_embedding(tokens)

    def encode(self, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(P, L, width) token embeddings -> (P, D) text features, as CLIP's encode_text does for token ids."""
        o = self.owner
        pos, mask = o.positional_embedding, o.attn_mask
        if mask is not None:
            # Causal attention: nothing after the last EOS reaches an EOS output, so the padding (56 of CLIP's 77
            # tokens for a 16-vector prompt) is cut off. Same result, a third of the text encoder's cost.
            n = int(tokens.argmax(dim=-1).max()) + 1
            embeddings, pos, mask = embeddings[:, :n], pos[:n], mask[:n, :n]
        x = embeddings + pos.to(embeddings.dtype)
        x = o.transformer(x, attn_mask=mask)
        x = o.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # the EOS position
        proj = o.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, nn.Module) else x @ proj


class PromptLearner(nn.Module):
    """LPP: ``n_ctx`` learnable context vectors for a positive and a negative prompt; TG-D logits.

    Args:
        n_ctx: learnable context vectors per prompt (ignored when ``learnable`` is false).
        pos / neg: class words of the positive / negative prompt; with ``learnable: false`` the whole prompts.
        ctx_init: words to initialise the context from (their token embeddings, padded or cut to ``n_ctx``);
            ``~`` draws N(0, 0.02^2) as CoOp does.
        learnable: false for fixed prompts: no context vectors, no trainable tensor, text features computed
            once (they only depend on the frozen text encoder) and cached per device.
        clip: the ``clip:`` block (or a built extractor) whose text encoder is used; injected by the SFD models.

    ``text_features()`` -> (2, D) normalised [positive, negative];
    ``forward(image_embedding (B, D), text_features=None)`` -> (B, 2) logits.
    """

    def __init__(self, n_ctx: int = 16, pos: str = 'high quality', neg: str = 'low quality',
                 ctx_init: Optional[str] = None, learnable: bool = True,
                 clip: Optional[dict | CLIPFeatureExtractor] = None):
        super().__init__()
        if not isinstance(learnable, bool):
            raise ValueError(f'network_lpp.learnable must be true or false, got {learnable!r}')
        if learnable and n_ctx < 1:
            raise ValueError(f'network_lpp.n_ctx must be >= 1, got {n_ctx}')
        if not learnable and ctx_init:
            raise ValueError('network_lpp.ctx_init has no effect with learnable: false (fixed prompts have no context '
                             'vectors): remove it')
        extractor = clip if isinstance(clip, CLIPFeatureExtractor) else build_clip(clip)
        # Kept out of nn.Module's registry on purpose: CLIP weights must never enter this state dict.
        object.__setattr__(self, '_clip', extractor)
        text = _TextTower(extractor.clip_model)
        self.learnable = learnable
        self.n_ctx, self.pos, self.neg = (int(n_ctx) if learnable else 0), str(pos), str(neg)
        self._fixed_cache: dict[str, torch.Tensor] = {}
        if not learnable:
            tokens = open_clip.tokenize([self.pos, self.neg], context_length=text.context_length)
            if int((tokens > 0).sum(dim=1).max()) >= text.context_length:
                raise ValueError(f"network_lpp: the prompts do not fit CLIP's {text.context_length}-token context")
            self.register_buffer('tokens', tokens)
            self.ctx = None
            return
        placeholder = ' '.join(['X'] * self.n_ctx)
        prompts = [f'{placeholder} {self.pos}.', f'{placeholder} {self.neg}.']
        tokens = open_clip.tokenize(prompts, context_length=text.context_length)
        if int((tokens > 0).sum(dim=1).max()) >= text.context_length:
            raise ValueError(f'network_lpp: n_ctx={n_ctx} plus the class words does not fit CLIP\'s '
                             f'{text.context_length}-token context')
        self.register_buffer('tokens', tokens)
        ctx = torch.empty(2, self.n_ctx, text.width)
        if ctx_init:
            init_tokens = open_clip.tokenize([ctx_init], context_length=text.context_length)[0]
            n_words = int((init_tokens > 0).sum()) - 2  # without SOS/EOS
            with torch.no_grad():
                words = text.embed(init_tokens[1:1 + n_words].to(extractor.device)).float().cpu()
            reps = -(-self.n_ctx // max(n_words, 1))
            ctx.copy_(words.repeat(reps, 1)[:self.n_ctx].expand(2, -1, -1))
        else:
            nn.init.normal_(ctx, std=0.02)
        self.ctx = nn.Parameter(ctx)

    @property
    def clip(self) -> CLIPFeatureExtractor:
        return self._clip

    def init_kwargs(self) -> dict:
        """The constructor arguments (without ``clip``) that rebuild this module, e.g. for a weights file."""
        if not self.learnable:
            return {'learnable': False, 'pos': self.pos, 'neg': self.neg}
        return {'n_ctx': self.n_ctx, 'pos': self.pos, 'neg': self.neg}

    def _text_tower(self) -> _TextTower:
        if self._clip.device != self.tokens.device:  # the shared CLIP follows whichever network uses it
            self._clip.to(self.tokens.device)
        return _TextTower(self._clip.clip_model)

    def text_features(self) -> torch.Tensor:
        """(2, D) L2-normalised features of [positive, negative] prompts; differentiable in ``ctx``.

        Fixed prompts: computed once per device in fp32 (outside autocast and inference mode, so the cached
        tensor can take part in any later graph) and returned from the cache afterwards.
        """
        if not self.learnable:
            key = str(self.tokens.device)
            if key not in self._fixed_cache:
                text = self._text_tower()
                with torch.inference_mode(False), torch.no_grad(), \
                        torch.autocast(self.tokens.device.type, enabled=False):
                    self._fixed_cache[key] = F.normalize(text.encode(text.embed(self.tokens), self.tokens).float(),
                                                         dim=-1)
            return self._fixed_cache[key]
        text = self._text_tower()
        with torch.no_grad():
            embedded = text.embed(self.tokens)
        embedded = torch.cat([embedded[:, :1], self.ctx.to(embedded.dtype), embedded[:, 1 + self.n_ctx:]], dim=1)
        return F.normalize(text.encode(embedded, self.tokens), dim=-1)

    def logit_scale(self) -> torch.Tensor:
        return self._clip.clip_model.logit_scale.exp().clamp(max=100)

    def forward(self, image_embedding: torch.Tensor, text_features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """TG-D logits (B, 2): ``logit_scale * cos(image_embedding, [t_pos, t_neg])``."""
        if text_features is None:
            text_features = self.text_features()
        image = F.normalize(image_embedding, dim=-1)
        return self.logit_scale().to(image.dtype) * image @ text_features.to(image.dtype).t()
