"""``HyperbolicGraphEncoder``: HGCN-style message passing on a Poincaré ball of bounded curvature."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import geoopt
import torch
from torch import Tensor, nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import EdgeType, NodeType
from torch_geometric.utils import scatter

from cxrgraph.graph.schema import ANATOMY, FINDING
from cxrgraph.nn.hetero import add_reverse_edges

__all__ = ["BoundedPoincareBall", "HGCNConv", "HyperbolicGraphEncoder"]


class BoundedPoincareBall(geoopt.PoincareBall):
    r"""geoopt's Poincaré ball with a learnable curvature held in ``[c_min, c_max]``.

    The ball has sectional curvature :math:`-c` with

    .. math:: c = c_{\min} + (c_{\max} - c_{\min})\,\sigma(\rho),

    so no optimiser step can make it flat (:math:`c \to 0`, the curvature collapse seen in
    HGCN-style models) or so curved that float32 points all sit on the boundary. Every
    geoopt operation (``expmap0``, ``mobius_matvec``, ``projx``, ...) and
    :class:`geoopt.optim.RiemannianAdam` read the curvature through :attr:`c`.

    Args:
        c: Initial curvature, inside ``(c_min, c_max)``.
        c_min: Lower bound (> 0).
        c_max: Upper bound.
        learnable: Train the curvature.
    """

    def __init__(self, c: float = 1.0, c_min: float = 0.1, c_max: float = 10.0, learnable: bool = True) -> None:
        if not 0.0 < c_min < c_max:
            raise ValueError(f"curvature bounds: need 0 < c_min < c_max, got c_min={c_min}, c_max={c_max}")
        if not c_min < c < c_max:
            raise ValueError(f"c: initial curvature {c} must lie strictly inside ({c_min}, {c_max})")
        super().__init__(c=c, learnable=learnable)
        del self.isp_c
        self.c_min = float(c_min)
        self.c_max = float(c_max)
        frac = (c - c_min) / (c_max - c_min)
        self.raw_c = nn.Parameter(torch.tensor(math.log(frac / (1.0 - frac))), requires_grad=learnable)

    @property
    def c(self) -> Tensor:
        return self.c_min + (self.c_max - self.c_min) * torch.sigmoid(self.raw_c)

    def extra_repr(self) -> str:
        return f"c={float(self.c.detach()):.4g}, c_min={self.c_min}, c_max={self.c_max}"


class HGCNConv(nn.Module):
    r"""One HGCN layer (Chami et al., "Hyperbolic Graph Convolutional Neural Networks", NeurIPS 2019).

    On a ball :math:`\mathbb{D}_c`: a Möbius linear map with a hyperbolic bias, aggregation of
    neighbours in the tangent space at the origin with symmetric GCN weights, and a
    non-linearity applied in the tangent space

    .. math::
        \mathbf{h}_i &= (W \otimes_c \mathbf{x}_i) \oplus_c \mathbf{b}, \\
        \mathbf{y}_i &= \exp_0^c\Big(\sum_{j \in \mathcal{N}(i) \cup \{i\}}
            \tfrac{1}{\sqrt{d_i d_j}} \log_0^c(\mathbf{h}_j)\Big), \\
        \mathbf{x}'_i &= \exp_0^c\big(\sigma(\log_0^c(\mathbf{y}_i))\big).

    Every result is projected back inside the ball (geoopt's dtype-dependent margin), which
    keeps points off the boundary where :math:`\operatorname{artanh}` blows up.

    Args:
        in_channels: Input size.
        out_channels: Output size.
        ball: The (shared) manifold.
        act: Tangent-space non-linearity, ``None`` for none.
        bias: Learn a hyperbolic bias (a :class:`geoopt.ManifoldParameter`, to be trained with
            :class:`geoopt.optim.RiemannianAdam`).
        dropout: Dropout on the weight matrix.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ball: geoopt.PoincareBall,
        act: Callable[[Tensor], Tensor] | None = torch.relu,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.ball = ball
        self.act = act
        self.dropout = dropout
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = geoopt.ManifoldParameter(torch.zeros(out_channels), manifold=ball) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight, gain=math.sqrt(2))
        if self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(self.ball.expmap0(torch.randn_like(self.bias) * 1e-3))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """``x``: points ``[N, in_channels]`` on the ball; returns points ``[N, out_channels]``."""
        ball = self.ball
        weight = nn.functional.dropout(self.weight, self.dropout, self.training)
        h = ball.projx(ball.mobius_matvec(weight, x))
        if self.bias is not None:
            h = ball.projx(ball.mobius_add(h, self.bias.to(h.dtype).expand_as(h)))
        u = ball.logmap0(h)
        ei, w = gcn_norm(edge_index, None, x.size(0), add_self_loops=True, dtype=u.dtype)
        agg = scatter(u[ei[0]] * w.unsqueeze(-1), ei[1], dim=0, dim_size=x.size(0), reduce="sum")
        y = ball.projx(ball.expmap0(agg))
        if self.act is not None:
            y = ball.projx(ball.expmap0(self.act(ball.logmap0(y))))
        return y


