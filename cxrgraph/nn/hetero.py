"""``HeteroGraphEncoder``: heterogeneous message passing over ClinicalGraph."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, HeteroConv, HGTConv
from torch_geometric.typing import EdgeType, Metadata, NodeType

from cxrgraph.graph.schema import ANATOMY, EDGE_TYPES, FINDING, LOCATED_AT
from cxrgraph.nn.readout import EdgeAttrEmbedding, scatter_edge_messages
from cxrgraph.nn.relational import RelationalGraphConv

__all__ = ["HeteroGraphEncoder", "add_reverse_edges", "clinical_metadata"]

_REV = "rev_"


def _reverse(edge_type: EdgeType) -> EdgeType:
    src, rel, dst = edge_type
    return dst, _REV + rel, src


def clinical_metadata(reverse: bool = True) -> Metadata:
    """``(node_types, edge_types)`` of a ClinicalGraph, with ``rev_*`` reverse edge types."""
    edge_types = list(EDGE_TYPES)
    if reverse:
        edge_types += [_reverse(et) for et in EDGE_TYPES]
    return [ANATOMY, FINDING], edge_types


def add_reverse_edges(edge_index_dict: dict[EdgeType, Tensor]) -> dict[EdgeType, Tensor]:
    """Add a ``(dst, 'rev_<rel>', src)`` entry for every edge type that lacks one.

    Messages then flow both ways: a region hears about the findings located at it, a parent
    region hears from its parts. (Equivalent to ``torch_geometric.transforms.ToUndirected``
    with ``merge=False``, done on the dict so no data object is copied.)
    """
    out = dict(edge_index_dict)
    for et, ei in edge_index_dict.items():
        if et[1].startswith(_REV):
            continue
        rev = _reverse(et)
        if rev not in out:
            out[rev] = ei.flip(0)
    return out


class HeteroGraphEncoder(nn.Module):
    r"""Message passing over the anatomy / finding graph.

    Each layer is :class:`~cxrgraph.nn.RelationalGraphConv` (R-GCN, one weight per relation; the
    fastest), :class:`~torch_geometric.nn.conv.HGTConv` (Hu et al., "Heterogeneous Graph
    Transformer", WWW 2020) or a :class:`~torch_geometric.nn.conv.HeteroConv` of
    :class:`~torch_geometric.nn.conv.GATv2Conv` per edge type (Brody et al., ICLR 2022), with a
    residual connection and layer norm per node type:

    .. math::
        \mathbf{x}_v^{(l+1)} = \mathrm{LN}\big(\mathbf{x}_v^{(l)} + \sigma(\mathrm{Conv}^{(l)}(\mathbf{x}^{(l)})_v)\big).

    Reverse edge types are added on the fly (:func:`add_reverse_edges`).

    **Edge attributes.** The located_at edges carry existence (present, absent — a negated
    finding —, uncertain), severity and change. They are embedded
    (:class:`~cxrgraph.nn.readout.EdgeAttrEmbedding`) and, before every layer, each node adds the
    mean of a layer-specific projection of its incident attributed edges (both directions):

    .. math:: \mathbf{x}_v \leftarrow \mathbf{x}_v + \operatorname{mean}_{e \ni v} W^{(l)}_{\tau(e)}\, \mathbf{e},

    so "no effusion at the left base" and "large effusion at the left base" reach the two nodes
    differently whatever convolution runs (HGT has no edge features of its own).

    Args:
        in_channels: Input size, one int for all node types or a dict per node type.
        hidden_channels: Hidden size (divisible by ``heads``).
        out_channels: Output size.
        num_layers: Message-passing layers.
        conv: ``"rgcn"``, ``"hgt"``, ``"gat"``, or your own: a callable (e.g. a class) called
            once per layer as ``conv(hidden_channels, metadata)`` that returns a heterogeneous
            convolution, a module called as ``layer(x_dict, edge_index_dict)`` that returns
            ``{node_type: [N_t, hidden_channels]}`` (PyG's ``HeteroConv`` of any layers fits).
        heads: Attention heads.
        metadata: Node and edge types (default: :func:`clinical_metadata`).
        dropout: Dropout on hidden features.
        edge_attr_types: Edge types whose attributes are read (default: located_at).

    Shapes:
        - **input:** ``x_dict`` ``{node_type: [N_t, C_t]}``, ``edge_index_dict``
          ``{edge_type: [2, E]}``, optional ``edge_attr_dict`` ``{edge_type: [E, 3]}`` long
          ``(existence, severity, change)``
        - **output:** ``{node_type: [N_t, out_channels]}``
    """

    def __init__(
        self,
        in_channels: int | dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        conv: str | Callable[[int, Metadata], nn.Module] = "rgcn",
        heads: int = 4,
        metadata: Metadata | None = None,
        dropout: float = 0.0,
        edge_attr_types: tuple[EdgeType, ...] = (LOCATED_AT,),
    ) -> None:
        super().__init__()
        if isinstance(conv, str) and conv not in ("rgcn", "hgt", "gat"):
            raise ValueError(f"cannot resolve conv {conv!r}; choices are ['rgcn', 'hgt', 'gat'] or a callable")
        if not isinstance(conv, str) and not callable(conv):
            raise ValueError(f"cannot resolve conv {conv!r}; choices are ['rgcn', 'hgt', 'gat'] or a callable")
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels: {hidden_channels} is not divisible by heads={heads}")
        self.metadata = metadata if metadata is not None else clinical_metadata()
        node_types, edge_types = self.metadata
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.conv = conv
        self.heads = heads
        self.dropout = dropout
        ins = in_channels if isinstance(in_channels, dict) else dict.fromkeys(node_types, in_channels)
        missing = set(node_types) - set(ins)
        if missing:
            raise ValueError(f"in_channels: no size for node types {sorted(missing)}")
        self.lin_in = nn.ModuleDict({t: nn.Linear(ins[t], hidden_channels) for t in node_types})
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            if not isinstance(conv, str):
                layer = conv(hidden_channels, self.metadata)
                if not isinstance(layer, nn.Module):
                    raise ValueError(f"conv: {conv!r} returned {type(layer).__name__}, not an nn.Module")
            elif conv == "rgcn":
                layer = RelationalGraphConv(hidden_channels, hidden_channels, self.metadata)
            elif conv == "hgt":
                layer = HGTConv(hidden_channels, hidden_channels, self.metadata, heads=heads)
            else:
                layer = HeteroConv(
                    {
                        et: GATv2Conv(hidden_channels, hidden_channels // heads, heads=heads, add_self_loops=False)
                        for et in edge_types
                    },
                    aggr="sum",
                )
            self.convs.append(layer)
            self.norms.append(nn.ModuleDict({t: nn.LayerNorm(hidden_channels) for t in node_types}))
        self.lin_out = nn.ModuleDict({t: nn.Linear(hidden_channels, out_channels) for t in node_types})
        self.act = nn.GELU()
        self.edge_attr_types = tuple(edge_attr_types)
        self.edge_embedding = EdgeAttrEmbedding(hidden_channels)
        # per layer and attributed edge type: one projection for the destination, one for the source
        self.edge_lins = nn.ModuleList(
            nn.ModuleList(nn.Linear(hidden_channels, 2 * hidden_channels) for _ in self.edge_attr_types)
            for _ in range(num_layers)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (*self.lin_in.values(), *self.lin_out.values()):
            lin.reset_parameters()
        for conv in self.convs:
            if hasattr(conv, "reset_parameters"):
                conv.reset_parameters()
        for norms in self.norms:
            for norm in norms.values():
                norm.reset_parameters()
        self.edge_embedding.reset_parameters()
        for lins in self.edge_lins:
            for lin in lins:
                lin.reset_parameters()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}, conv={self._conv_name()!r}, heads={self.heads})"
        )

    def _conv_name(self) -> str:
        if isinstance(self.conv, str):
            return self.conv
        return getattr(self.conv, "__qualname__", type(self.conv).__qualname__)

    def forward(
        self,
        x_dict: dict[NodeType, Tensor],
        edge_index_dict: dict[EdgeType, Tensor],
        edge_attr_dict: dict[EdgeType, Tensor] | None = None,
    ) -> dict[NodeType, Tensor]:
        """Encode node features (see the class docstring for shapes)."""
        node_types, edge_types = self.metadata
        for t in node_types:
            if t not in x_dict:
                raise ValueError(f"x_dict: missing node type {t!r}")
        edges = {et: ei for et, ei in add_reverse_edges(edge_index_dict).items() if et in set(edge_types)}
        h = {t: self.lin_in[t](x_dict[t]) for t in node_types}
        attributed = self._attributed_edges(edge_index_dict, edge_attr_dict or {})
        for conv, norms, lins in zip(self.convs, self.norms, self.edge_lins):
            h = self._add_edge_messages(h, attributed, lins)
            out = conv(h, edges)
            h = {
                t: norms[t](h[t] + nn.functional.dropout(self.act(out[t]), self.dropout, self.training))
                if out.get(t) is not None
                else h[t]
                for t in node_types
            }
        return {t: self.lin_out[t](h[t]) for t in node_types}

    def _attributed_edges(
        self, edge_index_dict: dict[EdgeType, Tensor], edge_attr_dict: dict[EdgeType, Tensor]
    ) -> list[tuple[int, EdgeType, Tensor, Tensor]]:
        out = []
        for i, et in enumerate(self.edge_attr_types):
            attr = edge_attr_dict.get(et)
            ei = edge_index_dict.get(et)
            if attr is None or ei is None or ei.numel() == 0:
                continue
            if attr.size(0) != ei.size(1):
                raise ValueError(f"edge_attr_dict[{et}]: {attr.size(0)} rows for {ei.size(1)} edges")
            out.append((i, et, ei, self.edge_embedding(attr)))
        return out

    def _add_edge_messages(
        self, h: dict[NodeType, Tensor], attributed: list[tuple[int, EdgeType, Tensor, Tensor]], lins: nn.ModuleList
    ) -> dict[NodeType, Tensor]:
        if not attributed:
            # keep every parameter in the graph (DDP without find_unused_parameters)
            return h if not self.training else {t: v + 0.0 * _touch(lins, self.edge_embedding) for t, v in h.items()}
        h = dict(h)
        for i, (src, _, dst), ei, emb in attributed:
            to_dst, to_src = lins[i](emb).chunk(2, dim=-1)
            h[dst] = h[dst] + scatter_edge_messages(to_dst, ei[1], h[dst].size(0))
            h[src] = h[src] + scatter_edge_messages(to_src, ei[0], h[src].size(0))
        return h


def _touch(lins: nn.ModuleList, embedding: nn.Module) -> Tensor:
    """A zero that depends on every edge parameter."""
    return sum(p.sum() for m in (lins, embedding) for p in m.parameters()) * 0.0
