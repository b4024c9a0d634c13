import json

import numpy as np
import pytest
import torch

from cxrgraph.image.atlas import AtlasDetector, find_thorax
from cxrgraph.image.evaluation import evaluate_detections

from .synthetic import synthetic_chest


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
    atlas = AtlasDetector.fit(boxes, imgs)
    det = atlas.detect(imgs[:1])[0]
    assert not bool(det.present[28]) and bool(det.present[:28].all())


def test_save_load_round_trip_and_errors(rng, tmp_path):
    imgs, boxes = _data(rng, 4)
    atlas = AtlasDetector.fit(boxes, imgs)
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


def test_no_thorax_falls_back_with_lower_score(rng):
    imgs, boxes = _data(rng, 4)
    atlas = AtlasDetector.fit(boxes, imgs)
    flat = torch.linspace(0, 1, 128 * 128).view(1, 128, 128)
    det = atlas.detect([flat])[0]
    assert float(det.scores.max()) == pytest.approx(0.5)
