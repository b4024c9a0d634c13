import json

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
    torch.manual_seed(0)
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False, freeze_backbone=True)
    model = ProgressionModel(cfg)
    samples = [make_sample(i) for i in range(4)]
    images = [s.current_image for s in samples] + [s.prior_image for s in samples]
    graphs = [s.pair.current for s in samples] + [s.pair.prior for s in samples]
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
