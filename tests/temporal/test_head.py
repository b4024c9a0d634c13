import pytest
import torch

from cxrgraph.temporal import ProgressionHead, class_balanced_weights


def test_class_balanced_weights():
    w = class_balanced_weights(torch.tensor([1000, 100, 10]), beta=0.999)
    assert w.shape == (3,) and float(w.sum()) == pytest.approx(3.0, rel=1e-5)
    assert w[2] > w[1] > w[0]  # rarer classes weigh more
    assert torch.allclose(class_balanced_weights(torch.tensor([5, 50, 500]), beta=0.0), torch.ones(3))
    # an unseen class gets the largest seen weight, not infinity
    w = class_balanced_weights(torch.tensor([100, 0, 10]))
    assert torch.isfinite(w).all() and w[1] == w.max()
    with pytest.raises(ValueError, match="beta"):
        class_balanced_weights(torch.tensor([1, 2, 3]), beta=1.0)
    with pytest.raises(ValueError, match="counts"):
        class_balanced_weights(torch.tensor([1, -2, 3]))


def test_head_shapes_and_masked_loss():
    head = ProgressionHead(10, 8)
    x = torch.randn(2, 29, 10)
    logits = head(x)
    assert logits.shape == (2, 29, 3)
    target = torch.full((2, 29), -1)
    loss = head.loss(logits, target)
    assert float(loss) == 0.0 and loss.requires_grad
    target[0, 3] = 2
    full = torch.nn.functional.cross_entropy(logits[0, 3:4], target[0, 3:4])
    assert torch.allclose(head.loss(logits, target), full)
    with pytest.raises(ValueError, match="last dim"):
        head(torch.randn(2, 29, 9))


def test_class_weights_change_the_loss():
    torch.manual_seed(0)
    head = ProgressionHead(4, 8, dropout=0.0)
    logits = head(torch.randn(1, 29, 4))
    target = torch.randint(0, 3, (1, 29))
    before = head.loss(logits, target)
    head.set_class_counts(torch.tensor([1, 1000, 1000]))
    assert head.class_weight[0] > head.class_weight[1]
    assert not torch.allclose(before, head.loss(logits, target))
    with pytest.raises(ValueError, match="counts"):
        head.set_class_counts(torch.tensor([1, 2]))


def test_head_learns_a_separable_rule():
    torch.manual_seed(0)
    head = ProgressionHead(2, 16, dropout=0.0)
    head.eval()
    x = torch.randn(8, 29, 2)
    target = torch.where(x[..., 0] > 0.5, 2, torch.where(x[..., 0] < -0.5, 0, 1))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(120):
        opt.zero_grad()
        head.loss(head(x), target).backward()
        opt.step()
    acc = (head(x).argmax(-1) == target).float().mean()
    assert acc > 0.95
