import math

import pytest
import torch

from cxrgraph.datasets.harmonize import (
    HarmonizeLabels,
    findings_to_labels,
    harmonize_labels,
    labels_to_existence,
    labels_to_findings,
)
from cxrgraph.graph import ClinicalGraph
from cxrgraph.ontology import get_ontology

ONTO = get_ontology()


def test_chestxray14_to_chexpert():
    out = harmonize_labels({"Effusion": 1.0, "Mass": 0.0, "Nodule": -1.0, "Hernia": 0.0}, "chestxray14", "chexpert14")
    assert out["Pleural Effusion"] == 1.0
    assert out["Lung Lesion"] == -1.0  # uncertain nodule beats a negative mass
    assert out["Cardiomegaly"] is None  # nothing said
    assert out["No Finding"] == 0.0


def test_no_finding_marks_the_others_negative():
    vec = labels_to_findings({"No Finding": 1.0}, "chexpert14")
    assert vec[ONTO.finding_index("pleural effusion")] == 0.0
    out = findings_to_labels(vec, "chexpert14")
    assert out["No Finding"] == 1.0 and out["Pneumothorax"] == 0.0


def test_support_devices_reach_every_device():
    vec = labels_to_findings({"Support Devices": 1.0}, "chexpert14")
    assert vec[ONTO.finding_index("endotracheal tube")] == 1.0
    assert vec[ONTO.finding_index("cardiac pacer and wires")] == 1.0
    assert math.isnan(vec[ONTO.finding_index("pleural effusion")])


def test_bad_labels_are_named():
    with pytest.raises(KeyError, match=r"'Effusion' is not a chexpert14 label"):
        labels_to_findings({"Effusion": 1.0}, "chexpert14")
    with pytest.raises(ValueError, match=r"value 2\.0"):
        labels_to_findings({"Edema": 2.0}, "chexpert14")


def test_transform_adds_labels_from_graph_existence():
    g = ClinicalGraph.from_triplets(
        [(None, "effusion", "present"), (None, "pneumothorax", "absent"), (None, "edema", "uncertain")]
    )
    t = HarmonizeLabels("chexpert14")
    y = t(g).y_chexpert14
    assert y.shape == (1, 14)
    col = {k: i for i, k in enumerate(t.labels)}
    assert y[0, col["Pleural Effusion"]] == 1.0
    assert y[0, col["Pneumothorax"]] == 0.0
    assert y[0, col["Edema"]] == -1.0
    assert torch.isnan(y[0, col["Fracture"]])
    assert repr(t) == "HarmonizeLabels('chexpert14')"


def test_labels_as_existence_codes_merge_like_graphs():
    # the codes of a graph's finding.existence: 1 present, 0 absent, 2 uncertain, -1 unknown
    codes = labels_to_existence(
        {"Edema": 1.0, "Pneumothorax": 0.0, "Pleural Effusion": -1.0, "Fracture": None}, "chexpert14"
    )
    assert codes.dtype == torch.long and codes.shape == (ONTO.num_findings,)
    assert codes[ONTO.finding_index("pulmonary edema/hazy opacity")] == 1
    assert codes[ONTO.finding_index("pneumothorax")] == 0
    assert codes[ONTO.finding_index("pleural effusion")] == 2
    assert codes[ONTO.finding_index("rib fracture")] == -1
    graph = ClinicalGraph.from_triplets([(None, "edema", "present"), (None, "pneumothorax", "absent")])
    same = graph["finding"].existence
    for name in ("pulmonary edema/hazy opacity", "pneumothorax"):
        assert codes[ONTO.finding_index(name)] == same[ONTO.finding_index(name)]
    with pytest.raises(ValueError, match="inf"):
        labels_to_existence({"Edema": float("inf")}, "chexpert14")
