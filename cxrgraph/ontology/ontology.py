"""The :class:`Ontology`: regions, findings, relations and label sets with their lookups.

The ontology is plain data (YAML/CSV files in ``cxrgraph/data``) plus lookups; it imports no
torch, so the text pipeline and loaders can use it cheaply.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from cxrgraph.ontology.concepts import Finding, Region, RelationType
from cxrgraph.ontology.errors import UnknownConceptError

__all__ = [
    "EXISTENCE_CUE_KINDS",
    "LABEL_KINDS",
    "Ontology",
    "data_dir",
    "normalize_term",
]

#: The label sets an ontology defines; each is an ordered tuple of strings.
LABEL_KINDS = ("existence", "severity", "change", "progression")

#: The trigger lists of ``existence_cues`` in ``labels.yaml`` (see :mod:`cxrgraph.text.triggers`).
EXISTENCE_CUE_KINDS = (
    "negation_before",
    "negation_after",
    "uncertainty_before",
    "uncertainty_after",
    "pseudo",
    "affirm",
)

#: External vocabularies with a mapping table in ``data/mappings``.
VOCABULARIES = ("chexpert14", "chestxray14", "imagenome")

_SPACE = re.compile(r"\s+")


def normalize_term(text: str) -> str:
    """Lower-case, trim and collapse white space: the key form of every lookup."""
    return _SPACE.sub(" ", str(text).strip().lower())


def _packaged_data_dir() -> Path:
    return Path(str(resources.files("cxrgraph") / "data"))


def data_dir() -> Path:
    """The folder of the packaged ontology and mapping tables."""
    return _packaged_data_dir()


@dataclass(frozen=True)
class Ontology:
    """The clinical ontology every cxrgraph graph is built over.

    Use :func:`get_ontology` for the packaged ontology. Lookups accept canonical names,
    synonyms (case and white space insensitive) and integer indices, and raise
    :class:`UnknownConceptError` with the closest known names otherwise.
    """

    declared_version: str
    regions: tuple[Region, ...]
    findings: tuple[Finding, ...]
    relations: tuple[RelationType, ...]
    labels: dict[str, tuple[str, ...]]
    adjacency: tuple[tuple[str, str], ...]
    sided_terms: dict[str, str]
    severity_cues: dict[str, tuple[str, ...]]
    change_cues: dict[str, tuple[str, ...]]
    change_to_progression: dict[str, str]
    mappings: dict[str, dict[str, tuple[str, ...]]]
    radgraph_labels: dict[str, tuple[str, str]]
    radgraph_relations: dict[str, str]
    declared_fingerprint: str | None = None
    existence_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _region_keys: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _finding_keys: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ identity
    @cached_property
    def fingerprint(self) -> str:
        """Hash of everything whose order defines tensor layouts."""
        payload = {
            "regions": [r.name for r in self.regions],
            "findings": [f.name for f in self.findings],
            "labels": {k: list(v) for k, v in sorted(self.labels.items())},
            "relations": [r.edge_type for r in self.relations],
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @cached_property
    def version(self) -> str:
        """``<declared version>+<fingerprint>``: changes whenever an order changes."""
        return f"{self.declared_version}+{self.fingerprint}"

    @property
    def num_regions(self) -> int:
        return len(self.regions)

    @property
    def num_findings(self) -> int:
        return len(self.findings)

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    @property
    def finding_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.findings)

    # ------------------------------------------------------------------ lookups
    def region(self, key: str | int | Region) -> Region:
        """The region named, or named by a synonym, or at an index."""
        return self.regions[self._lookup("region", key, self._region_keys, len(self.regions))]

    def finding(self, key: str | int | Finding) -> Finding:
        """The finding named, or named by a synonym, or at an index."""
        return self.findings[self._lookup("finding", key, self._finding_keys, len(self.findings))]

    def region_index(self, key: str | int | Region) -> int:
        return self.region(key).index

    def finding_index(self, key: str | int | Finding) -> int:
        return self.finding(key).index

    def has_region(self, key: str) -> bool:
        return normalize_term(key) in self._region_keys

    def has_finding(self, key: str) -> bool:
        return normalize_term(key) in self._finding_keys

    def sided_region(self, term: str, side: str) -> Region:
        """Combine a side (``right``/``left``) with a side-less term (``"base"`` -> lower zone)."""
        side = normalize_term(side)
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        key = normalize_term(term)
        if key not in self.sided_terms:
            raise UnknownConceptError("side-less region term", term, self.sided_terms)
        return self.region(f"{side} {self.sided_terms[key]}")

    def relation(self, name: str) -> RelationType:
        for rel in self.relations:
            if rel.name == name:
                return rel
        raise UnknownConceptError("relation type", name, [r.name for r in self.relations])

    def label_index(self, kind: str, label: str | int) -> int:
        """Integer code of ``label`` in label set ``kind`` (``existence``, ``severity`` ...)."""
        values = self._label_set(kind)
        if isinstance(label, int) and not isinstance(label, bool):
            if not 0 <= label < len(values):
                raise UnknownConceptError(f"{kind} code", label, values)
            return label
        key = normalize_term(label)
        if key not in values:
            raise UnknownConceptError(f"{kind} label", label, values)
        return values.index(key)

    def label_name(self, kind: str, index: int) -> str:
        values = self._label_set(kind)
        if not 0 <= int(index) < len(values):
            raise UnknownConceptError(f"{kind} code", index, values)
        return values[int(index)]

    def _label_set(self, kind: str) -> tuple[str, ...]:
        if kind not in self.labels:
            raise UnknownConceptError("label set", kind, self.labels)
        return self.labels[kind]

    def _lookup(self, kind: str, key: object, keys: dict[str, int], size: int) -> int:
        if isinstance(key, (Region, Finding)):
            key = key.name
        if isinstance(key, int) and not isinstance(key, bool):
            if 0 <= key < size:
                return key
            raise UnknownConceptError(f"{kind} index", key, [str(i) for i in range(size)])
        if not isinstance(key, str):
            raise TypeError(f"{kind} lookup takes a name, synonym or index, got {type(key).__name__}")
        norm = normalize_term(key)
        if norm in keys:
            return keys[norm]
        raise UnknownConceptError(kind, key, keys)

    # ------------------------------------------------------------------ structure
    def parent(self, region: str | int) -> Region | None:
        r = self.region(region)
        return None if r.parent is None else self.region(r.parent)

    def children(self, region: str | int) -> tuple[Region, ...]:
        name = self.region(region).name
        return tuple(r for r in self.regions if r.parent == name)

    def ancestors(self, region: str | int) -> tuple[Region, ...]:
        out: list[Region] = []
        cur = self.parent(region)
        while cur is not None:
            out.append(cur)
            cur = self.parent(cur.index)
        return tuple(out)

    def descendants(self, region: str | int) -> tuple[Region, ...]:
        out: list[Region] = []
        stack = list(self.children(region))
        while stack:
            r = stack.pop()
            out.append(r)
            stack.extend(self.children(r.index))
        return tuple(sorted(out, key=lambda r: r.index))

    def part_of_pairs(self) -> list[tuple[int, int]]:
        """``(child, parent)`` index pairs of the part_of hierarchy, in region order."""
        return [(r.index, self.region_index(r.parent)) for r in self.regions if r.parent]

    def adjacent_pairs(self, both_directions: bool = True) -> list[tuple[int, int]]:
        """Spatial adjacency as index pairs (each undirected pair twice by default)."""
        out: list[tuple[int, int]] = []
        for a, b in self.adjacency:
            i, j = self.region_index(a), self.region_index(b)
            out.append((i, j))
            if both_directions:
                out.append((j, i))
        return out

    def finding_parent(self, finding: str | int) -> Finding | None:
        """The Chest ImaGenome-level finding a finding is a kind of (``None`` at that level)."""
        f = self.finding(finding)
        return None if f.parent is None else self.finding(f.parent)

    def finding_children(self, finding: str | int) -> tuple[Finding, ...]:
        """The kinds of a finding that the ontology names apart (``hernia`` -> ``hiatal hernia``)."""
        name = self.finding(finding).name
        return tuple(f for f in self.findings if f.parent == name)

    def finding_root(self, finding: str | int) -> Finding:
        """The finding itself, or the Chest ImaGenome-level finding it falls under."""
        f = self.finding(finding)
        while f.parent is not None:
            f = self.finding(f.parent)
        return f

    @cached_property
    def finding_roots(self) -> tuple[int, ...]:
        """Index of :meth:`finding_root` for every finding, in finding order: ``existence[roots]``
        style indexing rolls a ``[K]`` vector up to the Chest ImaGenome level."""
        return tuple(self.finding_root(i).index for i in range(len(self.findings)))

    def default_regions(self, finding: str | int) -> tuple[Region, ...]:
        return tuple(self.region(n) for n in self.finding(finding).default_regions)

    def findings_in_category(self, category: str) -> tuple[Finding, ...]:
        found = tuple(f for f in self.findings if f.category == category)
        if not found:
            raise UnknownConceptError("finding category", category, {f.category for f in self.findings})
        return found

    # ------------------------------------------------------------------ synonyms
    def region_synonyms(self) -> dict[str, int]:
        """Every normalised region name and synonym with its region index."""
        return dict(self._region_keys)

    def finding_synonyms(self) -> dict[str, int]:
        """Every normalised finding name and synonym with its finding index."""
        return dict(self._finding_keys)

    # ------------------------------------------------------------------ mappings
    def vocabulary(self, vocab: str) -> tuple[str, ...]:
        """The labels of an external vocabulary (``chexpert14``, ``chestxray14``, ``imagenome``)."""
        return tuple(self._mapping(vocab))

    def findings_for(self, vocab: str, label: str) -> tuple[Finding, ...]:
        """The ontology findings an external label stands for."""
        table = self._mapping(vocab)
        if label not in table:
            raise UnknownConceptError(f"{vocab} label", label, table)
        return tuple(self.finding(n) for n in table[label])

    def labels_for(self, vocab: str, finding: str | int) -> tuple[str, ...]:
        """The external labels a finding counts towards (empty when it maps to none).

        Chest ImaGenome (``"imagenome"``) labels a finding by its Chest ImaGenome-level finding
        (:meth:`finding_root`): ``labels_for("imagenome", "granuloma") == ("calcified nodule",)``.
        The other vocabularies list each finding they count explicitly in their mapping table.
        """
        name = (self.finding_root(finding) if vocab == "imagenome" else self.finding(finding)).name
        return tuple(lab for lab, names in self._mapping(vocab).items() if name in names)

    def _mapping(self, vocab: str) -> dict[str, tuple[str, ...]]:
        if vocab not in self.mappings:
            raise UnknownConceptError("vocabulary", vocab, self.mappings)
        return self.mappings[vocab]

    def progression_of_change(self, change: str | int) -> int:
        """Region progression code of an edge change cue (-1 when the cue says nothing)."""
        name = self.label_name("change", self.label_index("change", change))
        target = self.change_to_progression.get(name)
        return -1 if target is None else self.label_index("progression", target)

    def __repr__(self) -> str:
        return (
            f"Ontology(version={self.version!r}, regions={self.num_regions}, "
            f"findings={self.num_findings}, relations={len(self.relations)})"
        )
