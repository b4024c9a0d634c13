"""MS-CXR-T: temporal image classification pairs and temporal sentence similarity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.io_utils import read_csv_rows
from cxrgraph.graph import UNLABELLED
from cxrgraph.ontology import data_dir, get_ontology

__all__ = ["MSCXRT", "TemporalPair", "SentencePair", "MSCXRT_FINDINGS", "finding_progression_to_regions"]

_HOW_TO_GET = (
    "MS-CXR-T is credentialed data (PhysioNet, ms-cxr-t 1.0.0) and cannot be downloaded by cxrgraph; pass "
    "the folder that holds the MS_CXR_T_*.csv files as root."
)
_CLASSIFICATION = "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
_SIMILARITY = "MS_CXR_T_temporal_sentence_similarity_v1.0.0.csv"
#: MS-CXR-T label -> ontology progression label
_PROGRESSION = {"improving": "improved", "stable": "no change", "worsening": "worsened"}


def _load_columns() -> dict[str, str]:
    import csv

    with (data_dir() / "mappings" / "ms_cxr_t.csv").open(encoding="utf-8") as fh:
        return {row["column"]: row["finding"] for row in csv.DictReader(fh)}


#: MS-CXR-T column -> ontology finding name
MSCXRT_FINDINGS = _load_columns()


@dataclass(frozen=True)
class TemporalPair:
    """A prior/current image pair with finding-level progression (``None`` = not labelled)."""

    subject_id: str
    study_id: str
    dicom_id: str
    previous_study_id: str
    previous_dicom_id: str
    progression: dict[str, str | None]  # ontology finding -> improved / no change / worsened

    def region_labels(self) -> torch.Tensor:
        """Per-region progression ``[29]`` (see :func:`finding_progression_to_regions`)."""
        return finding_progression_to_regions(self.progression)


@dataclass(frozen=True)
class SentencePair:
    sentence_1: str
    sentence_2: str
    category: str  # paraphrase | contradiction


def finding_progression_to_regions(progression: dict[str, str | None]) -> torch.Tensor:
    """Spread finding-level progression over the finding's default regions.

    A region touched by several findings takes the most serious label (worsened > improved >
    no change); untouched regions are -1.
    """
    onto = get_ontology()
    rank = {"worsened": 3, "improved": 2, "no change": 1}
    out = torch.full((onto.num_regions,), UNLABELLED, dtype=torch.long)
    best = [0] * onto.num_regions
    for finding, label in progression.items():
        if label is None:
            continue
        for region in onto.default_regions(finding):
            if rank[label] > best[region.index]:
                best[region.index] = rank[label]
                out[region.index] = onto.label_index("progression", label)
    return out


class MSCXRT:
    """MS-CXR-T CSVs: ``pairs`` (temporal image classification) and ``sentences`` (similarity).

    Args:
        root: Folder with the MS-CXR-T CSV files. Either file may be absent, not both.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        cls_path, sim_path = self.root / _CLASSIFICATION, self.root / _SIMILARITY
        if not cls_path.is_file() and not sim_path.is_file():
            raise DatasetNotFoundError("MS-CXR-T", f"{_CLASSIFICATION} or {_SIMILARITY}", [self.root], _HOW_TO_GET)
        self.pairs: list[TemporalPair] = []
        if cls_path.is_file():
            rows = read_csv_rows(
                cls_path,
                required=(
                    "subject_id",
                    "study_id",
                    "dicom_id",
                    "previous_study_id",
                    "previous_dicom_id",
                    *MSCXRT_FINDINGS,
                ),
            )
            for i, row in enumerate(rows):
                progression: dict[str, str | None] = {}
                for column, finding in MSCXRT_FINDINGS.items():
                    raw = (row.get(column) or "").strip().lower()
                    if raw and raw not in _PROGRESSION:
                        raise DatasetFormatError(
                            cls_path, f"row {i + 2}: {column}={raw!r} is not improving, stable, worsening or empty"
                        )
                    progression[finding] = _PROGRESSION.get(raw)
                self.pairs.append(
                    TemporalPair(
                        subject_id=row["subject_id"],
                        study_id=row["study_id"],
                        dicom_id=row["dicom_id"],
                        previous_study_id=row["previous_study_id"],
                        previous_dicom_id=row["previous_dicom_id"],
                        progression=progression,
                    )
                )
        self.sentences: list[SentencePair] = []
        if sim_path.is_file():
            for row in read_csv_rows(sim_path, required=("sentence_1", "sentence_2", "category")):
                self.sentences.append(SentencePair(row["sentence_1"], row["sentence_2"], row["category"].strip()))

    def __repr__(self) -> str:
        return f"MSCXRT(pairs={len(self.pairs)}, sentences={len(self.sentences)})"
