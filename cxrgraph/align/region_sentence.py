"""``RegionSentenceAlignment``: anatomical region–sentence alignment (ASG ARSA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.align.infonce import LogitScale, multi_positive_nce
from cxrgraph.nn.outputs import GraphEmbeddings

__all__ = ["RegionSentenceAlignment"]


class RegionSentenceAlignment(AlignmentLoss):
    r"""Align region features with the report sentences that describe them.

    After ASG's anatomical region–sentence alignment (Li et al., "Anatomical Structure-Guided
    Medical Vision-Language Pre-training", MICCAI 2024). Every sentence is contrasted with all
    ``B·R`` regions of the batch; its positives are the regions of its own image that it
    mentions (the mask), and symmetrically every described region against all sentences:

    .. math::
        \mathcal{L}_{s\to r} = -\frac{1}{|S|}\sum_{s}\log
            \frac{\sum_{r \in P(s)} e^{\,\tau^{-1}\langle t_s, v_r\rangle}}{\sum_{r'} e^{\,\tau^{-1}\langle t_s, v_{r'}\rangle}},
        \qquad \mathcal{L} = \tfrac12(\mathcal{L}_{s\to r} + \mathcal{L}_{r\to s}),

    cosine similarities, learnable :math:`\tau`. Regions absent from the image
    (``region_mask``) are never candidates; sentences that mention no region are skipped.

    Args:
        init_temperature: Initial temperature.

    Shapes:
        - **input:** regions ``[B, R, D]``, sentences ``[B, S, D]``, region_sentence_mask
          ``[B, S, R]`` bool, optional sentence_mask ``[B, S]``, optional region_mask ``[B, R]``
        - **output:** scalar
    """

    def __init__(self, init_temperature: float = 0.07) -> None:
        super().__init__()
        self.logit_scale = LogitScale(init_temperature)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.anatomy, text.tokens, text.token_region_mask, text.token_mask, image.anatomy_mask)

    def forward(
        self,
        regions: Tensor,
        sentences: Tensor,
        region_sentence_mask: Tensor,
        sentence_mask: Tensor | None = None,
        region_mask: Tensor | None = None,
    ) -> Tensor:
        num_b, num_r, _ = regions.shape
        num_s = sentences.size(1)
        if sentences.size(0) != num_b or region_sentence_mask.shape != (num_b, num_s, num_r):
            raise ValueError(
                f"region_sentence_mask: expected [{num_b}, {num_s}, {num_r}] for regions {list(regions.shape)} and "
                f"sentences {list(sentences.shape)}, got {list(region_sentence_mask.shape)}"
            )
        pos = region_sentence_mask.bool()
        if sentence_mask is not None:
            pos = pos & sentence_mask.bool().unsqueeze(-1)
        if region_mask is not None:
            pos = pos & region_mask.bool().unsqueeze(1)
        v = F.normalize(regions, dim=-1).reshape(num_b * num_r, -1)
        t = F.normalize(sentences, dim=-1).reshape(num_b * num_s, -1)
        logits = self.logit_scale() * t @ v.t()  # [B*S, B*R]
        # positives: same study and mentioned; block-diagonal in (study, study)
        same = _block_positives(num_b, num_s, num_r, pos)
        if region_mask is not None:
            # regions missing from the image are no candidates (their rows in r->s have no positive)
            logits = logits.masked_fill(~region_mask.bool().reshape(1, -1), float("-inf"))
        if sentence_mask is not None:
            # padding sentences are no candidates either (their rows in s->r have no positive)
            logits = logits.masked_fill(~sentence_mask.bool().reshape(-1, 1), float("-inf"))
        loss_s2r = multi_positive_nce(logits, same)
        loss_r2s = multi_positive_nce(logits.t(), same.t())
        return 0.5 * (loss_s2r + loss_r2s)


def _block_positives(num_b: int, num_s: int, num_r: int, pos: Tensor) -> Tensor:
    """``[B*S, B*R]`` positive mask: sentence ``(b, s)`` ↔ region ``(b, r)`` where ``pos[b, s, r]``."""
    eye = torch.eye(num_b, dtype=torch.bool, device=pos.device)
    full = eye.view(num_b, 1, num_b, 1) & pos.unsqueeze(2)  # [B, S, B, R] (pos broadcast over 2nd study)
    return full.reshape(num_b * num_s, num_b * num_r)
