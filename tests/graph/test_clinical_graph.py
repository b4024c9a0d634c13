import pytest
import torch

from cxrgraph.graph import (
    ADJACENT_TO,
    EDGE_TYPES,
    LOCATED_AT,
    PART_OF,
    SUGGESTIVE_OF,
    UNMENTIONED,
    ClinicalGraph,
    GraphValidationError,
    Triplet,
)
from cxrgraph.ontology import UnknownConceptError, get_ontology

ONTO = get_ontology()


def _edge(graph, finding, region):
    f, r = ONTO.finding_index(finding), ONTO.region_index(region)
    ei = graph[LOCATED_AT].edge_index
    hits = ((ei[0] == f) & (ei[1] == r)).nonzero().flatten()
    return None if hits.numel() == 0 else int(hits[0])


def test_schema_of_an_empty_graph():
    g = ClinicalGraph.empty(study_id="s1").validate()
    assert g["anatomy"].num_nodes == 29
    assert g["finding"].num_nodes == ONTO.num_findings
    assert set(g.edge_types) == set(EDGE_TYPES)
    assert g[LOCATED_AT].edge_index.shape == (2, 0)
    assert (g["finding"].existence == UNMENTIONED).all()
    assert g[PART_OF].edge_index.size(1) == len(ONTO.part_of_pairs())
    assert g[ADJACENT_TO].edge_index.size(1) == 2 * len(ONTO.adjacency)
    assert g.study_id == "s1"
    assert g.ontology_version == ONTO.version


def test_triplets_become_located_at_edges_with_codes():
    g = ClinicalGraph.from_triplets(
        [
            Triplet("left base", "opacity", "present", "mild", "worsened"),
            ("right costophrenic angle", "effusion", "uncertain", "moderate"),
        ]
    ).validate()
    e = _edge(g, "lung opacity", "left lower lung zone")
    store = g[LOCATED_AT]
    assert (store.existence[e], store.severity[e], store.change[e]) == (1, 1, 2)
    e2 = _edge(g, "pleural effusion", "right costophrenic angle")
    assert (store.existence[e2], store.severity[e2], store.change[e2]) == (2, 2, 0)
    assert g["finding"].existence[ONTO.finding_index("lung opacity")] == 1
    assert g["finding"].existence[ONTO.finding_index("pleural effusion")] == 2
    assert g.positive_findings() == ["lung opacity"]


def test_missing_region_uses_the_default_regions():
    g = ClinicalGraph.from_triplets([(None, "pneumothorax", "absent"), (None, "cardiomegaly")])
    assert _edge(g, "pneumothorax", "right lung") is not None
    assert _edge(g, "pneumothorax", "left lung") is not None
    assert _edge(g, "enlarged cardiac silhouette", "cardiac silhouette") is not None
    assert g[LOCATED_AT].edge_index.size(1) == 3


def test_duplicate_triplets_merge_by_priority():
    g = ClinicalGraph.from_triplets(
        [
            ("left base", "opacity", "absent"),
            ("left base", "opacity", "uncertain", "severe"),
            ("left base", "opacity", "present", "mild", "new"),
            ("left base", "opacity", "absent", "unspecified", "unspecified"),
        ]
    )
    assert g[LOCATED_AT].edge_index.size(1) == 1
    assert g[LOCATED_AT].existence.tolist() == [1]  # present beats uncertain beats absent
    assert g[LOCATED_AT].severity.tolist() == [3]  # the largest severity
    assert g[LOCATED_AT].change.tolist() == [1]  # the last cue that says something


def test_triplets_read_back_by_name():
    src = [("left lower lung zone", "lung opacity", "present", "mild", "worsened")]
    assert [tuple(vars(t).values()) for t in ClinicalGraph.from_triplets(src).triplets()] == src


