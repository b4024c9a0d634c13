"""Dense views of batched ClinicalGraphs: fixed node counts make ``[B, N, D]`` a reshape."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from cxrgraph.graph.schema import ANATOMY, FINDING, LOCATED_AT, UNMENTIONED

__all__ = ["dense_nodes", "located_at_dense", "graph_targets", "triplet_multi_hot"]


def dense_nodes(x: Tensor, num_nodes: int, name: str = "x") -> Tensor:
    """Reshape stacked node features ``[B * N, D]`` of a batch into ``[B, N, D]``.

    Args:
        x: Node features of ``B`` graphs with ``num_nodes`` nodes each, in batch order.
        num_nodes: Nodes per graph (29 anatomy, ``K`` findings).
        name: Name used in the error message.
    """
    if x.dim() != 2 or x.size(0) % num_nodes != 0:
        raise ValueError(f"{name}: expected [B * {num_nodes}, D] node features, got {list(x.shape)}")
    return x.view(x.size(0) // num_nodes, num_nodes, x.size(1))


def located_at_dense(
    edge_index: Tensor,
    edge_value: Tensor,
    num_graphs: int,
    num_findings: int,
    num_regions: int,
    fill: int = UNMENTIONED,
) -> Tensor:
    """Scatter located_at edges of a (batched) graph into a dense ``[B, K, R]`` table.

    Batched edge indices are global (graph ``b`` owns findings ``b*K .. b*K+K-1`` and regions
    ``b*R .. b*R+R-1``), so the graph, finding and region of an edge are read back by division.

    Args:
        edge_index: ``[2, E]`` finding → anatomy indices.
        edge_value: ``[E]`` long values to place (e.g. the existence code).
        num_graphs: ``B``.
        num_findings: ``K``.
        num_regions: ``R``.
        fill: Value of pairs without an edge.
    """
    out = torch.full((num_graphs, num_findings, num_regions), fill, dtype=edge_value.dtype, device=edge_value.device)
    if edge_index.numel():
        b = edge_index[0] // num_findings
        out[b, edge_index[0] % num_findings, edge_index[1] % num_regions] = edge_value
    return out


def graph_targets(batch: HeteroData) -> dict[str, Tensor]:
    """Dense supervision read from a ClinicalGraph or a batch of them.

    Returns:
        ``existence`` ``[B, K]`` long (report-level, -1 unmentioned); ``located_at``
        ``[B, K, R]`` long existence code of each (finding, region) edge, -1 where there is none;
        ``anatomy_present`` ``[B, R]`` bool.
    """
    num_r = batch[ANATOMY].num_nodes
    num_k = batch[FINDING].num_nodes
    num_graphs = int(batch.num_graphs) if hasattr(batch, "num_graphs") else 1
    num_r //= num_graphs
    num_k //= num_graphs
    existence = batch[FINDING].existence.view(num_graphs, num_k)
    store = batch[LOCATED_AT]
    located = located_at_dense(store.edge_index, store.existence, num_graphs, num_k, num_r)
    present = batch[ANATOMY].present.view(num_graphs, num_r)
    return {"existence": existence, "located_at": located, "anatomy_present": present}


def triplet_multi_hot(located_at: Tensor, num_existence: int = 3) -> Tensor:
    """⟨region, finding, existence⟩ triplets of each study as a multi-hot ``[B, K * R * E]`` float.

    Args:
        located_at: ``[B, K, R]`` long existence code per pair, negative where there is no edge.
        num_existence: Number of existence codes ``E``.
    """
    if located_at.dim() != 3:
        raise ValueError(f"located_at: expected [B, K, R], got {list(located_at.shape)}")
    b, k, r = located_at.shape
    valid = located_at >= 0
    one_hot = torch.zeros(b, k, r, num_existence, device=located_at.device)
    one_hot.scatter_(3, located_at.clamp(min=0).unsqueeze(-1), valid.unsqueeze(-1).to(one_hot.dtype))
    return one_hot.view(b, -1)
