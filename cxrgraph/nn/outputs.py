"""Typed outputs of the graph encoders."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from torch import Tensor

__all__ = ["GraphEmbeddings"]


@dataclass
class GraphEmbeddings:
    r"""Dense node embeddings of a batch of studies, one side (image or text).

    Node counts are fixed by the ontology, so every tensor is dense: ``B`` studies, ``R = 29``
    regions, ``K`` finding types, ``T`` tokens (sentences on the text side, patches on the
    image side), ``D`` channels.

    Attributes:
        anatomy: Anatomy node features ``[B, R, D]``.
        finding: Finding node features ``[B, K, D]``.
        summary: One vector per study ``[B, D]`` (report / image embedding).
        anatomy_mask: ``[B, R]`` bool, the node carries evidence from its source (a sentence
            about the region, a detected box); ``None`` means all nodes do.
        finding_mask: ``[B, K]`` bool, the finding is mentioned / attended; ``None`` means all.
        finding_logits: ``[B, K]`` existence logits (image-tag decoder).
        edge_logits: ``[B, K, R]`` located_at edge scores (image-tag decoder).
        tokens: ``[B, T, D]`` sentence or patch embeddings.
        token_mask: ``[B, T]`` bool, real (not padding) tokens.
        token_region_mask: ``[B, T, R]`` bool, token ``t`` is about region ``r`` (text side).
    """

    anatomy: Tensor
    finding: Tensor
    summary: Tensor | None = None
    anatomy_mask: Tensor | None = None
    finding_mask: Tensor | None = None
    finding_logits: Tensor | None = None
    edge_logits: Tensor | None = None
    tokens: Tensor | None = None
    token_mask: Tensor | None = None
    token_region_mask: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.anatomy.size(0)

    def replace(self, **changes: Tensor | None) -> GraphEmbeddings:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to(self, *args, **kwargs) -> GraphEmbeddings:
        """Move / cast every tensor field (like :meth:`torch.Tensor.to`)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to(*args, **kwargs) if value is not None else None
        return GraphEmbeddings(**out)
