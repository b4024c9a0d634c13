import torch

from cxrgraph.align import anatomy_adjacency
from cxrgraph.graph import ADJACENT_TO, PART_OF, ClinicalGraph, anatomy_edge_index, anatomy_edges
from cxrgraph.ontology import get_ontology

R = get_ontology().num_regions


def test_anatomy_edges_are_the_graphs_edges():
    edges = anatomy_edges()
    g = ClinicalGraph.from_triplets([("left lung", "pleural effusion", "present")])
    assert torch.equal(g[PART_OF].edge_index, edges[PART_OF])
    assert torch.equal(g[ADJACENT_TO].edge_index, edges[ADJACENT_TO])
    onto = get_ontology()
    parent = {(onto.region(c).name, onto.region(p).name) for c, p in edges[PART_OF].t().tolist()}
    assert ("left lower lung zone", "left lung") in parent
    # fresh copies: a caller editing its tensors does not change the next graph
    edges[PART_OF].fill_(0)
    assert not torch.equal(anatomy_edges()[PART_OF], edges[PART_OF])


def test_anatomy_edge_index_is_symmetric_unique_and_covers_both_relations():
    ei = anatomy_edge_index()
    assert ei.max() < R and ei.size(1) > R
    pairs = set(map(tuple, ei.t().tolist()))
    assert len(pairs) == ei.size(1)
    assert all((b, a) in pairs for a, b in pairs)
    for edge_index in anatomy_edges().values():
        assert set(map(tuple, edge_index.t().tolist())) <= pairs


def test_cascade_adjacency_is_built_from_the_same_edges():
    adj = anatomy_adjacency(R)
    ei = anatomy_edge_index()
    linked = torch.zeros(R, R, dtype=torch.bool)
    linked[ei[0], ei[1]] = True
    linked |= torch.eye(R, dtype=torch.bool)
    assert torch.equal(adj > 0, linked)
    assert torch.allclose(adj, adj.t())
