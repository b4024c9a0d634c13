"""Text guidance: a region's change embedding aligned with the report's comparison sentences about it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.align.infonce import LogitScale, multi_positive_nce

__all__ = ["SentenceEmbedder", "TextGuidance"]

log = logging.getLogger(__name__)


class SentenceEmbedder:
    """Frozen sentence embeddings with a cache (comparison sentences repeat a lot).

    Embeds with the backbone of :class:`~cxrgraph.nn.TextGraphEncoder` (mean pooling over
    tokens); by default the offline all-MiniLM-L6-v2. The model loads on first use.

    Args:
        model_name_or_path: A local model folder (``None``: the offline MiniLM).
        batch_size: Sentences per forward pass.
        max_length: Token limit per sentence.
    """

    def __init__(
        self, model_name_or_path: str | Path | None = None, batch_size: int = 64, max_length: int = 64
    ) -> None:
        self.model_name_or_path = model_name_or_path
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self._encoder = None
        self._cache: dict[str, Tensor] = {}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.model_name_or_path!r}, cached={len(self._cache)})"

    @property
    def dim(self) -> int:
        """Embedding size (loads the model)."""
        return int(self._load().backbone.config.hidden_size)

    def _load(self):
        if self._encoder is None:
            from cxrgraph.nn import TextGraphEncoder

            enc = TextGraphEncoder(self.model_name_or_path, max_length=self.max_length, freeze_backbone=True)
            enc.eval()
            self._encoder = enc
        return self._encoder

    @torch.no_grad()
    def __call__(self, sentences: Sequence[str]) -> Tensor:
        """``[N, dim]`` L2-normalised embeddings (float32, CPU)."""
        todo = [s for s in dict.fromkeys(sentences) if s not in self._cache]
        if todo:
            enc = self._load()
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i : i + self.batch_size]
                pooled = enc.encode_sentences(chunk)[3]
                for s, e in zip(chunk, F.normalize(pooled.float(), dim=-1).cpu()):
                    self._cache[s] = e
            log.debug("SentenceEmbedder: embedded %d new sentences (%d cached)", len(todo), len(self._cache))
        if not sentences:
            return torch.empty(0, self.dim)
        return torch.stack([self._cache[s] for s in sentences])


class TextGuidance(nn.Module):
    r"""Align each region's change embedding with the comparison sentences about it.

    The change features :math:`\mathbf{f}_r` of a region that the current report comments on
    ("the left effusion has increased") are projected to :math:`e_r`, the sentence embedding to
    :math:`t_s`, and both are contrasted over the batch's distinct sentences (CheXLearner's
    regional progression text supervision, in the contrastive form of ASG's region–sentence
    alignment):

    .. math::
        \mathcal{L} = \tfrac12\Big[
            -\frac{1}{|G|}\sum_{r\in G}\log\frac{e^{\,s\langle e_r, t_{s(r)}\rangle}}{\sum_{s'} e^{\,s\langle e_r, t_{s'}\rangle}}
            -\frac{1}{|S|}\sum_{s}\log\frac{\sum_{r: s(r)=s} e^{\,s\langle t_s, e_r\rangle}}{\sum_{r'\in G} e^{\,s\langle t_s, e_{r'}\rangle}}\Big]

    over the guided regions :math:`G`; regions that share a sentence are all its positives.

    Args:
        change_channels: Change feature size ``F``.
        text_channels: Sentence embedding size.
        hidden_channels: Joint space size.
        init_temperature: Initial temperature.

    Shapes:
        - **input:** features ``[B, R, F]``, sentence embeddings ``[S, T]``, index ``[B, R]``
          (-1 = no sentence)
        - **output:** scalar
    """

    def __init__(
        self, change_channels: int, text_channels: int = 384, hidden_channels: int = 64, init_temperature: float = 0.1
    ) -> None:
        super().__init__()
        self.change_channels = change_channels
        self.text_channels = text_channels
        self.hidden_channels = hidden_channels
        self.change_proj = nn.Sequential(
            nn.Linear(change_channels, hidden_channels), nn.GELU(), nn.Linear(hidden_channels, hidden_channels),
        )  # fmt: skip
        self.text_proj = nn.Linear(text_channels, hidden_channels)
        self.logit_scale = LogitScale(init_temperature)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.change_channels}, {self.text_channels}, {self.hidden_channels})"

    def forward(self, features: Tensor, sentence_embeddings: Tensor, index: Tensor) -> Tensor:
        if index.shape != features.shape[:2]:
            raise ValueError(f"index: expected {list(features.shape[:2])}, got {list(index.shape)}")
        if sentence_embeddings.dim() != 2 or sentence_embeddings.size(1) != self.text_channels:
            raise ValueError(
                f"sentence_embeddings: expected [S, {self.text_channels}], got {list(sentence_embeddings.shape)}"
            )
        guided = index >= 0
        if not guided.any():
            return features.sum() * 0.0
        if int(index.max()) >= sentence_embeddings.size(0):
            raise ValueError(f"index: {int(index.max())} out of range for {sentence_embeddings.size(0)} sentences")
        e = F.normalize(self.change_proj(features[guided]), dim=-1)  # [G, H]
        t = F.normalize(self.text_proj(sentence_embeddings.to(e)), dim=-1)  # [S, H]
        logits = self.logit_scale() * e @ t.t()  # [G, S]
        idx = index[guided]
        pos = idx.unsqueeze(1) == torch.arange(t.size(0), device=idx.device).unsqueeze(0)
        # sentences no guided region points to (none here, but keep the rows honest) are skipped
        return 0.5 * (multi_positive_nce(logits, pos) + multi_positive_nce(logits.t(), pos.t()))
