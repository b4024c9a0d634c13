"""Global image–report InfoNCE and the contrastive building blocks the other losses share."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.nn.outputs import GraphEmbeddings

__all__ = ["LogitScale", "GlobalInfoNCELoss", "info_nce", "node_info_nce", "multi_positive_nce"]


class LogitScale(nn.Module):
    r"""A learnable inverse temperature :math:`s = e^{\theta} = 1/\tau`, clamped to ``[1, max_scale]``.

    Args:
        init_temperature: Initial :math:`\tau`.
        max_scale: Largest allowed :math:`1/\tau` (CLIP uses 100).
        learnable: Train :math:`\theta`.
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0, learnable: bool = True) -> None:
        super().__init__()
        if not init_temperature > 0.0:
            raise ValueError(f"init_temperature: must be > 0, got {init_temperature}")
        self.init_temperature = init_temperature
        self.max_scale = max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learnable)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.log_scale.fill_(math.log(1.0 / self.init_temperature))

    def forward(self) -> Tensor:
        return self.log_scale.clamp(0.0, math.log(self.max_scale)).exp()

    def extra_repr(self) -> str:
        return f"init_temperature={self.init_temperature}, max_scale={self.max_scale}"


def _soft_ce(logits: Tensor, targets: Tensor) -> Tensor:
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1)


def info_nce(a: Tensor, b: Tensor, scale: Tensor | float, targets: Tensor | None = None) -> Tensor:
    r"""Symmetric InfoNCE between rows of ``a`` and ``b`` (``[N, D]`` each, matched by row).

    .. math::
        \mathcal{L} = \tfrac12\Big[\mathrm{CE}(s\,\hat a \hat b^\top, Y) + \mathrm{CE}(s\,\hat b \hat a^\top, Y^\top)\Big]

    with :math:`\hat\cdot` the L2-normalised rows and :math:`Y = I` unless soft ``targets``
    (rows summing to one) are given.
    """
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    logits = scale * a @ b.t()
    if targets is None:
        labels = torch.arange(a.size(0), device=a.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    t_col = targets.t() / targets.t().sum(-1, keepdim=True).clamp(min=1e-12)
    return 0.5 * (_soft_ce(logits, targets).mean() + _soft_ce(logits.t(), t_col).mean())


def node_info_nce(a: Tensor, b: Tensor, mask: Tensor | None, scale: Tensor | float) -> Tensor:
    r"""Per-node InfoNCE across the batch, all nodes at once.

    For every node type :math:`n` (an anatomy region, a finding), the node of study :math:`i`
    on one side is matched to the same node of study :math:`i` on the other side against the
    same node of the other studies:

    .. math::
        \mathcal{L} = \frac{1}{|V|}\sum_{(i,n)\in V} \tfrac12\Big[
            -\log\frac{e^{s\,\langle a_{in}, b_{in}\rangle}}{\sum_{j:(j,n)\in V} e^{s\,\langle a_{in}, b_{jn}\rangle}}
            -\log\frac{e^{s\,\langle b_{in}, a_{in}\rangle}}{\sum_{j:(j,n)\in V} e^{s\,\langle b_{in}, a_{jn}\rangle}}\Big]

    over the valid pairs :math:`V` (``mask``), counting only nodes valid in at least two studies.

    Args:
        a: ``[B, N, D]``.
        b: ``[B, N, D]``.
        mask: ``[B, N]`` bool or ``None`` (all valid).
        scale: Inverse temperature.
    """
    a = F.normalize(a, dim=-1).transpose(0, 1)  # [N, B, D]
    b = F.normalize(b, dim=-1).transpose(0, 1)
    logits = scale * torch.bmm(a, b.transpose(1, 2))  # [N, B, B]
    num_n, num_b = logits.shape[:2]
    valid = torch.ones(num_n, num_b, dtype=torch.bool, device=a.device) if mask is None else mask.t().bool()
    rows = valid & (valid.sum(1, keepdim=True) >= 2)
    pair = valid.unsqueeze(2) & valid.unsqueeze(1)
    logits = logits.masked_fill(~pair, float("-inf"))
    diag = torch.diagonal(logits, dim1=1, dim2=2)  # [N, B]
    safe = rows.unsqueeze(-1)
    lse_row = torch.logsumexp(logits.masked_fill(~safe, 0.0), dim=2)
    lse_col = torch.logsumexp(logits.masked_fill(~safe.transpose(1, 2), 0.0), dim=1)
    diag = diag.masked_fill(~rows, 0.0)
    per = 0.5 * ((lse_row - diag) + (lse_col - diag))
    n = rows.sum()
    return (per * rows).sum() / n.clamp(min=1)


def multi_positive_nce(logits: Tensor, positives: Tensor, row_valid: Tensor | None = None) -> Tensor:
    r"""Contrastive loss with several positives per row.

    .. math:: \mathcal{L}_i = -\log \frac{\sum_{j\in P(i)} e^{z_{ij}}}{\sum_j e^{z_{ij}}}

    averaged over rows with at least one positive (and ``row_valid``).
    """
    has_pos = positives.any(-1)
    if row_valid is not None:
        has_pos = has_pos & row_valid
    # rows without a positive are neutralised before logsumexp, else their -inf rows give NaN gradients
    keep = has_pos.unsqueeze(-1)
    logits = logits.masked_fill(~keep, 0.0)
    lse_all = torch.logsumexp(logits, dim=-1)
    lse_pos = torch.logsumexp(logits.masked_fill(~(positives | ~keep), float("-inf")), dim=-1)
    per = (lse_all - lse_pos).masked_fill(~has_pos, 0.0)
    return per.sum() / has_pos.sum().clamp(min=1)


class GlobalInfoNCELoss(AlignmentLoss):
    r"""Global image–report contrastive loss (ConVIRT, Zhang et al., MLHC 2022; CLIP, Radford et
    al., ICML 2021).

    .. math::
        \mathcal{L} = \tfrac{1}{2B}\sum_{i=1}^{B}\Big[
            -\log\frac{e^{s\langle v_i,t_i\rangle}}{\sum_j e^{s\langle v_i,t_j\rangle}}
            -\log\frac{e^{s\langle t_i,v_i\rangle}}{\sum_j e^{s\langle t_i,v_j\rangle}}\Big]

    with cosine similarities and a learnable inverse temperature :math:`s` (:class:`LogitScale`).

    Args:
        init_temperature: Initial temperature.
        learnable_temperature: Train the temperature.

    Shapes:
        - **input:** image ``[B, D]``, report ``[B, D]``
        - **output:** scalar
    """

    def __init__(self, init_temperature: float = 0.07, learnable_temperature: bool = True) -> None:
        super().__init__()
        self.logit_scale = LogitScale(init_temperature, learnable=learnable_temperature)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.summary, text.summary)

    def forward(self, image: Tensor, report: Tensor) -> Tensor:
        if image.dim() != 2 or image.shape != report.shape:
            raise ValueError(
                f"image / report: expected two [B, D] tensors, got {list(image.shape)} and {list(report.shape)}"
            )
        return info_nce(image, report, self.logit_scale())
