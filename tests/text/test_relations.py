from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


# ---------------------------------------------------------------- linear-time lookups
# The definitions the bisecting code must agree with: for every mention, a scan over the others.
_WORDS = (
    "no may represent consistent with likely left right bilateral lower lobe bases opacity effusion pneumothorax "
    "atelectasis edema nodule , ; . but however which mild increased unchanged heart size is enlarged or "
    "versus without free air granuloma upper lung apical right-sided mass concerning for pneumonia due to "
    "suggestive of compatible with XXXX lungs clear"
)
_VOCAB = _WORDS.split()


def _suggestive_by_definition(sentence, findings):
    """For every mention, the scan over the earlier ones (what the bisection must agree with)."""
    from cxrgraph.text.relations import _LOC_CLAUSE, _SUGGEST, _suggestive_pairs_unsorted

    cues = [m.span() for m in _SUGGEST.finditer(sentence)]
    breaks = [m.span() for m in _LOC_CLAUSE.finditer(sentence)]
    return _suggestive_pairs_unsorted(findings, cues, breaks)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=80).map(" ".join))
def test_suggestive_pairs_and_nearest_finding_match_their_definitions(sentence):
    from cxrgraph.text.mentions import FINDING
    from cxrgraph.text.relations import _gap, _nearest

    found = get_matcher().find(sentence)
    findings = [m for m in found if m.kind == FINDING]
    assert suggestive_pairs(sentence, findings) == _suggestive_by_definition(sentence, findings)
    for m in found:
        if m.kind != FINDING and findings:
            expected = min(findings, key=lambda f: (_gap(f, m.start, m.end), 0 if f.start >= m.end else 1))
            assert _nearest(findings, m.start, m.end) is expected


def test_a_run_on_sentence_costs_no_more_than_its_parts(onto):
    # 400 findings in one clause: the attachment no longer scans every pair of them
    parts = ["small right effusion", "left lower lobe opacity may represent atelectasis", "no pneumothorax"]
    sentence = ", ".join(parts * 134)
    found = get_matcher().find(sentence)
    atts = attach(sentence, found, onto)
    assert len(atts) == 4 * 134  # effusion, opacity, atelectasis, pneumothorax
    findings = [m for m in found if m.kind == "finding"]
    targets = {j for _i, j in suggestive_pairs(sentence, findings)}
    assert {j for j, f in enumerate(findings) if f.text == "atelectasis"} <= targets
    short = ", ".join(parts * 5)
    short_findings = [m for m in get_matcher().find(short) if m.kind == "finding"]
    assert suggestive_pairs(short, short_findings) == _suggestive_by_definition(short, short_findings)
