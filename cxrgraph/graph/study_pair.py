"""``StudyPair``: a prior and a current study of one patient with per-region change labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch_geometric.data import Batch

from cxrgraph.graph.clinical_graph import ClinicalGraph
from cxrgraph.graph.errors import GraphValidationError
from cxrgraph.graph.schema import LOCATED_AT, UNLABELLED
from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["StudyPair", "progression_from_changes", "collate_pairs"]


def progression_from_changes(graph: ClinicalGraph, ontology: Ontology | None = None) -> torch.Tensor:
    """Per-region progression labels read from a graph's located_at change cues.

    A region whose edges carry cues gets ``worsened`` if any cue worsens (new, worsened),
    else ``improved`` if any improves (improved, resolved), else ``no change``; a region with
    no cue is ``-1`` (unlabelled).
    """
    onto = ontology or get_ontology()
    labels = torch.full((onto.num_regions,), UNLABELLED, dtype=torch.long)
    worsened = onto.label_index("progression", "worsened")
    improved = onto.label_index("progression", "improved")
    # rank so that worsened > improved > no change when one region has several cues
    rank = {worsened: 3, improved: 2, onto.label_index("progression", "no change"): 1, UNLABELLED: 0}
    store = graph[LOCATED_AT]
    for (_, r), ch in zip(store.edge_index.t().tolist(), store.change.tolist()):
        p = onto.progression_of_change(ch)
        if rank[p] > rank[int(labels[r])]:
            labels[r] = p
    return labels


@dataclass
class StudyPair:
    """Two studies of one patient, ``prior`` before ``current``, and what changed per region.

    Attributes:
        prior: Graph of the earlier study.
        current: Graph of the later study.
        change: Long ``[29]`` progression codes (0 improved, 1 no change, 2 worsened) or -1
            where unlabelled.
        meta: Free-form metadata (subject id, study ids, dates).
    """

    prior: ClinicalGraph
    current: ClinicalGraph
    change: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        onto = get_ontology()
        change = torch.as_tensor(self.change, dtype=torch.long)
        if change.shape != (onto.num_regions,):
            raise GraphValidationError(
                "StudyPair.change", f"expected shape ({onto.num_regions},), got {tuple(change.shape)}"
            )
        n = len(onto.labels["progression"])
        if ((change < UNLABELLED) | (change >= n)).any():
            bad = change[(change < UNLABELLED) | (change >= n)][0].item()
            raise GraphValidationError("StudyPair.change", f"value {bad} out of range [-1, {n})")
        self.change = change

    @property
    def mask(self) -> torch.Tensor:
        """Bool ``[29]``: regions with a progression label."""
        return self.change != UNLABELLED

    @classmethod
    def from_current_report(cls, prior: ClinicalGraph, current: ClinicalGraph, **meta: Any) -> StudyPair:
        """Label the pair from the change cues of the current study's graph."""
        return cls(prior, current, progression_from_changes(current), dict(meta))


def collate_pairs(pairs: Sequence[StudyPair]) -> tuple[Batch, Batch, torch.Tensor]:
    """Batch study pairs: ``(prior_batch, current_batch, change [B, 29])``."""
    if not pairs:
        raise ValueError("collate_pairs needs at least one StudyPair")
    prior = Batch.from_data_list([p.prior for p in pairs])
    current = Batch.from_data_list([p.current for p in pairs])
    change = torch.stack([p.change for p in pairs])
    return prior, current, change
