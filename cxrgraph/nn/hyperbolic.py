"""``HyperbolicGraphEncoder``: HGCN-style message passing on a Poincaré ball of bounded curvature."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import geoopt
import torch
from torch import Tensor, nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import EdgeType, NodeType

from cxrgraph.graph.schema import ANATOMY, FINDING, LOCATED_AT
from cxrgraph.nn import poincare
from cxrgraph.nn.hetero import add_reverse_edges
from cxrgraph.nn.readout import EdgeAttrEmbedding, scatter_edge_messages

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

    # geoopt's maps serve every curvature sign and lose the curvature gradient (NaN) for tangent
    # vectors of norm ~1e20; on a ball (c > 0) the explicit maps stay finite at any norm
    def expmap0(self, u: Tensor, *, dim: int = -1, project: bool = True) -> Tensor:
        if dim not in (-1, u.dim() - 1):
            return super().expmap0(u, dim=dim, project=project)
        c = self.c.to(u.dtype)
        y = poincare.expmap0(u, c)
        return poincare.project(y, c) if project else y

    def logmap0(self, x: Tensor, *, dim: int = -1) -> Tensor:
        if dim not in (-1, x.dim() - 1):
            return super().logmap0(x, dim=dim)
        return poincare.logmap0(x, self.c.to(x.dtype))


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
        bias: Learn a hyperbolic bias. As in HGCN, it is parametrised in the tangent space at the
            origin (an ordinary parameter; the point is :meth:`bias_point`), so any optimiser can
            train it and it can never leave the ball.
        dropout: Dropout on the weight matrix.
    """

    # version 2: the bias is a tangent vector at the origin (version 1 stored the point on the ball)
    _version = 2

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
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight, gain=math.sqrt(2))
        if self.bias is not None:
            with torch.no_grad():
                self.bias.normal_(0.0, 1e-3)

    def bias_point(self, dtype: torch.dtype | None = None) -> Tensor:
        r"""The bias as a point on the ball: :math:`\exp_0^c(b)`, projected inside the margin."""
        if self.bias is None:
            raise ValueError(f"{self!r} has no bias")
        b = self.bias if dtype is None else self.bias.to(dtype)
        c = self.ball.c.to(b.dtype)
        return poincare.project(poincare.expmap0(b, c), c)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
        key = prefix + "bias"
        if (local_metadata or {}).get("version", 1) < 2 and key in state_dict and self.bias is not None:
            # written before version 2: the bias was the point on the ball; read it back as its tangent vector
            raw = state_dict.get(prefix + "ball.raw_c", self.ball.raw_c.detach())
            ball = self.ball
            c = ball.c_min + (ball.c_max - ball.c_min) * torch.sigmoid(
                torch.as_tensor(raw, dtype=state_dict[key].dtype)
            )
            state_dict[key] = poincare.logmap0(state_dict[key], c)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """``x``: points ``[N, in_channels]`` on the ball; returns points ``[N, out_channels]``.

        ``edge_weight`` ``[E]`` (positive) scales each edge before the symmetric normalisation.
        """
        c = self.ball.c.to(x.dtype)
        if edge_weight is not None:
            edge_weight = edge_weight.to(x.dtype)
        ei, w = gcn_norm(edge_index, edge_weight, x.size(0), add_self_loops=True, dtype=x.dtype)
        u = self.forward_tangent(poincare.logmap0(x, c), ei, w)
        return poincare.project(poincare.expmap0(u, c), c)

    def forward_tangent(self, u: Tensor, edge_index: Tensor, norm_weight: Tensor) -> Tensor:
        """The layer on tangent vectors at the origin: ``log_0`` of the input points in, ``log_0`` of
        the output points out, with ``edge_index`` / ``norm_weight`` already GCN-normalised (self
        loops included). Equal to :meth:`forward` up to rounding, with no map to the ball and back
        between layers (``log_0(exp_0(u)) = u`` inside the projection margin, and the margin is
        applied in the tangent space by :func:`~cxrgraph.nn.poincare.clip_tangent`)."""
        c = self.ball.c.to(u.dtype)
        weight = nn.functional.dropout(self.weight, self.dropout, self.training)
        # W (x) on the ball: Möbius matrix-vector product == exp_0(W log_0(x))
        h = poincare.expmap0_project(u @ weight.t(), c)
        if self.bias is not None:
            h = poincare.mobius_add(h, self.bias_point(h.dtype), c)
        t = poincare.logmap0_project(h, c)  # the projection of the biased point, then back to the tangent space
        # index_select / index_add: their backward passes are a gather and a scatter, several times
        # cheaper on a CPU than advanced indexing's accumulate
        messages = t.index_select(0, edge_index[0]) * norm_weight.unsqueeze(-1)
        agg = t.new_zeros(t.shape).index_add_(0, edge_index[1], messages)
        agg = poincare.clip_tangent(agg, c)
        if self.act is not None:
            agg = poincare.clip_tangent(self.act(agg), c)
        return agg


