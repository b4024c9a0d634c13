"""Chest ImaGenome 1.0.0: silver scene graphs (zip or folder), splits, gold annotations.

Layout (see the data set's documentation)::

    <root>/silver_dataset/scene_graph.zip            scene_graph/<dicom_id>_SceneGraph.json
    <root>/silver_dataset/scene_graph/               (or extracted)
    <root>/silver_dataset/splits/{train,valid,test}.csv, images_to_avoid.csv
    <root>/gold_dataset/gold_bbox_coordinate_annotations_1000images.csv
    <root>/gold_dataset/gold_object_comparison_with_coordinates.txt
    <root>/gold_dataset/gold_object_attribute_with_coordinates.txt

Known quirks handled: negative or out-of-image boxes are clipped, zero-area boxes mean the
region is absent, region names outside the fixed 29 are kept aside (``extra_regions``) instead
of failing, comparisons may hold several values, gold image ids carry a ``.dcm`` suffix.
"""

from __future__ import annotations

import json
import logging
import math
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from cxrgraph.datasets.base import CachedGraphDataset
from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
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

_HOW_TO_GET = (
    "Chest ImaGenome is credentialed data and cannot be downloaded by cxrgraph: request access on "
    "PhysioNet (chest-imagenome 1.0.0), then pass the folder that holds silver_dataset/ as root."
)
_SCENE_SUFFIX = "_SceneGraph.json"
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


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _normalised_box(row: Mapping[str, Any]) -> torch.Tensor:
    """A box as normalised xyxy, clipped to the image (NaN when it cannot be read).

    The 224 x 224 coordinates (``x1..y2``) are used: they are normalised by construction. The
    ``original_*`` pixel coordinates need the image size, which the files do not hold reliably
    (``original_width`` / ``original_height`` are box sizes, like ``width`` / ``height``), so they
    are used only when the 224 coordinates are missing and the size fields cannot be box sizes.
    """
    xyxy = [_float(row.get(k)) for k in ("x1", "y1", "x2", "y2")]
    if not any(math.isnan(v) for v in xyxy):
        return torch.tensor([v / 224.0 for v in xyxy]).clamp(0.0, 1.0)
    orig = [_float(row.get(k)) for k in ("original_x1", "original_y1", "original_x2", "original_y2")]
    width, height = _float(row.get("original_width")), _float(row.get("original_height"))
    if width > orig[2] and height > orig[3]:
        return torch.tensor([orig[0] / width, orig[1] / height, orig[2] / width, orig[3] / height]).clamp(0.0, 1.0)
    return torch.full((4,), math.nan)


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
    for key in ("image_id", "objects"):
        if key not in doc:
            raise DatasetFormatError(source, f"scene graph has no {key!r} key")
    num_r = onto.num_regions
    boxes = torch.full((num_r, 4), math.nan)
    extra: list[str] = []
    for obj in doc.get("objects") or []:
        name = normalize_term(obj.get("bbox_name", ""))
        if not onto.has_region(name) or onto.region(name).name != name:
            extra.append(name)
            continue
        box = _normalised_box(obj)
        if torch.isnan(box).any() or box[2] <= box[0] or box[3] <= box[1]:
            continue  # zero-area (or unreadable) box: the region is absent
        boxes[onto.region_index(name)] = box
    present = torch.isfinite(boxes).all(dim=1)

    triplets: list[Triplet] = []
    phrases: dict[str, list[str]] = {}
    unknown: list[str] = []
    for entry in doc.get("attributes") or []:
        region = normalize_term(entry.get("bbox_name", ""))
        if not onto.has_region(region) or onto.region(region).name != region:
            if region not in extra:
                extra.append(region)
            continue
        phrases[region] = list(entry.get("phrases") or [])
        per_phrase = entry.get("attributes") or []
        sev_cues = entry.get("severity_cues") or []
        tmp_cues = entry.get("temporal_cues") or []
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
    for rel in doc.get("relationships") or []:
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
    )


def _first_cue(cues: Sequence[str], table: Mapping[str, Sequence[str]], default: str) -> str:
    for cue in cues or []:
        cue = normalize_term(cue)
        for label, words in table.items():
            if cue == label or cue in words:
                return label
    return default


def _scene_graph_source(root: Path) -> Path:
    silver = root / "silver_dataset"
    for candidate in (
        silver / "scene_graph.zip",
        silver / "scene_graph",
        root / "scene_graph.zip",
        root / "scene_graph",
    ):
        if candidate.exists():
            return candidate
    raise DatasetNotFoundError(
        "Chest ImaGenome",
        "the silver scene graphs (scene_graph.zip or an extracted scene_graph/ folder)",
        [silver / "scene_graph.zip", silver / "scene_graph", root / "scene_graph.zip", root / "scene_graph"],
        _HOW_TO_GET,
    )


