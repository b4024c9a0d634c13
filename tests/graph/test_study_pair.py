import pytest
import torch

from cxrgraph.graph import ClinicalGraph, GraphValidationError, StudyPair, collate_pairs, progression_from_changes
from cxrgraph.ontology import get_ontology

ONTO = get_ontology()
IMPROVED, SAME, WORSE = (ONTO.label_index("progression", x) for x in ("improved", "no change", "worsened"))


def test_progression_read_from_change_cues():
    current = ClinicalGraph.from_triplets(
        [
            ("left base", "opacity", "present", "moderate", "worsened"),
            ("left base", "atelectasis", "present", "mild", "improved"),
            ("right costophrenic angle", "effusion", "absent", "unspecified", "resolved"),
            ("cardiac silhouette", "cardiomegaly", "present", "mild", "no change"),
            ("right apex", "nodule", "present"),
        ]
    )
    labels = progression_from_changes(current)
    assert labels[ONTO.region_index("left lower lung zone")] == WORSE  # worsened beats improved
    assert labels[ONTO.region_index("right costophrenic angle")] == IMPROVED
    assert labels[ONTO.region_index("cardiac silhouette")] == SAME
    assert labels[ONTO.region_index("right apical zone")] == -1
    assert (labels == -1).sum() == 26


def test_study_pair_checks_labels_and_masks():
    prior, current = ClinicalGraph.empty(), ClinicalGraph.empty()
    change = torch.full((29,), -1)
    change[11] = WORSE
    pair = StudyPair(prior, current, change, meta={"subject_id": "p1"})
    assert pair.mask.sum() == 1 and pair.mask[11]
    with pytest.raises(GraphValidationError, match=r"StudyPair\.change: expected shape"):
        StudyPair(prior, current, torch.zeros(28))
    with pytest.raises(GraphValidationError, match="value 3 out of range"):
        StudyPair(prior, current, torch.full((29,), 3))


def test_collate_pairs():
    pairs = [
        StudyPair.from_current_report(
            ClinicalGraph.empty(), ClinicalGraph.from_triplets([("left base", "opacity", "present", "mild", "new")])
        ),
        StudyPair(ClinicalGraph.empty(), ClinicalGraph.empty(), torch.full((29,), SAME)),
    ]
    prior, current, change = collate_pairs(pairs)
    assert prior.num_graphs == current.num_graphs == 2
    assert change.shape == (2, 29)
    assert change[0, ONTO.region_index("left lower lung zone")] == WORSE
    with pytest.raises(ValueError, match="at least one"):
        collate_pairs([])