def test_suggestive_of_edges():
    g = ClinicalGraph.from_triplets(
        [("left base", "opacity")], suggestive_of=[("opacity", "pneumonia"), ("lung opacity", "pneumonia")]
    )
    assert g[SUGGESTIVE_OF].edge_index.tolist() == [
        [ONTO.finding_index("lung opacity")],
        [ONTO.finding_index("pneumonia")],
    ]


def test_boxes_and_presence():
    boxes = torch.rand(29, 2).repeat(1, 2) * 0.5
    boxes[:, 2:] += 0.4
    boxes[3] = float("nan")  # unknown box
    present = torch.ones(29, dtype=torch.bool)
    present[3] = False
    g = ClinicalGraph.from_triplets([], boxes=boxes, present=present).validate()
    assert not g["anatomy"].has_box[3] and g["anatomy"].has_box.sum() == 28
    assert torch.equal(g["anatomy"].box[3], torch.zeros(4))
    assert not g["anatomy"].present[3]


def test_unknown_names_fail_at_construction():
    with pytest.raises(UnknownConceptError, match="pneumothorax"):
        ClinicalGraph.from_triplets([("left lung", "pnemothorax")])
    with pytest.raises(UnknownConceptError, match="severity label"):
        ClinicalGraph.from_triplets([("left lung", "pneumothorax", "present", "huge")])


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda g: setattr(g["anatomy"], "num_nodes", 28), "['anatomy'].num_nodes"),
        (lambda g: setattr(g["anatomy"], "present", torch.ones(28, dtype=torch.bool)), "['anatomy'].present"),
        (lambda g: setattr(g["anatomy"], "box", torch.zeros(29, 3)), "['anatomy'].box"),
        (lambda g: setattr(g["finding"], "existence", torch.full((80,), 7)), "['finding'].existence"),
        (lambda g: setattr(g["finding"], "x", torch.full((80, 4), float("nan"))), "['finding'].x"),
        (lambda g: setattr(g[LOCATED_AT], "edge_index", torch.tensor([[0], [29]])), "edge_index[1]"),
        (lambda g: setattr(g[LOCATED_AT], "edge_index", torch.zeros(3, 1, dtype=torch.long)), "edge_index"),
        (lambda g: setattr(g[LOCATED_AT], "change", torch.tensor([9])), "'located_at', 'anatomy').change"),
        (lambda g: setattr(g[LOCATED_AT], "severity", torch.tensor([0.5])), "severity"),
        (lambda g: setattr(g, "ontology_version", "0.0+deadbeef"), "ontology_version"),
    ],
)
def test_validation_names_the_offending_field(mutate, field):
    g = ClinicalGraph.from_triplets([("left base", "opacity")])
    mutate(g)
    with pytest.raises(GraphValidationError) as err:
        g.validate()
    assert field in str(err.value)


def test_boxes_must_be_normalised_and_finite():
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5]]).repeat(29, 1)
    g = ClinicalGraph.from_triplets([], boxes=boxes)
    g["anatomy"].box[0] = torch.tensor([0.1, 0.1, 2.0, 0.5])
    with pytest.raises(GraphValidationError, match="normalised"):
        g.validate()
    g["anatomy"].box[0] = torch.tensor([0.5, 0.1, 0.2, 0.5])
    with pytest.raises(GraphValidationError, match="x2 >= x1"):
        g.validate()
    with pytest.raises(GraphValidationError, match=r"boxes: expected shape \(29, 4\)"):
        ClinicalGraph.from_triplets([], boxes=torch.zeros(28, 4))


def test_equals_detects_any_difference():
    a = ClinicalGraph.from_triplets([("left base", "opacity")], study_id="s1")
    b = ClinicalGraph.from_triplets([("left base", "opacity")], study_id="s1")
    assert a.equals(b)
    b[LOCATED_AT].severity[0] = 2
    assert not a.equals(b)
    c = ClinicalGraph.from_triplets([("left base", "opacity")], study_id="s2")
    assert not a.equals(c)
