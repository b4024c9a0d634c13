"""``ProgressionHead``: per-region improved / no change / worsened from change features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ProgressionHead", "class_balanced_weights"]


def class_balanced_weights(counts: Tensor, beta: float = 0.999) -> Tensor:
    r"""Class weights from the effective number of samples (Cui et al., CVPR 2019).

    .. math:: w_c \propto \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad \sum_c w_c = C

    Classes never seen get the largest weight of the seen ones.

    Args:
        counts: ``[C]`` samples per class.
        beta: In ``[0, 1)``; 0 gives equal weights, values near 1 approach inverse frequency.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or (counts < 0).any():
        raise ValueError(f"counts: expected a 1-D tensor of non-negative counts, got {counts.tolist()}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta: must lie in [0, 1), got {beta}")
    seen = counts > 0
    if not seen.any():
        return torch.ones_like(counts, dtype=torch.float32)
    eff = (1.0 - torch.pow(beta, counts)) / (1.0 - beta) if beta > 0 else torch.ones_like(counts)
    w = torch.where(seen, 1.0 / eff.clamp_min(1e-12), torch.zeros_like(eff))
    w = torch.where(seen, w, w[seen].max())
    return (w * len(w) / w.sum()).float()


class ProgressionHead(nn.Module):
    r"""A per-region 3-way classifier (improved / no change / worsened) on change features.

    A two-layer MLP shared by all regions reads the change features of
    :class:`~cxrgraph.temporal.ManifoldAlignment`; the loss is cross-entropy over labelled regions
    weighted by class-balanced weights (:func:`class_balanced_weights`) set from the training
    label counts with :meth:`set_class_counts`.

    Args:
        in_channels: Change feature size ``F``.
        hidden_channels: Hidden size.
        num_classes: Classes (3).
        dropout: Dropout before the last layer.
        beta: Class-balancing :math:`\beta`.
        label_smoothing: Cross-entropy label smoothing.

    Shapes:
        - **input:** features ``[B, R, F]``
        - **output:** logits ``[B, R, num_classes]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 64,
        num_classes: int = 3,
        dropout: float = 0.1,
        beta: float = 0.999,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_classes = num_classes
        self.beta = beta
        self.label_smoothing = label_smoothing
        self.lin1 = nn.Linear(in_channels, hidden_channels)
        self.lin2 = nn.Linear(hidden_channels, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("class_weight", torch.ones(num_classes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()
        self.class_weight.fill_(1.0)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.num_classes})"

    def set_class_counts(self, counts: Tensor) -> None:
        """Set the class-balanced loss weights from per-class label counts ``[C]``."""
        counts = torch.as_tensor(counts)
        if counts.shape != (self.num_classes,):
            raise ValueError(f"counts: expected shape ({self.num_classes},), got {tuple(counts.shape)}")
        self.class_weight.copy_(class_balanced_weights(counts, self.beta).to(self.class_weight))

    def forward(self, features: Tensor) -> Tensor:
        if features.size(-1) != self.in_channels:
            raise ValueError(f"features: expected last dim {self.in_channels}, got {list(features.shape)}")
        # no per-sample normalisation: the size of a displacement is the signal
        h = F.gelu(self.lin1(features))
        return self.lin2(self.dropout(h))

    def loss(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Class-balanced cross-entropy over labelled regions (``target >= 0`` and ``mask``)."""
        valid = target >= 0 if mask is None else mask & (target >= 0)
        if not valid.any():
            return logits.sum() * 0.0
        return F.cross_entropy(
            logits[valid],
            target[valid],
            weight=self.class_weight.to(logits.dtype),
            label_smoothing=self.label_smoothing,
        )
