from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxrgraph.text import assertion, parse_report, parse_reports

MIMIC = """FINAL REPORT
COMPARISON: Chest radiograph from ___.
FINDINGS: The left basilar opacity has increased since the prior study. No pleural effusion or
pneumothorax. Heart size is mildly enlarged.
IMPRESSION: Increased left basilar opacity.
"""


def _facts(g):
    return {(t.region, t.finding, t.existence, t.change) for t in g.triplets}


def test_mimic_comparison_sentence():
    g = parse_report(MIMIC)
    assert ("left lower lung zone", "lung opacity", "present", "worsened") in _facts(g)
    assert ("right lung", "pneumothorax", "absent", "unspecified") in _facts(g)
    sev = {t.finding: t.severity for t in g.triplets}
    assert sev["enlarged cardiac silhouette"] == "mild"
    # the comparison section is not parsed by default ...
    assert not any("radiograph" in s for s in g.sentences)
    # ... but can be asked for
    assert any("radiograph" in s for s in parse_report(MIMIC, sections=None).sentences)


def test_openi_report_dev_split():
    # CXR1313 impression (OpenI dev split)
    g = parse_report("Small bilateral pleural effusions with bibasilar atelectasis and/or airspace disease.")
    facts = {(t.region, t.finding, t.existence) for t in g.triplets}
    assert ("right costophrenic angle", "pleural effusion", "present") in facts
    assert ("left lower lung zone", "atelectasis", "present") in facts
    assert {t.severity for t in g.triplets if t.finding == "pleural effusion"} == {"mild"}


def test_suggestive_of_edge():
    g = parse_report("Right basilar XXXX opacity may represent atelectasis.")  # CXR1257 (dev split)
    ei = g["finding", "suggestive_of", "finding"].edge_index.t().tolist()
    first = g.triplets[0]
    assert len(ei) == 1
    assert {t.finding: t.existence for t in g.triplets} == {"lung opacity": "present", "atelectasis": "uncertain"}
    assert {t.region for t in g.triplets if t.finding == "atelectasis"} == {"right lower lung zone"}
    assert first.explicit


@pytest.mark.parametrize("bad", [None, b"No effusion.", 42, ["No effusion."]])
def test_wrong_types_raise_type_error(bad):
    with pytest.raises(TypeError, match="report text"):
        parse_report(bad)


@pytest.mark.parametrize("empty", ["", "   \n\t ", "FINDINGS:\nIMPRESSION:\n"])
def test_empty_content_warns_and_gives_empty_graph(empty):
    with pytest.warns(UserWarning):
        g = parse_report(empty)
    assert len(g.triplets) == 0 and g.errors
    g.validate()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        parse_report("No effusion.", backend="spacy")


@pytest.mark.slow
def test_unicode_oddities_and_large_text():
    odd = "No\u00a0pleural\u200beffusion. Pneumothorax\u2019s absent \U0001f600. ＦＩＮＤＩＮＧＳ: İ̇ ß \x00 \ud7ff"
    g = parse_report(odd)
    g.validate()
    big = "No pleural effusion. Mild cardiomegaly. " * 26000  # ~1 MB
    g = parse_report(big)
    assert len(g.sentences) == 52000
    assert g["finding"].existence[g["finding"].existence >= 0].numel() >= 2


def test_parse_reports_records_bad_items():
    texts = ["No pneumothorax.", None, b"bytes", "", "Mild cardiomegaly."]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the batch API logs, it does not warn
        out = parse_reports(texts, ids=["a", "b", "c", "d", "e"])
    assert [g.id for g in out] == ["a", "b", "c", "d", "e"]
    assert [bool(g.errors) for g in out] == [False, True, True, True, False]
    assert "TypeError" in out[1].errors[0]
    assert out[4].positive_findings() == ["enlarged cardiac silhouette"]


@pytest.mark.slow
def test_parse_reports_workers_match_serial():
    # readings come back from the workers and are built here; failures come back as graphs
    reports = ["No effusion.", "Left lower lobe pneumonia may represent infection.", None, "", "FINDINGS:"]
    texts = {f"r{i}": t for i, t in enumerate(reports * 30)}
    serial = parse_reports(texts)
    parallel = parse_reports(texts, workers=2, chunksize=8)
    assert [g.id for g in parallel] == list(texts)

    def state(g):
        edges = g["finding", "located_at", "anatomy"]
        return (
            list(g.triplets),
            list(g.mentions),
            g.errors,
            g.region_sentences.tolist(),
            [edges[k].tolist() for k in ("edge_index", "existence", "severity", "change")],
            g["finding"].existence.tolist(),
            g["finding", "suggestive_of", "finding"].edge_index.tolist(),
        )

    assert [state(g) for g in parallel] == [state(g) for g in serial]
    assert sum(bool(g.errors) for g in parallel) == 90
    with pytest.raises(ValueError):
        parse_reports(texts, workers=0)


def test_assertion_on_any_span():
    s = "He denies any antecedent palpitations, shortness of breath or chest pain."
    start = s.index("chest pain")
    assert assertion(s, start, start + len("chest pain")) == "absent"
    s = "The patient presented with chest pain."
    assert assertion(s, s.index("chest"), s.index("chest") + 10) == "present"
    s = "Findings may represent pneumonia."
    assert assertion(s, s.index("pneumonia"), len(s) - 1) == "uncertain"
    with pytest.raises(ValueError):
        assertion(s, 5, 2)
    with pytest.raises(TypeError):
        assertion(None, 0, 1)


_alphabet = st.characters(blacklist_categories=("Cs",))
_words = st.sampled_from(
    [
        "no",
        "pleural",
        "effusion",
        "left",
        "base",
        "opacity",
        "may",
        "represent",
        "pneumonia",
        ".",
        ",",
        "\n",
        "1.",
        "XXXX",
        "___",
        "bilateral",
        "but",
        "FINDINGS:",
        "IMPRESSION:",
        "unchanged",
        "mild",
        "or",
        "?",
        "e.g.",
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(alphabet=_alphabet, max_size=200), st.lists(_words, max_size=40).map(" ".join)))
def test_random_text_never_crashes_and_keeps_every_sentence(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = parse_report(text, sections=None)
    g.validate()
    assert len(g.sentences) == len(g.sentence_spans) == g.region_sentences.size(0)
    for s, (a, b) in zip(g.sentences, g.sentence_spans):
        assert text[a:b] == s
    # every letter of a header-free text lies in some sentence
    if ":" not in text:
        covered = set()
        for a, b in g.sentence_spans:
            covered.update(range(a, b))
        assert all(i in covered for i, ch in enumerate(text) if ch.isalpha())
    for t in g.triplets:
        assert 0 <= t.sentence < len(g.sentences)