class HyperbolicGraphEncoder(nn.Module):
    r"""A stack of :class:`HGCNConv` layers on one :class:`BoundedPoincareBall`.

    Euclidean input features are read as tangent vectors at the origin and mapped onto the ball
    (:math:`\exp_0^c`). The output lies on the ball; :meth:`to_tangent` brings it back to the
    tangent space for Euclidean heads and losses. Every parameter is Euclidean (the biases live
    in the tangent space at the origin, the curvature is kept in bounds by construction), so any
    optimiser trains it.

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
        edge_attr_types: Edge types whose attributes :meth:`forward_hetero` reads.

    **Edge attributes** (existence, severity, change of located_at edges,
    :class:`~cxrgraph.nn.readout.EdgeAttrEmbedding`) act twice in :meth:`forward_hetero`: each
    node adds the mean of its incident edges' embeddings to its tangent-space input, and every
    attributed edge's weight in the aggregation is :math:`2\sigma(w^\top e)` (an absent finding
    can pass less, or more, than a present one), the same weight in both directions.

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
        edge_attr_types: Sequence[EdgeType] = (LOCATED_AT,),
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
        self.edge_attr_types = tuple(edge_attr_types)
        self.edge_embedding = EdgeAttrEmbedding(in_channels)
        self.edge_gate = nn.Linear(in_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_in.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        for p in self.type_embedding.values():
            nn.init.normal_(p, std=0.02)
        self.edge_embedding.reset_parameters()
        self.edge_gate.reset_parameters()

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

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, tangent: bool = False
    ) -> Tensor:
        """Encode a homogeneous graph (see the class docstring); ``tangent=True`` returns
        :meth:`to_tangent` of the output directly (no map onto the ball and back)."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"x: expected [N, {self.in_channels}], got {list(x.shape)}")
        c = self.ball.c.to(x.dtype)
        if edge_weight is not None:
            edge_weight = edge_weight.to(x.dtype)
        # one normalisation serves every layer (same edges)
        ei, w = gcn_norm(edge_index, edge_weight, x.size(0), add_self_loops=True, dtype=x.dtype)
        u = poincare.clip_tangent(self.lin_in(x), c)  # == log_0(to_ball(x))
        for conv in self.convs:
            u = conv.forward_tangent(u, ei, w)
        return u if tangent else poincare.project(poincare.expmap0(u, c), c)

    def forward_hetero(
        self,
        x_dict: dict[NodeType, Tensor],
        edge_index_dict: dict[EdgeType, Tensor],
        edge_attr_dict: dict[EdgeType, Tensor] | None = None,
        tangent: bool = False,
    ) -> dict[NodeType, Tensor]:
        """Encode a heterogeneous graph as one homogeneous graph (both edge directions).

        A learned per-node-type offset is added to the input so anatomy and finding nodes stay
        distinguishable after the types are merged; attributed edges act as the class docstring
        says.
        """
        types = list(x_dict)
        offsets, start = {}, 0
        for t in types:
            offsets[t] = start
            start += x_dict[t].size(0)
            if t not in self.type_embedding:
                raise ValueError(f"x_dict: node type {t!r} is not one of {list(self.type_embedding)}")
        x = torch.cat([x_dict[t] + self.type_embedding[t] for t in types], dim=0)
        attr_dict = edge_attr_dict or {}
        edges, weights = [], []
        any_attr = False
        for et, ei in add_reverse_edges(edge_index_dict).items():
            s, rel, d = et
            if s not in offsets or d not in offsets:
                continue
            edges.append(torch.stack([ei[0] + offsets[s], ei[1] + offsets[d]]))
            forward_type = (d, rel[len("rev_") :], s) if rel.startswith("rev_") else et
            attr = attr_dict.get(forward_type) if forward_type in self.edge_attr_types else None
            if attr is not None and ei.numel():
                if attr.size(0) != ei.size(1):
                    raise ValueError(f"edge_attr_dict[{forward_type}]: {attr.size(0)} rows for {ei.size(1)} edges")
                emb = self.edge_embedding(attr).to(x.dtype)
                if not rel.startswith("rev_"):
                    # attributes enter both end nodes once (the reverse copy is the same edge)
                    x = _add_edge_inputs(x, emb, edges[-1])
                weights.append(2.0 * torch.sigmoid(self.edge_gate(emb)).squeeze(-1))
                any_attr = True
            else:
                weights.append(x.new_ones(ei.size(1)))
        edge_index = torch.cat(edges, dim=1) if edges else x.new_empty((2, 0), dtype=torch.long)
        edge_weight = torch.cat(weights) if any_attr else None
        out = self(x, edge_index, edge_weight, tangent=tangent)
        return {t: out[offsets[t] : offsets[t] + x_dict[t].size(0)] for t in types}


def _add_edge_inputs(x: Tensor, emb: Tensor, edge_index: Tensor) -> Tensor:
    """Add to both end nodes of every edge the mean embedding of the edges incident to it."""
    for nodes in (edge_index[0], edge_index[1]):
        x = x + scatter_edge_messages(emb, nodes, x.size(0))
    return x
