"""The rules backend's per-sentence reading and its cache: a hit must equal a fresh reading."""

from __future__ import annotations

import pytest
import torch

from cxrgraph.ontology import get_ontology
from cxrgraph.text import parse_report
from cxrgraph.text.rules import read_sentence, sentence_cache_info, set_sentence_cache_size

# OpenI dev-split reports (CXR1557, CXR1031 and a MIMIC-CXR style comparison report)
REPORTS = [
    "FINDINGS: No pneumothorax identified. Bilateral pleural effusions. "
    "IMPRESSION: Bilateral pleural effusions. No pneumothorax identified.",
    "FINDINGS: Heart size mildly enlarged for technique. Left basilar opacity may represent pneumonia. "
    "IMPRESSION: Left basilar opacity may represent pneumonia. No pneumothorax identified.",
    "FINDINGS: Compared to the prior study the left pleural effusion has decreased. No pneumothorax identified.",
]


@pytest.fixture(autouse=True)
def _restore_cache():
    yield
    set_sentence_cache_size(65_536)


def _state(g):
    return (
        [tuple(t) for t in g.triplets],
        list(g.mentions),
        g.region_sentences.tolist(),
        {k: v.tolist() for k, v in g["finding", "located_at", "anatomy"].items() if isinstance(v, torch.Tensor)},
        g["finding", "suggestive_of", "finding"].edge_index.tolist(),
    )


def test_cached_parse_equals_fresh_parse():
    set_sentence_cache_size(0)
    fresh = [_state(parse_report(r)) for r in REPORTS]
    set_sentence_cache_size(16)
    first = [_state(parse_report(r)) for r in REPORTS]
    again = [_state(parse_report(r)) for r in REPORTS]
    assert first == fresh and again == fresh
    info = sentence_cache_info()
    # "No pneumothorax identified." and the repeated impression sentences are read once
    assert info["hits"] > 0 and info["misses"] < sum(len(parse_report(r).sentences) for r in REPORTS)


def test_repeats_hit_and_offsets_are_per_report():
    set_sentence_cache_size(16)
    a = parse_report("Heart normal. No pneumothorax identified.")
    b = parse_report("No pneumothorax identified.")
    assert sentence_cache_info()["hits"] == 1
    assert a.triplets[0].span == (17, 29) and b.triplets[0].span == (3, 15)
    assert a.triplets[0].sentence == 1 and b.triplets[0].sentence == 0


def test_cache_is_bounded_and_can_be_turned_off():
    set_sentence_cache_size(3)
    for i in range(10):
        read_sentence(f"No pneumothorax number {i}.", get_ontology())
    assert sentence_cache_info()["size"] <= 3
    set_sentence_cache_size(0)
    parse_report("No pneumothorax. No pneumothorax.")
    info = sentence_cache_info()
    assert info["size"] == 0 and info["hits"] == 0 and info["misses"] == 2
    with pytest.raises(ValueError, match="cache size"):
        set_sentence_cache_size(-1)


def test_readings_are_immutable_and_untracked_by_the_garbage_collector():
    import gc

    onto = get_ontology()
    set_sentence_cache_size(16)
    _, findings, suggestive = read_sentence("Opacity in the left base may represent pneumonia.", onto)
    finding, _, _, existence, _, _, located, explicit, term = findings[0]
    assert (finding, existence, explicit, term) == (onto.finding_index("lung opacity"), "present", True, "opacity")
    assert located == (onto.region_index("left lower lung zone"),)
    assert suggestive == ((finding, onto.finding_index("pneumonia")),)
    for _ in range(4):  # a tuple is untracked once the tuples it holds are: one level per collection
        gc.collect()
    # plain tuples of ints and strings: a full cache adds nothing to the collector's work
    reading = read_sentence("Opacity in the left base may represent pneumonia.", onto)
    assert not gc.is_tracked(reading) and not gc.is_tracked(reading[1][0])
