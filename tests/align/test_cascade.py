import pytest
import torch

from cxrgraph.align import STAGES, CascadingAlignment

from .synthetic import D, derangement, make_pair, permute

EYE = torch.eye(29)


def cascade(**kwargs) -> CascadingAlignment:
    torch.manual_seed(0)
    return CascadingAlignment(D, adjacency=EYE, **kwargs)


def test_aligned_pairs_beat_shuffled_pairs_at_every_stage():
    image, text, located = make_pair()
    model = cascade()
    perm = derangement(image.batch_size)
    aligned = model(image, text, located)
    shuffled = model(image, permute(text, perm), located[perm])
    assert set(aligned.losses) == set(STAGES)
    for stage in STAGES:
        assert aligned.losses[stage] < shuffled.losses[stage], stage
    assert aligned.loss < shuffled.loss


def test_total_is_weighted_sum_and_batch_permutation_invariant():
    image, text, located = make_pair(noise=0.5)
    model = cascade(stage_weights=(1.0, 0.5, 0.25, 2.0))
    out = model(image, text, located)
    expected = sum(w * out.losses[s] for s, w in zip(STAGES, (1.0, 0.5, 0.25, 2.0)))
    assert torch.isclose(out.loss, expected)
    perm = torch.randperm(image.batch_size, generator=torch.Generator().manual_seed(5))
    again = model(permute(image, perm), permute(text, perm), located[perm])
    assert torch.isclose(out.loss, again.loss, atol=1e-5)


def test_each_stage_feeds_the_next():
    image, text, located = make_pair(noise=0.5)
    model = cascade()
    out = model(image, text, located)
    # refined anatomy differs from the input and the finding refinement reads it
    assert not torch.allclose(out.image.anatomy, image.anatomy)
    image2 = image.replace(anatomy=image.anatomy + 1.0)
    out2 = model(image2, text, located)
    assert not torch.allclose(out2.image.finding, out.image.finding)
    # the relation stage sees the pathology refinement: perturbing finding nodes changes it
    out3 = model(image.replace(finding=image.finding * 2.0 + 1.0), text, located)
    assert not torch.isclose(out3.losses["relation"], out.losses["relation"])


def test_curriculum_switches_stages_on_in_order():
    image, text, located = make_pair()
    model = cascade(curriculum=(0, 1, 2, 3), warmup_epochs=2)
    w0 = model.weights_at(0)
    assert w0["anatomy"] == pytest.approx(0.5) and w0["pathology"] == 0.0
    out = model(image, text, located, epoch=0)
    assert set(out.losses) == {"anatomy"}
    model.set_epoch(10)
    assert set(model(image, text, located).losses) == set(STAGES)
    assert model.weights_at(2) == {"anatomy": 1.0, "pathology": 1.0, "relation": 0.5, "graph": 0.0}


def test_gradients_are_finite_and_reach_both_sides():
    image, text, located = make_pair(noise=0.5)
    leaves = {}
    for side, emb in (("image", image), ("text", text)):
        for name in ("anatomy", "finding", "summary"):
            leaves[side, name] = getattr(emb, name).clone().requires_grad_()
    image = image.replace(**{n: leaves["image", n] for n in ("anatomy", "finding", "summary")})
    text = text.replace(**{n: leaves["text", n] for n in ("anatomy", "finding", "summary")})
    model = cascade()
    model(image, text, located).loss.backward()
    for key, leaf in leaves.items():
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0, key
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_no_edges_and_bad_input():
    image, text, located = make_pair()
    model = cascade()
    out = model(image, text, torch.full_like(located, -1))
    assert torch.isfinite(out.loss) and out.losses["relation"] == 0
    with pytest.raises(ValueError, match="located_at"):
        model(image, text, located[:, :10])
    with pytest.raises(ValueError, match="stage_weights"):
        CascadingAlignment(D, stage_weights=(1.0, 1.0), adjacency=EYE)
    with pytest.raises(ValueError, match="curriculum"):
        CascadingAlignment(D, curriculum=(3, 2, 1, 0), adjacency=EYE)
