"""What every alignment loss shares: one call signature over the two graphs of a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import Tensor, nn

from cxrgraph.nn.outputs import GraphEmbeddings

__all__ = ["AlignTargets", "AlignmentLoss"]


@dataclass
class AlignTargets:
    """What the report graph says, for the losses that need more than embeddings.

    Attributes:
        existence: ``[B, K]`` long report-level existence (-1 unmentioned, 0 absent, 1 present, 2 uncertain).
        located_at: ``[B, K, R]`` long existence code of each report edge (-1 none).
    """

    existence: Tensor
    located_at: Tensor


class AlignmentLoss(nn.Module, ABC):
    """Base of the losses :class:`~cxrgraph.models.GraphAlignModel` sums.

    The model calls every loss the same way, ``loss.align(image, text, targets, epoch=epoch)``, so
    a loss of your own joins the others by subclassing this and implementing :meth:`align`
    (``forward`` stays free for a tensor-level signature, as the packaged losses keep theirs for
    use on their own).
    """

    @abstractmethod
    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        """The loss (a scalar) between an image graph and a report graph batch."""
