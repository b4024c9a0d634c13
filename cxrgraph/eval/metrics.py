"""Ranking metrics in plain torch: ROC AUC with ties, per column with a validity mask."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["roc_auc", "roc_auc_per_column"]


def roc_auc(scores: Tensor, targets: Tensor) -> float:
    r"""Area under the ROC curve (Mann–Whitney U with mid-ranks for ties).

    .. math:: \mathrm{AUC} = \frac{\sum_{i \in P} \mathrm{rank}_i - |P|(|P|+1)/2}{|P|\,|N|}

    Args:
        scores: ``[N]`` scores (higher = more likely positive).
        targets: ``[N]`` binary labels.

    Returns:
        The AUC, or ``nan`` when one class is missing.
    """
    scores = torch.as_tensor(scores).double().flatten()
    targets = torch.as_tensor(targets).flatten().bool()
    if scores.shape != targets.shape:
        raise ValueError(f"scores / targets: shapes differ, {list(scores.shape)} vs {list(targets.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores: contain NaN or infinite values")
    n_pos = int(targets.sum())
    n_neg = targets.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(scores)
    sorted_scores = scores[order]
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=torch.float64)
    # mid-ranks for ties: every member of a tie block gets the block's mean rank
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    mid = ends - (counts.double() - 1) / 2
    ranks[order] = mid[inverse]
    u = ranks[targets].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_auc_per_column(scores: Tensor, targets: Tensor, valid: Tensor | None = None, min_positives: int = 1) -> Tensor:
    """AUC of each column of ``[N, K]`` scores and binary targets (``nan`` where not defined).

    Args:
        scores: ``[N, K]``.
        targets: ``[N, K]`` binary.
        valid: ``[N, K]`` bool, the entries that count (default all).
        min_positives: Columns with fewer positives (or negatives) than this give ``nan``.
    """
    if scores.shape != targets.shape:
        raise ValueError(f"scores / targets: shapes differ, {list(scores.shape)} vs {list(targets.shape)}")
    valid = torch.ones_like(targets, dtype=torch.bool) if valid is None else valid.bool()
    out = torch.full((scores.size(1),), float("nan"), dtype=torch.float64)
    for k in range(scores.size(1)):
        m = valid[:, k]
        t = targets[m, k].bool()
        if int(t.sum()) < min_positives or int((~t).sum()) < min_positives:
            continue
        out[k] = roc_auc(scores[m, k], t)
    return out
