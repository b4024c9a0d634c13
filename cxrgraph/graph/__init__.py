"""The ClinicalGraph schema: build, validate, convert, batch and draw clinical graphs."""

from cxrgraph.graph.anatomy import anatomy_edge_index, anatomy_edges
from cxrgraph.graph.clinical_graph import ClinicalGraph, existence_rank
from cxrgraph.graph.convert import from_networkx, to_networkx
from cxrgraph.graph.errors import GraphValidationError
from cxrgraph.graph.plot import plot_graph
from cxrgraph.graph.schema import (
    ADJACENT_TO,
    ANATOMY,
    EDGE_TYPES,
    FINDING,
    LOCATED_AT,
    MODIFY,
    PART_OF,
    SUGGESTIVE_OF,
    UNLABELLED,
    UNMENTIONED,
)
from cxrgraph.graph.study_pair import StudyPair, collate_pairs, progression_from_changes
from cxrgraph.graph.triplet import Triplet

ClinicalGraph.to_networkx = to_networkx
ClinicalGraph.plot = plot_graph

__all__ = [
    "ClinicalGraph",
    "anatomy_edges",
    "anatomy_edge_index",
    "GraphValidationError",
    "StudyPair",
    "Triplet",
    "collate_pairs",
    "existence_rank",
    "from_networkx",
    "plot_graph",
    "progression_from_changes",
    "to_networkx",
    "ANATOMY",
    "FINDING",
    "LOCATED_AT",
    "PART_OF",
    "ADJACENT_TO",
    "SUGGESTIVE_OF",
    "MODIFY",
    "EDGE_TYPES",
    "UNMENTIONED",
    "UNLABELLED",
]
