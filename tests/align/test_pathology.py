import pytest
import torch

from cxrgraph.align import PatchCorrelationLoss, PathologyAlignment

from .synthetic import D, K, P, derangement, make_pair


def test_pathology_alignment_aligned_beats_shuffled():
    torch.manual_seed(0)
    image, text, _ = make_pair()
    loss = PathologyAlignment(D)
    obs, attn = loss.extractor(image.tokens)
    assert obs.shape == (image.batch_size, K, D) and attn.shape == (image.batch_size, K, P)
    text_path = obs.detach() + 0.05 * torch.randn_like(obs)
    perm = derangement(image.batch_size)
    aligned = loss(image.tokens, text_path, text.finding_mask)
    shuffled = loss(image.tokens, text_path[perm], text.finding_mask[perm])
    assert aligned < shuffled
    # permuting the batch (both sides) changes nothing
    p2 = torch.randperm(image.batch_size, generator=torch.Generator().manual_seed(4))
    again = loss(image.tokens[p2], text_path[p2], text.finding_mask[p2])
    assert torch.isclose(aligned, again, atol=1e-5)


def test_pathology_alignment_gradients():
    image, text, _ = make_pair(noise=0.5)
    patches = image.tokens.clone().requires_grad_()
    t = text.finding.clone().requires_grad_()
    loss = PathologyAlignment(D)
    loss(patches, t, text.finding_mask).backward()
    assert torch.isfinite(patches.grad).all() and patches.grad.abs().sum() > 0
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    assert loss.extractor.queries.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="text_pathology"):
        loss(patches, t[:, :10], None)


def _correlated_batch(batch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patches whose correlation pattern (which half of the image is alike) the report states."""
    pattern = torch.randint(0, 3, (batch,), generator=g)
    base = torch.randn(batch, 1, D, generator=g)
    patches = torch.randn(batch, P, D, generator=g)
    groups = torch.zeros(3, P, 1)
    groups[1, : P // 2] = 1.0  # upper patches share one signal
    groups[2, P // 2 :] = 1.0  # lower patches share one signal
    patches = patches + 3.0 * groups[pattern] * base
    words = torch.randn(3, 2, D, generator=torch.Generator().manual_seed(99))
    sentences = words[pattern] + 0.05 * torch.randn(batch, 2, D, generator=g)
    return patches, sentences, pattern


def test_patch_correlation_learns_to_read_the_report():
    torch.manual_seed(0)
    loss = PatchCorrelationLoss(D, P)
    opt = torch.optim.Adam(loss.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        patches, sentences, _ = _correlated_batch(16, g)
        opt.zero_grad()
        loss(patches, sentences).backward()
        opt.step()
    patches, sentences, pattern = _correlated_batch(32, torch.Generator().manual_seed(123))
    with torch.no_grad():
        aligned = loss(patches, sentences)
        perm = torch.roll(torch.arange(32), 1)
        mismatch = pattern != pattern[perm]
        shuffled = loss(patches[mismatch], sentences[perm][mismatch])
        aligned_same = loss(patches[mismatch], sentences[mismatch])
    assert aligned_same < 0.7 * shuffled
    assert torch.isfinite(aligned)


def test_patch_correlation_gradients_and_masks():
    patches = torch.randn(4, P, D, requires_grad=True)
    sentences = torch.randn(4, 3, D, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    loss = PatchCorrelationLoss(D, P, detach_target=False)
    out = loss(patches, sentences, mask)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(patches.grad).all() and torch.isfinite(sentences.grad).all()
    assert patches.grad.abs().sum() > 0 and sentences.grad[0, :2].abs().sum() > 0
    assert sentences.grad[0, 2].abs().sum() == 0  # padding sentence
    target = PatchCorrelationLoss.target(patches.detach())
    assert torch.allclose(torch.diagonal(target, dim1=1, dim2=2), torch.ones(4, P), atol=1e-5)
    with pytest.raises(ValueError, match="patches"):
        loss(patches[:, :5], sentences)
