"""Label harmonisation across data sets through the ontology's mappings.

Every external vocabulary (CheXpert 14, ChestX-ray14, Chest ImaGenome attributes) maps to
ontology findings (``data/mappings/*.csv``), so labels of one vocabulary can be expressed in
another by going through the findings: ``source labels -> finding vector -> target labels``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from cxrgraph.graph import FINDING, UNMENTIONED, existence_rank
from cxrgraph.ontology import get_ontology

__all__ = [
    "labels_to_findings",
    "labels_to_existence",
    "findings_to_labels",
    "harmonize_labels",
    "HarmonizeLabels",
    "NO_FINDING",
]

#: The CheXpert label that means "none of the others"; it has no finding of its own.
NO_FINDING = "No Finding"

# label codes (1 positive, 0 negative, -1 uncertain, NaN unknown) as the graph's existence codes,
# so that merges rank them like every other existence merge of the package
_EXISTENCE = {1.0: 1, 0.0: 0, -1.0: 2}


def _merge(a: float, b: float) -> float:
    """Combine two codes for one target: positive > uncertain > negative > unknown."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return a if existence_rank(_EXISTENCE[a]) >= existence_rank(_EXISTENCE[b]) else b


def labels_to_findings(labels: Mapping[str, float | None], vocab: str) -> torch.Tensor:
    """External labels as a ``[K]`` float vector over ontology findings.

    Values: 1 positive, 0 negative, -1 uncertain, NaN where no label speaks of the finding.
    A finding reached by several labels takes the strongest (positive > uncertain > negative).
    CheXpert's "No Finding" = 1 marks every finding its mapping reaches as negative where it
    has no label of its own.
    """
    onto = get_ontology()
    known = set(onto.vocabulary(vocab))
    out = torch.full((onto.num_findings,), math.nan)
    for label, value in labels.items():
        if label not in known:
            raise KeyError(f"{label!r} is not a {vocab} label; known: {sorted(known)}")
        if value is None or (isinstance(value, float) and math.isnan(value)) or label == NO_FINDING:
            continue
        value = float(value)
        if value not in _EXISTENCE:
            raise ValueError(f"{vocab} label {label!r} has value {value}; expected 1, 0, -1 or blank")
        for finding in onto.findings_for(vocab, label):
            out[finding.index] = _merge(float(out[finding.index]), value)
    if vocab == "chexpert14" and labels.get(NO_FINDING) == 1.0:
        for label in known - {NO_FINDING}:
            for finding in onto.findings_for(vocab, label):
                if math.isnan(float(out[finding.index])):
                    out[finding.index] = 0.0
    return out


def labels_to_existence(labels: Mapping[str, float | None], vocab: str) -> torch.Tensor:
    """External labels as ontology existence codes ``[K]`` (long): 1 present, 0 absent, 2 uncertain, -1 unknown.

    The same harmonisation as :func:`labels_to_findings`, in the codes of a graph's
    ``finding.existence`` (what data sets give as evaluation labels).

    Raises:
        KeyError: A label that is not in ``vocab``.
        ValueError: A value other than 1, 0, -1 or blank.
    """
    values = labels_to_findings(labels, vocab)
    out = torch.full(values.shape, UNMENTIONED, dtype=torch.long)
    for value, code in _EXISTENCE.items():
        out[values == value] = code
    return out


def findings_to_labels(findings: torch.Tensor, vocab: str) -> dict[str, float | None]:
    """A ``[K]`` finding vector (1 / 0 / -1 / NaN) as labels of ``vocab`` (None = unknown).

    For CheXpert, "No Finding" is 1 when every other label is known and negative, and 0 when
    any is positive.
    """
    onto = get_ontology()
    if findings.shape != (onto.num_findings,):
        raise ValueError(f"expected a finding vector of shape ({onto.num_findings},), got {tuple(findings.shape)}")
    out: dict[str, float | None] = {}
    for label in onto.vocabulary(vocab):
        if label == NO_FINDING:
            continue
        value = math.nan
        for finding in onto.findings_for(vocab, label):
            value = _merge(value, float(findings[finding.index]))
        out[label] = None if math.isnan(value) else value
    if NO_FINDING in onto.vocabulary(vocab):
        others = [v for k, v in out.items()]
        if any(v == 1.0 for v in others):
            out[NO_FINDING] = 0.0
        elif others and all(v == 0.0 for v in others):
            out[NO_FINDING] = 1.0
        else:
            out[NO_FINDING] = None
    return out


def harmonize_labels(labels: Mapping[str, float | None], source: str, target: str) -> dict[str, float | None]:
    """Express labels of vocabulary ``source`` in vocabulary ``target`` (via ontology findings).

    Example:
        >>> harmonize_labels({"Effusion": 1.0, "Mass": 0.0}, "chestxray14", "chexpert14")["Pleural Effusion"]
        1.0
    """
    return findings_to_labels(labels_to_findings(labels, source), target)


def _graph_findings(graph: HeteroData) -> torch.Tensor:
    existence = graph[FINDING].existence
    out = torch.full(existence.shape, math.nan)
    out[existence == 1] = 1.0
    out[existence == 0] = 0.0
    out[existence == 2] = -1.0
    return out


class HarmonizeLabels(BaseTransform):
    """Add ``graph.y_<vocab>``: the graph's finding existence as labels of a vocabulary.

    ``y`` is a ``[1, L]`` float tensor in the vocabulary's label order (1, 0, -1, NaN unknown),
    so batches stack to ``[B, L]``; the label order is ``HarmonizeLabels(vocab).labels``.
    """

    def __init__(self, vocab: str = "chexpert14") -> None:
        self.vocab = vocab
        self.labels = get_ontology().vocabulary(vocab)

    def forward(self, data: Any) -> Any:
        labels = findings_to_labels(_graph_findings(data), self.vocab)
        data[f"y_{self.vocab}"] = torch.tensor(
            [[math.nan if labels[k] is None else labels[k] for k in self.labels]], dtype=torch.float32
        )
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vocab!r})"
