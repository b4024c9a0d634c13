"""``RelationalGraphConv``: R-GCN message passing with one weight per relation, aggregate-then-transform."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.typing import EdgeType, Metadata, NodeType

from cxrgraph.nn.readout import scatter_edge_messages

__all__ = ["RelationalGraphConv"]


class RelationalGraphConv(nn.Module):
    r"""Relational graph convolution over a heterogeneous graph (Schlichtkrull et al., "Modeling
    Relational Data with Graph Convolutional Networks", ESWC 2018), in PyG's hetero-conv form
    (``conv(x_dict, edge_index_dict) -> out_dict``):

    .. math::
        \mathbf{x}'_i = W_{\tau(i)}\,\mathbf{x}_i + \sum_{r \in \mathcal{R}(\tau(i))}
            W_r \operatorname{mean}_{j \in \mathcal{N}_r(i)} \mathbf{x}_j .

    Mean aggregation commutes with the linear map, so each relation's neighbours are averaged
    first and all relations into a node type are transformed by one matrix product over the
    concatenated means: a few gathers and one ``matmul`` per node type, whatever the number of
    relations (on CPU this is several times cheaper than attention convolutions at the sizes of
    a chest graph: 29 regions, ``K`` findings).

    Args:
        in_channels: Input size (every node type).
        out_channels: Output size.
        metadata: ``(node_types, edge_types)``; every edge type gets its own weight.

    Shapes:
        - **input:** ``x_dict`` ``{node_type: [N_t, in_channels]}``, ``edge_index_dict``
          ``{edge_type: [2, E]}`` (edge types outside ``metadata`` are ignored)
        - **output:** ``{node_type: [N_t, out_channels]}``
    """

    def __init__(self, in_channels: int, out_channels: int, metadata: Metadata) -> None:
        super().__init__()
        node_types, edge_types = metadata
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.node_types = list(node_types)
        self.edge_types = list(edge_types)
        self.incoming: dict[NodeType, list[EdgeType]] = {
            t: [et for et in self.edge_types if et[2] == t] for t in self.node_types
        }
        self.lin = nn.ModuleDict(
            {t: nn.Linear(in_channels * (1 + len(self.incoming[t])), out_channels) for t in self.node_types}
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lin.values():
            lin.reset_parameters()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, num_relations={len(self.edge_types)})"
        )

    def forward(
        self, x_dict: dict[NodeType, Tensor], edge_index_dict: dict[EdgeType, Tensor]
    ) -> dict[NodeType, Tensor]:
        import torch

        out = {}
        for t in self.node_types:
            x = x_dict[t]
            parts = [x]
            for et in self.incoming[t]:
                ei = edge_index_dict.get(et)
                src = x_dict[et[0]]
                if ei is None or ei.numel() == 0:
                    parts.append(x.new_zeros(x.size(0), src.size(1)))
                else:
                    parts.append(scatter_edge_messages(src.index_select(0, ei[0]), ei[1], x.size(0)))
            out[t] = self.lin[t](torch.cat(parts, dim=-1))
        return out