def iter_scene_graphs(root: str | Path, image_ids: Sequence[str] | None = None) -> Iterator[tuple[str, dict]]:
    """Yield ``(image_id, decoded JSON)`` from the zip or the extracted folder."""
    source = _scene_graph_source(Path(root))
    wanted = None if image_ids is None else set(image_ids)
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf:
            for name in sorted(zf.namelist()):
                if not name.endswith(_SCENE_SUFFIX):
                    continue
                image_id = Path(name).name[: -len(_SCENE_SUFFIX)]
                if wanted is None or image_id in wanted:
                    yield image_id, json.loads(zf.read(name).decode("utf-8"))
    else:
        for path in sorted(source.glob(f"*{_SCENE_SUFFIX}")):
            image_id = path.name[: -len(_SCENE_SUFFIX)]
            if wanted is None or image_id in wanted:
                yield image_id, json.loads(path.read_text(encoding="utf-8"))


def read_split(root: str | Path, split: str) -> list[dict[str, str]]:
    """Rows of ``silver_dataset/splits/<split>.csv`` (subject_id, study_id, dicom_id, path, ViewPosition)."""
    names = {"val": "valid", "validate": "valid", "validation": "valid"}
    split = names.get(split, split)
    path = Path(root) / "silver_dataset" / "splits" / f"{split}.csv"
    if not path.is_file():
        raise DatasetNotFoundError("Chest ImaGenome", f"the {split!r} split file", [path], _HOW_TO_GET)
    return read_csv_rows(path, required=("dicom_id",))


def read_images_to_avoid(root: str | Path) -> set[str]:
    path = Path(root) / "silver_dataset" / "splits" / "images_to_avoid.csv"
    if not path.is_file():
        return set()
    return {_strip_dcm(r["dicom_id"]) for r in read_csv_rows(path, required=("dicom_id",))}


def _strip_dcm(image_id: str) -> str:
    image_id = str(image_id).strip()
    return image_id[:-4] if image_id.lower().endswith(".dcm") else image_id


def read_gold_bboxes(path: str | Path) -> dict[str, torch.Tensor]:
    """Gold boxes: ``image_id -> [29, 4]`` normalised xyxy (NaN where absent); ``.dcm`` stripped."""
    onto = get_ontology()
    rows = read_csv_rows(path, required=("image_id", "bbox_name"))
    out: dict[str, torch.Tensor] = {}
    for row in rows:
        image_id = _strip_dcm(row["image_id"])
        name = normalize_term(row["bbox_name"])
        boxes = out.setdefault(image_id, torch.full((onto.num_regions, 4), math.nan))
        if not onto.has_region(name) or onto.region(name).name != name:
            continue
        box = _normalised_box(row)
        if not torch.isnan(box).any() and box[2] > box[0] and box[3] > box[1]:
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
                current_image_id=_strip_dcm(row["current_image_id"]),
                previous_image_id=_strip_dcm(row["previous_image_id"]),
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
        image_id = _strip_dcm(row["image_id"])
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
        super().__init__(root, split=split, **kwargs)

    def check_raw(self, root: Path) -> None:
        _scene_graph_source(root)
        if self.split is not None:
            read_split(root, self.split)

    def items(self) -> tuple[list[tuple[str, dict]], list[str]]:
        wanted = None
        if self.split is not None:
            wanted = [_strip_dcm(r["dicom_id"]) for r in read_split(self.root, self.split)]
            if self.exclude_gold and self.split == "train":
                avoid = read_images_to_avoid(self.root)
                wanted = [w for w in wanted if w not in avoid]
        docs = list(iter_scene_graphs(self.root, wanted))
        return docs, [image_id for image_id, _ in docs]

    def convert(self, item: tuple[str, dict]) -> ClinicalGraph:
        image_id, doc = item
        sg = parse_scene_graph(doc, source=f"{image_id}{_SCENE_SUFFIX}")
        graph = sg.to_graph()
        graph.progression = sg.progression().unsqueeze(0)  # [1, 29]: batches stack to [B, 29]
        graph.previous_image_id = sg.comparisons[0].previous_image_id if sg.comparisons else ""
        graph.study_datetime = sg.study_datetime.isoformat() if sg.study_datetime else ""
        return graph
