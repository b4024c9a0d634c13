from __future__ import annotations

import torch
from torch_geometric.loader import DataLoader

from cxrgraph.graph import ClinicalGraph, Triplet
from cxrgraph.text import ReportGraph, ReportTriplet, parse_report

# CXR1000 (OpenI dev split), in MIMIC-CXR layout
REPORT = (
    "FINDINGS: There is XXXX increased opacity within the right upper lobe with possible mass and associated "
    "area of atelectasis or focal consolidation. The cardiac silhouette is within normal limits. XXXX opacity in "
    "the left midlung overlying the posterior left 5th rib may represent focal airspace disease. No pleural "
    "effusion or pneumothorax. No acute bone abnormality."
)


def _strip(g):
    h = g.clone()
    for key in ("sentences", "sentence_spans", "mentions", "region_sentences", "report_triplets", "errors"):
        del h[key]
    return h


def test_report_graph_is_a_clinical_graph():
    g = parse_report(REPORT)
    assert isinstance(g, ReportGraph) and isinstance(g, ClinicalGraph)
    g.validate()
    assert len(g.sentences) == 5
    assert g.region_sentences.shape == (5, 29) and g.region_sentences.dtype == torch.bool


def test_same_tensors_as_from_triplets():
    g = parse_report(REPORT)
    suggest = g["finding", "suggestive_of", "finding"].edge_index.t().tolist()
    ref = ClinicalGraph.from_triplets([t.to_triplet() for t in g.triplets], suggestive_of=suggest)
    assert _strip(g).equals(ref)
    # ReportGraph.build from names gives the same graph as from codes
    again = ReportGraph.build(
        list(g.triplets),
        sentences=g.sentences,
        sentence_spans=g.sentence_spans,
        mentions=g.mentions,
        region_sentences=g.region_sentences,
        suggestive_of=suggest,
    )
    assert _strip(again).equals(ref)


def test_triplets_property_and_call():
    g = parse_report(REPORT)
    t = g.triplets[0]
    assert isinstance(t, ReportTriplet)
    assert REPORT[t.span[0] : t.span[1]].lower() == "opacity"
    assert t.region == "right upper lung zone" and t.sentence == 0
    merged = g.triplets()  # ClinicalGraph.triplets() semantics: merged located_at edges
    assert all(isinstance(x, Triplet) for x in merged)
    assert len(merged) == g["finding", "located_at", "anatomy"].edge_index.size(1)


def test_graphs_own_their_tensors():
    a, b = parse_report(REPORT), parse_report(REPORT)
    a["anatomy"].present[0] = False
    a["anatomy", "part_of", "anatomy"].edge_index[0, 0] = 7
    assert bool(b["anatomy"].present[0])
    assert (
        int(b["anatomy", "part_of", "anatomy"].edge_index[0, 0]) != 7
        or int(ClinicalGraph.empty()["anatomy", "part_of", "anatomy"].edge_index[0, 0]) == 7
    )


def test_batching_keeps_text():
    graphs = [parse_report(REPORT), parse_report("IMPRESSION: Mild cardiomegaly.")]
    batch = next(iter(DataLoader(graphs, batch_size=2)))
    assert batch.num_graphs == 2
    assert batch.region_sentences.shape == (6, 29)
    assert len(batch.sentences) == 2 and batch.sentences[1] == ["Mild cardiomegaly."]


def test_to_json():
    d = parse_report(REPORT, id="CXR1000").to_json()
    assert d["id"] == "CXR1000"
    assert d["triplets"][0]["span"] == list(parse_report(REPORT).triplets[0].span)
    assert d["errors"] == []


def _tensors(g):
    return {
        (k, name): v.tolist()
        for k, store in [("finding", g["finding"]), ("located_at", g["finding", "located_at", "anatomy"])]
        for name, v in store.items()
        if isinstance(v, torch.Tensor)
    }


def test_stores_are_created_on_first_use_and_equal_eager_ones():
    import copy
    import pickle

    from torch_geometric.data import Batch

    # CXR1557 / CXR1031 (OpenI dev split)
    texts = [
        "No pneumothorax identified. Bilateral pleural effusions.",
        "Left basilar opacity may represent pneumonia. Heart size mildly enlarged.",
    ]
    lazy = [parse_report(t, id=f"r{i}") for i, t in enumerate(texts)]
    assert all("_pending" in g.__dict__ for g in lazy)
    summary = [g.to_json() for g in lazy]
    triplets = [list(g.triplets) for g in lazy]
    assert all("_pending" in g.__dict__ for g in lazy), "to_json and triplets must not build the stores"

    eager = [parse_report(t, id=f"r{i}") for i, t in enumerate(texts)]
    for g in eager:
        assert "finding" in g.node_types  # builds the stores
    assert all("_pending" not in g.__dict__ for g in eager)
    assert [g.to_json() for g in eager] == summary
    assert [list(g.triplets) for g in eager] == triplets
    # copies, pickles and batches of a graph whose stores are pending equal the built graph
    for make in (copy.copy, copy.deepcopy, lambda g: pickle.loads(pickle.dumps(g))):
        fresh = parse_report(texts[1], id="r1")
        other = make(fresh)
        assert _tensors(other) == _tensors(eager[1])
        assert other.id == "r1" and other.sentences == eager[1].sentences
        assert other["finding"]._parent() is other
    batch = Batch.from_data_list([parse_report(t) for t in texts])
    assert batch["finding", "located_at", "anatomy"].edge_index.size(1) == sum(
        g["finding", "located_at", "anatomy"].edge_index.size(1) for g in eager
    )
    assert lazy[0].id == "r0" and lazy[0].validate() is lazy[0]


def test_report_terms_are_kept_on_triplets_mentions_nodes_json_and_caches(tmp_path):
    from cxrgraph.datasets import GraphCache
    from cxrgraph.ontology import get_ontology
    from cxrgraph.text import parse_report

    onto = get_ontology()
    text = "FINDINGS: Calcified  Granulomas in the left upper lobe. Another granuloma at the right base."
    graph = parse_report(text)
    assert [t.term for t in graph.triplets] == ["calcified granulomas", "granuloma"]
    assert {t.finding for t in graph.triplets} == {"granuloma"}
    assert [m.term for m in graph.mentions if m.kind == "region"] == ["left upper lobe", "right base"]
    terms = graph.finding_terms
    assert len(terms) == onto.num_findings
    assert terms[onto.finding_index("granuloma")] == ("calcified granulomas", "granuloma")
    assert terms[onto.finding_index("calcified nodule")] == ()
    assert [t["term"] for t in graph.to_json()["triplets"]] == ["calcified granulomas", "granuloma"]
    # a graph read back from a cache keeps them
    cache = GraphCache(tmp_path / "cache")
    cache.build([text], parse_report, ids=["r1"])
    again = cache[0]
    assert [t.term for t in again.triplets] == ["calcified granulomas", "granuloma"]
    assert again.finding_terms == terms
