"""Aligning the image graph's located_at edges with the report's: where each finding is."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["located_at_routing_loss"]

_PRESENT, _UNCERTAIN = 1, 2


def located_at_routing_loss(edge_logits: Tensor, located_at: Tensor, region_mask: Tensor | None = None) -> Tensor:
    r"""Cross-entropy between the image's located_at scores and the report's edges.

    For every finding the report asserts (present or uncertain) at one or more regions, the
    target is the uniform distribution over those regions, and the image graph's edge scores
    :math:`s_{k,\cdot}` are trained to put their softmax mass there:

    .. math::
        \mathcal{L} = \frac{1}{|V|}\sum_{(b,k)\in V} -\sum_r y_{bkr} \log\operatorname{softmax}_r(s_{bkr}),
        \qquad y_{bkr} = \frac{[e_{bkr} \in \{\text{present}, \text{uncertain}\}]}{\sum_{r'} [\cdot]} .

    Negated edges ("no effusion at the left base") say where a finding is not, not where it is,
    so they give no target. Regions missing from the image (``region_mask``) are no candidates.

    Args:
        edge_logits: ``[B, K, R]`` image-side edge scores.
        located_at: ``[B, K, R]`` long existence codes of the report's edges (-1 none).
        region_mask: Optional ``[B, R]`` bool, the region is in the image.

    Returns:
        A scalar (zero, still attached to ``edge_logits``, when the batch asserts nothing).
    """
    if edge_logits.shape != located_at.shape:
        raise ValueError(
            f"edge_logits / located_at: shapes differ, {list(edge_logits.shape)} vs {list(located_at.shape)}"
        )
    positive = (located_at == _PRESENT) | (located_at == _UNCERTAIN)
    logits = edge_logits.float()
    if region_mask is not None:
        region_mask = region_mask.to(torch.bool)
        positive = positive & region_mask.unsqueeze(1)
        # an image without any region keeps all candidates (there is then no positive anyway)
        keep = region_mask | ~region_mask.any(1, keepdim=True)
        logits = logits.masked_fill(~keep.unsqueeze(1), float("-inf"))
    count = positive.sum(-1)  # [B, K]
    valid = count > 0
    if not valid.any():
        return edge_logits.sum() * 0.0
    target = positive[valid].float() / count[valid].unsqueeze(-1).float()
    logp = F.log_softmax(logits[valid], dim=-1)
    return -(target * logp.masked_fill(target == 0, 0.0)).sum(-1).mean()
