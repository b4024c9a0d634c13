"""Region grounding: does the image graph link each finding to the region where it is?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["GroundingResult", "region_grounding"]


@dataclass
class GroundingResult:
    """Region grounding of the findings present in a set of studies.

    Attributes:
        accuracy: Share of (study, present finding) pairs whose highest-scored region is one of
            the finding's true regions.
        auc: Mean over those pairs of the AUC of the region scores (true regions against the
            other regions of the image): 0.5 is chance, 1 puts every true region first.
        num_pairs: (study, finding) pairs scored.
        per_finding: ``{finding: (accuracy, auc, pairs)}``.
        chance_accuracy: Accuracy of picking a region of the image at random.
    """

    accuracy: float
    auc: float
    num_pairs: int
    per_finding: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    chance_accuracy: float = float("nan")


def region_grounding(
    scores: Tensor,
    label_regions: Tensor,
    region_mask: Tensor | None = None,
    names: Sequence[str] | None = None,
) -> GroundingResult:
    r"""Score where a model puts each present finding against where it really is.

    For every study :math:`b` and finding :math:`k` with at least one true region
    (``label_regions[b, k]``), the model's region scores :math:`s_{bk\cdot}` give

    * a hit when :math:`\arg\max_r s_{bkr}` is a true region, and
    * the AUC :math:`P(s_{bkr} > s_{bkr'}) + \tfrac12 P(s_{bkr} = s_{bkr'})` over true regions
      :math:`r` and the image's other regions :math:`r'`.

    Args:
        scores: ``[N, K, R]`` region scores (e.g. :meth:`GraphAlignModel.region_scores`).
        label_regions: ``[N, K, R]`` bool true regions.
        region_mask: Optional ``[N, R]`` bool regions in the image (others are no candidates).
        names: Finding names for the per-finding table (default: indices).

    Raises:
        ValueError: Shapes differ, the scores are not finite, or no finding has a true region.
    """
    if scores.shape != label_regions.shape or scores.dim() != 3:
        raise ValueError(
            f"scores / label_regions: expected two [N, K, R] tensors, got {list(scores.shape)} and {list(label_regions.shape)}"
        )
    scores = scores.double()
    truth = label_regions.bool()
    num_n, num_k, num_r = scores.shape
    valid = torch.ones(num_n, num_r, dtype=torch.bool) if region_mask is None else region_mask.bool().cpu()
    candidates = valid.unsqueeze(1).expand(-1, num_k, -1)
    truth = truth & candidates
    rows = truth.any(-1)  # [N, K]
    if not rows.any():
        raise ValueError("region_grounding: no finding has a true region among the image's regions")
    s = scores[rows]  # [P, R]
    if not torch.isfinite(s[candidates[rows]]).all():
        raise ValueError("region_grounding: scores contain NaN or infinite values")
    t = truth[rows]
    c = candidates[rows]
    s = s.masked_fill(~c, float("-inf"))
    hit = t.gather(1, s.argmax(1, keepdim=True)).squeeze(1).double()
    neg = c & ~t
    # pairwise comparison of every true region with every other candidate region of the row
    greater = (s.unsqueeze(2) > s.unsqueeze(1)).double() + 0.5 * (s.unsqueeze(2) == s.unsqueeze(1)).double()
    pair = (t.unsqueeze(2) & neg.unsqueeze(1)).double()
    n_pair = pair.sum((1, 2))
    auc = torch.where(n_pair > 0, (greater * pair).sum((1, 2)) / n_pair.clamp(min=1), torch.full_like(n_pair, 1.0))
    chance = (t.sum(1).double() / c.sum(1).double()).mean()
    finding_of = rows.nonzero()[:, 1]
    names = [str(k) for k in range(num_k)] if names is None else list(names)
    per = {}
    for k in finding_of.unique().tolist():
        m = finding_of == k
        per[names[k]] = (float(hit[m].mean()), float(auc[m].mean()), int(m.sum()))
    return GroundingResult(float(hit.mean()), float(auc.mean()), int(rows.sum()), per, float(chance))
