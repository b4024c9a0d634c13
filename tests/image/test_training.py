import itertools
import math

import pytest
import torch

from cxrgraph.image.data import RegionBoxDataset, collate_boxes
from cxrgraph.image.detector import AnatomyDetector

from .synthetic import synthetic_chest

pytest.importorskip("lightning")


def _dataset(rng, n, augment):
    pairs = [synthetic_chest(rng, 80) for _ in range(n)]
    return RegionBoxDataset([p[0] for p in pairs], torch.stack([p[1] for p in pairs]), size=64, augment=augment)


def test_dataset_items_and_augmentation_keep_boxes_valid(rng):
    ds = _dataset(rng, 3, augment=True)
    for _ in range(5):
        img, boxes, present = ds[0]
        assert img.shape == (1, 64, 64) and float(img.min()) >= 0 and float(img.max()) <= 1
        b = boxes[present]
        assert ((b >= 0) & (b <= 1)).all() and (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    images, boxes, present = collate_boxes([ds[0], ds[1]])
    assert len(images) == 2 and boxes.shape == (2, 29, 4) and present.shape == (2, 29)
    with pytest.raises(ValueError, match="boxes must have shape"):
        RegionBoxDataset([torch.rand(1, 64, 64)], torch.rand(2, 29, 4))


def test_train_detector_runs_steps_and_validates(rng):
    from cxrgraph.image.training import train_detector

    torch.manual_seed(0)
    det = AnatomyDetector(
        "mobilenet_v3", image_size=64, rpn_proposals=60, box_batch_size=32, head_channels=32, fpn_channels=32
    )
    before = {k: v.clone() for k, v in det.state_dict().items() if v.is_floating_point()}
    det, summary = train_detector(_dataset(rng, 4, True), _dataset(rng, 2, False), det, batch_size=2, max_steps=2)
    assert summary["steps"] == 2
    assert math.isfinite(summary["val_mean_iou"]) and 0 <= summary["val_mean_iou"] <= 1
    changed = [k for k, v in det.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert changed  # the optimiser really stepped
    assert not det.training


def test_schedule_warms_up_then_decays():
    from cxrgraph.image.training import scheduled_lr

    lrs = [scheduled_lr(1e-3, step, step / 100, warmup_steps=10) for step in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(b <= a for a, b in itertools.pairwise(lrs[10:]))  # decays monotonically after warm-up
    assert lrs[-1] == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * 0.99))))
    # wall-time progress beyond the step count (time cap) still ends at the floor
    assert scheduled_lr(1e-3, 20, 1.5, 10) == pytest.approx(2e-5)


def test_budget_clock_is_checked():
    from cxrgraph.image.training import AnatomyDetectorModule

    det = AnatomyDetector("mobilenet_v3", image_size=64, head_channels=16, fpn_channels=16)
    with pytest.raises(ValueError, match="clock"):
        AnatomyDetectorModule(det, clock="gpu")
    module = AnatomyDetectorModule(det, max_seconds=60.0, clock="cpu")
    assert module.elapsed() == 0.0 and module.progress() == 0.0
