import torch

from cxrgraph.align import ImageTagLoss, located_at_routing_loss


def test_routing_loss_targets_the_asserted_regions_only():
    logits = torch.zeros(1, 2, 4, requires_grad=True)
    located = torch.full((1, 2, 4), -1)
    located[0, 0, 2] = 1  # present at region 2
    located[0, 1, 3] = 0  # negated: says where the finding is not, no target
    loss = located_at_routing_loss(logits, located)
    assert torch.isclose(loss, torch.log(torch.tensor(4.0)))  # uniform scores
    loss.backward()
    assert logits.grad[0, 0, 2] < 0 and (logits.grad[0, 0, [0, 1, 3]] > 0).all()
    assert torch.count_nonzero(logits.grad[0, 1]) == 0
    # a confident right answer costs less than a confident wrong one
    good = torch.full((1, 2, 4), -5.0)
    good[0, 0, 2] = 5.0
    bad = torch.full((1, 2, 4), -5.0)
    bad[0, 0, 1] = 5.0
    assert located_at_routing_loss(good, located) < 0.01 < located_at_routing_loss(bad, located)


def test_regions_missing_from_the_image_are_no_candidates_and_nothing_asserted_gives_zero():
    logits = torch.tensor([[[5.0, 0.0, 0.0]]])
    located = torch.tensor([[[-1, 1, -1]]])
    with_missing = located_at_routing_loss(logits, located, torch.tensor([[False, True, True]]))
    assert with_missing < located_at_routing_loss(logits, located)
    none = located_at_routing_loss(logits.requires_grad_(), torch.full((1, 1, 3), -1))
    assert none.item() == 0.0 and none.requires_grad


def test_image_tag_loss_adds_the_triplet_location_term():
    logits = torch.zeros(2, 3)
    existence = torch.tensor([[1, 0, -1], [0, 1, 2]])
    edge = torch.zeros(2, 3, 5)
    located = torch.full((2, 3, 5), -1)
    located[0, 0, 1] = 1
    plain = ImageTagLoss()(logits, existence)
    with_location = ImageTagLoss()(logits, existence, edge, located)
    assert torch.isclose(with_location - plain, torch.log(torch.tensor(5.0)))
    assert torch.isclose(ImageTagLoss(location_weight=0.0)(logits, existence, edge, located), plain)
