"""Graph readouts and edge-attribute embeddings shared by the graph encoders."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["AttentionReadout", "EdgeAttrEmbedding", "scatter_edge_messages"]


class AttentionReadout(nn.Module):
    r"""One vector per graph from its node embeddings, by multi-head attention pooling.

    Each head :math:`h` scores every node, pools the node values with the softmax of the
    scores over the graph's (valid) nodes, and the heads are concatenated:

    .. math::
        \alpha_{h,n} = \operatorname{softmax}_n(w_h^\top x_n), \qquad
        g = W_o \big\Vert_h \sum_n \alpha_{h,n} V_h x_n .

    With fixed node counts (29 regions, ``K`` findings) a batch is dense, so the readout is a
    few matrix products, no scatter.

    Args:
        in_channels: Node feature size.
        out_channels: Readout size (divisible by ``heads``).
        heads: Pooling heads.

    Shapes:
        - **input:** nodes ``[B, N, in_channels]``, optional mask ``[B, N]`` (True = node counts)
        - **output:** ``[B, out_channels]``
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 4) -> None:
        super().__init__()
        if out_channels % heads:
            raise ValueError(f"out_channels: {out_channels} is not divisible by heads={heads}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.score = nn.Linear(in_channels, heads)
        self.value = nn.Linear(in_channels, out_channels)
        self.out = nn.Linear(out_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.score, self.value, self.out):
            lin.reset_parameters()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        num_b, num_n, _ = x.shape
        score = self.score(x) / math.sqrt(self.in_channels / self.heads)  # [B, N, H]
        if mask is not None:
            mask = mask.to(torch.bool)
            # a graph without any valid node pools all of them instead of nothing
            mask = mask | ~mask.any(1, keepdim=True)
            score = score.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        alpha = torch.softmax(score, dim=1)
        value = self.value(x).view(num_b, num_n, self.heads, -1)
        pooled = torch.einsum("bnh,bnhc->bhc", alpha, value).reshape(num_b, self.out_channels)
        return self.out(pooled)


class EdgeAttrEmbedding(nn.Module):
    r"""Embed located_at edge attributes: existence (including negation), severity and change.

    .. math:: e = E_{\mathrm{exist}}[x] + E_{\mathrm{sev}}[s] + E_{\mathrm{chg}}[c]

    Existence codes are ``-1`` (unknown), 0 absent, 1 present, 2 uncertain; severity and change
    are the ontology's label indices.

    Args:
        channels: Embedding size.
        num_severity: Severity labels.
        num_change: Change labels.

    Shapes:
        - **input:** ``[E, 3]`` long ``(existence, severity, change)``
        - **output:** ``[E, channels]``
    """

    def __init__(self, channels: int, num_severity: int = 4, num_change: int = 6) -> None:
        super().__init__()
        self.channels = channels
        self.existence = nn.Embedding(4, channels)
        self.severity = nn.Embedding(num_severity, channels)
        self.change = nn.Embedding(num_change, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.existence, self.severity, self.change):
            nn.init.normal_(emb.weight, std=0.1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"

    def forward(self, attr: Tensor) -> Tensor:
        if attr.dim() != 2 or attr.size(1) != 3:
            raise ValueError(f"edge attributes: expected [E, 3] (existence, severity, change), got {list(attr.shape)}")
        attr = attr.long()
        return (
            self.existence(attr[:, 0].clamp(-1, 2) + 1)
            + self.severity(attr[:, 1].clamp(0, self.severity.num_embeddings - 1))
            + self.change(attr[:, 2].clamp(0, self.change.num_embeddings - 1))
        )


def scatter_edge_messages(messages: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """Mean of edge ``messages`` ``[E, D]`` per target node (``index`` ``[E]``) → ``[num_nodes, D]``."""
    out = messages.new_zeros(num_nodes, messages.size(1)).index_add_(0, index, messages)
    count = messages.new_zeros(num_nodes).index_add_(0, index, messages.new_ones(index.size(0)))
    return out / count.clamp(min=1.0).unsqueeze(-1)