class HyperbolicGraphEncoder(nn.Module):
    r"""A stack of :class:`HGCNConv` layers on one :class:`BoundedPoincareBall`.

    Euclidean input features are read as tangent vectors at the origin and mapped onto the ball
    (:math:`\exp_0^c`). The output lies on the ball; :meth:`to_tangent` brings it back to the
    tangent space for Euclidean heads and losses. Train with
    ``geoopt.optim.RiemannianAdam(model.parameters(), lr)`` so the manifold biases stay on the
    ball; the curvature itself is an ordinary parameter kept in bounds by construction.

    Args:
        in_channels: Input size.
        hidden_channels: Hidden size.
        out_channels: Output size.
        num_layers: Layers (>= 1).
        c: Initial curvature.
        c_min: Lowest curvature.
        c_max: Highest curvature.
        learn_curvature: Train the curvature.
        dropout: Weight dropout.
        node_types: Node types :meth:`forward_hetero` accepts.

    Shapes:
        - **input:** ``x`` ``[N, in_channels]`` (Euclidean), ``edge_index`` ``[2, E]``
        - **output:** ``[N, out_channels]`` points on the ball
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        c: float = 1.0,
        c_min: float = 0.1,
        c_max: float = 10.0,
        learn_curvature: bool = True,
        dropout: float = 0.0,
        node_types: Sequence[NodeType] = (ANATOMY, FINDING),
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers: must be >= 1, got {num_layers}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.ball = BoundedPoincareBall(c, c_min, c_max, learnable=learn_curvature)
        self.lin_in = nn.Linear(in_channels, hidden_channels)
        sizes = [hidden_channels] * num_layers + [out_channels]
        self.convs = nn.ModuleList(
            HGCNConv(sizes[i], sizes[i + 1], self.ball, act=torch.relu if i < num_layers - 1 else None, dropout=dropout)
            for i in range(num_layers)
        )
        self.type_embedding = nn.ParameterDict({t: nn.Parameter(torch.empty(in_channels)) for t in node_types})
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_in.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        for p in self.type_embedding.values():
            nn.init.normal_(p, std=0.02)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}, {self.ball.extra_repr()})"
        )

    @property
    def curvature(self) -> Tensor:
        """The current curvature magnitude ``c`` (the ball has curvature ``-c``)."""
        return self.ball.c

    def to_ball(self, x: Tensor) -> Tensor:
        """Euclidean features → points on the ball."""
        return self.ball.projx(self.ball.expmap0(self.lin_in(x)))

    def to_tangent(self, y: Tensor) -> Tensor:
        """Points on the ball → tangent vectors at the origin (Euclidean)."""
        return self.ball.logmap0(y)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Encode a homogeneous graph (see the class docstring)."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"x: expected [N, {self.in_channels}], got {list(x.shape)}")
        h = self.to_ball(x)
        for conv in self.convs:
            h = conv(h, edge_index)
        return h

    def forward_hetero(
        self, x_dict: dict[NodeType, Tensor], edge_index_dict: dict[EdgeType, Tensor]
    ) -> dict[NodeType, Tensor]:
        """Encode a heterogeneous graph as one homogeneous graph (both edge directions).

        A learned per-node-type offset is added to the input so anatomy and finding nodes stay
        distinguishable after the types are merged.
        """
        types = list(x_dict)
        offsets, start = {}, 0
        for t in types:
            offsets[t] = start
            start += x_dict[t].size(0)
            if t not in self.type_embedding:
                raise ValueError(f"x_dict: node type {t!r} is not one of {list(self.type_embedding)}")
        x = torch.cat([x_dict[t] + self.type_embedding[t] for t in types], dim=0)
        edges = [
            torch.stack([ei[0] + offsets[s], ei[1] + offsets[d]])
            for (s, _, d), ei in add_reverse_edges(edge_index_dict).items()
            if s in offsets and d in offsets
        ]
        edge_index = torch.cat(edges, dim=1) if edges else x.new_empty((2, 0), dtype=torch.long)
        out = self(x, edge_index)
        return {t: out[offsets[t] : offsets[t] + x_dict[t].size(0)] for t in types}
