"""Region geometry: 29 boxes inside the image and inside their part_of parents, exactly."""

import numpy as np
import pytest

from cxrgraph.datasets.phantom import ChestFields, PatientAnatomy, StudyPose, region_boxes, region_masks
from cxrgraph.ontology import get_ontology


def _fields(seed: int, size: int, ctr: float | None = None) -> ChestFields:
    rng = np.random.default_rng(seed)
    return ChestFields(PatientAnatomy.sample(rng), StudyPose.sample(rng), size, ctr=ctr)


@pytest.mark.parametrize("size", [128, 256, 512])
def test_boxes_inside_image_and_parent(size):
    onto = get_ontology()
    for seed in range(6):
        # the largest heart the phantom draws stresses the mediastinum / lung layout most
        boxes = region_boxes(_fields(seed, size, ctr=0.70 if seed % 2 else None))
        assert boxes.shape == (29, 4)
        assert np.isfinite(boxes).all(), "every region must be visible on a phantom film"
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= size).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        for r in onto.regions:
            if r.parent is None:
                continue
            child, parent = boxes[r.index], boxes[onto.region_index(r.parent)]
            # no tolerance: parent masks are unions over their children's masks
            assert child[0] >= parent[0] and child[1] >= parent[1], (r.name, r.parent)
            assert child[2] <= parent[2] and child[3] <= parent[3], (r.name, r.parent)


def test_masks_follow_the_hierarchy_pixelwise():
    onto = get_ontology()
    masks = region_masks(_fields(3, 128))
    assert set(masks) == set(onto.region_names)
    for r in onto.regions:
        if r.parent is not None:
            assert not (masks[r.name] & ~masks[r.parent]).any(), r.name


def test_anatomical_layout_is_radiographic():
    """Patient's right on the image left, apices above hila above domes, heart left of midline."""
    onto = get_ontology()
    b = region_boxes(_fields(11, 256))
    cx = lambda n: (b[onto.region_index(n), 0] + b[onto.region_index(n), 2]) / 2  # noqa: E731
    cy = lambda n: (b[onto.region_index(n), 1] + b[onto.region_index(n), 3]) / 2  # noqa: E731
    assert cx("right lung") < cx("trachea") < cx("left lung")
    assert cy("right apical zone") < cy("right hilar structures") < cy("right hemidiaphragm")
    assert cy("right hemidiaphragm") < cy("left hemidiaphragm") + 5  # right dome sits higher
    assert cx("cardiac silhouette") > cx("trachea")
    assert cy("carina") < cy("cardiac silhouette") < cy("abdomen")
