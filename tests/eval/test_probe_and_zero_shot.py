import pytest
import torch

from cxrgraph.eval import LogisticProbe, binary_labels, finding_prompts, linear_probe, zero_shot


def _separable(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    codes = torch.stack([(x[:, 0] > 0).long(), (x[:, 1] > 0.5).long(), torch.full((n,), -1)], 1)
    return x, codes


def test_binary_labels():
    codes = torch.tensor([[1, 0, 2, -1]])
    y, v = binary_labels(codes)
    assert y.tolist() == [[1.0, 0.0, 0.0, 0.0]] and v.tolist() == [[True, True, False, True]]
    _, v = binary_labels(codes, unmentioned_negative=False)
    assert v.tolist() == [[True, True, False, False]]


def test_logistic_probe_learns_a_separable_problem():
    x, codes = _separable(300, 0)
    y, v = binary_labels(codes[:, :2])
    probe = LogisticProbe(l2=1e-4).fit(x, y, v)
    pred = probe.decision_function(x) > 0
    assert (pred == y.bool()).float().mean() > 0.97
    with pytest.raises(RuntimeError, match="fit"):
        LogisticProbe().decision_function(x)


def test_linear_probe_fractions_and_finding_selection():
    xtr, ctr = _separable(400, 0)
    xte, cte = _separable(200, 1)
    results = linear_probe(xtr, ctr, xte, cte, fractions=(0.01, 0.1, 1.0), names=["a", "b", "c"], repeats=2)
    assert [r.num_train for r in results] == [4, 40, 400]
    assert [r.repeats for r in results] == [2, 2, 1]
    # column c has no positives in the test set: not scored
    assert set(results[-1].auc) == {"a", "b"}
    assert results[-1].mean_auc > 0.98
    assert results[-1].mean_auc >= results[0].mean_auc - 0.05
    with pytest.raises(ValueError, match="fractions"):
        linear_probe(xtr, ctr, xte, cte, fractions=(0.0,))


def test_zero_shot_scores_by_prompt_similarity():
    names = ["pleural effusion", "pneumothorax"]
    pos, neg = finding_prompts(names)
    assert pos == ["There is pleural effusion.", "There is pneumothorax."]
    assert neg == ["No pleural effusion.", "No pneumothorax."]
    table = {pos[0]: [1.0, 0, 0, 0], neg[0]: [-1.0, 0, 0, 0], pos[1]: [0, 1.0, 0, 0], neg[1]: [0, -1.0, 0, 0]}

    def embed(texts):
        return torch.tensor([table[t] for t in texts])

    g = torch.Generator().manual_seed(0)
    codes = (torch.rand(50, 2, generator=g) < 0.4).long()
    image = torch.randn(50, 4, generator=g) * 0.1
    image[:, :2] += codes.float() * 2 - 1  # images lean towards their findings' prompts
    res = zero_shot(image, codes, embed, names)
    assert res.auc == {"pleural effusion": 1.0, "pneumothorax": 1.0}
    flipped = zero_shot(-image, codes, embed, names)
    assert flipped.mean_auc == 0.0
