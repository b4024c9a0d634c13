"""The fixed anatomy–anatomy edges of the ontology: the one builder every layer uses.

Every :class:`~cxrgraph.graph.ClinicalGraph` carries the same ``part_of`` (child → parent) and
``adjacent_to`` (both directions) edges between its 29 region nodes. Graph encoders, the
cascade's anatomy stage and the temporal manifold layers read them from here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cxrgraph.graph.schema import ADJACENT_TO, PART_OF
from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["anatomy_edges", "anatomy_edge_index"]

_CACHE: dict[str, dict[tuple[str, str, str], Tensor]] = {}


def anatomy_edges(ontology: Ontology | None = None) -> dict[tuple[str, str, str], Tensor]:
    """``{PART_OF: [2, E1], ADJACENT_TO: [2, E2]}`` long edge indices over the region nodes.

    ``part_of`` runs child → parent in region order; ``adjacent_to`` holds each spatial
    neighbour pair in both directions. The tensors are fresh copies (safe to modify).
    """
    onto = ontology or get_ontology()
    edges = _CACHE.get(onto.version)
    if edges is None:
        edges = _CACHE[onto.version] = {
            PART_OF: torch.tensor(onto.part_of_pairs(), dtype=torch.long).view(-1, 2).t().contiguous(),
            ADJACENT_TO: torch.tensor(onto.adjacent_pairs(), dtype=torch.long).view(-1, 2).t().contiguous(),
        }
    return {k: v.clone() for k, v in edges.items()}


def anatomy_edge_index(ontology: Ontology | None = None) -> Tensor:
    """Every anatomy edge as one undirected ``[2, E]`` index: both relations, both directions, each once (sorted)."""
    ei = torch.cat(list(anatomy_edges(ontology).values()), dim=1)
    return torch.unique(torch.cat([ei, ei.flip(0)], dim=1), dim=1)
