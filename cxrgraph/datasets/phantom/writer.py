"""Write a phantom cohort in the real on-disk layouts (MIMIC-CXR-JPG and Chest ImaGenome).

The tree under ``root`` (see ``FORMATS.md``)::

    files/pXX/pSUBJECT/sSTUDY/<dicom_id>.jpg      frontal image (grayscale JPEG)
    files/pXX/pSUBJECT/sSTUDY.txt                 report
    mimic-cxr-2.0.0-metadata.csv.gz               one row per image
    mimic-cxr-2.0.0-split.csv.gz                  dicom_id, study_id, subject_id, split
    mimic-cxr-2.0.0-chexpert.csv.gz               subject_id, study_id, 14 CheXpert labels
    silver_dataset/scene_graph/<dicom_id>_SceneGraph.json
    silver_dataset/splits/{train,valid,test}.csv
    phantom_manifest.json                         seed, size, counts, ontology version

Every file is written to a temporary name in its folder and moved into place. Nothing written
depends on the clock, gzip headers carry no time stamp, and JPEG encoding is deterministic for
a given array and quality, so the same seed gives byte-identical trees.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from cxrgraph.datasets.phantom.dataset import PhantomCohort, PhantomPatient, PhantomStudy
from cxrgraph.datasets.phantom.reports import ReportSentence
from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_write_bytes

__all__ = ["write_phantom", "study_paths", "scene_graph", "split_of"]

log = logging.getLogger(__name__)

METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
CHEXPERT_COLUMNS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
_IMAGENOME_SPLIT = {"train": "train", "validate": "valid", "test": "test"}


# ---------------------------------------------------------------------------------------------- files
def _csv_bytes(header: Iterable[str], rows: Iterable[Iterable[Any]], index: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = list(header)
    w.writerow(([""] if index else []) + header)
    for i, row in enumerate(rows):
        w.writerow(([i] if index else []) + ["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and no file name keep the archive byte-identical across runs
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def study_paths(study: PhantomStudy) -> tuple[str, str]:
    """Relative paths ``(image, report)`` of a study in the MIMIC-CXR-JPG tree."""
    sub = f"p{str(study.subject_id)[:2]}/p{study.subject_id}"
    return f"files/{sub}/s{study.study_id}/{study.dicom_id}.jpg", f"files/{sub}/s{study.study_id}.txt"


def split_of(seed: int, subject_id: int) -> str:
    """Patient-level split (about 80/10/10), fixed by seed and subject: train, validate or test."""
    u = int(hashlib.sha1(f"{seed}:{subject_id}".encode()).hexdigest()[:8], 16) / 16**8
    return "train" if u < 0.8 else "validate" if u < 0.9 else "test"


# ---------------------------------------------------------------------------------------------- scene graph
def _cue_regex(cues: Iterable[str]) -> re.Pattern:
    words = sorted({c for c in cues}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b")


_CUES: dict[str, re.Pattern] = {}


def _cues(kind: str, text: str) -> list[str]:
    onto = get_ontology()
    if not _CUES:
        _CUES["severity"] = _cue_regex(c for v in onto.severity_cues.values() for c in v)
        _CUES["temporal"] = _cue_regex(onto.change_cues["new"])
        _CUES["comparison"] = _cue_regex(c for k, v in onto.change_cues.items() if k != "new" for c in v)
    return _CUES[kind].findall(text.lower())


def _attribute_strings(sentence: ReportSentence, region: str) -> list[str]:
    onto = get_ontology()
    out: list[str] = []
    abnormal = False
    for t in sentence.triplets:
        if t.region != region:
            continue
        f = onto.finding(t.finding)
        label = (onto.labels_for("imagenome", f.name) or (f.name,))[0]
        yes = t.existence != "absent"
        abnormal |= yes
        out.append(f"{f.category}|{'yes' if yes else 'no'}|{label}")
    out.append(f"nlp|yes|{'abnormal' if abnormal else 'normal'}")
    return out


def _box_fields(box: np.ndarray, size: int) -> dict[str, Any]:
    x1, y1, x2, y2 = (int(v) for v in box)
    k = 224.0 / size
    s1, t1, s2, t2 = (round(v * k) for v in (x1, y1, x2, y2))
    return {
        "x1": s1,
        "y1": t1,
        "x2": s2,
        "y2": t2,
        "width": s2 - s1,
        "height": t2 - t1,
        "original_x1": x1,
        "original_y1": y1,
        "original_x2": x2,
        "original_y2": y2,
        # as in Chest ImaGenome, the size fields are the box's, like width / height above
        "original_width": x2 - x1,
        "original_height": y2 - y1,
    }


def scene_graph(study: PhantomStudy, prior: PhantomStudy | None = None) -> dict[str, Any]:
    """The Chest ImaGenome scene graph (as a JSON-ready dict) of a phantom study."""
    onto = get_ontology()
    dicom = study.dicom_id
    objects = []
    for r in onto.regions:
        box = study.boxes[r.index]
        if np.isnan(box).any():
            continue  # ImaGenome leaves out regions it could not find
        objects.append(
            {
                "object_id": f"{dicom}_{r.name}",
                "bbox_name": r.name,
                "name": r.name.capitalize(),
                **_box_fields(box, study.size),
            }
        )
    attributes = []
    for r in onto.regions:
        said = [(k, s) for k, s in enumerate(study.sentences) if r.name in s.regions]
        if not said:
            continue
        attributes.append(
            {
                "bbox_name": r.name,
                "name": r.name.capitalize(),
                "object_id": f"{dicom}_{r.name}",
                "phrases": [s.text for _, s in said],
                "phrase_IDs": [f"{study.study_id}|{k}" for k, _ in said],
                "sections": [s.section for _, s in said],
                "attributes": [_attribute_strings(s, r.name) for _, s in said],
                "comparison_cues": [_cues("comparison", s.text) for _, s in said],
                "temporal_cues": [_cues("temporal", s.text) for _, s in said],
                "severity_cues": [_cues("severity", s.text) for _, s in said],
                "texture_cues": [[] for _ in said],
            }
        )
    relationships = []
    if prior is not None and study.progression is not None:
        for r in onto.regions:
            if study.progression[r.index] < 0:
                continue
            said = [s for s in study.sentences if r.name in s.regions and s.change != "unspecified"]
            names = []
            for s in said:
                code = onto.progression_of_change(s.change)
                name = f"comparison|yes|{onto.label_name('progression', code)}"
                if code >= 0 and name not in names:
                    names.append(name)
            relationships.append(
                {
                    "relationship_id": f"{dicom}_{r.name}|{prior.dicom_id}_{r.name}",
                    "subject_id": f"{dicom}_{r.name}",
                    "object_id": f"{prior.dicom_id}_{r.name}",
                    "bbox_name": r.name,
                    "relationship_names": names,
                    "phrase": " ".join(s.text for s in said),
                    "attributes": [a for s in said for a in _attribute_strings(s, r.name)],
                }
            )
    decile = min(study.age // 10, 9) * 10
    return {
        "image_id": dicom,
        "viewpoint": study.view,
        "patient_id": study.subject_id,
        "study_id": study.study_id,
        "gender": study.sex,
        "age_decile": f"{decile}-{decile + 10}",
        "reason_for_exam": study.indication,
        "StudyOrder": study.study_order,
        "StudyDateTime": study.date.strftime("%Y-%m-%d %H:%M:%S"),
        "objects": objects,
        "attributes": attributes,
        "relationships": relationships,
    }


# ---------------------------------------------------------------------------------------------- cohort
def _metadata_row(study: PhantomStudy) -> list[Any]:
    ap = study.view == "AP"
    return [
        study.dicom_id,
        study.subject_id,
        study.study_id,
        "CHEST (PORTABLE AP)" if ap else "CHEST (PA AND LAT)",
        study.view,
        study.size,
        study.size,
        study.date.strftime("%Y%m%d"),
        study.date.strftime("%H%M%S") + ".000",
        "CHEST (PORTABLE AP)" if ap else "CHEST (PA AND LAT)",
        "antero-posterior" if ap else "postero-anterior",
        "Recumbent" if ap else "Erect",
    ]


def _label(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def write_phantom(
    root: str | Path,
    cohort: PhantomCohort,
    *,
    quality: int = 95,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write ``cohort`` under ``root`` in the MIMIC-CXR-JPG and Chest ImaGenome layouts.

    A patient that fails to generate is skipped, logged and listed under ``errors`` in the
    returned summary (also saved as ``phantom_manifest.json``).

    Args:
        root: Output folder (created if missing).
        cohort: The cohort to write.
        quality: JPEG quality (1..100).
        progress: Called with the number of studies written after each patient.

    Returns:
        A summary: counts, seed, size, ontology version and errors.
    """
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"write_phantom: quality must be in [1, 100], got {quality}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    metadata, splits, chexpert = [], [], []
    imagenome: dict[str, list[list[Any]]] = {"train": [], "valid": [], "test": []}
    errors: list[str] = []
    n_studies = n_pairs = 0
    for i in range(len(cohort)):
        try:
            patient: PhantomPatient = cohort.patient(i)
        except Exception as err:  # a batch job records a bad patient instead of dying
            log.warning("phantom patient %d failed: %s", i, err)
            errors.append(f"patient {i}: {type(err).__name__}: {err}")
            continue
        split = split_of(cohort.seed, patient.subject_id)
        prior = None
        for study in patient.studies:
            image_path, report_path = study_paths(study)
            atomic_write_bytes(root / image_path, _jpeg(study.image, quality))
            atomic_write_bytes(root / report_path, study.report.encode("utf-8"))
            sg = scene_graph(study, prior)
            atomic_write_bytes(
                root / "silver_dataset" / "scene_graph" / f"{study.dicom_id}_SceneGraph.json",
                json.dumps(sg, indent=1).encode("utf-8"),
            )
            metadata.append(_metadata_row(study))
            splits.append([study.dicom_id, study.study_id, study.subject_id, split])
            labels = study.chexpert()
            chexpert.append([study.subject_id, study.study_id, *(_label(labels[c]) for c in CHEXPERT_COLUMNS)])
            dcm_path = image_path[: -len(".jpg")] + ".dcm"
            imagenome[_IMAGENOME_SPLIT[split]].append(
                [study.subject_id, study.study_id, study.dicom_id, dcm_path, study.view]
            )
            n_studies += 1
            n_pairs += prior is not None
            prior = study
        if progress is not None:
            progress(n_studies)

    atomic_write_bytes(root / "mimic-cxr-2.0.0-metadata.csv.gz", _gzip(_csv_bytes(METADATA_COLUMNS, metadata)))
    atomic_write_bytes(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        _gzip(_csv_bytes(("dicom_id", "study_id", "subject_id", "split"), splits)),
    )
    atomic_write_bytes(
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        _gzip(_csv_bytes(("subject_id", "study_id", *CHEXPERT_COLUMNS), chexpert)),
    )
    for name, rows in imagenome.items():
        atomic_write_bytes(
            root / "silver_dataset" / "splits" / f"{name}.csv",
            _csv_bytes(("subject_id", "study_id", "dicom_id", "path", "ViewPosition"), rows, index=True),
        )
    summary = {
        "generator": "cxrgraph phantom (synthetic data)",
        "seed": cohort.seed,
        "size": cohort.size,
        "patients": len(cohort) - len(errors),
        "studies": n_studies,
        "pairs": n_pairs,
        "studies_per_patient": list(cohort.studies_per_patient),
        "jpeg_quality": int(quality),
        "ontology_version": get_ontology().version,
        "errors": errors,
    }
    atomic_write_bytes(root / "phantom_manifest.json", json.dumps(summary, indent=1).encode("utf-8"))
    return summary
