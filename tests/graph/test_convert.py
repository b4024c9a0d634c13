import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cxrgraph.graph import ClinicalGraph, GraphValidationError, from_networkx, to_networkx
from cxrgraph.ontology import get_ontology

ONTO = get_ontology()

triplet = st.tuples(
    st.one_of(st.none(), st.integers(0, 28)),
    st.integers(0, ONTO.num_findings - 1),
    st.integers(0, 2),
    st.integers(0, 3),
    st.integers(0, 5),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(triplet, max_size=12), st.booleans())
def test_networkx_round_trip_is_exact(triplets, with_features):
    g = ClinicalGraph.from_triplets(triplets, suggestive_of=[(0, 48)], study_id="s9")
    if with_features:
        g["anatomy"].x = torch.randn(29, 5)
        g["finding"].x = torch.randn(ONTO.num_findings, 5, dtype=torch.float64)
    back = from_networkx(to_networkx(g))
    assert isinstance(back, ClinicalGraph)
    assert g.equals(back)
    back.validate()


def test_networkx_view_names_nodes_and_relations():
    g = ClinicalGraph.from_triplets([("left base", "opacity", "absent")])
    G = g.to_networkx()
    assert isinstance(G, nx.MultiDiGraph)
    assert G.nodes[("anatomy", 11)]["name"] == "left lower lung zone"
    f = ONTO.finding_index("lung opacity")
    (data,) = G.get_edge_data(("finding", f), ("anatomy", 11)).values()
    assert data["relation"] == "located_at" and data["existence"] == 0
    assert G.number_of_nodes() == 29 + ONTO.num_findings


def test_from_networkx_rejects_foreign_graphs():
    with pytest.raises(GraphValidationError, match="to_networkx"):
        from_networkx(nx.MultiDiGraph())
