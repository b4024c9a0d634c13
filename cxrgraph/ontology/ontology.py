"""The :class:`Ontology`: regions, findings, relations and label sets with their lookups.

The ontology is plain data (YAML/CSV files in ``cxrgraph/data``) plus lookups; it imports no
torch, so the text pipeline and loaders can use it cheaply.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import yaml

from cxrgraph.ontology.concepts import Finding, Region, RelationType
from cxrgraph.ontology.errors import OntologyError, UnknownConceptError

__all__ = [
    "EXISTENCE_CUE_KINDS",
    "LABEL_KINDS",
    "Ontology",
    "data_dir",
    "get_ontology",
    "load_ontology",
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
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize_term(text: str) -> str:
    """Lower-case, trim and collapse white space: the key form of every lookup."""
    return _SPACE.sub(" ", str(text).strip().lower())


def _packaged_data_dir() -> Path:
    return Path(str(resources.files("cxrgraph") / "data"))


def data_dir() -> Path:
    """The folder of the packaged ontology and mapping tables."""
    return _packaged_data_dir()


def _read_yaml(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as fh:
            # the C loader (when PyYAML has it) reads the ontology ~10x faster
            return yaml.load(fh, Loader=_YAML_LOADER) or {}
    except FileNotFoundError as err:
        raise OntologyError(f"ontology file missing: {path}") from err


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


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


def _build_keys(kind: str, concepts: Sequence[Region] | Sequence[Finding]) -> dict[str, int]:
    keys: dict[str, int] = {}
    for concept in concepts:
        for term in (concept.name, *concept.synonyms):
            key = normalize_term(term)
            if key in keys and keys[key] != concept.index:
                other = concepts[keys[key]].name
                raise OntologyError(f"{kind} synonym {term!r} names both {other!r} and {concept.name!r}")
            keys[key] = concept.index
    return keys


def _expand(names: Iterable[str], findings: Sequence[Finding]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if name.startswith("@"):  # a whole category, e.g. @tubesandlines
            out.extend(f.name for f in findings if f.category == name[1:])
        elif name:
            out.append(name)
    return tuple(out)


def load_ontology(data_dir: str | Path | None = None) -> Ontology:
    """Load an ontology from a data folder (the packaged one by default).

    The folder holds ``ontology.yaml``, ``anatomy.yaml``, ``findings.yaml``, ``labels.yaml``
    and ``mappings/*.csv``; a user may copy and extend it. Inconsistent data raises
    :class:`OntologyError` naming the offending entry.
    """
    root = Path(data_dir) if data_dir is not None else _packaged_data_dir()
    manifest = _read_yaml(root / "ontology.yaml")
    anatomy = _read_yaml(root / "anatomy.yaml")
    vocab = _read_yaml(root / "findings.yaml")
    labels = _read_yaml(root / "labels.yaml")

    regions = tuple(
        Region(
            index=i,
            name=normalize_term(r["name"]),
            laterality=r["laterality"],
            zone=r["zone"],
            parent=normalize_term(r["parent"]) if r.get("parent") else None,
            plot_xy=(float(r["plot_xy"][0]), float(r["plot_xy"][1])),
            synonyms=tuple(normalize_term(s) for s in r.get("synonyms", ())),
        )
        for i, r in enumerate(anatomy["regions"])
    )
    findings = tuple(
        Finding(
            index=i,
            name=normalize_term(f["name"]),
            category=f["category"],
            default_regions=tuple(normalize_term(s) for s in f["default_regions"]),
            synonyms=tuple(normalize_term(s) for s in f.get("synonyms", ())),
            parent=normalize_term(f["parent"]) if f.get("parent") else None,
            either_of=tuple(normalize_term(s) for s in f.get("either_of", ())),
        )
        for i, f in enumerate(vocab["findings"])
    )
    relations = tuple(
        RelationType(index=i, name=r["name"], source=r["source"], target=r["target"])
        for i, r in enumerate(labels["relations"])
    )
    label_sets = {k: tuple(normalize_term(v) for v in labels[k]) for k in LABEL_KINDS}

    mappings: dict[str, dict[str, tuple[str, ...]]] = {}
    for name in ("chexpert14", "chestxray14"):
        table: dict[str, list[str]] = {}
        for row in _read_csv(root / "mappings" / f"{name}.csv"):
            table.setdefault(row["label"], []).append(normalize_term(row["finding"] or ""))
        mappings[name] = {k: _expand(v, findings) for k, v in table.items()}
    mappings["imagenome"] = {
        normalize_term(row["attribute"]): (normalize_term(row["finding"]),)
        for row in _read_csv(root / "mappings" / "imagenome.csv")
    }
    radgraph_labels = {
        row["label"]: (row["node_type"], row["existence"]) for row in _read_csv(root / "mappings" / "radgraph.csv")
    }
    radgraph_relations = {
        row["radgraph_relation"]: row["relation"] for row in _read_csv(root / "mappings" / "radgraph_relations.csv")
    }

    onto = Ontology(
        declared_version=str(manifest["version"]),
        declared_fingerprint=manifest.get("fingerprint"),
        regions=regions,
        findings=findings,
        relations=relations,
        labels=label_sets,
        adjacency=tuple((normalize_term(a), normalize_term(b)) for a, b in anatomy.get("adjacent", ())),
        sided_terms={normalize_term(k): normalize_term(v) for k, v in anatomy.get("sided_terms", {}).items()},
        severity_cues={k: tuple(normalize_term(c) for c in v) for k, v in labels["severity_cues"].items()},
        change_cues={k: tuple(normalize_term(c) for c in v) for k, v in labels["change_cues"].items()},
        existence_cues=_existence_cues(labels, root / "labels.yaml"),
        change_to_progression={
            normalize_term(k): normalize_term(v) for k, v in labels["change_to_progression"].items()
        },
        mappings=mappings,
        radgraph_labels=radgraph_labels,
        radgraph_relations=radgraph_relations,
        _region_keys=_build_keys("region", regions),
        _finding_keys=_build_keys("finding", findings),
    )
    _validate(onto)
    return onto


def _existence_cues(labels: dict, path: Path) -> dict[str, tuple[str, ...]]:
    """The parser's trigger lists, checked: every kind present, lists of strings, no repeats."""
    cues = labels.get("existence_cues")
    if not isinstance(cues, dict):
        raise OntologyError(
            f"{path}: no 'existence_cues' table (the parser's negation and uncertainty triggers); copy it from "
            f"the packaged {_packaged_data_dir() / 'labels.yaml'}"
        )
    unknown = sorted(set(cues) - set(EXISTENCE_CUE_KINDS))
    missing = [k for k in EXISTENCE_CUE_KINDS if k not in cues]
    if unknown or missing:
        raise OntologyError(
            f"{path}: existence_cues has unknown lists {unknown} and lacks {missing}; the lists are "
            f"{list(EXISTENCE_CUE_KINDS)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for kind in EXISTENCE_CUE_KINDS:
        words = cues[kind] or []
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise OntologyError(f"{path}: existence_cues.{kind} must be a list of non-empty strings")
        norm = tuple(normalize_term(w) for w in words)
        repeats = sorted({w for i, w in enumerate(norm) if w in norm[:i]})
        if repeats:
            raise OntologyError(f"{path}: existence_cues.{kind} lists {repeats} more than once")
        out[kind] = norm
    # a word is a trigger, a pseudo-trigger or an affirmation, never two of them
    triggers = {w for k in EXISTENCE_CUE_KINDS[:4] for w in out[k]}
    for a, b in ((triggers, "pseudo"), (triggers, "affirm"), (set(out["pseudo"]), "affirm")):
        both = sorted(a & set(out[b]))
        if both:
            raise OntologyError(f"{path}: existence_cues lists {both} both in {b} and in another list")
    return out


def _validate(onto: Ontology) -> None:
    """Referential integrity: every name a table uses must exist."""
    names = set(onto.region_names)
    if len(names) != len(onto.regions):
        raise OntologyError("region names are not unique")
    if len(set(onto.finding_names)) != len(onto.findings):
        raise OntologyError("finding names are not unique")
    for r in onto.regions:
        if r.parent is not None and r.parent not in names:
            raise OntologyError(f"region {r.name!r}: parent {r.parent!r} is not a region")
    for a, b in onto.adjacency:
        for n in (a, b):
            if n not in names:
                raise OntologyError(f"adjacency ({a!r}, {b!r}): {n!r} is not a region")
    finding_set = set(onto.finding_names)
    for f in onto.findings:
        for n in f.default_regions:
            if n not in names:
                raise OntologyError(f"finding {f.name!r}: default region {n!r} is not a region")
        if f.parent is not None:
            if f.parent not in finding_set:
                raise OntologyError(f"finding {f.name!r}: parent {f.parent!r} is not a finding")
            if onto.findings[onto._finding_keys[f.parent]].parent is not None:
                raise OntologyError(
                    f"finding {f.name!r}: parent {f.parent!r} has a parent itself; a parent names a Chest "
                    "ImaGenome-level finding"
                )
        for n in f.either_of:
            if n not in finding_set:
                raise OntologyError(f"finding {f.name!r}: either_of names {n!r}, which is not a finding")
    for term, suffix in onto.sided_terms.items():
        for side in ("right", "left"):
            if f"{side} {suffix}" not in names:
                raise OntologyError(f"sided term {term!r}: {side} {suffix!r} is not a region")
    finding_names = set(onto.finding_names)
    for vocab, table in onto.mappings.items():
        for label, targets in table.items():
            for t in targets:
                if t not in finding_names:
                    raise OntologyError(f"{vocab} mapping {label!r}: {t!r} is not a finding")
    for kind in ("severity_cues", "change_cues"):
        allowed = onto.labels["severity" if kind == "severity_cues" else "change"]
        for label in getattr(onto, kind):
            if label not in allowed:
                raise OntologyError(f"{kind}: {label!r} is not a label")
    for change, prog in onto.change_to_progression.items():
        if change not in onto.labels["change"] or prog not in onto.labels["progression"]:
            raise OntologyError(f"change_to_progression {change!r} -> {prog!r} names an unknown label")
    for rel in onto.relations:
        if rel.source not in ("anatomy", "finding") or rel.target not in ("anatomy", "finding"):
            raise OntologyError(f"relation {rel.name!r} links unknown node types")


@lru_cache(maxsize=1)
def get_ontology() -> Ontology:
    """The packaged ontology (loaded once)."""
    return load_ontology()
