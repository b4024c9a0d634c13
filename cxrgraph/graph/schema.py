"""Node and edge type names of the ClinicalGraph schema."""

from __future__ import annotations

__all__ = [
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

ANATOMY = "anatomy"
FINDING = "finding"
LOCATED_AT = (FINDING, "located_at", ANATOMY)
PART_OF = (ANATOMY, "part_of", ANATOMY)
ADJACENT_TO = (ANATOMY, "adjacent_to", ANATOMY)
SUGGESTIVE_OF = (FINDING, "suggestive_of", FINDING)
MODIFY = (FINDING, "modify", FINDING)

#: Every edge type a ClinicalGraph carries (possibly with zero edges), in a fixed order.
EDGE_TYPES = (LOCATED_AT, PART_OF, ADJACENT_TO, SUGGESTIVE_OF, MODIFY)

#: ``graph['finding'].existence`` of a finding the graph says nothing about.
UNMENTIONED = -1

#: A per-region progression label that is not known.
UNLABELLED = -1
