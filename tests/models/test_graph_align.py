import json

import pytest
import torch

from cxrgraph.models import GraphAlignConfig, GraphAlignModel, collate_align, load_checkpoint

from .helpers import ALL_LOSSES, phantom_studies, tiny_config


@pytest.fixture(scope="module")
def batch():
    return collate_align(phantom_studies()[:4])


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown losses"):
        GraphAlignConfig(loss_weights={"globl": 1.0})
    with pytest.raises(ValueError, match="at least one loss"):
        GraphAlignConfig(loss_weights={"global": 0.0})
    with pytest.raises(ValueError, match="graph_encoder"):
        GraphAlignConfig(graph_encoder="spherical")
    with pytest.raises(ValueError, match="unknown keys"):
        GraphAlignConfig.from_dict({"backbone": "resnet18", "bakcbone_weights": None})
    cfg = GraphAlignConfig(loss_weights={"global": 1, "cascade": 0, "image_tag": 0.5})
    assert cfg.active_losses == {"global": 1.0, "image_tag": 0.5}
    assert GraphAlignConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_all_losses_train_every_part_euclidean(batch):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config(loss_weights=ALL_LOSSES, graph_encoder="euclidean"))
    assert set(model.losses) == set(ALL_LOSSES)
    out = model(batch)
    assert set(out.losses) == set(ALL_LOSSES)
    assert all(torch.isfinite(v) for v in out.losses.values())
    expected = sum(ALL_LOSSES[k] * v for k, v in out.losses.items())
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    # every trainable parameter takes part (DDP without find_unused_parameters relies on it)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    assert model.extractor.body[0].weight.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.text_encoder.backbone.parameters())


def test_hyperbolic_graph_encoder_and_loss_weights(batch):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config(loss_weights={"global": 1.0, "cascade": 0.5}, graph_encoder="hyperbolic"))
    out = model(batch)
    assert torch.allclose(out.loss, out.losses["global"] + 0.5 * out.losses["cascade"])
    out.loss.backward()
    grads = {n: p.grad for n, p in model.graph_encoder.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert torch.isfinite(model.graph_encoder.curvature)
    assert "hyperbolic" in repr(model)


def test_contrastive_batch_needs_two_studies(batch):
    model = GraphAlignModel(tiny_config())
    one = collate_align(phantom_studies()[:1])
    with pytest.raises(ValueError, match="at least 2"):
        model(one)


def test_frozen_sentence_cache_matches_the_encoder(batch):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config()).eval()
    args = (batch.sentences, batch.region_sentence_mask, batch.mentions, batch.existence)
    cached = model.text_encoder(*args)
    assert model._sentence_cache.entries  # filled
    uncached = type(model.text_encoder).forward.__get__(model.text_encoder)
    model.text_encoder.encode_sentences = model._sentence_cache.encode
    try:
        plain = uncached(*args)
    finally:
        model.text_encoder.encode_sentences = model._sentence_cache
    for name in ("anatomy", "finding", "summary", "tokens"):
        assert torch.allclose(getattr(cached, name), getattr(plain, name), atol=1e-5), name
    # a frozen transformer stays in eval mode (no dropout) while the rest trains
    model.train()
    assert not model.text_encoder.backbone.training and model.image_encoder.training


def test_save_pretrained_round_trip_weights_only(tmp_path, batch):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config(loss_weights={"global": 1.0, "image_tag": 1.0})).eval()
    folder = model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt"]
    state = torch.load(folder / "model.pt", weights_only=True)  # plain tensors only
    assert set(state) == set(model.state_dict())
    again = GraphAlignModel.from_pretrained(folder).eval()
    assert again.config == model.config
    a = model.embed_images(batch.images, batch.boxes, batch.present)
    b = again.embed_images(batch.images, batch.boxes, batch.present)
    assert torch.allclose(a, b)
    texts = ["There is pleural effusion.", "No pleural effusion."]
    assert torch.allclose(model.embed_texts(texts), again.embed_texts(texts))


def test_from_pretrained_reads_lightning_checkpoints_and_refuses_mismatches(tmp_path):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config())
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"model_config": model.config.to_dict(), "lr": 1e-3},
    }
    torch.save(ckpt, tmp_path / "run.ckpt")
    config, state = load_checkpoint(tmp_path / "run.ckpt")
    assert config == model.config and set(state) == set(model.state_dict())
    # weights that do not fit the config are refused with the keys named
    bad = tiny_config(channels=64).to_dict()
    torch.save({**ckpt, "hyper_parameters": {"model_config": bad}}, tmp_path / "bad.ckpt")
    with pytest.raises((ValueError, RuntimeError)):
        GraphAlignModel.from_pretrained(tmp_path / "bad.ckpt")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        GraphAlignModel.from_pretrained(tmp_path / "missing")
    torch.save({"weights": 1}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a GraphAlignPretrainer checkpoint"):
        load_checkpoint(tmp_path / "other.ckpt")


def test_embeddings_shapes(batch):
    model = GraphAlignModel(tiny_config()).eval()
    img, txt = model.embed_batch(batch)
    assert img.shape == txt.shape == (4, 32)
    sim = GraphAlignModel.similarity(img, txt)
    assert sim.shape == (4, 4) and sim.abs().max() <= 1 + 1e-5
    assert model.embed_reports([]).shape == (0, 32)


@pytest.mark.parametrize("graph_encoder", [None, "euclidean", "hyperbolic"])
def test_embed_images_is_the_image_graph_readout(batch, graph_encoder):
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config(graph_encoder=graph_encoder)).eval()
    emb = model.embed_images(batch.images, batch.boxes, batch.present)
    with torch.no_grad():
        graph = model.encode_image(batch.images, batch.boxes, batch.present)
        readout = model.image_encoder.readout(graph.anatomy, graph.finding, graph.anatomy_mask)
    assert torch.allclose(emb, readout, atol=1e-6)
    # it reads the graph's nodes, not the patch tokens: change a region node, the embedding moves
    with torch.no_grad():
        moved = graph.anatomy.clone()
        moved[:, 3] += 1.0
        assert not torch.allclose(model.image_encoder.readout(moved, graph.finding, graph.anatomy_mask), readout)
    if graph_encoder is not None:
        # and the graph encoder's message passing reaches it
        with torch.no_grad():
            for p in model.graph_encoder.parameters():
                p.add_(0.05 * torch.randn_like(p))
        assert not torch.allclose(model.embed_images(batch.images, batch.boxes, batch.present), emb)
