"""Loading the ontology from its data folder: YAML and CSV tables, checked for consistency."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from cxrgraph.ontology.concepts import Finding, Region, RelationType
from cxrgraph.ontology.errors import OntologyError
from cxrgraph.ontology.ontology import (
    EXISTENCE_CUE_KINDS,
    LABEL_KINDS,
    Ontology,
    _packaged_data_dir,
    normalize_term,
)

__all__ = ["get_ontology", "load_ontology"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
