import math

import pytest
import torch

from cxrgraph.align import ImageTagLoss, SoftLabelContrastiveLoss, existence_targets, info_nce, triplet_overlap

from .synthetic import derangement, make_pair


def test_existence_targets():
    ex = torch.tensor([[1, 0, 2, -1]])
    t, v = existence_targets(ex, uncertain=None, unmentioned=None)
    assert t.tolist() == [[1.0, 0.0, 0.0, 0.0]] and v.tolist() == [[True, True, False, False]]
    t, v = existence_targets(ex, uncertain=0.5, unmentioned=0.0)
    assert t.tolist() == [[1.0, 0.0, 0.5, 0.0]] and v.all()


def test_tag_loss_known_values():
    ex = torch.tensor([[1, 0, -1, 2]])
    assert torch.isclose(ImageTagLoss()(torch.zeros(1, 4), ex), torch.tensor(math.log(2.0)))
    # ignoring uncertain and unmentioned leaves two confident, correct logits
    loss = ImageTagLoss(uncertain=None, unmentioned=None)(torch.tensor([[20.0, -20.0, 5.0, -5.0]]), ex)
    assert loss < 1e-6


def test_tag_loss_correct_existence_beats_other_reports():
    g = torch.Generator().manual_seed(0)
    ex = torch.randint(-1, 3, (8, 80), generator=g)
    logits = torch.where(ex == 1, 3.0, -3.0) + 0.1 * torch.randn(8, 80, generator=g)
    loss = ImageTagLoss()
    assert loss(logits, ex) < loss(logits, ex[derangement(8)])
    perm = torch.randperm(8, generator=g)
    assert torch.isclose(loss(logits, ex), loss(logits[perm], ex[perm]))


def test_tag_loss_gradient_and_shape_check():
    logits = torch.randn(4, 80, requires_grad=True)
    ImageTagLoss(pos_weight=torch.full((80,), 2.0))(logits, torch.randint(-1, 3, (4, 80))).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="logits / existence"):
        ImageTagLoss()(torch.zeros(4, 80), torch.zeros(4, 79, dtype=torch.long))


def test_triplet_overlap_known_answer():
    loc = torch.full((5, 80, 29), -1)
    loc[0, 3, 14] = 1
    loc[1, 3, 14] = 1
    loc[2, 3, 14] = 1
    loc[2, 5, 0] = 1
    loc[3, 3, 14] = 0  # same pair, other existence: a different triplet
    overlap = triplet_overlap(loc)
    assert overlap[0, 1] == 1.0 and overlap[0, 2] == 0.5 and overlap[0, 3] == 0.0
    assert overlap[4, 4] == 1.0 and overlap[0, 4] == 0.0
    assert torch.equal(overlap, overlap.t())


def test_soft_label_contrastive():
    image, text, located = make_pair()
    loss = SoftLabelContrastiveLoss(alpha=0.5)
    perm = derangement(image.batch_size)
    assert loss(image.summary, text.summary, located) < loss(image.summary, text.summary[perm], located[perm])
    targets = loss.targets(located)
    assert torch.allclose(targets.sum(1), torch.ones(image.batch_size))
    plain = SoftLabelContrastiveLoss(alpha=0.0)
    scale = plain.logit_scale().detach()
    assert torch.isclose(plain(image.summary, text.summary, located), info_nce(image.summary, text.summary, scale))


def test_soft_label_targets_share_mass_between_identical_reports():
    loc = torch.full((3, 80, 29), -1)
    loc[0, 3, 14] = 1
    loc[1, 3, 14] = 1
    loc[2, 7, 2] = 1
    targets = SoftLabelContrastiveLoss(alpha=1.0).targets(loc)
    assert torch.allclose(targets[0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(targets[2], torch.tensor([0.0, 0.0, 1.0]))
    v = torch.randn(3, 16, requires_grad=True)
    t = torch.randn(3, 16, requires_grad=True)
    SoftLabelContrastiveLoss()(v, t, loc).backward()
    assert torch.isfinite(v.grad).all() and torch.isfinite(t.grad).all()
