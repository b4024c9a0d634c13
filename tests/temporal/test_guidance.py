import pytest
import torch

from cxrgraph.temporal import SentenceEmbedder, TextGuidance


def test_guidance_loss_prefers_matching_sentences():
    torch.manual_seed(0)
    g = TextGuidance(6, 5, 8)
    sentences = torch.randn(3, 5)
    index = torch.full((2, 29), -1)
    index[0, :3] = torch.tensor([0, 1, 2])
    index[1, 4] = 0  # a second region sharing sentence 0
    feats = torch.randn(2, 29, 6, requires_grad=True)
    opt = torch.optim.Adam([*g.parameters(), feats], lr=5e-2)
    first = None
    for _ in range(60):
        loss = g(feats, sentences, index)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    assert torch.isfinite(feats.grad).all()


def test_guidance_without_sentences_is_zero_and_checks_input():
    g = TextGuidance(6, 5)
    feats = torch.randn(1, 29, 6, requires_grad=True)
    loss = g(feats, torch.randn(2, 5), torch.full((1, 29), -1))
    assert float(loss) == 0.0 and loss.requires_grad
    with pytest.raises(ValueError, match="index"):
        g(feats, torch.randn(2, 5), torch.full((1, 28), -1))
    with pytest.raises(ValueError, match="out of range"):
        g(feats, torch.randn(2, 5), torch.full((1, 29), 3))
    with pytest.raises(ValueError, match="sentence_embeddings"):
        g(feats, torch.randn(2, 4), torch.full((1, 29), 0))


def test_sentence_embedder_caches_and_normalises():
    emb = SentenceEmbedder()
    a = emb(["The effusion has increased.", "The effusion has decreased.", "The effusion has increased."])
    assert a.shape == (3, emb.dim) and emb.dim == 384
    assert torch.allclose(a.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(a[0], a[2])
    assert len(emb._cache) == 2
    assert not torch.allclose(a[0], a[1])
    assert emb([]).shape == (0, 384)
