import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from cxrgraph.temporal import (
    ProgressionConfig,
    ProgressionModel,
    RegionComparator,
    TemporalRegionEncoder,
    TemporalSample,
    attach_region_features,
    collate_temporal,
)

from .synthetic import make_sample

R = 29
#: a tiny frozen-backbone model with a comparator
SMALL = ProgressionConfig(
    image_size=64, width=4, embed_channels=16, crop_size=8, compare_channels=8, compare_width=4,
    text_guidance=False, freeze_backbone=True,
)  # fmt: skip


def test_comparator_shapes_and_errors():
    comp = RegionComparator(8, width=4)
    assert comp(torch.rand(5, 2, 12, 12), torch.rand(5, 2, 12, 12)).shape == (5, 8)
    with pytest.raises(ValueError, match="current"):
        comp(torch.rand(5, 1, 12, 12), torch.rand(5, 1, 12, 12))
    with pytest.raises(ValueError, match="prior"):
        comp(torch.rand(5, 2, 12, 12), torch.rand(4, 2, 12, 12))
    with pytest.raises(ValueError, match="crop_channels"):
        RegionComparator(8, crop_channels=3)


def _blob_pairs(n: int, gen: torch.Generator, size: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Registered crop pairs: shared anatomy, fresh noise, a blob whose strength may change."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    anatomy = torch.randn(n, 1, size, size, generator=gen)
    centre = torch.rand(n, 2, generator=gen) * (size - 6) + 3
    blob = torch.exp(-((xx - centre[:, :1, None]) ** 2 + (yy - centre[:, 1:, None]) ** 2) / 6.0).unsqueeze(1)
    level_p = torch.randint(0, 3, (n,), generator=gen)
    level_c = torch.randint(0, 3, (n,), generator=gen)
    label = torch.sign(level_c - level_p).long() + 1  # 0 improved, 1 no change, 2 worsened

    def study(level: torch.Tensor) -> torch.Tensor:
        region = anatomy + 1.5 * level.view(-1, 1, 1, 1) * blob + 0.3 * torch.randn(n, 1, size, size, generator=gen)
        reference = anatomy.flip(-1) + 0.3 * torch.randn(n, 1, size, size, generator=gen)
        return torch.cat([region, reference], dim=1)

    return study(level_c), study(level_p), label


def test_comparator_learns_change_that_single_crops_hide():
    # each crop alone cannot tell a blob from the anatomy; side by side the change is plain
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cur, pri, y = _blob_pairs(384, gen)
    cur_t, pri_t, y_t = _blob_pairs(256, gen)
    comp = RegionComparator(16, width=8)
    head = torch.nn.Linear(16, 3)
    opt = torch.optim.Adam([*comp.parameters(), *head.parameters()], lr=5e-3)
    for step in range(120):
        i = torch.arange(step * 64, step * 64 + 64) % len(y)
        loss = F.cross_entropy(head(comp(cur[i], pri[i])), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    comp.eval()
    with torch.no_grad():
        acc = (head(comp(cur_t, pri_t)).argmax(-1) == y_t).float().mean().item()
    assert acc > 0.8, acc


def _encoder() -> TemporalRegionEncoder:
    return TemporalRegionEncoder(16, compare_channels=8, compare_width=4, image_size=64, width=4, crop_size=8)


def test_temporal_encoder_compares_selected_regions_only():
    torch.manual_seed(0)
    enc = _encoder().eval()
    boxes = torch.tensor([0.2, 0.2, 0.6, 0.7]).expand(2, R, 4)
    cur, prev = torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64)
    out = enc(cur, prev, current_boxes=boxes)
    assert out.difference.shape == (2, R, 8)
    assert not torch.allclose(out.difference, enc.not_compared.expand(2, R, 8))
    mask = torch.zeros(2, R, dtype=torch.bool)
    mask[0, 3] = True
    part = enc(cur, prev, current_boxes=boxes, compare_mask=mask, has_previous=torch.tensor([True, False]))
    assert torch.allclose(part.difference[0, 3], out.difference[0, 3], atol=1e-6)
    untouched = ~mask
    assert torch.equal(part.difference[untouched], enc.not_compared.expand(2, R, 8)[untouched])
    # a region without a box in the prior is not compared either
    absent = torch.ones(2, R, dtype=torch.bool)
    absent[:, 3] = False
    gone = enc(cur, prev, current_boxes=boxes, previous_present=absent)
    assert torch.equal(gone.difference[:, 3], enc.not_compared[3].expand(2, 8))
    alone = enc(cur, current_boxes=boxes)
    assert torch.equal(alone.difference, enc.not_compared.expand(2, R, 8))


def test_comparator_works_with_a_whole_image_backbone():
    # the comparator reads crops cut from the images, which every backbone is given
    torch.manual_seed(0)
    cfg = replace(SMALL, backbone="small")
    model = ProgressionModel(cfg).eval()
    assert model.compares and model.head.in_channels == model.alignment.out_channels + 9 + 8
    samples = [make_sample(0), make_sample(1)]
    with_feats = attach_region_features(model, samples)
    assert with_feats[0].current_crops.shape == (R, 2, 8, 8)
    a, _ = model.forward_batch(collate_temporal(samples), compare_all=True)
    b, _ = model.forward_batch(collate_temporal(with_feats), compare_all=True)
    assert not torch.allclose(a.regions.difference, model.encoder.not_compared.expand_as(a.regions.difference))
    assert torch.allclose(a.logits, b.logits, atol=2e-2)  # the stored crops are float16


def test_comparator_features_path_matches_images_and_needs_crops():
    torch.manual_seed(0)
    cfg = SMALL
    model = ProgressionModel(cfg).eval()
    assert model.compares and model.head.in_channels == model.alignment.out_channels + 9 + 8
    samples = [make_sample(0), make_sample(1, prior=False)]
    with_feats = attach_region_features(model, samples)
    assert with_feats[0].current_crops.shape == (R, 2, 8, 8) and with_feats[0].current_crops.dtype == torch.float16
    assert with_feats[1].prior_crops is None
    a, _ = model.forward_batch(collate_temporal(samples), compare_all=True)
    b, _ = model.forward_batch(collate_temporal(with_feats), compare_all=True)
    assert torch.allclose(a.logits, b.logits, atol=2e-2)  # the stored crops are float16
    # only labelled regions are compared by default; the pair without a prior is never compared
    c, target = model.forward_batch(collate_temporal(with_feats))
    labelled = target >= 0
    assert torch.allclose(c.logits[labelled], b.logits[labelled], atol=1e-5)
    assert torch.equal(c.regions.difference[1], model.encoder.not_compared)
    bare = [replace(s, current_crops=None, prior_crops=None) for s in with_feats]
    with pytest.raises(ValueError, match="region crops"):
        model.forward_batch(collate_temporal(bare))
    with pytest.raises(ValueError, match="current_crops"):
        TemporalSample(samples[0].pair, samples[0].current_image, current_crops=torch.zeros(3, 2, 8, 8))


def test_comparator_trains_with_a_frozen_backbone():
    torch.manual_seed(0)
    cfg = SMALL
    model = ProgressionModel(cfg).train()
    batch = collate_temporal(attach_region_features(model, [make_sample(0), make_sample(1)]))
    out, target = model.forward_batch(batch)
    model.losses(out, target)["loss"].backward()
    grads = [p.grad for p in model.encoder.comparator.parameters()]
    assert all(g is not None and math.isfinite(float(g.abs().sum())) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    assert all(p.grad is None for p in model.encoder.image_encoder.parameters())
    # the comparator's own read-out is trained too, and can be switched off
    assert model.compare_head.weight.grad is not None and float(model.compare_head.weight.grad.abs().sum()) > 0
    off = ProgressionModel(replace(cfg, compare_weight=0.0))
    assert off.compare_head is None and off.compares
    out, target = off.forward_batch(batch)
    assert float(off.losses(out, target)["compare"]) == 0.0


def _legacy_file(path, model, model_cfg):
    """A checkpoint as ``cxrgraph progression train`` wrote it before save_pretrained existed."""
    payload = {"config": {"model": model_cfg}, "state_dict": model.state_dict(), "format": "cxrgraph.progression/1"}
    torch.save(payload, path)
    return path


def test_checkpoints_from_before_the_comparator_still_load(tmp_path):
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, crop_size=8, compare_channels=0)
    model = ProgressionModel(cfg)
    old = cfg.to_dict()
    del old["compare_channels"], old["compare_width"]
    loaded = ProgressionModel.from_pretrained(_legacy_file(tmp_path / "old.pt", model, old))
    assert not loaded.compares
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_legacy_whole_image_checkpoints_load_without_the_comparator_they_never_had(tmp_path):
    # earlier versions dropped the comparator of a whole-image backbone whatever the config said
    cfg = ProgressionConfig(backbone="small", image_size=64, width=4, embed_channels=16, compare_channels=0)
    saved = {**cfg.to_dict(), "compare_channels": 32}
    loaded = ProgressionModel.from_pretrained(_legacy_file(tmp_path / "old.pt", ProgressionModel(cfg), saved))
    assert not loaded.compares and loaded.config.compare_channels == 0
