"""Chest ImaGenome 1.0.0: silver scene graphs (zip or folder), splits, gold annotations.

Layout (see the data set's documentation)::

    <root>/silver_dataset/scene_graph.zip            scene_graph/<dicom_id>_SceneGraph.json
    <root>/silver_dataset/scene_graph/               (or extracted)
    <root>/silver_dataset/splits/{train,valid,test}.csv, images_to_avoid.csv
    <root>/gold_dataset/gold_bbox_coordinate_annotations_1000images.csv
    <root>/gold_dataset/gold_object_comparison_with_coordinates.txt
    <root>/gold_dataset/gold_object_attribute_with_coordinates.txt

Known quirks handled: negative or out-of-image boxes are clipped, zero-area boxes mean the
region is absent (boxes are read by :mod:`cxrgraph.datasets.boxes`, the reader the image side
uses too), region names outside the fixed 29 are kept aside (``extra_regions``) instead of
failing, comparisons may hold several values, gold image ids carry a ``.dcm`` suffix.

Nothing is lost silently: a scene graph file that is empty, truncated, not UTF-8 or not a scene
graph, and an image of the split that has no scene graph, are recorded in the data set's
``failures`` (with the file and the reason) and the rest is read.
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from cxrgraph.datasets.base import CachedGraphDataset
from cxrgraph.datasets.boxes import imagenome_box, scene_graph_boxes
from cxrgraph.datasets.errors import DatasetFormatError
from cxrgraph.datasets.imagenome_files import (
    SCENE_SUFFIX,
    SPLITS,
    iter_scene_graphs,
    read_images_to_avoid,
    read_scene_graph,
    read_split,
    scene_graph_index,
    scene_graph_source,
    strip_dcm,
)
from cxrgraph.datasets.io_utils import read_csv_rows
from cxrgraph.graph import UNLABELLED, ClinicalGraph, Triplet
from cxrgraph.ontology import get_ontology, normalize_term

__all__ = [
    "ChestImaGenome",
    "SceneGraph",
    "Comparison",
    "parse_scene_graph",
    "iter_scene_graphs",
    "read_split",
    "read_gold_bboxes",
    "read_gold_comparisons",
    "read_gold_attributes",
    "comparison_progression",
]

log = logging.getLogger(__name__)

_PROGRESSION_RANK = {"worsened": 3, "improved": 2, "no change": 1}


@dataclass(frozen=True)
class Comparison:
    """A comparison of one region with the previous exam (``comparison|yes|worsened``)."""

    region: str
    previous_image_id: str
    labels: tuple[str, ...]
    phrase: str = ""


@dataclass
class SceneGraph:
    """One Chest ImaGenome scene graph read into ontology terms."""

    image_id: str
    patient_id: str
    study_id: str
    viewpoint: str
    study_order: int | None
    study_datetime: datetime | None
    boxes: torch.Tensor  # [29, 4] normalised xyxy, NaN where absent
    present: torch.Tensor  # [29] bool
    triplets: list[Triplet]
    phrases: dict[str, list[str]]
    comparisons: list[Comparison]
    extra_regions: list[str] = field(default_factory=list)
    unknown_attributes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    unreadable_boxes: list[str] = field(default_factory=list)

    def to_graph(self) -> ClinicalGraph:
        """The scene graph as a :class:`ClinicalGraph` (boxes, presence, located_at triplets)."""
        return ClinicalGraph.from_triplets(
            self.triplets,
            boxes=self.boxes,
            present=self.present,
            image_id=self.image_id,
            study_id=self.study_id,
            subject_id=self.patient_id,
        )

    def progression(self) -> torch.Tensor:
        """Per-region progression codes from the comparisons (see :func:`comparison_progression`)."""
        return comparison_progression(self.comparisons)


def comparison_progression(comparisons: Sequence[Comparison]) -> torch.Tensor:
    """Per-region progression labels ``[29]`` (-1 where no comparison speaks of a region).

    A region with several values (multi-valued entries or several phrases) takes the most
    serious: worsened over improved over no change.
    """
    onto = get_ontology()
    out = torch.full((onto.num_regions,), UNLABELLED, dtype=torch.long)
    best = [0] * onto.num_regions
    for comp in comparisons:
        r = onto.region_index(comp.region)
        for label in comp.labels:
            rank = _PROGRESSION_RANK.get(label, 0)
            if rank > best[r]:
                best[r] = rank
                out[r] = onto.label_index("progression", label)
    return out


def _parse_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y%m%d %H%M%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _split_attribute(text: str) -> tuple[str, str, str] | None:
    parts = str(text).split("|")
    if len(parts) != 3:
        return None
    return normalize_term(parts[0]), normalize_term(parts[1]), normalize_term(parts[2])


def parse_scene_graph(doc: Mapping[str, Any], source: str = "<scene graph>") -> SceneGraph:
    """Read one scene graph JSON object into a :class:`SceneGraph`.

    Args:
        doc: The decoded JSON.
        source: Where it came from, for error messages.

    Raises:
        DatasetFormatError: A required key is missing or has the wrong type.
    """
    onto = get_ontology()
    if not isinstance(doc, Mapping):
        raise DatasetFormatError(source, f"a scene graph must be a JSON object, got {type(doc).__name__}")
    for key in ("image_id", "objects"):
        if key not in doc:
            raise DatasetFormatError(source, f"scene graph has no {key!r} key")
    extra: list[str] = []
    unreadable: list[str] = []
    boxes = scene_graph_boxes(doc, source, unreadable=unreadable, extra=extra)
    present = torch.isfinite(boxes).all(dim=1)

    triplets: list[Triplet] = []
    phrases: dict[str, list[str]] = {}
    unknown: list[str] = []
    for entry in _entries(doc, "attributes", source):
        region = normalize_term(entry.get("bbox_name", ""))
        if not onto.has_region(region) or onto.region(region).name != region:
            if region not in extra:
                extra.append(region)
            continue
        phrases[region] = list(entry.get("phrases") or [])
        per_phrase = entry.get("attributes") or []
        sev_cues = entry.get("severity_cues") or []
        tmp_cues = entry.get("temporal_cues") or []
        if not all(isinstance(v, list) for v in (per_phrase, sev_cues, tmp_cues)) or not all(
            isinstance(a, list) for a in per_phrase
        ):
            raise DatasetFormatError(
                source, f"attributes of region {region!r} must be lists (one list per phrase), got {per_phrase!r:.60}"
            )
        for i, attrs in enumerate(per_phrase):
            severity = _first_cue(sev_cues[i] if i < len(sev_cues) else [], onto.severity_cues, "unspecified")
            change = _first_cue(tmp_cues[i] if i < len(tmp_cues) else [], onto.change_cues, "unspecified")
            for text in attrs or []:
                parsed = _split_attribute(text)
                if parsed is None:
                    unknown.append(str(text))
                    continue
                category, yes_no, label = parsed
                if category in ("nlp", "texture"):
                    continue
                mapped = onto.mappings["imagenome"].get(label)
                if mapped is None:
                    unknown.append(str(text))
                    continue
                existence = "present" if yes_no == "yes" else "absent"
                triplets.append(Triplet(region, mapped[0], existence, severity, change))

    comparisons: list[Comparison] = []
    for rel in _entries(doc, "relationships", source):
        region = normalize_term(rel.get("bbox_name", ""))
        if not onto.has_region(region) or onto.region(region).name != region:
            continue
        labels = []
        for name in rel.get("relationship_names") or []:
            parsed = _split_attribute(name)
            if parsed and parsed[0] == "comparison" and parsed[1] == "yes" and parsed[2] in _PROGRESSION_RANK:
                labels.append(parsed[2])
        if not labels:
            continue
        object_id = str(rel.get("object_id", ""))
        previous = object_id.split("_", 1)[0] if "_" in object_id else object_id
        comparisons.append(Comparison(region, previous, tuple(labels), str(rel.get("phrase", ""))))

    order = doc.get("StudyOrder")
    return SceneGraph(
        image_id=str(doc["image_id"]),
        patient_id=str(doc.get("patient_id", "")),
        study_id=str(doc.get("study_id", "")),
        viewpoint=str(doc.get("viewpoint", "")),
        study_order=int(order) if isinstance(order, (int, float)) or str(order).isdigit() else None,
        study_datetime=_parse_datetime(doc.get("StudyDateTime")),
        boxes=boxes,
        present=present,
        triplets=triplets,
        phrases=phrases,
        comparisons=comparisons,
        extra_regions=sorted(set(extra)),
        unknown_attributes=unknown,
        meta={k: doc.get(k) for k in ("gender", "age_decile", "reason_for_exam") if k in doc},
        unreadable_boxes=unreadable,
    )


def _entries(doc: Mapping[str, Any], key: str, source: str) -> list[Mapping[str, Any]]:
    """``doc[key]`` checked to be a list of objects."""
    entries = doc.get(key) or []
    if not isinstance(entries, list):
        raise DatasetFormatError(source, f"{key!r} must be a list, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise DatasetFormatError(
                source, f"{key}[{i}] must be an object, got {type(entry).__name__} ({entry!r:.40})"
            )
    return entries


def _first_cue(cues: Sequence[str], table: Mapping[str, Sequence[str]], default: str) -> str:
    for cue in cues or []:
        cue = normalize_term(cue)
        for label, words in table.items():
            if cue == label or cue in words:
                return label
    return default


def read_gold_bboxes(path: str | Path) -> dict[str, torch.Tensor]:
    """Gold boxes: ``image_id -> [29, 4]`` normalised xyxy (NaN where absent); ``.dcm`` stripped."""
    onto = get_ontology()
    rows = read_csv_rows(path, required=("image_id", "bbox_name"))
    out: dict[str, torch.Tensor] = {}
    for row in rows:
        image_id = strip_dcm(row["image_id"])
        name = normalize_term(row["bbox_name"])
        boxes = out.setdefault(image_id, torch.full((onto.num_regions, 4), math.nan))
        if not onto.has_region(name) or onto.region(name).name != name:
            continue
        box = imagenome_box(row)
        if box is not None and box[2] > box[0] and box[3] > box[1]:
            boxes[onto.region_index(name)] = box
    return out


@dataclass(frozen=True)
class GoldComparison:
    """One row of the gold comparison file."""

    patient_id: str
    current_image_id: str
    previous_image_id: str
    region: str
    labels: tuple[str, ...]
    finding: str | None
    sentence: str


def read_gold_comparisons(path: str | Path) -> list[GoldComparison]:
    """Rows of ``gold_object_comparison_with_coordinates.txt`` (tab-separated; columns by name).

    Multi-valued comparisons (``improved;;worsened``) are split; unknown regions are skipped.
    """
    onto = get_ontology()
    rows = read_csv_rows(path, delimiter="\t", required=("current_image_id", "previous_image_id", "bbox", "comparison"))
    out = []
    for row in rows:
        region = normalize_term(row["bbox"])
        if not onto.has_region(region) or onto.region(region).name != region:
            continue
        labels = tuple(
            v for v in (normalize_term(x) for x in str(row["comparison"]).split(";;")) if v in _PROGRESSION_RANK
        )
        label_name = normalize_term(row.get("label_name", "") or "")
        mapped = onto.mappings["imagenome"].get(label_name)
        out.append(
            GoldComparison(
                patient_id=str(row.get("patient_id", "")),
                current_image_id=strip_dcm(row["current_image_id"]),
                previous_image_id=strip_dcm(row["previous_image_id"]),
                region=region,
                labels=labels,
                finding=mapped[0] if mapped else None,
                sentence=str(row.get("sentence", "")),
            )
        )
    return out


def read_gold_attributes(path: str | Path) -> dict[str, list[Triplet]]:
    """Gold attribute rows as triplets per image (``image_id -> [Triplet]``)."""
    onto = get_ontology()
    rows = read_csv_rows(path, delimiter="\t", required=("image_id", "bbox", "label_name", "context"))
    out: dict[str, list[Triplet]] = {}
    for row in rows:
        region = normalize_term(row["bbox"])
        mapped = onto.mappings["imagenome"].get(normalize_term(row["label_name"]))
        image_id = strip_dcm(row["image_id"])
        out.setdefault(image_id, [])
        if mapped is None or not onto.has_region(region) or onto.region(region).name != region:
            continue
        existence = "present" if normalize_term(row["context"]) == "yes" else "absent"
        out[image_id].append(Triplet(region, mapped[0], existence))
    return out


class ChestImaGenome(CachedGraphDataset):
    """Chest ImaGenome silver scene graphs as :class:`ClinicalGraph` objects (image side).

    Each graph carries the 29 region boxes (normalised), presence, the located_at triplets of
    the scene graph's attributes, and graph attributes ``image_id``, ``study_id``,
    ``subject_id``, plus ``progression`` (``[29]`` codes from the comparison relations with the
    previous exam, -1 where none) and ``previous_image_id``.

    Args:
        root: Folder holding ``silver_dataset/``.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``None`` for every scene graph.
        exclude_gold: Leave out ``images_to_avoid.csv`` (gold images) from training splits.
        **kwargs: See :class:`~cxrgraph.datasets.base.CachedGraphDataset`.
    """

    cache_name = "imagenome"

    def __init__(self, root: str | Path, split: str | None = "train", exclude_gold: bool = True, **kwargs: Any):
        self.exclude_gold = exclude_gold
        self._archive: zipfile.ZipFile | None = None
        super().__init__(root, split=split, **kwargs)

    def check_raw(self, root: Path) -> None:
        scene_graph_source(root)
        if self.split is not None:
            read_split(root, self.split)

    def items(self) -> tuple[list[tuple[str, Path, str | None]], list[str]]:
        """One item per image: every scene graph, or every image of the split (an image the
        split lists without a scene graph is an item too, recorded as a failure)."""
        source, index = scene_graph_index(self.root)
        if self.split is None:
            wanted = list(index)
        else:
            wanted = list(dict.fromkeys(strip_dcm(r["dicom_id"]) for r in read_split(self.root, self.split)))
            if self.exclude_gold and SPLITS[str(self.split).strip().lower()] == "train":
                avoid = read_images_to_avoid(self.root)
                wanted = [w for w in wanted if w not in avoid]
            wanted.sort(key=lambda w: w + SCENE_SUFFIX)
        return [(w, source, index.get(w)) for w in wanted], wanted

    def fingerprints(self, items: Sequence[tuple[str, Path, str | None]]) -> list[str]:
        """Size and CRC (zip) or size and modification time (folder) of each scene graph file."""
        if not items:
            return []
        source = items[0][1]
        if source.suffix == ".zip":
            with zipfile.ZipFile(source) as zf:
                infos = {i.filename: f"{i.file_size}:{i.CRC}" for i in zf.infolist()}
            return [infos.get(entry, "missing") if entry else "missing" for _w, _s, entry in items]
        out = []
        for _w, _s, entry in items:
            try:
                st = os.stat(entry) if entry else None
            except OSError:
                st = None
            out.append(f"{st.st_size}:{st.st_mtime_ns}" if st is not None else "missing")
        return out

    def convert(self, item: tuple[str, Path, str | None]) -> ClinicalGraph:
        image_id, source, entry = item
        if entry is None:
            raise DatasetFormatError(
                source, f"no scene graph {image_id}{SCENE_SUFFIX} for image {image_id} of the {self.split!r} split"
            )
        if source.suffix == ".zip" and self._archive is None:
            self._archive = zipfile.ZipFile(source)  # one open archive for the whole build
        doc = read_scene_graph(source, entry, self._archive)
        sg = parse_scene_graph(doc, source=f"{source}:{entry}" if source.suffix == ".zip" else entry)
        graph = sg.to_graph()
        graph.progression = sg.progression().unsqueeze(0)  # [1, 29]: batches stack to [B, 29]
        graph.previous_image_id = sg.comparisons[0].previous_image_id if sg.comparisons else ""
        graph.study_datetime = sg.study_datetime.isoformat() if sg.study_datetime else ""
        return graph

    def process(self) -> None:
        try:
            super().process()
        finally:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
