import math

import pytest
import torch

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal import aggregate_regions, finding_metrics, finding_records, progression_metrics

from .synthetic import make_graph

ONTO = get_ontology()
IMP, S, W = 0, 1, 2


def test_progression_metrics_by_hand():
    target = torch.full((4, 29), -1)
    pred = torch.zeros(4, 29, dtype=torch.long)
    target[:, 0] = torch.tensor([IMP, S, W, W])
    pred[:, 0] = torch.tensor([IMP, S, W, S])
    target[:2, 5] = torch.tensor([S, S])
    pred[:2, 5] = torch.tensor([S, IMP])
    m = progression_metrics(pred, target)
    assert m.num_labelled == 6
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.region_support[0] == 4 and m.region_support[5] == 2 and m.region_support[1] == 0
    assert m.region_accuracy[0] == pytest.approx(0.75) and m.region_accuracy[1] is None
    # region 0: F1 improved 1, no change 2/3, worsened 2/3
    assert m.region_f1[0] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    # region 5: no change F1 2/3, improved 0 (predicted, never true)
    assert m.region_f1[5] == pytest.approx((2 / 3 + 0) / 2)
    assert m.mean_region_accuracy == pytest.approx((0.75 + 0.5) / 2)
    assert m.confusion[W][S] == 1 and sum(map(sum, m.confusion)) == 6
    assert set(m.class_f1) == {"improved", "no change", "worsened"}


def test_progression_metrics_errors_and_empty():
    with pytest.raises(ValueError, match="shape"):
        progression_metrics(torch.zeros(2, 29), torch.zeros(3, 29))
    with pytest.raises(ValueError, match="class indices"):
        progression_metrics(torch.full((1, 29), 5), torch.zeros(1, 29))
    m = progression_metrics(torch.zeros(1, 29), torch.full((1, 29), -1))
    assert m.num_labelled == 0 and math.isnan(m.accuracy)


def test_aggregate_regions_precedence():
    assert aggregate_regions([S, IMP, S]) == IMP
    assert aggregate_regions([IMP, W]) == W
    assert aggregate_regions([]) == -1 and aggregate_regions([-1]) == -1


def test_finding_records_follow_the_current_graph():
    g = make_graph(
        [
            ("left costophrenic angle", "pleural effusion", "present", "moderate", "worsened"),
            ("left lower lung zone", "pleural effusion", "present", "moderate", "worsened"),
            ("right lung", "pneumothorax", "absent", "unspecified", "resolved"),
            ("left upper lung zone", "lung opacity", "present", "mild", "improved"),  # not an MS-CXR-T finding
        ]
    )
    pred = torch.full((1, 29), S)
    pred[0, ONTO.region_index("left lower lung zone")] = W
    recs = {r.finding: r for r in finding_records(pred, [g])}
    assert set(recs) == {"pleural effusion", "pneumothorax"}
    assert recs["pleural effusion"].target == W and recs["pleural effusion"].pred == W
    assert recs["pneumothorax"].target == IMP and recs["pneumothorax"].pred == S
    fm = finding_metrics(list(recs.values()))
    assert fm["pleural effusion"]["accuracy"] == 1.0 and fm["pneumothorax"]["accuracy"] == 0.0
    assert fm["mean"]["accuracy"] == 0.5
    assert fm["pneumothorax"]["labels"] == ["improving", "stable", "worsening"]
    with pytest.raises(ValueError, match="graphs"):
        finding_records(pred, [g, g])
