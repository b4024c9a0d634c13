from __future__ import annotations

from cxrgraph.text.mentions import get_matcher
from cxrgraph.text.relations import attach, suggestive_pairs


def _located(sentence, onto):
    found = get_matcher().find(sentence)
    return [
        (a.mention.text.lower(), sorted(onto.region(r).name for r in a.regions), a.explicit)
        for a in attach(sentence, found, onto)
    ]


def test_region_before_and_after_finding(onto):
    assert _located("The left basilar opacity has increased since the prior study.", onto) == [
        ("opacity", ["left lower lung zone"], True)
    ]
    # CXR1000 (OpenI dev split)
    got = _located("There is XXXX increased opacity within the right upper lobe with possible mass.", onto)
    assert got[0] == ("opacity", ["right upper lung zone"], True)


def test_laterality_distribution(onto):
    both_lower = ["left lower lung zone", "right lower lung zone"]
    assert _located("Bibasilar opacities.", onto) == [("opacities", both_lower, True)]
    assert _located("Opacities in both lower lobes.", onto) == [("opacities", both_lower, True)]
    assert _located("Atelectasis in the bilateral lower lobes.", onto) == [("atelectasis", both_lower, True)]
    assert _located("Opacity at the lung bases.", onto) == [("opacity", both_lower, True)]


def test_side_word_filters_default_regions(onto):
    got = _located("Small right pleural effusion.", onto)
    assert got == [("pleural effusion", ["right costophrenic angle"], True)]


def test_default_regions_when_none_named(onto):
    got = _located("No pneumothorax.", onto)
    assert got == [("pneumothorax", ["left lung", "right lung"], False)]
    got = _located("Mild cardiomegaly.", onto)
    assert got == [("cardiomegaly", ["cardiac silhouette"], False)]


def test_two_findings_two_regions(onto):
    got = _located("Right upper lobe opacity and left pleural effusion.", onto)
    assert got[0] == ("opacity", ["right upper lung zone"], True)
    assert got[1] == ("pleural effusion", ["left costophrenic angle"], True)


def test_suggestive_of():
    s = "Opacities in both lower lobes may represent pneumonia."
    found = [m for m in get_matcher().find(s) if m.kind == "finding"]
    assert suggestive_pairs(s, found) == [(0, 1)]
    s = "No pneumothorax. Pleural effusion."
    found = [m for m in get_matcher().find(s) if m.kind == "finding"]
    assert suggestive_pairs(s, found) == []
