"""Lung fields on a real film (RG1), on synthetic films with borders and labels, and refusals."""

import numpy as np
import pytest
import torch

from cxrgraph.image.io import read_image, resize_image
from cxrgraph.image.lungs import LungFieldsNotFound, film_box, find_lung_fields

from .realfilms import REFERENCE, dicom_testdata, framed, iou
from .synthetic import synthetic_chest


@pytest.fixture(scope="module")
def rg1_small():
    # the search runs on a 256-pixel copy: a 512-pixel film gives the same answer, faster
    return resize_image(read_image(dicom_testdata("RG1_UNCR.dcm")), (512, 482))


def test_rg1_lung_fields_and_heart_match_the_hand_drawn_boxes(rg1_small):
    fields = find_lung_fields(rg1_small, "RG1")
    assert iou(fields.right, REFERENCE["right lung"]) > 0.7
    assert iou(fields.left, REFERENCE["left lung"]) > 0.7
    assert iou(fields.heart, REFERENCE["cardiac silhouette"]) > 0.55
    assert fields.right[2] < fields.midline < fields.left[0]  # patient's right on the image left
    assert fields.confidence > 0.7
    assert fields.mask.dtype == torch.uint8 and set(fields.mask.unique().tolist()) == {0, 1, 2}


def test_rg1_in_a_black_border_with_burned_in_labels(rg1_small):
    image, boxes = framed(rg1_small, REFERENCE)
    fields = find_lung_fields(image, "framed RG1")
    assert iou(fields.right, boxes["right lung"]) > 0.6
    assert iou(fields.left, boxes["left lung"]) > 0.6
    assert iou(fields.heart, boxes["cardiac silhouette"]) > 0.5
    # the film box leaves the border (and the label printed in it) out
    fx0, fy0, fx1, _ = fields.film.tolist()
    assert fy0 > 0.05 and fx0 > 0.03 and fx1 < 0.97


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_films_with_borders_and_labels(seed):
    rng = np.random.default_rng(seed)
    img, thorax = synthetic_chest(rng, 160, return_thorax=True)
    t = thorax.tolist()
    gap = 0.16 * (t[2] - t[0])
    truth = {
        "right lung": [t[0], t[1], t[0] + (t[2] - t[0] - gap) / 2, t[3]],
        "left lung": [t[0] + (t[2] - t[0] + gap) / 2, t[1], t[2], t[3]],
    }
    plain = find_lung_fields(img)
    image, moved = framed(img, truth, border=0.15)
    boxed = find_lung_fields(image)
    for fields, boxes in ((plain, truth), (boxed, moved)):
        assert iou(fields.right, boxes["right lung"]) > 0.8
        assert iou(fields.left, boxes["left lung"]) > 0.8


def test_film_box_crops_flat_padding_and_its_label():
    x = np.zeros((100, 120))
    x[10:90, 20:100] = np.random.default_rng(0).uniform(0.2, 0.8, (80, 80))
    x[2:6, 2:40] = 1.0  # a label printed in the border
    # within the 2-pixel reach of the flatness window
    assert np.allclose(film_box(x), (20, 10, 100, 90), atol=2)


def test_non_chest_images_are_refused_with_a_reason():
    leg = read_image(dicom_testdata("RG3_UNCR.dcm"))  # a lower-leg CR of pydicom-data
    with pytest.raises(LungFieldsNotFound, match=r"RG3.*lung fields not found"):
        find_lung_fields(resize_image(leg, 256), "RG3_UNCR.dcm")
    ramp = torch.linspace(0, 1, 128).repeat(128, 1)[None]
    with pytest.raises(LungFieldsNotFound, match="lung fields not found"):
        find_lung_fields(ramp)
    body = torch.full((1, 128, 128), 0.6)
    with pytest.raises(LungFieldsNotFound, match="no contrast"):
        find_lung_fields(body)
