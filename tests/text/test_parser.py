from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxrgraph.graph import ClinicalGraph
from cxrgraph.ontology import get_ontology
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


def test_a_byte_order_mark_keeps_the_findings():
    text = "\ufeffFINDINGS: Small right pleural effusion.\nIMPRESSION: Effusion."
    g = parse_report(text)
    assert g.sentences == ["Small right pleural effusion.", "Effusion."] and g.errors == []
    assert "pleural effusion" in g.positive_findings()


def test_sentences_under_sub_headings_are_parsed():
    text = (
        "FINDINGS:\nLUNGS: Left lower lobe opacity.\nHEART: Mildly enlarged.\nNOTE: Small right effusion.\n"
        "PA AND LATERAL: No pneumothorax.\nIMPRESSION: Left lower lobe pneumonia."
    )
    g = parse_report(text)
    assert g.errors == []
    assert len(g.sentences) == 5 and g.sentences[-1] == "Left lower lobe pneumonia."
    facts = {(t.finding, t.existence) for t in g.triplets}
    assert {("lung opacity", "present"), ("pleural effusion", "present"), ("pneumothorax", "absent")} <= facts
    assert "E.g." in parse_report("FINDINGS: E.g. LUNGS:. Small effusion.").sentences


def test_misspelt_or_misshapen_options_are_refused():
    with pytest.raises(TypeError, match="'section': did you mean 'sections'"):
        parse_report("No effusion.", section=["findings"])
    with pytest.raises(TypeError, match=r"write sections=\['impression'\]"):
        parse_report("No effusion.", sections="impression")
    with pytest.raises(ValueError, match="did you mean 'impression'"):
        parse_report("No effusion.", sections=["impresion"])
    with pytest.raises(ValueError, match="max_sentence_chars"):
        parse_report("No effusion.", max_sentence_chars=0)
    with pytest.raises(TypeError, match="set by the parser"):
        parse_report("No effusion.", errors=["x"])
    assert parse_report("No effusion.", id="CXR1", study_id="s1").to_json()["study_id"] == "s1"
    assert parse_report("No effusion.", document_id="d1").document_id == "d1"  # near, but not a typo


def test_parse_reports_refuses_inputs_it_would_pair_wrongly():
    with pytest.raises(TypeError, match="got one str"):
        parse_reports("No effusion.")
    with pytest.raises(ValueError, match="2 texts but 1 ids"):
        parse_reports(["No effusion.", "Normal."], ids=["a"])
    with pytest.raises(ValueError, match="keys are the ids"):
        parse_reports({"a": "No effusion."}, ids=["b"])
    with pytest.raises(TypeError, match="did you mean 'sections'"):
        parse_reports(["No effusion."], section=["findings"])
    with pytest.raises(ValueError, match="unknown section 'bogus'"):
        parse_reports(["No effusion."], sections=["bogus"])
    with pytest.raises(TypeError, match="ids="):
        parse_reports(["No effusion."], id="x")
    out = parse_reports((t for t in ["No effusion.", "Normal."]), ids=("a", "b"))  # any iterable
    assert [g.id for g in out] == ["a", "b"]


def test_a_run_on_sentence_is_read_in_pieces_and_the_cut_recorded():
    parts = ["small right effusion", "left lower lobe opacity may represent atelectasis", "no pneumothorax"]
    body = ", ".join(parts[i % 3] for i in range(180))  # ~6 KB, no full stop
    text = f"FINDINGS: {body}."
    with pytest.warns(UserWarning, match="sentence cap"):
        g = parse_report(text, max_sentence_chars=1000)
    assert len(g.sentences) > 5 and all(len(s) <= 1000 for s in g.sentences)
    assert len(g.errors) == 1 and "no text dropped" in g.errors[0]
    assert "".join(g.sentences).replace(" ", "") == text[len("FINDINGS: ") :].replace(" ", "")
    whole = parse_report(text, max_sentence_chars=None)
    assert len(whole.sentences) == 1 and whole.errors == []
    # the pieces keep every finding mention the whole sentence has
    assert len(g.mentions) == len(whole.mentions)
    (batch,) = parse_reports([text], max_sentence_chars=1000)
    assert batch.errors == g.errors and batch.sentences == g.sentences


_SENTENCES = [
    "No pleural effusion or pneumothorax.",
    "The heart size is mildly enlarged.",
    "Left basilar opacity may represent atelectasis.",
    "Lungs are clear",
    "Stable right upper lobe nodule!",
    "Possible small left effusion?",
    "Degenerative changes of the spine.",
    "There is a 1.5 cm nodule in the right lung base.",
]
_SUBHEADINGS = [
    "LUNGS:",
    "HEART:",
    "NOTE:",
    "PA AND LATERAL:",
    "BONES:",
    "CARDIOMEDIASTINAL SILHOUETTE:",
    "E.g. LUNGS:.",
]
_HEADERS = {
    "findings": ["FINDINGS:", "Findings:", "FINDINGS :", "FINDING:"],
    "impression": ["IMPRESSION:", "Impression:"],
}


