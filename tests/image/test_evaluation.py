import math

import pytest
import torch

from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.evaluation import (
    evaluate_detections,
    paired_iou,
    plot_detection_overlay,
    region_average_precision,
    region_iou,
)


def test_paired_iou_values():
    a = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.25, 0.0, 0.75, 0.5], [0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(paired_iou(a, b), torch.tensor([1.0, 1 / 3, 0.0]))


def test_region_iou_counts_misses_as_zero_and_skips_unannotated():
    true = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.1, 0.1, 0.2, 0.2]]]).repeat(2, 1, 1)
    true_present = torch.tensor([[True, False], [True, False]])
    pred = true.clone()
    pred_present = torch.tensor([[True, True], [False, True]])
    out = region_iou(pred, pred_present, true, true_present)
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1])


def test_average_precision_ranks_by_score():
    true = torch.tensor([0.0, 0.0, 0.5, 0.5]).repeat(4, 1, 1)
    pred = true.clone()
    pred[1, 0] = torch.tensor([0.6, 0.6, 0.9, 0.9])  # a miss
    scores = torch.tensor([[0.9], [0.8], [0.7], [0.6]])
    present = torch.ones(4, 1, dtype=torch.bool)
    ap = region_average_precision(pred, scores, present, true, present)
    # ranked TP, FP, TP, TP of 4 positives: precision envelope 1 up to recall 0.25, then 0.75
    assert float(ap[0]) == pytest.approx(0.25 * 1.0 + 0.5 * 0.75)
    scores_good = torch.tensor([[0.9], [0.1], [0.7], [0.6]])  # the miss ranked last
    ap_good = region_average_precision(pred, scores_good, present, true, present)
    assert float(ap_good[0]) == pytest.approx(0.75)
    assert float(ap_good[0]) > float(ap[0])


def test_evaluate_and_overlay(tmp_path):
    boxes = torch.tensor([0.2, 0.2, 0.6, 0.7]).repeat(29, 1)
    det = RegionDetection(boxes, torch.ones(29), torch.ones(29, dtype=torch.bool), (64, 64), "x", "test")
    report = evaluate_detections([det, det], boxes.repeat(2, 1, 1))
    assert report.mean_iou == pytest.approx(1.0) and report.map50 == pytest.approx(1.0)
    assert set(report.to_dict()["per_region"]) >= {"right lung", "abdomen"}
    path = tmp_path / "overlay.png"
    plot_detection_overlay(torch.rand(1, 64, 64), det, boxes * 0.9, path=path, regions=["right lung", 24])
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="detections"):
        evaluate_detections([det], boxes.repeat(2, 1, 1))
