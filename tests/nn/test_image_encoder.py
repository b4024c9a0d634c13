import pytest
import torch

from cxrgraph.nn import ImageGraphEncoder, sincos_position_2d


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ImageGraphEncoder(12, 16, 32, num_findings=80, heads=4).eval()


def test_shapes_for_maps_and_tokens(model):
    regions = torch.randn(3, 29, 12)
    out = model(regions, torch.randn(3, 16, 5, 6))
    assert out.anatomy.shape == (3, 29, 32) and out.finding.shape == (3, 80, 32)
    assert out.finding_logits.shape == (3, 80) and out.edge_logits.shape == (3, 80, 29)
    assert out.tokens.shape == (3, 30, 32) and out.summary.shape == (3, 32)
    out2 = model(regions, torch.randn(3, 30, 16))
    assert out2.tokens.shape == (3, 30, 32)
    assert repr(model) == "ImageGraphEncoder(12, 16, 32, num_findings=80, heads=4, num_layers=1)"


def test_batch_equivariance_and_feature_map_dependence(model):
    regions, fmap = torch.randn(4, 29, 12), torch.randn(4, 16, 4, 4)
    out = model(regions, fmap)
    perm = torch.tensor([2, 0, 3, 1])
    out_p = model(regions[perm], fmap[perm])
    assert torch.allclose(out.finding[perm], out_p.finding, atol=1e-5)
    assert torch.allclose(out.edge_logits[perm], out_p.edge_logits, atol=1e-5)
    # the finding queries read the feature map; anatomy nodes do not
    other = model(regions, fmap + torch.randn_like(fmap))
    assert not torch.allclose(out.finding_logits, other.finding_logits)
    assert torch.allclose(out.anatomy, other.anatomy)


def test_region_mask_and_edge_scores(model):
    regions, fmap = torch.randn(2, 29, 12), torch.randn(2, 16, 3, 3)
    mask = torch.ones(2, 29, dtype=torch.bool)
    mask[0, 5] = False
    mask[1] = False
    out = model(regions, fmap, mask)
    assert torch.allclose(out.anatomy[0, 5], model.region_missing[5])
    assert torch.isfinite(out.finding).all()
    # edge logits are a scaled bilinear form of the decoded finding queries and the anatomy nodes
    k, r = 3, 7
    pre_attention = model.decoder(
        model.finding_queries.expand(2, -1, -1),
        model.patch_proj(fmap.flatten(2).transpose(1, 2)) + sincos_position_2d(3, 3, 32),
    )
    expected = model.edge_query(pre_attention)[0, k] @ model.edge_key(out.anatomy)[0, r] / 32**0.5
    assert torch.isclose(out.edge_logits[0, k, r], expected, atol=1e-4)


def test_gradients_reach_inputs_and_queries(model):
    model.train()
    regions = torch.randn(2, 29, 12, requires_grad=True)
    fmap = torch.randn(2, 16, 3, 3, requires_grad=True)
    out = model(regions, fmap)
    (out.finding_logits.sum() + out.edge_logits.sum() + out.summary.sum()).backward()
    for t in (regions, fmap, model.finding_queries, model.cls_weight):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_bad_inputs(model):
    with pytest.raises(ValueError, match="region_features"):
        model(torch.randn(2, 28, 12), torch.randn(2, 16, 3, 3))
    with pytest.raises(ValueError, match="feature_map"):
        model(torch.randn(2, 29, 12), torch.randn(2, 15, 3, 3))
    with pytest.raises(ValueError, match="batch"):
        model(torch.randn(2, 29, 12), torch.randn(3, 16, 3, 3))
    with pytest.raises(ValueError, match="out_channels"):
        ImageGraphEncoder(12, 16, 30)
