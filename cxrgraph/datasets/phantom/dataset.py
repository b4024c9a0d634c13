"""In-memory phantom cohort: studies and study pairs generated on demand, nothing on disk.

Every patient draws from its own :class:`numpy.random.Generator`, seeded by
``SeedSequence(seed, spawn_key=(patient_index,))`` (the patient-th child of the cohort seed), so
patients can be generated in any order or in parallel and still come out identical.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cxrgraph.datasets.phantom.anatomy import ChestFields, PatientAnatomy, StudyPose, region_boxes
from cxrgraph.datasets.phantom.findings import DEVICE_FINDINGS, Lesion
from cxrgraph.datasets.phantom.render import ctr_for_level, render, to_uint8
from cxrgraph.datasets.phantom.reports import ReportSentence, write_report
from cxrgraph.datasets.phantom.series import SeriesStep, plan_series, region_progression
from cxrgraph.graph import ClinicalGraph, StudyPair, Triplet
from cxrgraph.ontology import get_ontology

__all__ = ["PhantomStudy", "PhantomPatient", "PhantomCohort", "chexpert_labels", "dicom_id_for"]

_MIN_SIZE, _MAX_SIZE = 64, 1024


@dataclass
class PhantomStudy:
    """One synthetic frontal study with its complete ground truth.

    Attributes:
        image: uint8 ``[size, size]`` radiograph (white = dense).
        boxes: float ``[29, 4]`` region boxes in pixels (x1, y1, x2, y2; x2/y2 exclusive),
            ontology order; NaN rows for regions outside the image.
        triplets: Ground-truth ⟨region, finding, existence, severity, change⟩ facts, exactly
            what the report states.
        report: MIMIC-CXR style report text.
        graph: :class:`ClinicalGraph` of ``triplets`` with the normalised boxes.
        subject_id, study_id, dicom_id: MIMIC-style identifiers.
        study_order: 1-based position in the patient's series.
        date: Study date and time.
        view: ``"PA"`` or ``"AP"``.
        sex, age: Patient sex (``"M"``/``"F"``) and age in years.
        indication: The report's indication.
        lesions: What is drawn (level 0 = resolved since the prior study, not drawn).
        changes: Edge change per lesion key against the prior study (empty for the first).
        sentences: The report's sentences with the triplets each states.
        progression: Long ``[29]`` region progression against the prior (``None`` for the first).
    """

    image: np.ndarray
    boxes: np.ndarray
    triplets: list[Triplet]
    report: str
    graph: ClinicalGraph
    subject_id: int
    study_id: int
    dicom_id: str
    study_order: int
    date: _dt.datetime
    view: str
    sex: str
    age: int
    indication: str
    lesions: tuple[Lesion, ...] = ()
    changes: dict[tuple, str] = field(default_factory=dict)
    sentences: list[ReportSentence] = field(default_factory=list)
    progression: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    @property
    def boxes_normalized(self) -> np.ndarray:
        """``[29, 4]`` boxes divided by the image size (NaN rows kept)."""
        return self.boxes / float(self.size)

    def chexpert(self) -> dict[str, float | None]:
        """CheXpert 14 labels of the report (1.0, 0.0, -1.0 or ``None`` for blank)."""
        return chexpert_labels(self.triplets)


@dataclass
class PhantomPatient:
    """A phantom patient and their studies in time order."""

    index: int
    subject_id: int
    anatomy: PatientAnatomy
    studies: list[PhantomStudy]

    def pairs(self) -> list[StudyPair]:
        """Consecutive (prior, current) study pairs with region progression labels."""
        import torch

        out = []
        for prior, cur in zip(self.studies[:-1], self.studies[1:]):
            meta = {
                "subject_id": self.subject_id,
                "prior_study_id": prior.study_id,
                "study_id": cur.study_id,
                "prior_dicom_id": prior.dicom_id,
                "dicom_id": cur.dicom_id,
                "prior_date": prior.date,
                "date": cur.date,
            }
            out.append(StudyPair(prior.graph, cur.graph, torch.as_tensor(cur.progression, dtype=torch.long), meta))
        return out


def dicom_id_for(seed: int, study_id: int) -> str:
    """A MIMIC-looking DICOM id (five groups of eight hex digits) fixed by seed and study."""
    h = hashlib.sha1(f"cxrgraph-phantom:{seed}:{study_id}".encode()).hexdigest()
    return "-".join(h[i : i + 8] for i in range(0, 40, 8))


def chexpert_labels(triplets: list[Triplet]) -> dict[str, float | None]:
    """CheXpert 14 labels from triplets: present 1.0, uncertain -1.0, absent 0.0, unmentioned blank."""
    onto = get_ontology()
    rank = {"present": 3, "uncertain": 2, "absent": 1}
    value = {3: 1.0, 2: -1.0, 1: 0.0}
    best: dict[str, int] = {}
    pathology = False
    for t in triplets:
        for label in onto.labels_for("chexpert14", t.finding):
            best[label] = max(best.get(label, 0), rank[t.existence])
        if t.existence != "absent" and t.finding not in DEVICE_FINDINGS:
            pathology = True
    out: dict[str, float | None] = {}
    for label in onto.vocabulary("chexpert14"):
        if label == "No Finding":
            out[label] = None if pathology else 1.0
        else:
            out[label] = value[best[label]] if label in best else None
    return out


class PhantomCohort:
    """A reproducible cohort of phantom patients, each with a series of studies.

    Args:
        num_patients: How many patients.
        size: Image side in pixels (64..1024; 128..512 is the tested range).
        seed: Cohort seed; the same seed gives identical studies.
        studies_per_patient: Inclusive ``(min, max)`` studies per patient.

    Example:
        >>> cohort = PhantomCohort(4, size=128, seed=0)
        >>> study = next(cohort.studies())
        >>> study.image.shape, study.graph['anatomy'].num_nodes
        ((128, 128), 29)
    """

    def __init__(
        self, num_patients: int, size: int = 256, seed: int = 0, studies_per_patient: tuple[int, int] = (2, 4)
    ) -> None:
        if int(num_patients) < 1:
            raise ValueError(f"PhantomCohort: num_patients must be >= 1, got {num_patients}")
        if not _MIN_SIZE <= int(size) <= _MAX_SIZE:
            raise ValueError(f"PhantomCohort: size must be in [{_MIN_SIZE}, {_MAX_SIZE}] pixels, got {size}")
        lo, hi = (int(v) for v in studies_per_patient)
        if not 1 <= lo <= hi <= 12:
            raise ValueError(
                f"PhantomCohort: studies_per_patient must satisfy 1 <= min <= max <= 12, got {studies_per_patient}"
            )
        if int(seed) < 0:
            raise ValueError(f"PhantomCohort: seed must be >= 0, got {seed}")
        self.num_patients = int(num_patients)
        self.size = int(size)
        self.seed = int(seed)
        self.studies_per_patient = (lo, hi)
        ids = np.random.default_rng(np.random.SeedSequence([self.seed, 0x1D5]))
        self._subject_ids = 10_000_000 + ids.choice(9_999_999, self.num_patients, replace=False)
        self._study_ids = 50_000_000 + ids.choice(9_999_999, self.num_patients * hi, replace=False)

    def __len__(self) -> int:
        return self.num_patients

    def __repr__(self) -> str:
        return f"PhantomCohort(num_patients={self.num_patients}, size={self.size}, seed={self.seed})"

    def patient(self, index: int) -> PhantomPatient:
        """Generate patient ``index`` (independent of every other patient)."""
        if not 0 <= int(index) < self.num_patients:
            raise IndexError(f"PhantomCohort: patient index {index} out of range [0, {self.num_patients})")
        index = int(index)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index,)))
        anatomy = PatientAnatomy.sample(rng)
        lo, hi = self.studies_per_patient
        steps = plan_series(rng, int(rng.integers(lo, hi + 1)))
        subject_id = int(self._subject_ids[index])
        start = _dt.datetime(2110, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 80 * 365)))
        date = start + _dt.timedelta(seconds=int(rng.integers(6 * 3600, 23 * 3600)))
        first, studies = date, []
        for k, step in enumerate(steps):
            if k:
                date = date.replace(hour=0, minute=0, second=0) + _dt.timedelta(
                    days=int(rng.integers(1, 400)), seconds=int(rng.integers(6 * 3600, 23 * 3600))
                )
            study_id = int(self._study_ids[index * hi + k])
            age = anatomy.age + (date - first).days // 365
            studies.append(self._study(rng, anatomy, step, subject_id, study_id, k + 1, date, age))
        return PhantomPatient(index, subject_id, anatomy, studies)

    def patients(self) -> Iterator[PhantomPatient]:
        for i in range(self.num_patients):
            yield self.patient(i)

    def studies(self) -> Iterator[PhantomStudy]:
        """Every study, patient by patient, in time order."""
        for p in self.patients():
            yield from p.studies

    def pairs(self) -> Iterator[StudyPair]:
        """Every consecutive (prior, current) pair with its per-region change labels."""
        for p in self.patients():
            yield from p.pairs()

    # ------------------------------------------------------------------ one study
    def _study(
        self,
        rng: np.random.Generator,
        anatomy: PatientAnatomy,
        step: SeriesStep,
        subject_id: int,
        study_id: int,
        order: int,
        date: _dt.datetime,
        age: int,
    ) -> PhantomStudy:
        lesions = step.lesions
        drawn = [les for les in lesions if les.present]
        devices = any(les.finding in DEVICE_FINDINGS for les in drawn)
        view = "AP" if devices or rng.random() < 0.3 else "PA"
        pose = StudyPose.sample(rng)
        jitter = {les.key: float(rng.random()) for les in lesions}
        cardio = next((les for les in drawn if les.finding == "enlarged cardiac silhouette"), None)
        ctr = ctr_for_level(cardio.level, jitter[cardio.key], anatomy.ctr) if cardio else anatomy.ctr
        fields = ChestFields(anatomy, pose, self.size, ctr=ctr)
        image = to_uint8(render(fields, drawn, rng, jitter))
        boxes = region_boxes(fields)
        report = write_report(
            lesions, step.changes or None, rng, view=view, sex=anatomy.sex, age=age, follow_up=order > 1
        )
        triplets = report.triplets
        has_box = ~np.isnan(boxes).any(axis=1)
        norm = np.where(has_box[:, None], boxes / self.size, np.nan)
        dicom_id = dicom_id_for(self.seed, study_id)
        graph = ClinicalGraph.from_triplets(
            triplets,
            boxes=norm,
            present=has_box,
            suggestive_of=report.suggestive_of,
            subject_id=subject_id,
            study_id=study_id,
            dicom_id=dicom_id,
        )
        progression = region_progression(lesions, step.changes) if order > 1 else None
        return PhantomStudy(
            image=image,
            boxes=boxes,
            triplets=triplets,
            report=report.text,
            graph=graph,
            subject_id=subject_id,
            study_id=study_id,
            dicom_id=dicom_id,
            study_order=order,
            date=date,
            view=view,
            sex=anatomy.sex,
            age=age,
            indication=report.indication,
            lesions=lesions,
            changes=dict(step.changes),
            sentences=report.sentences,
            progression=progression,
        )
