import pytest
import torch

from cxrgraph.temporal import (
    ProgressionConfig,
    ProgressionModel,
    RegionImageEncoder,
    TemporalRegionEncoder,
    attach_region_features,
    collate_temporal,
)

from .synthetic import make_sample

R = 29


def test_region_image_encoder_shapes_and_errors():
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5]]).expand(2, R, 4)
    enc = RegionImageEncoder(image_size=64, width=4)
    out = enc(torch.rand(2, 1, 64, 64), boxes)
    # crops: CNN mean + max, thorax geometry, pixel grid, box geometry
    assert out.shape == (2, R, enc.out_channels) and enc.out_channels == 2 * 16 + 6 + 6 * 6 + 4
    small = RegionImageEncoder("small", image_size=64, width=4)
    assert small(torch.rand(2, 1, 64, 64), boxes).shape == (2, R, 2 * 16 + 6 * 6 + 4)
    for e in (enc, small):
        with pytest.raises(ValueError, match="boxes"):
            e(torch.rand(2, 1, 64, 64), torch.zeros(2, R, 3))
    with pytest.raises(ValueError, match="divisible by 8"):
        RegionImageEncoder("small", image_size=60)
    with pytest.raises(ValueError, match="per-region inputs"):
        small.region_inputs(torch.rand(1, 1, 64, 64), boxes[:1])


def test_crop_encoder_encodes_any_subset_of_regions():
    torch.manual_seed(0)
    enc = RegionImageEncoder(image_size=64, width=4, crop_size=8).eval()
    images, boxes = torch.rand(2, 1, 64, 64), torch.rand(2, R, 2).repeat(1, 1, 2) * 0.4
    boxes[..., 2:] += 0.5
    crops, extras = enc.region_inputs(images, boxes)
    assert crops.shape == (2, R, 2, 8, 8) and extras.shape == (2, R, enc.extra_channels)
    full = enc(images, boxes)
    some = enc.encode_inputs(crops[1, [3, 7]], extras[1, [3, 7]])
    assert torch.allclose(some, full[1, [3, 7]], atol=1e-5)


def test_temporal_encoder_uses_the_standin_without_prior():
    torch.manual_seed(0)
    enc = TemporalRegionEncoder(16, image_size=64, width=4).eval()
    cur, prev = torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64)
    boxes = torch.tensor([0.2, 0.2, 0.6, 0.7]).expand(2, R, 4)
    single = enc(cur, current_boxes=boxes)
    assert not single.has_previous.any()
    assert torch.equal(single.previous[0], enc.previous_standin)
    pair = enc(cur, prev, current_boxes=boxes, has_previous=torch.tensor([True, False]))
    assert torch.equal(pair.previous[1], enc.previous_standin)
    assert not torch.allclose(pair.previous[0], enc.previous_standin)
    # the current embeddings do not depend on whether a prior was given
    assert torch.allclose(pair.current, single.current, atol=1e-5)
    # a region without a box gets its learned "missing" embedding
    present = torch.ones(2, R, dtype=torch.bool)
    present[:, 3] = False
    out = enc(cur, prev, current_boxes=boxes, current_present=present)
    assert torch.equal(out.current[0, 3], enc.region_missing[3])


@pytest.mark.parametrize("alignment", ["poincare", "euclidean", "concat"])
def test_model_forward_batch_and_losses(alignment):
    torch.manual_seed(0)
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, hidden_channels=8, alignment=alignment,
                            text_channels=5, head_hidden=8)  # fmt: skip
    model = ProgressionModel(cfg)
    other = {7: "The right apical pneumothorax is smaller."}
    batch = collate_temporal([make_sample(0), make_sample(1, guidance=other)])
    out, target = model.forward_batch(batch)
    assert out.logits.shape == (2, R, 3)
    assert len(batch.guidance_text) == 2
    assert torch.equal(target, batch.change)
    assert (out.manifold is None) == (alignment == "concat")
    emb = torch.randn(len(batch.guidance_text), 5)
    losses = model.losses(out, target, emb, batch.guidance_index)
    assert set(losses) == {"loss", "cls", "align", "text", "level", "compare"}
    assert torch.isfinite(losses["loss"]) and float(losses["compare"]) > 0.0
    losses["loss"].backward()
    if alignment == "concat":
        assert model.guidance is None and float(losses["align"]) == 0.0
    else:
        assert float(losses["text"]) > 0.0


def test_prior_dropout_targets_and_missing_priors():
    torch.manual_seed(0)
    model = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False))
    batch = collate_temporal([make_sample(0), make_sample(1, prior=False)])
    _, target = model.forward_batch(batch)
    assert (target[1] == -1).all()  # labels about a prior the model never saw are not used
    _, target = model.forward_batch(batch, prior_dropout=1.0)
    # the dropped pair is read against an empty chest: every region labelled
    assert (target[0] >= 0).all()
    assert (target[1] == -1).all()


def test_frozen_backbone_and_precomputed_features_agree():
    torch.manual_seed(0)
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False, freeze_backbone=True)
    model = ProgressionModel(cfg)
    model.train()
    assert not model.encoder.image_encoder.training
    assert not any(p.requires_grad for p in model.encoder.image_encoder.parameters())
    samples = [make_sample(0), make_sample(1, prior=False)]
    with_feats = attach_region_features(model, samples)
    assert with_feats[0].current_features.shape == (R, model.encoder.image_encoder.out_channels)
    assert with_feats[1].prior_features is None
    model.eval()
    a, _ = model.forward_batch(collate_temporal(samples))
    b, _ = model.forward_batch(collate_temporal(with_feats))
    assert torch.allclose(a.logits, b.logits, atol=1e-4)


