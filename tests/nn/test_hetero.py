import pytest
import torch
from torch_geometric.loader import DataLoader

from cxrgraph.graph import LOCATED_AT, ClinicalGraph
from cxrgraph.nn import HeteroGraphEncoder, add_reverse_edges, clinical_metadata, dense_nodes
from cxrgraph.ontology import get_ontology

K = get_ontology().num_findings


def graphs():
    return [
        ClinicalGraph.from_triplets([("left costophrenic angle", "pleural effusion")]),
        ClinicalGraph.from_triplets(
            [("right lower lung zone", "consolidation"), ("cardiac silhouette", "cardiomegaly")]
        ),
        ClinicalGraph.from_triplets([]),
    ]


def features(n_graphs: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "anatomy": torch.randn(29 * n_graphs, 16, generator=g),
        "finding": torch.randn(K * n_graphs, 16, generator=g),
    }


@pytest.mark.parametrize("conv", ["hgt", "gat"])
def test_batched_equals_one_by_one(conv):
    torch.manual_seed(0)
    model = HeteroGraphEncoder(16, 32, 8, num_layers=2, conv=conv).eval()
    gs = graphs()
    batch = next(iter(DataLoader(gs, batch_size=3)))
    x = features(3)
    out = model(x, batch.edge_index_dict)
    anatomy = dense_nodes(out["anatomy"], 29)
    for i, g in enumerate(gs):
        single = model(
            {"anatomy": x["anatomy"][29 * i : 29 * (i + 1)], "finding": x["finding"][K * i : K * (i + 1)]},
            g.edge_index_dict,
        )
        assert torch.allclose(anatomy[i], single["anatomy"], atol=1e-5)


@pytest.mark.parametrize("conv", ["hgt", "gat"])
def test_messages_flow_both_ways_along_located_at(conv):
    torch.manual_seed(0)
    model = HeteroGraphEncoder(16, 32, 8, num_layers=1, conv=conv).eval()
    g = graphs()[0]
    f, r = g[LOCATED_AT].edge_index[:, 0].tolist()
    x = features(1)
    out = model(x, g.edge_index_dict)
    x2 = {"anatomy": x["anatomy"], "finding": x["finding"].clone()}
    x2["finding"][f] += 3.0
    out2 = model(x2, g.edge_index_dict)
    moved = (out2["anatomy"] - out["anatomy"]).abs().sum(-1) > 1e-6
    # the region hears the finding through the reverse edge; no other region does in one layer
    assert moved[r] and moved.sum() == 1
    x3 = {"anatomy": x["anatomy"].clone(), "finding": x["finding"]}
    x3["anatomy"][r] += 3.0
    moved_f = (model(x3, g.edge_index_dict)["finding"] - out["finding"]).abs().sum(-1) > 1e-6
    assert moved_f[f] and moved_f.sum() == 1


def test_reverse_edges_and_metadata():
    g = graphs()[1]
    edges = add_reverse_edges(g.edge_index_dict)
    rev = ("anatomy", "rev_located_at", "finding")
    assert torch.equal(edges[rev], g[LOCATED_AT].edge_index.flip(0))
    assert add_reverse_edges(edges).keys() == edges.keys()
    node_types, edge_types = clinical_metadata()
    assert node_types == ["anatomy", "finding"] and rev in edge_types and len(edge_types) == 10


def test_repr_reset_and_errors():
    model = HeteroGraphEncoder({"anatomy": 16, "finding": 8}, 32, 8, conv="gat")
    assert repr(model) == "HeteroGraphEncoder({'anatomy': 16, 'finding': 8}, 32, 8, num_layers=2, conv='gat', heads=4)"
    before = [p.clone() for p in model.parameters()]
    torch.manual_seed(1)
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="conv"):
        HeteroGraphEncoder(16, 32, 8, conv="gcn")
    with pytest.raises(ValueError, match="x_dict"):
        model({"anatomy": torch.randn(29, 16)}, {})
    with pytest.raises(ValueError, match="heads"):
        HeteroGraphEncoder(16, 30, 8, heads=4)
