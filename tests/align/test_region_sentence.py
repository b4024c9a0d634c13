import pytest
import torch

from cxrgraph.align import RegionSentenceAlignment

from .synthetic import derangement, make_pair, permute


def test_sentences_match_their_regions_better_than_other_studies():
    image, text, _ = make_pair()
    loss = RegionSentenceAlignment()
    aligned = loss(image.anatomy, text.tokens, text.token_region_mask, text.token_mask)
    shuffled_text = permute(text, derangement(text.batch_size))
    shuffled = loss(image.anatomy, shuffled_text.tokens, shuffled_text.token_region_mask, shuffled_text.token_mask)
    assert aligned < shuffled


def test_invariant_to_sentence_order_and_batch_order():
    image, text, _ = make_pair(noise=0.3)
    loss = RegionSentenceAlignment()
    ref = loss(image.anatomy, text.tokens, text.token_region_mask, text.token_mask)
    order = torch.tensor([2, 0, 3, 1])
    again = loss(image.anatomy, text.tokens[:, order], text.token_region_mask[:, order], text.token_mask[:, order])
    assert torch.isclose(ref, again, atol=1e-5)
    perm = torch.randperm(image.batch_size, generator=torch.Generator().manual_seed(2))
    t = permute(text, perm)
    assert torch.isclose(ref, loss(image.anatomy[perm], t.tokens, t.token_region_mask, t.token_mask), atol=1e-5)


def test_padding_sentences_and_missing_regions_are_ignored():
    image, text, _ = make_pair(noise=0.3)
    loss = RegionSentenceAlignment()
    ref = loss(image.anatomy, text.tokens, text.token_region_mask, text.token_mask)
    # a padding sentence with garbage content changes nothing
    tokens = torch.cat([text.tokens, 100 * torch.randn(text.batch_size, 1, text.tokens.size(-1))], 1)
    rmask = torch.cat([text.token_region_mask, torch.ones_like(text.token_region_mask[:, :1])], 1)
    smask = torch.cat([text.token_mask, torch.zeros_like(text.token_mask[:, :1])], 1)
    assert torch.isclose(ref, loss(image.anatomy, tokens, rmask, smask), atol=1e-5)
    region_mask = torch.ones(image.batch_size, 29, dtype=torch.bool)
    region_mask[:, 25:] = False
    out = loss(image.anatomy, text.tokens, text.token_region_mask, text.token_mask, region_mask)
    assert torch.isfinite(out)


def test_gradient_reaches_regions_and_sentences():
    image, text, _ = make_pair(noise=0.3)
    v = image.anatomy.clone().requires_grad_()
    t = text.tokens.clone().requires_grad_()
    region_mask = torch.ones(image.batch_size, 29, dtype=torch.bool)
    region_mask[:, 28] = False
    RegionSentenceAlignment()(v, t, text.token_region_mask, text.token_mask, region_mask).backward()
    assert torch.isfinite(v.grad).all() and torch.isfinite(t.grad).all()
    assert v.grad.abs().sum() > 0 and t.grad.abs().sum() > 0
    assert v.grad[:, 28].abs().sum() == 0


def test_shape_error_names_the_mask():
    image, text, _ = make_pair()
    with pytest.raises(ValueError, match="region_sentence_mask"):
        RegionSentenceAlignment()(image.anatomy, text.tokens, text.token_region_mask[:, :, :10])
