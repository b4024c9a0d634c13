import json

import numpy as np
import pytest
import torch

from cxrgraph.image.atlas import AtlasDetector, find_thorax
from cxrgraph.image.detection import BoxError
from cxrgraph.image.evaluation import evaluate_detections

from .synthetic import synthetic_chest

META = {"data": "synthetic test films", "synthetic": True}


def _data(rng, n, size=128):
    pairs = [synthetic_chest(rng, size) for _ in range(n)]
    return [p[0] for p in pairs], torch.stack([p[1] for p in pairs])


def test_find_thorax_finds_the_lung_fields(rng):
    for _ in range(5):
        img, thorax = synthetic_chest(rng, 128, return_thorax=True)
        box = find_thorax(img)
        assert box is not None
        assert torch.allclose(box, thorax, atol=3 / 128)  # within a few pixels
    blank_body = torch.full((1, 128, 128), 0.6)
    assert find_thorax(blank_body) is None


def test_fit_then_detect_recovers_boxes_on_new_images(rng):
    train_imgs, train_boxes = _data(rng, 12)
    atlas = AtlasDetector.fit(train_boxes, train_imgs, meta={"data": "synthetic"})
    test_imgs, test_boxes = _data(np.random.default_rng(99), 6)
    dets = atlas.detect(test_imgs, sources=[f"t{i}" for i in range(6)])
    assert len(dets) == 6 and dets[0].source == "t0" and dets[0].detector == "AtlasDetector"
    assert all(d.present.all() for d in dets)
    report = evaluate_detections(dets, test_boxes)
    assert report.mean_iou > 0.8
    # the layout follows the thorax: a mean box placed without it does much worse
    fixed = [type(d)(test_boxes.nanmean(0), d.scores, d.present, d.image_size) for d in dets]
    assert evaluate_detections(fixed, test_boxes).mean_iou < report.mean_iou - 0.1


def test_absent_regions_stay_absent(rng):
    imgs, boxes = _data(rng, 6)
    boxes[:, 28] = float("nan")  # abdomen never annotated
    atlas = AtlasDetector.fit(boxes, imgs, meta=META)
    det = atlas.detect(imgs[:1])[0]
    assert not bool(det.present[28]) and bool(det.present[:28].all())


def test_save_load_round_trip_and_errors(rng, tmp_path):
    imgs, boxes = _data(rng, 4)
    atlas = AtlasDetector.fit(boxes, imgs, meta=META)
    path = atlas.save(tmp_path / "layout.json")
    back = AtlasDetector.load(path)
    assert torch.allclose(back.layout, atlas.layout, atol=1e-5)
    assert back.meta["num_images"] == 4
    data = json.loads(path.read_text())
    data["regions"] = data["regions"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="lacks regions"):
        AtlasDetector.load(path)
    with pytest.raises(FileNotFoundError):
        AtlasDetector.load(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="fit needs"):
        AtlasDetector.fit(boxes[:2], imgs)


def test_packaged_layout_loads_and_places_regions(rng):
    atlas = AtlasDetector.load()
    img, _ = synthetic_chest(rng, 128)
    det = atlas.detect([img])[0]
    assert det.boxes.shape == (29, 4)
    assert (det.boxes[:, 2] >= det.boxes[:, 0]).all() and (det.boxes[:, 3] >= det.boxes[:, 1]).all()
    # the right lung (patient's right = image left) lies left of the left lung
    assert det.boxes[0, 0] < det.boxes[8, 0]


def test_no_lung_fields_is_reported_not_boxed(rng):
    imgs, boxes = _data(rng, 4)
    atlas = AtlasDetector.fit(boxes, imgs, meta=META)
    flat = torch.linspace(0, 1, 128 * 128).view(1, 128, 128)
    det = atlas.detect(flat)[0]  # one image
    assert "lung fields not found" in det.problem and not det.present.any() and det.confidence == 0.0


def test_fit_refuses_bad_boxes(rng):
    imgs, boxes = _data(rng, 3)
    for bad, match in (
        ([0.6, 0.2, 0.4, 0.5], "x2 < x1"),
        ([0.1, float("nan"), 0.3, 0.4], "some corners are NaN"),
        ([0.1, 0.1, float("inf"), 0.4], "infinite"),
        ([12.0, 30.0, 80.0, 120.0], "pixel coordinates"),
    ):
        b = boxes.clone()
        b[1, 4] = torch.tensor(bad)
        with pytest.raises(BoxError, match=rf"boxes\[1, 4\]: .*{match}"):
            AtlasDetector.fit(b, imgs, meta=META)
    b = boxes.clone()
    b[0, 0, 0] = -0.05  # a little off the edge: clipped, with a warning
    with pytest.warns(UserWarning, match="clipped"):
        AtlasDetector.fit(b, imgs, meta=META)
    with pytest.warns(UserWarning, match="say what the boxes are"):
        AtlasDetector.fit(boxes, imgs)


def test_layout_with_inverted_boxes_is_refused():
    layout = torch.tensor([[0.1, 0.1, 0.5, 0.5]]).repeat(29, 1)
    layout[7] = torch.tensor([0.5, 0.1, 0.1, 0.5])
    with pytest.raises(ValueError, match=r"right hemidiaphragm.*x2 < x1"):
        AtlasDetector(layout)


def test_detect_names_and_provenance(rng):
    imgs, boxes = _data(rng, 4)
    atlas = AtlasDetector.fit(boxes, imgs, meta=META)
    with pytest.raises(ValueError, match="sources has 1 names for 2 images"):
        atlas.detect(imgs[:2], sources=["a"])
    assert atlas.synthetic and "synthetic test films" in repr(atlas)
    packaged = AtlasDetector.load()
    assert packaged.synthetic and "phantom" in packaged.meta["data"]
