"""Zero-shot classification from prompts: "There is <finding>." against "No <finding>."."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from cxrgraph.eval.linear_probe import binary_labels
from cxrgraph.eval.metrics import roc_auc_per_column

__all__ = ["ZeroShotResult", "zero_shot", "finding_prompts", "POSITIVE_TEMPLATE", "NEGATIVE_TEMPLATE"]

POSITIVE_TEMPLATE = "There is {finding}."
NEGATIVE_TEMPLATE = "No {finding}."


def finding_prompts(
    names: Sequence[str], positive: str = POSITIVE_TEMPLATE, negative: str = NEGATIVE_TEMPLATE
) -> tuple[list[str], list[str]]:
    """Positive and negative prompt of each finding name."""
    return [positive.format(finding=n) for n in names], [negative.format(finding=n) for n in names]


@dataclass
class ZeroShotResult:
    """Zero-shot AUCs.

    Attributes:
        mean_auc: Mean AUC over the evaluated findings.
        auc: ``{finding: AUC}``.
    """

    mean_auc: float
    auc: dict[str, float] = field(default_factory=dict)


def zero_shot(
    image: Tensor,
    codes: Tensor,
    embed_texts: Callable[[list[str]], Tensor],
    names: Sequence[str],
    findings: Sequence[int] | None = None,
    min_positives: int = 2,
    positive: str = POSITIVE_TEMPLATE,
    negative: str = NEGATIVE_TEMPLATE,
) -> ZeroShotResult:
    r"""Score each finding by how much closer an image lies to its positive than to its negative prompt.

    .. math:: s_{ik} = \cos(v_i, t^+_k) - \cos(v_i, t^-_k)

    Args:
        image: ``[N, D]`` image embeddings.
        codes: ``[N, K]`` existence codes (1 present; see :func:`~cxrgraph.eval.binary_labels`).
        embed_texts: Maps a list of prompts to ``[P, D]`` report embeddings (e.g.
            :meth:`GraphAlignModel.embed_texts <cxrgraph.models.GraphAlignModel.embed_texts>`).
        names: Name of every column of ``codes`` (the prompt's ``{finding}``).
        findings: Columns to evaluate (default: those with ``min_positives`` positives and negatives).
        min_positives: Least positives (and negatives) a column needs.
        positive: Positive prompt template.
        negative: Negative prompt template.
    """
    y, v = binary_labels(codes)
    if findings is None:
        pos = (y.bool() & v).sum(0)
        neg = (~y.bool() & v).sum(0)
        findings = [k for k in range(y.size(1)) if pos[k] >= min_positives and neg[k] >= min_positives]
    findings = list(findings)
    if not findings:
        raise ValueError("zero_shot: no finding has enough positives and negatives")
    pos_p, neg_p = finding_prompts([names[k] for k in findings], positive, negative)
    t = embed_texts(pos_p + neg_p).float().to(image.device)
    t = torch.nn.functional.normalize(t, dim=-1)
    img = torch.nn.functional.normalize(image.float(), dim=-1)
    sim = img @ t.t()
    m = len(findings)
    scores = sim[:, :m] - sim[:, m:]
    cols = torch.tensor(findings)
    auc = roc_auc_per_column(scores.cpu(), y[:, cols], v[:, cols], min_positives)
    return ZeroShotResult(float(auc.nanmean()), {names[k]: float(a) for k, a in zip(findings, auc.tolist())})
