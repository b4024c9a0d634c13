from datetime import datetime

import pytest
import torch
from torch.utils.data import DataLoader

from cxrgraph.datasets.imagenome import ChestImaGenome
from cxrgraph.datasets.ms_cxr_t import MSCXRT
from cxrgraph.datasets.pairs import StudyPairDataset
from cxrgraph.graph import ClinicalGraph, collate_pairs
from cxrgraph.ontology import get_ontology

from .fixtures import write_chest_imagenome, write_ms_cxr_t

ONTO = get_ontology()
STUDIES = [
    {"subject_id": "p1", "study_id": "c", "datetime": datetime(2020, 3, 1)},
    {"subject_id": "p1", "study_id": "a", "datetime": datetime(2020, 1, 1)},
    {"subject_id": "p1", "study_id": "b", "datetime": datetime(2020, 2, 1)},
    {"subject_id": "p2", "study_id": "z", "datetime": datetime(2021, 1, 1)},
]
GRAPHS = {s["study_id"]: ClinicalGraph.empty(study_id=s["study_id"]) for s in STUDIES}


def test_pairs_follow_date_order_with_the_previous_study():
    ds = StudyPairDataset(STUDIES, GRAPHS)
    assert [(p, c) for _, p, c in ds.pairs] == [("a", "b"), ("b", "c")]
    pair = ds[1]
    assert pair.prior.study_id == "b" and pair.current.study_id == "c"
    assert not pair.mask.any()  # no labels: every region unlabelled
    assert pair.meta == {"subject_id": "p1", "prior_study_id": "b", "current_study_id": "c"}


def test_prior_policies_and_missing_labels():
    labels = {("a", "c"): torch.zeros(29, dtype=torch.long)}
    assert len(StudyPairDataset(STUDIES, GRAPHS, prior_policy="all")) == 3
    labelled = StudyPairDataset(STUDIES, GRAPHS, labels, prior_policy="labelled")
    assert [(p, c) for _, p, c in labelled.pairs] == [("a", "b"), ("a", "c")]
    skip = StudyPairDataset(STUDIES, GRAPHS, labels, prior_policy="all", missing_labels="skip")
    assert [(p, c) for _, p, c in skip.pairs] == [("a", "c")]
    assert len(skip.skipped) == 2
    with pytest.raises(ValueError, match="prior_policy"):
        StudyPairDataset(STUDIES, GRAPHS, prior_policy="first")
    with pytest.raises(TypeError, match="datetime must be a datetime"):
        StudyPairDataset([{"subject_id": "p", "study_id": "x", "datetime": "2020"}], GRAPHS)


def test_pairs_from_imagenome_comparisons_batch_with_collate(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome")
    ds = StudyPairDataset.from_imagenome(ChestImaGenome(root, split=None))
    assert [(p, c) for _, p, c in ds.pairs] == [("50000001", "50414267"), ("50414267", "53189527")]
    pair = ds[0]
    llz = ONTO.region_index("left lower lung zone")
    assert pair.change[llz] == ONTO.label_index("progression", "worsened")
    assert pair.mask.sum() == 2
    prior, _current, change = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate_pairs)))
    assert prior.num_graphs == 2 and change.shape == (2, 29)


def test_pairs_from_ms_cxr_t(tmp_path):
    ms = MSCXRT(write_ms_cxr_t(tmp_path / "ms"))
    studies = [
        {"subject_id": "10000032", "study_id": "50000001", "datetime": datetime(2180, 1, 1)},
        {"subject_id": "10000032", "study_id": "50414267", "datetime": datetime(2180, 5, 6)},
        {"subject_id": "10000032", "study_id": "53189527", "datetime": datetime(2180, 6, 26)},
    ]
    graphs = {s["study_id"]: ClinicalGraph.empty() for s in studies}
    ds = StudyPairDataset.from_ms_cxr_t(ms, studies, graphs)
    assert len(ds) == 2
    cpa = ONTO.region_index("left costophrenic angle")
    assert ds[0].change[cpa] == ONTO.label_index("progression", "worsened")
