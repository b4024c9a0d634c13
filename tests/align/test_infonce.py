import math

import pytest
import torch

from cxrgraph.align import GlobalInfoNCELoss, LogitScale, info_nce, multi_positive_nce, node_info_nce

from .synthetic import derangement, make_pair


def test_global_infonce_aligned_below_shuffled():
    image, text, _ = make_pair()
    loss = GlobalInfoNCELoss()
    aligned = loss(image.summary, text.summary)
    shuffled = loss(image.summary, text.summary[derangement(len(text.summary))])
    assert aligned < 0.1 < shuffled


def test_global_infonce_known_value_and_permutation_invariance():
    loss = GlobalInfoNCELoss(init_temperature=1.0, learnable_temperature=False)
    # orthogonal matched pairs: logits are the identity, the loss is log(e + B - 1) - 1
    x = torch.eye(4)
    assert torch.isclose(loss(x, x), torch.tensor(math.log(math.e + 3) - 1.0), atol=1e-6)
    image, text, _ = make_pair(noise=0.5)
    perm = torch.randperm(image.summary.size(0), generator=torch.Generator().manual_seed(3))
    a = loss(image.summary, text.summary)
    b = loss(image.summary[perm], text.summary[perm])
    assert torch.isclose(a, b, atol=1e-6)


def test_global_infonce_gradient_reaches_both_sides_and_temperature():
    image, text, _ = make_pair(noise=0.5)
    v = image.summary.clone().requires_grad_()
    t = text.summary.clone().requires_grad_()
    loss = GlobalInfoNCELoss()
    loss(v, t).backward()
    for grad in (v.grad, t.grad, loss.logit_scale.log_scale.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_global_infonce_rejects_bad_shapes():
    with pytest.raises(ValueError, match="image / report"):
        GlobalInfoNCELoss()(torch.randn(4, 8), torch.randn(3, 8))


def test_logit_scale_is_clamped():
    scale = LogitScale(init_temperature=1e-4)
    assert float(scale().detach()) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="init_temperature"):
        LogitScale(init_temperature=0.0)


def test_soft_targets_with_identity_equal_hard_targets():
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    assert torch.isclose(info_nce(a, b, 10.0), info_nce(a, b, 10.0, targets=torch.eye(5)), atol=1e-6)


def test_node_info_nce_masks_and_finite_gradients():
    a = torch.randn(4, 6, 8, requires_grad=True)
    b = torch.randn(4, 6, 8)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    # node 0 valid in two studies, node 1 in one study only (no negative: ignored), the rest never
    mask[:2, 0] = True
    mask[3, 1] = True
    loss = node_info_nce(a, b, mask, 10.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()
    assert a.grad[:, 2:].abs().sum() == 0 and a.grad[3, 1].abs().sum() == 0
    # equals plain InfoNCE over the two studies of node 0
    assert torch.isclose(loss, info_nce(a[:2, 0], b[:2, 0], 10.0), atol=1e-6)
    empty = node_info_nce(a, b, torch.zeros(4, 6, dtype=torch.bool), 10.0)
    assert empty == 0


def test_multi_positive_nce_rows_without_positive_give_finite_gradients():
    logits = torch.randn(3, 5, requires_grad=True)
    pos = torch.zeros(3, 5, dtype=torch.bool)
    pos[0, [1, 2]] = True
    masked = logits.masked_fill(torch.tensor([False, True, False]).view(3, 1), float("-inf"))
    loss = multi_positive_nce(masked, pos)
    loss.backward()
    expected = torch.logsumexp(logits[0], 0) - torch.logsumexp(logits[0, [1, 2]], 0)
    assert torch.isclose(loss, expected) and torch.isfinite(logits.grad).all()