def test_config_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ValueError, match=r"unknown key 'alignmnet' \(did you mean 'alignment'\?\); valid keys: "):
        ProgressionModel({"alignmnet": "poincare"})
    with pytest.raises(ValueError, match="alignment"):
        ProgressionModel({"alignment": "sphere"})
    with pytest.raises(ValueError, match=r"embed_channels: expected an integer, got '32'"):
        ProgressionModel({"embed_channels": "32"})
    with pytest.raises(ValueError, match=r"curvature: expected a number, got 'flat'"):
        ProgressionConfig.from_dict({"curvature": "flat"})
    assert ProgressionConfig.from_dict({"curvature": 1, "margin": "1e-1"}).margin == pytest.approx(0.1)


def test_region_levels_and_the_severity_auxiliary():
    from cxrgraph.temporal import region_levels
    from cxrgraph.temporal.pretrain import region_targets

    torch.manual_seed(0)
    samples = [make_sample(0), make_sample(1, prior=False)]
    batch = collate_temporal(samples)
    levels = region_levels(batch.current)
    assert torch.equal(levels[0], region_targets(samples[0].pair.current)[0])
    model = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, text_guidance=False))
    assert model.level_head is not None
    out, target = model.forward_batch(batch)
    prior, current = model.level_targets(batch)
    assert prior.shape == current.shape == (2, R)
    losses = model.losses(out, target, levels=(prior, current))
    assert torch.isfinite(losses["level"]) and float(losses["level"]) > 0.0
    losses["loss"].backward()
    assert model.level_head.weight.grad is not None
    off = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, level_weight=0.0))
    assert off.level_head is None
    with pytest.raises(ValueError, match="level"):
        off.level_logits(off.forward_batch(batch)[0])


def test_a_study_shared_by_two_pairs_is_encoded_once():
    from cxrgraph.graph import StudyPair
    from cxrgraph.temporal import TemporalSample

    torch.manual_seed(0)
    model = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, freeze_backbone=True))
    first, later = make_sample(0), make_sample(1)
    # the next pair's prior is the first pair's current study (same pixels, same boxes)
    pair = StudyPair(first.pair.current, later.pair.current, later.pair.change)
    second = TemporalSample(pair, later.current_image, first.current_image.clone(), later.guidance)
    calls = []
    original = model.encode_studies

    def counting(images, boxes, batch_size=64, with_crops=False):
        calls.append(images.size(0))
        return original(images, boxes, batch_size, with_crops)

    model.encode_studies = counting
    out = attach_region_features(model, [first, second])
    assert calls == [3]
    assert torch.equal(out[0].current_features, out[1].prior_features)
    model.encode_studies = original
    single = attach_region_features(model, [second])
    assert torch.allclose(single[0].prior_features, out[1].prior_features, atol=1e-5)


def test_level_read_out_feeds_the_change_features():
    torch.manual_seed(0)
    batch = collate_temporal([make_sample(0), make_sample(1)])
    base = dict(image_size=64, width=4, embed_channels=16, hidden_channels=16, text_guidance=False, compare_channels=0)
    for alignment in ("poincare", "euclidean", "concat"):
        with_levels = ProgressionModel(ProgressionConfig(alignment=alignment, **base))
        without = ProgressionModel(ProgressionConfig(alignment=alignment, level_features=False, **base))
        a, _ = with_levels.forward_batch(batch)
        b, _ = without.forward_batch(batch)
        assert a.features.size(-1) == b.features.size(-1) + 9
        prior, current = (p.softmax(-1) for p in with_levels.level_logits(a))
        assert torch.allclose(a.features[..., -9:-5], prior) and torch.allclose(a.features[..., -5:-1], current)
        grades = torch.arange(4.0)
        assert torch.allclose(a.features[..., -1], (current * grades).sum(-1) - (prior * grades).sum(-1), atol=1e-6)
    # without the severity auxiliary there is no read-out to feed
    off = ProgressionModel(ProgressionConfig(level_weight=0.0, **base))
    assert not off.uses_level_features


def test_save_pretrained_round_trip_is_weights_only(tmp_path):
    from cxrgraph.utils.checkpoint import CheckpointError

    torch.manual_seed(0)
    cfg = ProgressionConfig(image_size=64, width=4, embed_channels=16, crop_size=8, compare_channels=8, compare_width=4)
    model = ProgressionModel(cfg).eval()
    folder = model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt"]
    again = ProgressionModel.from_pretrained(folder).eval()
    assert again.config == model.config and again.compares
    batch = collate_temporal([make_sample(0), make_sample(1)])
    a, _ = model.forward_batch(batch, compare_all=True)
    b, _ = again.forward_batch(batch, compare_all=True)
    assert torch.equal(a.logits, b.logits)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        ProgressionModel.from_pretrained(tmp_path / "missing")
    (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"model\.pt: not a readable checkpoint"):
        ProgressionModel.from_pretrained(folder)
    other = tmp_path / "other"  # a GraphAlignModel folder, say
    other.mkdir()
    (other / "config.json").write_text('{"format": 1, "config": {}}')
    (other / "model.pt").write_bytes((tmp_path / "model" / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match="not a ProgressionModel checkpoint"):
        ProgressionModel.from_pretrained(other)


def test_non_finite_progression_weights_warn(tmp_path):
    model = ProgressionModel(ProgressionConfig(image_size=64, width=4, embed_channels=16, compare_channels=0))
    with torch.no_grad():
        model.head.lin2.weight.fill_(float("inf"))
    folder = model.save_pretrained(tmp_path / "model")
    with pytest.warns(RuntimeWarning, match=r"model\.pt: 1 weight tensor\(s\) hold NaN or inf"):
        ProgressionModel.from_pretrained(folder)
