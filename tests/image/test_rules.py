"""LungFieldDetector: the 29 regions placed by rule around a film's lung fields."""

import pytest
import torch

from cxrgraph.image import ImageGraph, LungFieldDetector, extract_image_graphs, place_regions
from cxrgraph.image.io import SkippedImage, read_image, resize_image
from cxrgraph.image.lungs import find_lung_fields
from cxrgraph.ontology import get_ontology

from .realfilms import REFERENCE, dicom_testdata, iou


@pytest.fixture(scope="module")
def rg1_small():
    return resize_image(read_image(dicom_testdata("RG1_UNCR.dcm")), (512, 482))


def _box(det, name):
    return det.boxes[get_ontology().region_index(name)]


def test_rg1_regions(rg1_small):
    det = LungFieldDetector().detect(rg1_small, sources=["RG1"])[0]  # one image, not a list
    assert det.problem is None and det.source == "RG1" and det.detector == "LungFieldDetector"
    assert bool(det.present.all()) and det.confidence > 0.7
    for name in ("right lung", "left lung", "cardiac silhouette"):
        assert iou(_box(det, name), REFERENCE[name]) > 0.55
    # layout follows the anatomy: zones stacked inside the lung, trachea above the carina,
    # the heart inside the mediastinum, the abdomen under the lungs
    for side in ("right", "left"):
        lung = _box(det, f"{side} lung")
        up, mid, low = (_box(det, f"{side} {z} lung zone") for z in ("upper", "mid", "lower"))
        assert up[1] < mid[1] < low[1] and up[3] < low[3] <= lung[3] + 1e-6
    assert _box(det, "trachea")[1] < _box(det, "carina")[1]
    heart, med = _box(det, "cardiac silhouette"), _box(det, "mediastinum")
    assert med[0] <= heart[0] and heart[2] <= med[2] and heart[3] <= med[3] + 1e-6
    assert _box(det, "abdomen")[3] > _box(det, "right lung")[3]
    # lungs are measured, small structures placed by rule: scores say so
    assert det.scores[0] > det.scores[get_ontology().region_index("carina")]


def test_place_regions_mirrors_the_sides(rg1_small):
    fields = find_lung_fields(rg1_small)
    boxes = place_regions(fields)
    onto = get_ontology()
    r = boxes[onto.region_index("right costophrenic angle")]
    lt = boxes[onto.region_index("left costophrenic angle")]
    assert r[0] == pytest.approx(float(fields.right[0]), abs=1e-6)  # lateral = image left
    assert lt[2] == pytest.approx(float(fields.left[2]), abs=1e-6)  # lateral = image right
    assert boxes.shape == (29, 4) and bool(((boxes >= 0) & (boxes <= 1)).all())


def test_a_film_without_lung_fields_is_reported_not_boxed(rg1_small):
    ramp = torch.linspace(0, 1, 128).repeat(128, 1)[None]
    dets = LungFieldDetector().detect([rg1_small, ramp], sources=["rg1", "ramp"])
    assert dets[0].problem is None
    assert "lung fields not found" in dets[1].problem
    assert not dets[1].present.any() and dets[1].confidence == 0.0 and float(dets[1].scores.sum()) == 0.0
    assert dets[1].to_dict()["problem"] == dets[1].problem
    skipped: list[SkippedImage] = []
    graphs = extract_image_graphs([rg1_small, ramp], LungFieldDetector(), sources=["rg1", "ramp"], skipped=skipped)
    assert [g.image_id for g in graphs] == ["rg1"] and isinstance(graphs[0], ImageGraph)
    assert [s.path for s in skipped] == ["ramp"] and "lung fields" in skipped[0].problem


def test_sources_must_name_every_image(rg1_small):
    with pytest.raises(ValueError, match="sources has 1 names for 2 images"):
        LungFieldDetector().detect([rg1_small, rg1_small], sources=["only one"])
    with pytest.raises(ValueError, match="a list of names"):
        LungFieldDetector().detect([rg1_small], sources="rg1")
