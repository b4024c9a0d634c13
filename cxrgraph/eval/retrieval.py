"""Image↔report retrieval: recall@K from a similarity matrix."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["recall_at_k", "retrieval_metrics", "duplicate_positives"]


def recall_at_k(
    similarity: Tensor, ks: Sequence[int] = (1, 5, 10), positives: Tensor | None = None
) -> dict[int, float]:
    """Fraction of queries (rows) with a correct item among their top ``k`` columns.

    Args:
        similarity: ``[Q, N]`` query–item scores.
        ks: Cut-offs.
        positives: ``[Q, N]`` bool, the correct items of each query (default: the diagonal,
            query ``i`` ↔ item ``i``, which needs ``Q == N``).

    Returns:
        ``{k: recall}``; ``k`` larger than ``N`` counts every item.
    """
    if similarity.dim() != 2:
        raise ValueError(f"similarity: expected [Q, N], got {list(similarity.shape)}")
    q, n = similarity.shape
    if positives is None:
        if q != n:
            raise ValueError(f"similarity: without positives= the matrix must be square, got {list(similarity.shape)}")
        positives = torch.eye(n, dtype=torch.bool, device=similarity.device)
    elif positives.shape != similarity.shape:
        raise ValueError(f"positives: expected {list(similarity.shape)}, got {list(positives.shape)}")
    if not positives.any(1).all():
        raise ValueError("positives: every query needs at least one correct item")
    order = similarity.argsort(dim=1, descending=True)
    hits = positives.gather(1, order)  # [Q, N] correct flag in rank order
    first = torch.where(hits.any(1), hits.float().argmax(1), torch.full((q,), n, device=hits.device))
    return {int(k): float((first < k).float().mean()) for k in ks}


def duplicate_positives(texts: Sequence[str]) -> Tensor:
    """``[N, N]`` bool: report ``j`` is a correct match for study ``i`` when the texts are identical.

    Synthetic and templated reports repeat (many normal studies share one text); counting only
    the study's own copy as correct would punish a model for a tie it cannot break.
    """
    keys: dict[str, int] = {}
    ids = torch.tensor([keys.setdefault(" ".join(t.split()).lower(), len(keys)) for t in texts])
    return ids.unsqueeze(0) == ids.unsqueeze(1)


def retrieval_metrics(
    image: Tensor, report: Tensor, ks: Sequence[int] = (1, 5, 10), positives: Tensor | None = None
) -> dict[str, float]:
    """Image→report and report→image recall@K from ``[N, D]`` embeddings (cosine similarity)."""
    if image.shape != report.shape:
        raise ValueError(f"image / report: shapes differ, {list(image.shape)} vs {list(report.shape)}")
    img = torch.nn.functional.normalize(image.float(), dim=-1)
    txt = torch.nn.functional.normalize(report.float(), dim=-1)
    sim = img @ txt.t()
    i2t = recall_at_k(sim, ks, positives)
    t2i = recall_at_k(sim.t(), ks, None if positives is None else positives.t())
    out = {f"i2t_R@{k}": v for k, v in i2t.items()}
    out.update({f"t2i_R@{k}": v for k, v in t2i.items()})
    return out