@st.composite
def _reports(draw):
    """A report: optional BOM and administrative sections, then findings and/or impression whose
    sentences sit under random capitalised sub-headings, with random line breaks."""
    wanted = []
    parts = ["\ufeff" if draw(st.booleans()) else ""]
    if draw(st.booleans()):
        parts.append("INDICATION: Cough, fever.\n")
    if draw(st.booleans()):
        parts.append("COMPARISON: None.\n")
    for name in draw(st.sampled_from([["findings"], ["impression"], ["findings", "impression"]])):
        parts.append(draw(st.sampled_from(_HEADERS[name])) + draw(st.sampled_from([" ", "\n", "\n\n"])))
        for _ in range(draw(st.integers(1, 5))):
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(_SUBHEADINGS)) + draw(st.sampled_from([" ", "\n"])))
            sentence = draw(st.sampled_from(_SENTENCES))
            wanted.append(sentence)
            parts.append(sentence + draw(st.sampled_from([" ", "  ", "\n", "\n\n"])))
    return "".join(parts), wanted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_reports())
def test_no_sentence_is_lost_under_headers_sub_headings_and_byte_order_marks(report):
    text, wanted = report
    g = parse_report(text)
    assert g.errors == []
    for sentence in wanted:
        assert any(sentence in s for s in g.sentences), (sentence, g.sentences)
    assert not any("Cough" in s or s == "None." for s in g.sentences)  # administrative text stays out


@pytest.mark.parametrize(
    ("names_it", "names_another", "finding", "instead"),
    [
        # related but different concepts are their own findings (ChestX-ray14 counts only the first)
        ("Emphysematous changes.", "Hyperinflated lungs compatible with COPD.", "emphysema", "copd/emphysema"),
        ("Right basilar pneumonia.", "Bilateral opacities compatible with infection.", "pneumonia", "infection"),
        ("Left basilar atelectasis.", "Stable left-sided volume loss.", "atelectasis", "volume loss"),
        (
            "Mild interstitial edema.",
            "Haziness in the right lung apex.",
            "pulmonary edema/hazy opacity",
            "hazy opacity",
        ),
        ("Apical pulmonary fibrosis.", "Changes of cystic fibrosis.", "fibrosis", "cystic fibrosis"),
        ("Centrilobular emphysema.", "Bullous emphysematous changes.", "emphysema", "cyst/bullae"),
        # kinds that reports name: the kind, whose parent is the Chest ImaGenome-level finding
        (
            "Calcified nodule in the left lung.",
            "Calcified granuloma in the left lung.",
            "calcified nodule",
            "granuloma",
        ),
        ("Large diaphragmatic hernia.", "Large hiatal hernia.", "hernia", "hiatal hernia"),
        ("Orogastric tube in the stomach.", "NG tube tip in the stomach.", "enteric tube", "nasogastric tube"),
    ],
)
def test_related_concepts_are_kept_apart(names_it, names_another, finding, instead):
    it = parse_report(f"FINDINGS: {names_it}")
    other = parse_report(f"FINDINGS: {names_another}")
    assert finding in it.positive_findings() and instead not in it.positive_findings()
    assert instead in other.positive_findings() and finding not in other.positive_findings()
    # each term is kept beside the finding it was read as
    terms = {t.term for t in other.triplets if t.finding == instead}
    assert len(terms) == 1 and terms.pop() in names_another.lower()


def test_mass_or_nodule_is_one_finding_of_uncertain_type():
    nos = "mass/nodule (not otherwise specified)"
    for text in ("Right upper lobe nodule/mass.", "Nodules or masses in both lungs.", "A mass versus nodule."):
        graph = parse_report(f"FINDINGS: {text}")
        assert {t.finding for t in graph.triplets} == {nos}, text
        assert graph.positive_findings() == [nos]
        assert ClinicalGraph.triplets(graph)  # merged edges exist for it
    # negated, the alternatives say that neither is there: two absent findings
    for text in ("No mass or nodule.", "No pulmonary nodules or masses."):
        graph = parse_report(f"FINDINGS: {text}")
        assert {(t.finding, t.existence) for t in graph.triplets} == {("mass", "absent"), ("nodule", "absent")}
    both = parse_report("FINDINGS: A nodule and a mass.")
    assert {t.finding for t in both.triplets} == {"mass", "nodule"}
    # ChestX-ray14 sees neither a mass nor a nodule in "mass or nodule"
    assert get_ontology().labels_for("chestxray14", nos) == ()
