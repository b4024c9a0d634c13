"""In-memory API: studies, graphs, pairs, determinism and argument checks."""

import numpy as np
import pytest
import torch

from cxrgraph.datasets.phantom import PhantomCohort, PhantomStudy, chexpert_labels
from cxrgraph.graph import ClinicalGraph, Triplet
from cxrgraph.ontology import get_ontology


def test_study_fields(small_cohort):
    onto = get_ontology()
    study = next(small_cohort.studies())
    assert isinstance(study, PhantomStudy)
    assert study.image.dtype == np.uint8 and study.image.shape == (128, 128)
    assert study.boxes.shape == (29, 4)
    assert isinstance(study.graph, ClinicalGraph)
    study.graph.validate()
    assert study.graph["anatomy"].has_box.all()
    assert torch.allclose(study.graph["anatomy"].box, torch.as_tensor(study.boxes / 128, dtype=torch.float32))
    assert {(t.region, t.finding) for t in study.graph.triplets()} == {(t.region, t.finding) for t in study.triplets}
    assert study.graph.dicom_id == study.dicom_id and study.graph.study_id == study.study_id
    assert study.study_order == 1 and study.progression is None
    assert len(study.dicom_id.split("-")) == 5
    assert 10_000_000 <= study.subject_id < 20_000_000
    for t in study.triplets:
        onto.region(t.region), onto.finding(t.finding)


def test_every_phantom_finding_occurs():
    from cxrgraph.datasets.phantom import PHANTOM_FINDINGS

    seen = {
        t.finding for s in PhantomCohort(40, size=64, seed=3).studies() for t in s.triplets if t.existence != "absent"
    }
    assert set(PHANTOM_FINDINGS) <= seen


def test_deterministic_and_order_independent():
    a = PhantomCohort(4, size=64, seed=1)
    b = PhantomCohort(4, size=64, seed=1)
    pa = [a.patient(i) for i in range(4)]
    pb = [b.patient(i) for i in reversed(range(4))][::-1]
    for x, y in zip(pa, pb):
        assert len(x.studies) == len(y.studies)
        for s, t in zip(x.studies, y.studies):
            assert np.array_equal(s.image, t.image)
            assert s.report == t.report and s.triplets == t.triplets and s.dicom_id == t.dicom_id
            assert s.graph.equals(t.graph)
    c = PhantomCohort(4, size=64, seed=2)
    assert not np.array_equal(pa[0].studies[0].image, c.patient(0).studies[0].image)
    assert pa[0].subject_id != c.patient(0).subject_id


def test_ids_are_unique():
    cohort = PhantomCohort(20, size=64, seed=4)
    studies = list(cohort.studies())
    assert len({s.study_id for s in studies}) == len(studies)
    assert len({s.dicom_id for s in studies}) == len(studies)
    assert len({s.subject_id for s in studies}) == 20


def test_pairs_iterate(small_cohort):
    pairs = list(small_cohort.pairs())
    studies = list(small_cohort.studies())
    assert len(pairs) == len(studies) - len(small_cohort)
    from cxrgraph.graph import collate_pairs

    prior, current, change = collate_pairs(pairs[:3])
    assert change.shape == (3, 29)
    assert prior.num_graphs == current.num_graphs == 3


def test_chexpert_labels():
    labels = chexpert_labels(
        [
            Triplet("left costophrenic angle", "pleural effusion", "present", "mild"),
            Triplet("right lung", "pneumothorax", "absent"),
            Triplet("right lower lung zone", "atelectasis", "uncertain"),
            Triplet("trachea", "endotracheal tube", "present"),
        ]
    )
    assert labels["Pleural Effusion"] == 1.0
    assert labels["Pneumothorax"] == 0.0
    assert labels["Atelectasis"] == -1.0
    assert labels["Support Devices"] == 1.0
    assert labels["No Finding"] is None and labels["Edema"] is None
    assert chexpert_labels([Triplet("trachea", "endotracheal tube")])["No Finding"] == 1.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_patients": 0}, "num_patients"),
        ({"num_patients": 2, "size": 16}, "size"),
        ({"num_patients": 2, "studies_per_patient": (3, 2)}, "studies_per_patient"),
        ({"num_patients": 2, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PhantomCohort(**kwargs)


def test_patient_index_checked(small_cohort):
    with pytest.raises(IndexError, match="out of range"):
        small_cohort.patient(len(small_cohort))
