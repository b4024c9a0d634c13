import pytest
import torch

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.crops import contralateral_index, normalise_exposure, region_crops, thorax_geometry

R = 29


def test_exposure_normalisation_ignores_a_monotone_exposure_curve():
    torch.manual_seed(0)
    img = torch.rand(1, 1, 32, 32) * 0.8 + 0.1
    a, b = normalise_exposure(img), normalise_exposure(img * 1.1 + 0.03)
    assert torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="quantiles"):
        normalise_exposure(img, 0.9, 0.1)


def test_contralateral_index_pairs_right_and_left():
    onto = get_ontology()
    mate = contralateral_index()
    assert mate.shape == (R,) and torch.equal(mate[mate], torch.arange(R))
    assert int(mate[onto.region_index("right lower lung zone")]) == onto.region_index("left lower lung zone")
    assert int(mate[onto.region_index("trachea")]) == onto.region_index("trachea")


def test_thorax_geometry_is_scale_free_and_zero_for_empty_boxes():
    boxes = torch.rand(2, R, 2).repeat(1, 1, 2) * 0.4
    boxes[..., 2:] += 0.3
    boxes[1, 5] = float("nan")
    geo = thorax_geometry(boxes)
    assert geo.shape == (2, R, 6) and torch.isfinite(geo).all()
    assert torch.allclose(thorax_geometry(boxes * 0.5 + 0.1)[0], geo[0], atol=1e-5)
    assert torch.equal(geo[1, 5], torch.zeros(6))


def test_region_crops_mirror_the_contralateral_region():
    onto = get_ontology()
    img = torch.rand(2, 1, 48, 48)
    boxes = torch.tensor([0.1, 0.2, 0.6, 0.9]).expand(2, R, 4).clone()
    crops = region_crops(img, boxes, size=8)
    assert crops.shape == (2, R, 2, 8, 8)
    right, left = onto.region_index("right lung"), onto.region_index("left lung")
    assert torch.allclose(crops[:, right, 1], crops[:, left, 0].flip(-1))
    assert region_crops(img, boxes, size=8, contralateral=False).shape == (2, R, 1, 8, 8)
    with pytest.raises(ValueError, match="boxes"):
        region_crops(img, boxes[:, :, :3])
