from __future__ import annotations

from cxrgraph.text.mentions import FINDING, REGION, SIDE, SIDED, MentionMatcher, get_matcher, trie_regex


def _kinds(sentence):
    return [(m.kind, m.text) for m in get_matcher().find(sentence)]


def test_longest_match_case_and_plural(onto):
    # CXR1557 (OpenI dev split)
    found = get_matcher().find("No pneumothorax identified. Bilateral PLEURAL EFFUSIONS.")
    assert [(m.kind, m.text) for m in found] == [
        (FINDING, "pneumothorax"),
        (SIDE, "Bilateral"),
        (FINDING, "PLEURAL EFFUSIONS"),
    ]
    assert found[2].value == onto.finding_index("pleural effusion")


def test_regions_sided_terms_and_sides(onto):
    found = get_matcher().find("The left basilar opacity has increased. Opacities in both lower lobes.")
    assert found[0].kind == REGION and found[0].value == onto.region_index("left lower lung zone")
    assert [m.kind for m in found] == [REGION, FINDING, FINDING, SIDE, SIDED]
    assert found[3].value == ("right", "left")
    assert found[4].value == "lower lung zone"


def test_white_space_runs_and_spans():
    text = "Small   left pleural\neffusion."
    m = next(x for x in get_matcher().find(text) if x.kind == FINDING)
    assert text[m.start : m.end] == "pleural\neffusion"


def test_word_boundaries():
    # "mass" must not fire inside "masses of" words like "massive"; "rib" not inside "ribbon"
    assert not [k for k in _kinds("Massive amounts of ribbon.") if k[0] == FINDING]


def test_predicate_findings(onto):
    # CXR1031 / CXR1164 (OpenI dev split)
    for s in ("Heart size mildly enlarged for technique.", "Borderline heart size, improved mediastinal widening."):
        kinds = [m for m in get_matcher().find(s) if m.kind == FINDING]
        assert kinds[0].value == onto.finding_index("enlarged cardiac silhouette"), s


def test_trie_regex_prefers_longest():
    import re

    rx = re.compile("(?:" + trie_regex(["no", "no evidence of", "no evidence"]) + ")")
    assert rx.match("no evidence of it").group() == "no evidence of"
    assert rx.match("no evidence here").group() == "no evidence"


def test_repr():
    assert repr(MentionMatcher()).startswith("MentionMatcher(phrases=")


def test_offsets_survive_text_whose_lower_case_is_longer(onto):
    # "İ".lower() is two characters: matching falls back to the original text, spans stay exact
    text = "İ: Small left pleural effusion."
    found = [m for m in get_matcher().find(text) if m.kind == FINDING]
    assert [text[m.start : m.end] for m in found] == ["pleural effusion"]
    assert found[0].value == onto.finding_index("pleural effusion")


def test_passing_the_lowered_sentence_changes_nothing():
    text = "No focal consolidation, pneumothorax or large pleural effusion."
    assert get_matcher().find(text, text.lower()) == get_matcher().find(text)
