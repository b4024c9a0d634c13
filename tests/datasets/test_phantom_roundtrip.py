"""The phantom written to disk reads back through the real-format loaders unchanged."""

import numpy as np
import pytest
import torch

from cxrgraph.datasets.imagenome import ChestImaGenome
from cxrgraph.datasets.mimic_cxr import MIMICCXR
from cxrgraph.datasets.pairs import StudyPairDataset
from cxrgraph.datasets.phantom import PhantomCohort, write_phantom


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    cohort = PhantomCohort(4, size=128, seed=7)
    write_phantom(root, cohort)
    studies = {str(s.study_id): s for s in cohort.studies()}
    return root, cohort, studies


def test_mimic_index_recovers_ids_dates_images_and_reports(phantom):
    root, cohort, studies = phantom
    index = MIMICCXR(root)
    assert {s.study_id for s in index} == set(studies)
    for s in index:
        truth = studies[s.study_id]
        assert s.subject_id == str(truth.subject_id)
        assert s.datetime == truth.date.replace(microsecond=s.datetime.microsecond)
        assert s.dicom_ids == [truth.dicom_id]
        assert s.read_report() == truth.report
        assert s.image_paths[0].is_file()
        assert s.chexpert == truth.chexpert()
    for patient in cohort.patients():
        assert [s.study_id for s in index.by_subject()[str(patient.subject_id)]] == [
            str(s.study_id) for s in patient.studies
        ]


def test_imagenome_loader_recovers_boxes_findings_and_progression(phantom, tmp_path):
    root, _cohort, studies = phantom
    ds = ChestImaGenome(root, split=None, processed_root=tmp_path / "cache")
    by_dicom = {s.dicom_id: s for s in studies.values()}
    assert set(ds.ids) == set(by_dicom)
    for i in range(len(ds)):
        g = ds[i].validate()
        truth = by_dicom[g.image_id]
        expected = torch.as_tensor(np.nan_to_num(truth.boxes_normalized, nan=0.0), dtype=torch.float32)
        has = torch.as_tensor(~np.isnan(truth.boxes_normalized).any(axis=1))
        assert torch.equal(g["anatomy"].has_box, has)
        # the scene graph's 224 x 224 coordinates are whole numbers: within half a pixel of 224
        assert torch.allclose(g["anatomy"].box[has], expected[has], atol=0.5 / 224 + 1e-6)
        # Chest ImaGenome attributes are yes/no only: a hedged finding is written as "yes"
        seen = {"uncertain": "present"}
        got = {(t.region, t.finding, t.existence): t.severity for t in g.triplets()}
        want = {(t.region, t.finding, seen.get(t.existence, t.existence)): t.severity for t in truth.graph.triplets()}
        assert set(got) == set(want)
        # severity cues belong to a phrase, so a finding that shares a phrase may inherit one;
        # every severity the ground truth states must come back
        assert all(got[k] == sev for k, sev in want.items() if sev != "unspecified")
        if truth.progression is not None:
            assert torch.equal(g.progression.reshape(-1), torch.as_tensor(truth.progression))


def test_study_pairs_from_the_phantom_tree_match_the_phantom_pairs(phantom, tmp_path):
    root, cohort, _studies = phantom
    pairs = StudyPairDataset.from_imagenome(ChestImaGenome(root, split=None, processed_root=tmp_path / "cache"))
    truth = {(str(p.meta["prior_study_id"]), str(p.meta["study_id"])): p.change for p in cohort.pairs()}
    assert len(pairs) == len(truth)
    for pair in pairs:
        key = (pair.meta["prior_study_id"], pair.meta["current_study_id"])
        labelled = truth[key] != -1
        assert torch.equal(pair.change[labelled], truth[key][labelled])
