"""Small hand-built study pairs for the temporal tests (no phantom rendering)."""

import torch

from cxrgraph.graph import ClinicalGraph, StudyPair
from cxrgraph.ontology import get_ontology
from cxrgraph.temporal import TemporalSample


def make_graph(triplets=(), seed=0):
    """A graph with a plausible box for every region (a grid) and the given triplets."""
    onto = get_ontology()
    g = torch.Generator().manual_seed(seed)
    n = onto.num_regions
    xy = torch.rand(n, 2, generator=g) * 0.6 + 0.1
    wh = torch.rand(n, 2, generator=g) * 0.2 + 0.08
    boxes = torch.cat([xy, (xy + wh).clamp(max=1.0)], dim=1)
    return ClinicalGraph.from_triplets(list(triplets), boxes=boxes, present=torch.ones(n, dtype=torch.bool))


def make_sample(seed=0, size=64, prior=True, guidance=None):
    """A sample with a lesion at the left lower lung zone that worsened."""
    onto = get_ontology()
    r = onto.region_index("left lower lung zone")
    prior_g = make_graph([("left lower lung zone", "lung opacity", "present", "mild")], seed)
    cur_g = make_graph([("left lower lung zone", "lung opacity", "present", "severe", "worsened")], seed)
    change = torch.full((onto.num_regions,), -1, dtype=torch.long)
    change[r] = onto.label_index("progression", "worsened")
    change[onto.region_index("cardiac silhouette")] = onto.label_index("progression", "no change")
    g = torch.Generator().manual_seed(seed)
    cur_img = torch.rand(1, size, size, generator=g)
    prior_img = torch.rand(1, size, size, generator=g) if prior else None
    if guidance is None:
        guidance = {r: "The left basilar opacity has worsened."}
    return TemporalSample(StudyPair(prior_g, cur_g, change), cur_img, prior_img, guidance)
