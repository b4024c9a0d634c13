import pytest
import torch
from torch_geometric.loader import DataLoader

from cxrgraph.graph import ClinicalGraph
from cxrgraph.nn import dense_nodes, graph_targets, located_at_dense, triplet_multi_hot
from cxrgraph.ontology import get_ontology


def test_graph_targets_from_a_batch():
    onto = get_ontology()
    g1 = ClinicalGraph.from_triplets([("left costophrenic angle", "pleural effusion", "present")])
    g2 = ClinicalGraph.from_triplets([("right lower lung zone", "consolidation", "absent")])
    batch = next(iter(DataLoader([g1, g2], batch_size=2)))
    t = graph_targets(batch)
    eff, cons = onto.finding_index("pleural effusion"), onto.finding_index("consolidation")
    lcp, rll = onto.region_index("left costophrenic angle"), onto.region_index("right lower lung zone")
    assert t["existence"].shape == (2, onto.num_findings)
    assert t["existence"][0, eff] == 1 and t["existence"][1, cons] == 0 and t["existence"][1, eff] == -1
    assert t["located_at"][0, eff, lcp] == 1 and t["located_at"][1, cons, rll] == 0
    assert (t["located_at"] >= 0).sum() == 2
    single = graph_targets(g1)
    assert torch.equal(single["located_at"][0], t["located_at"][0])


def test_dense_nodes_and_multi_hot():
    x = torch.arange(2 * 29 * 3.0).view(58, 3)
    assert torch.equal(dense_nodes(x, 29)[1, 0], x[29])
    with pytest.raises(ValueError, match="node features"):
        dense_nodes(x[:57], 29)
    loc = located_at_dense(torch.tensor([[83], [30]]), torch.tensor([2]), 2, 80, 29)
    assert loc[1, 3, 1] == 2 and (loc >= 0).sum() == 1
    hot = triplet_multi_hot(loc)
    assert hot.shape == (2, 80 * 29 * 3) and hot.sum() == 1 and hot[1, (3 * 29 + 1) * 3 + 2] == 1
