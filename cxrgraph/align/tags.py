"""Image-tag recognition and triplet-overlap soft-label contrastive learning (ASG IERL)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.align.grounding import located_at_routing_loss
from cxrgraph.align.infonce import LogitScale, info_nce
from cxrgraph.nn.dense import triplet_multi_hot
from cxrgraph.nn.outputs import GraphEmbeddings

__all__ = ["ImageTagLoss", "SoftLabelContrastiveLoss", "existence_targets", "triplet_overlap"]

_ABSENT, _PRESENT, _UNCERTAIN = 0, 1, 2


def existence_targets(
    existence: Tensor, uncertain: float | None = 1.0, unmentioned: float | None = 0.0
) -> tuple[Tensor, Tensor]:
    """Multi-label targets and a weight mask from report-level existence codes ``[B, K]``.

    Present → 1, absent → 0; ``uncertain`` and ``unmentioned`` give the value for those codes,
    ``None`` leaves them out of the loss.

    Returns:
        ``(targets, valid)``, float ``[B, K]`` and bool ``[B, K]``.
    """
    targets = (existence == _PRESENT).float()
    valid = (existence == _PRESENT) | (existence == _ABSENT)
    for code_mask, value in ((existence == _UNCERTAIN, uncertain), (existence < 0, unmentioned)):
        if value is not None:
            targets = torch.where(code_mask, torch.full_like(targets, float(value)), targets)
            valid = valid | code_mask
    return targets, valid


class ImageTagLoss(AlignmentLoss):
    r"""Finding existence recognition from the image-tag decoder (ASG IERL, Li et al., MICCAI 2024).

    The report graph labels every finding node; the decoder's logits are trained with
    binary cross-entropy over the labelled entries :math:`\Omega`:

    .. math::
        \mathcal{L} = -\frac{1}{|\Omega|}\sum_{(i,k)\in\Omega}
            \big[y_{ik}\log\sigma(z_{ik}) + (1-y_{ik})\log(1-\sigma(z_{ik}))\big].

    ASG's tags are anatomical triplets ⟨region, finding, existence⟩: with the decoder's
    located_at scores and the report's edges, a second term trains where each asserted finding
    is (:func:`~cxrgraph.align.located_at_routing_loss`, weight ``location_weight``).

    Args:
        uncertain: Target of *uncertain* findings (``None``: ignored).
        unmentioned: Target of findings the report does not mention (``None``: ignored).
        pos_weight: Optional ``[K]`` weight of positives (class imbalance).
        location_weight: Weight of the triplet location term.

    Shapes:
        - **input:** logits ``[B, K]``, existence ``[B, K]`` long (-1 unmentioned); optional
          edge_logits ``[B, K, R]``, located_at ``[B, K, R]`` long, region_mask ``[B, R]``
        - **output:** scalar
    """

    def __init__(
        self,
        uncertain: float | None = 1.0,
        unmentioned: float | None = 0.0,
        pos_weight: Tensor | None = None,
        location_weight: float = 1.0,
    ):
        super().__init__()
        self.uncertain = uncertain
        self.unmentioned = unmentioned
        self.location_weight = float(location_weight)
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.finding_logits, targets.existence, image.edge_logits, targets.located_at, image.anatomy_mask)

    def forward(
        self,
        logits: Tensor,
        existence: Tensor,
        edge_logits: Tensor | None = None,
        located_at: Tensor | None = None,
        region_mask: Tensor | None = None,
    ) -> Tensor:
        if logits.shape != existence.shape:
            raise ValueError(f"logits / existence: shapes differ, {list(logits.shape)} vs {list(existence.shape)}")
        targets, valid = existence_targets(existence, self.uncertain, self.unmentioned)
        per = F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), pos_weight=self.pos_weight, reduction="none"
        )
        loss = (per * valid).sum() / valid.sum().clamp(min=1)
        if edge_logits is not None and located_at is not None and self.location_weight > 0:
            loss = loss + self.location_weight * located_at_routing_loss(edge_logits, located_at, region_mask)
        return loss


def triplet_overlap(located_at: Tensor) -> Tensor:
    r"""Jaccard overlap ``[B, B]`` of the studies' ⟨region, finding, existence⟩ triplet sets.

    .. math:: O_{ij} = \frac{|T_i \cap T_j|}{|T_i \cup T_j|}, \quad O_{ij} = 1 \text{ when both are empty}

    Args:
        located_at: ``[B, K, R]`` long existence code per (finding, region), -1 where no edge.
    """
    t = triplet_multi_hot(located_at)
    inter = t @ t.t()
    size = t.sum(1)
    union = size.unsqueeze(0) + size.unsqueeze(1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(inter))


class SoftLabelContrastiveLoss(AlignmentLoss):
    r"""Image–report contrastive loss with soft targets from triplet overlap (ASG IERL).

    Two studies that share triplets are not treated as pure negatives: the target distribution
    of study :math:`i` is its row of triplet overlaps :math:`O` (:func:`triplet_overlap`),
    mixed with the identity and normalised,

    .. math::
        Y = \operatorname{rownorm}\big((1-\alpha) I + \alpha\, O\big), \qquad
        \mathcal{L} = \tfrac12\big[\mathrm{CE}(s\,\hat v \hat t^\top, Y) + \mathrm{CE}(s\,\hat t \hat v^\top, Y^\top)\big].

    Args:
        alpha: Weight of the overlap targets (0 gives plain InfoNCE).
        init_temperature: Initial temperature.

    Shapes:
        - **input:** image ``[B, D]``, report ``[B, D]``, located_at ``[B, K, R]``
        - **output:** scalar
    """

    def __init__(self, alpha: float = 0.5, init_temperature: float = 0.07) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: must lie in [0, 1], got {alpha}")
        self.alpha = alpha
        self.logit_scale = LogitScale(init_temperature)

    def targets(self, located_at: Tensor) -> Tensor:
        """Row-stochastic ``[B, B]`` soft targets."""
        overlap = triplet_overlap(located_at)
        eye = torch.eye(overlap.size(0), device=overlap.device, dtype=overlap.dtype)
        mixed = (1.0 - self.alpha) * eye + self.alpha * overlap
        return mixed / mixed.sum(1, keepdim=True)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.summary, text.summary, targets.located_at)

    def forward(self, image: Tensor, report: Tensor, located_at: Tensor) -> Tensor:
        if image.shape != report.shape or located_at.size(0) != image.size(0):
            raise ValueError(
                f"image / report / located_at: batch shapes disagree: {list(image.shape)}, {list(report.shape)}, "
                f"{list(located_at.shape)}"
            )
        return info_nce(image, report, self.logit_scale(), targets=self.targets(located_at).to(image.dtype))
