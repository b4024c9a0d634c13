import pytest
import torch

from cxrgraph.eval import region_grounding


def test_hits_misses_and_auc():
    scores = torch.zeros(2, 3, 4)
    truth = torch.zeros(2, 3, 4, dtype=torch.bool)
    # study 0, finding 0: true region 1 scored highest -> hit, AUC 1
    truth[0, 0, 1] = True
    scores[0, 0] = torch.tensor([0.1, 0.7, 0.1, 0.1])
    # study 1, finding 2: true regions 0 and 3; region 2 is highest -> miss; AUC: 0 beats 1 only,
    # 3 beats 1 and ties nothing: pairs (0,1)=1, (0,2)=0, (3,1)=1, (3,2)=0 -> 0.5
    truth[1, 2, [0, 3]] = True
    scores[1, 2] = torch.tensor([0.3, 0.1, 0.5, 0.3])
    res = region_grounding(scores, truth, names=["a", "b", "c"])
    assert res.num_pairs == 2
    assert res.accuracy == pytest.approx(0.5)
    assert res.auc == pytest.approx(0.75)
    assert res.per_finding == {"a": (1.0, 1.0, 1), "c": (0.0, 0.5, 1)}
    assert res.chance_accuracy == pytest.approx((1 / 4 + 2 / 4) / 2)


def test_regions_missing_from_the_image_are_no_candidates():
    scores = torch.tensor([[[0.9, 0.5, 0.1]]])
    truth = torch.tensor([[[False, True, False]]])
    assert region_grounding(scores, truth).accuracy == 0.0
    present = torch.tensor([[False, True, True]])
    res = region_grounding(scores, truth, present)
    assert res.accuracy == 1.0 and res.auc == 1.0 and res.chance_accuracy == 0.5


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="no finding has a true region"):
        region_grounding(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN"):
        region_grounding(torch.full((1, 1, 2), float("nan")), torch.tensor([[[True, False]]]))
    with pytest.raises(ValueError, match=r"\[N, K, R\]"):
        region_grounding(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))


def test_grounding_picture(tmp_path):
    from cxrgraph.eval import plot_grounding
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    k = onto.finding_index("pleural effusion")
    boxes = torch.tensor([[0.1, 0.1, 0.4, 0.5]]).repeat(onto.num_regions, 1)
    scores = torch.full((onto.num_findings, onto.num_regions), 1.0 / onto.num_regions)
    scores[k, 3] = 0.9
    truth = torch.zeros(onto.num_findings, onto.num_regions, dtype=torch.bool)
    truth[k, 3] = True
    fig = plot_grounding(torch.rand(1, 64, 64), boxes, scores, ["pleural effusion"], truth, path=tmp_path / "g.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"pleural effusion → {onto.region(3).name} (0.90)"]
    assert len(fig.axes[0].patches) == 2 and (tmp_path / "g.png").stat().st_size > 0
    with pytest.raises(ValueError, match="region_scores"):
        plot_grounding(torch.rand(1, 8, 8), boxes, scores[:3], [k])
