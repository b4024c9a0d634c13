import pytest
import torch

from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.detector import AnatomyDetector, make_targets
from cxrgraph.image.io import ImageInputError

from .synthetic import synthetic_chest


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return AnatomyDetector(
        "mobilenet_v3", image_size=64, rpn_proposals=60, box_batch_size=32, head_channels=32, fpn_channels=32
    )


def test_training_loss_is_finite_and_backpropagates(tiny, rng):
    pairs = [synthetic_chest(rng, 64) for _ in range(2)]
    tiny.train()
    losses = tiny.training_loss([p[0] for p in pairs], torch.stack([p[1] for p in pairs]))
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in tiny.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    tiny.zero_grad()


def test_detect_gives_one_box_per_region(tiny, rng):
    img, _ = synthetic_chest(rng, 64)
    dets = tiny.detect([img, torch.rand(1, 48, 80)], sources=["a", "b"], score_threshold=0.0)
    assert len(dets) == 2 and dets[1].image_size == (48, 80) and dets[1].source == "b"
    one = tiny.detect(img, score_threshold=0.0)  # one [1, H, W] image, not a list
    assert len(one) == 1 and torch.allclose(one[0].boxes, tiny.detect([img], score_threshold=0.0)[0].boxes)
    assert one[0].confidence == pytest.approx(float(one[0].scores.mean()))
    with pytest.raises(ValueError, match="sources has 1 names for 2 images"):
        tiny.detect([img, img], sources=["a"])
    for det in dets:
        assert det.boxes.shape == (29, 4) and det.scores.shape == (29,)
        assert ((det.boxes >= 0) & (det.boxes <= 1)).all()
        b = det.boxes[det.present]
        assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()


def test_best_scoring_box_wins_and_threshold_marks_absent(tiny):
    raw = {
        "boxes": torch.tensor([[0, 0, 10, 10], [5, 5, 30, 30], [0, 0, 64, 64], [1, 1, 2, 2.0]]),
        "labels": torch.tensor([1, 1, 3, 5]),  # region index + 1
        "scores": torch.tensor([0.4, 0.9, 0.3, 0.01]),
    }
    det = tiny._best_per_region(raw, 64, 64, threshold=0.05, source=None)
    assert det.present.nonzero().flatten().tolist() == [0, 2]
    assert torch.allclose(det.boxes[0], torch.tensor([5, 5, 30, 30]) / 64)
    assert float(det.scores[0]) == pytest.approx(0.9)
    assert not bool(det.present[4]) and float(det.scores[4]) == 0  # below threshold: absent


def test_input_is_checked_at_the_door(tiny):
    with pytest.raises(ImageInputError, match=r"wrong channel count"):
        tiny.detect([torch.rand(3, 64, 64)])
    with pytest.raises(ImageInputError, match=r"\[0, 1\]"):
        tiny.detect([torch.rand(1, 64, 64) * 255])


def test_save_load_round_trip(tiny, tmp_path, rng):
    img, _ = synthetic_chest(rng, 64)
    tiny.eval()
    before = tiny.detect([img], score_threshold=0.0)[0]
    path = tiny.save(tmp_path / "det.pt")
    tiny.meta.update({"data": "phantom tree (synthetic)", "synthetic": True})
    path = tiny.save(tmp_path / "det.pt")
    back = AnatomyDetector.load(path)
    assert back.config == tiny.config
    assert back.meta["data"] == "phantom tree (synthetic)" and back.synthetic
    after = back.detect([img], score_threshold=0.0)[0]
    assert torch.allclose(before.boxes, after.boxes) and torch.allclose(before.scores, after.scores)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"bad.pt"):
        AnatomyDetector.load(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not an AnatomyDetector checkpoint"):
        AnatomyDetector.load(tmp_path / "other.pt")


def test_make_targets_drops_absent_and_zero_area():
    boxes = torch.zeros(29, 4)
    boxes[:, 2:] = 0.5
    boxes[3] = float("nan")
    boxes[4] = torch.tensor([0.2, 0.2, 0.2, 0.6])  # zero width
    present = torch.ones(29, dtype=torch.bool)
    present[5] = False
    t = make_targets(boxes, present, 100, 200)
    assert 4 not in t["labels"] - 1 and 3 not in t["labels"] - 1 and 5 not in t["labels"] - 1
    assert t["boxes"].shape == (26, 4)
    assert torch.allclose(t["boxes"][0], torch.tensor([0.0, 0.0, 100.0, 50.0]))


def test_bad_arguments_and_backbone_weights(tmp_path):
    with pytest.raises(ValueError, match=r"unknown backbone"):
        AnatomyDetector("vgg")
    with pytest.raises(FileNotFoundError, match=r"never downloads"):
        AnatomyDetector("mobilenet_v3", image_size=64, backbone_weights=tmp_path / "none.pth")
    from torchvision.models import mobilenet_v3_large

    torch.manual_seed(1)
    ref = mobilenet_v3_large(weights=None)
    torch.save(ref.state_dict(), tmp_path / "mnv3.pth")
    det = AnatomyDetector("mobilenet_v3", image_size=64, backbone_weights=tmp_path / "mnv3.pth", head_channels=32)
    body = det.model.backbone.body.state_dict()
    assert torch.equal(body["0.0.weight"], ref.state_dict()["features.0.0.weight"])


def test_region_detection_json_round_trip():
    boxes = torch.rand(29, 4).sort(-1).values[:, [0, 1, 2, 3]]
    boxes = torch.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + 0.1, boxes[:, 1] + 0.1], -1).clamp(0, 1)
    present = torch.ones(29, dtype=torch.bool)
    present[7] = False
    det = RegionDetection(boxes, torch.rand(29), present, (100, 120), "x.jpg", "test", confidence=0.7)
    d = det.to_dict()
    assert d["confidence"] == pytest.approx(0.7) and d["problem"] is None
    assert d["regions"][7]["box"] is None and d["regions"][0]["name"] == "right lung"
    back = RegionDetection.from_dict(d)
    assert torch.equal(back.present, present) and back.confidence == pytest.approx(0.7)
    assert torch.allclose(back.boxes, det.boxes, atol=1e-5)
