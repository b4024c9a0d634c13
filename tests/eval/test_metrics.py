import math

import pytest
import torch

from cxrgraph.eval import duplicate_positives, recall_at_k, retrieval_metrics, roc_auc, roc_auc_per_column


def test_roc_auc_known_answers():
    assert roc_auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), torch.tensor([0, 0, 1, 1])) == 1.0
    assert roc_auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), torch.tensor([0, 0, 1, 1])) == 0.0
    # the textbook example: one inversion among four positive-negative pairs
    assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75
    # ties count one half
    assert roc_auc(torch.tensor([0.5, 0.5, 0.5, 0.5]), torch.tensor([0, 1, 0, 1])) == 0.5
    assert roc_auc(torch.tensor([0.1, 0.5, 0.5, 0.9]), torch.tensor([0, 0, 1, 1])) == pytest.approx(0.875)
    assert math.isnan(roc_auc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])))
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(torch.tensor([float("nan"), 0.2]), torch.tensor([0, 1]))


def test_roc_auc_matches_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 20, (200,), generator=g).float()  # many ties
    labels = torch.rand(200, generator=g) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None]).double() + 0.5 * (pos[:, None] == neg[None]).double()).mean()
    assert roc_auc(scores, labels) == pytest.approx(float(pairwise), abs=1e-12)


def test_roc_auc_per_column_masks_and_skips():
    scores = torch.tensor([[0.1, 0.9], [0.2, 0.1], [0.8, 0.5], [0.9, 0.4]])
    targets = torch.tensor([[0, 1], [0, 0], [1, 1], [1, 1]])
    valid = torch.tensor([[True, True], [True, True], [True, True], [True, False]])
    auc = roc_auc_per_column(scores, targets, valid)
    assert auc[0] == 1.0 and auc[1] == 1.0
    assert torch.isnan(roc_auc_per_column(scores, targets, valid, min_positives=3)).all()


def test_recall_at_k_known_answers():
    sim = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.5, 0.9, 0.1]])
    # query 0 first, query 1 second, query 2 third
    assert recall_at_k(sim, ks=(1, 2, 3)) == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 3: 1.0}
    assert recall_at_k(sim, ks=(10,)) == {10: 1.0}
    pos = torch.eye(3, dtype=torch.bool)
    pos[2, 1] = True  # item 1 is also right for query 2
    assert recall_at_k(sim, ks=(1,), positives=pos)[1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="square"):
        recall_at_k(torch.zeros(2, 3))


def test_retrieval_metrics_both_directions_and_duplicates():
    emb = torch.eye(4)
    out = retrieval_metrics(emb, emb, ks=(1, 5))
    assert out == {"i2t_R@1": 1.0, "i2t_R@5": 1.0, "t2i_R@1": 1.0, "t2i_R@5": 1.0}
    shuffled = retrieval_metrics(emb, emb[[1, 0, 2, 3]], ks=(1,))
    assert shuffled["i2t_R@1"] == 0.5 and shuffled["t2i_R@1"] == 0.5
    dup = duplicate_positives(["No acute process.", "no acute  process.", "Effusion.", "Effusion"])
    assert dup.tolist() == [
        [True, True, False, False],
        [True, True, False, False],
        [False, False, True, False],
        [False, False, False, True],
    ]
