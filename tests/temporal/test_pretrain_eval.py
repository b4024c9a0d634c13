import json

import pytest
import torch

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal import (
    ProgressionConfig,
    ProgressionModel,
    collate_temporal,
    evaluate_progression,
    pretrain_region_encoder,
    region_targets,
    write_evaluation,
)

from .synthetic import make_graph, make_sample


def _studies(n: int):
    """A small progression model and the current and prior studies of ``n`` synthetic pairs."""
    torch.manual_seed(0)
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False, freeze_backbone=True)
    samples = [make_sample(i) for i in range(n)]
    images = [s.current_image for s in samples] + [s.prior_image for s in samples]
    graphs = [s.pair.current for s in samples] + [s.pair.prior for s in samples]
    return ProgressionModel(cfg), images, graphs


ONTO = get_ontology()


def test_region_targets():
    g = make_graph(
        [
            ("left lower lung zone", "lung opacity", "present", "moderate"),
            ("left lower lung zone", "atelectasis", "uncertain", "unspecified"),
            ("right lung", "pneumothorax", "absent"),
        ]
    )
    level, findings = region_targets(g)
    r = ONTO.region_index("left lower lung zone")
    assert level[r] == 2 and level[ONTO.region_index("right lung")] == 0
    assert findings[r, ONTO.finding_index("lung opacity")] == 1
    assert findings[r, ONTO.finding_index("atelectasis")] == 1
    assert findings.sum() == 2


def test_pretraining_lowers_its_loss_and_changes_the_encoder():
    model, images, graphs = _studies(4)
    before = [p.detach().clone() for p in model.encoder.image_encoder.parameters()]
    res = pretrain_region_encoder(model.encoder, images, graphs, epochs=6, batch_size=8, lr=5e-3)
    assert len(res.losses) == 6 and res.num_studies == 8
    assert res.losses[-1] < res.losses[0]
    after = list(model.encoder.image_encoder.parameters())
    # the frozen backbone is trained here, and frozen again afterwards
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert not any(p.requires_grad for p in model.encoder.image_encoder.parameters())


def test_evaluate_and_write(tmp_path):
    torch.manual_seed(0)
    model = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False))
    batches = [collate_temporal([make_sample(0), make_sample(1)]), collate_temporal([make_sample(2)])]
    ev = evaluate_progression(model, batches)
    assert ev.num_pairs == 3 and ev.metrics.num_labelled == 6
    assert ev.prior_points.shape[:2] == (3, 29) and ev.curvature > 0
    paths = write_evaluation(ev, tmp_path, prefix="x_")
    assert set(paths) == {"metrics", "confusion", "regions", "poincare"}
    data = json.loads(paths["metrics"].read_text())
    assert data["summary"]["labelled_regions"] == 6
    assert 0.0 <= data["summary"]["accuracy"] <= 1.0


def test_reader_level_accuracy_of_the_pretrained_head():
    from cxrgraph.graph import ANATOMY
    from cxrgraph.temporal import reader_level_accuracy, region_targets

    model, images, graphs = _studies(3)
    res = pretrain_region_encoder(model.encoder, images, graphs, epochs=2, batch_size=8)
    assert res.head is not None
    # a read-out that always says "level 0": accuracy is the share of level-0 regions with a box
    with torch.no_grad():
        res.head.level.weight.zero_()
        res.head.level.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    acc = reader_level_accuracy(model.encoder, res.head, images, graphs, batch_size=4)
    present = torch.stack([g[ANATOMY].has_box.bool() for g in graphs])
    levels = torch.stack([region_targets(g)[0] for g in graphs])[present]
    assert acc["regions"] == present.sum().item()
    assert acc["accuracy"] == pytest.approx((levels == 0).float().mean().item())
    assert acc["positive_accuracy"] == 0.0
    assert acc["balanced_accuracy"] == pytest.approx(1 / len(levels.unique()))
