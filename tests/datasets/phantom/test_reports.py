"""Reports: ontology vocabulary only, a counted grammar, and agreement with the ground truth."""

import itertools
import re

import numpy as np
import pytest

from cxrgraph.datasets.phantom import Lesion, PhantomCohort, grammar_size, write_report
from cxrgraph.datasets.phantom.grammar import Alt, Opt, Seq
from cxrgraph.datasets.phantom.lexicon import (
    CHANGE_WORDS,
    FINDING_NOUNS,
    REGION_ADJECTIVES,
    REGION_NOUNS,
    SEVERITY_WORDS,
)
from cxrgraph.datasets.phantom.sentences import interpretation_sentence, lesion_sentence
from cxrgraph.ontology import get_ontology


def test_region_and_finding_words_are_ontology_synonyms():
    onto = get_ontology()
    for region, phrases in itertools.chain(REGION_NOUNS.items(), REGION_ADJECTIVES.items()):
        for phrase in phrases:
            assert onto.region(phrase).name == region, phrase
    for finding, phrases in FINDING_NOUNS.items():
        for phrase in phrases:
            assert onto.finding(phrase).name == finding, phrase


def test_severity_and_change_words_are_ontology_cues():
    onto = get_ontology()
    for style in SEVERITY_WORDS.values():
        for severity, words in style.items():
            for w in words:
                assert w in onto.severity_cues[severity], (severity, w)
    for change, roles in CHANGE_WORDS.items():
        for phrase in itertools.chain.from_iterable(roles.values()):
            assert any(cue in phrase for cue in onto.change_cues[change]), (change, phrase)


def test_comparison_sentences_use_exactly_the_change_words():
    # every word of the list is said by some sentence, and every comparison sentence says one of them
    lesions = [Lesion("pneumothorax", "left", None, 1), Lesion("endotracheal tube")]
    for change, roles in CHANGE_WORDS.items():
        said = set()
        for lesion in lesions:
            node = lesion_sentence(lesion.with_level(0) if change == "resolved" else lesion, change)
            for text in node.expand():
                used = {p for p in itertools.chain.from_iterable(roles.values()) if p in text}
                assert used, (change, text)
                said |= used
        assert said == set(itertools.chain.from_iterable(roles.values())), change
    with pytest.raises(ValueError, match="unknown change"):
        lesion_sentence(lesions[0], "sideways")


def test_grammar_counts_are_exact():
    g = Seq(Alt("a", "b", Seq("c", Opt("d"))), Opt("e"))
    assert g.count() == 8 == len(set(g.expand()))
    rng = np.random.default_rng(0)
    assert {g.sample(rng) for _ in range(400)} <= set(g.expand())
    for lesion, change in [
        (Lesion("lung opacity", "left", "lower", 2), "worsened"),
        (Lesion("pleural effusion", "right", None, 1, uncertain=True), "unspecified"),
        (Lesion("pneumothorax", "left", None, 3), "no change"),
        (Lesion("endotracheal tube"), "new"),
    ]:
        node = lesion_sentence(lesion, change)
        realisations = list(node.expand())
        assert len(realisations) == node.count() == len(set(realisations)), (lesion.finding, change)
    node = interpretation_sentence(Lesion("lung opacity", "right", "mid", 1), "pneumonia")
    assert len(set(node.expand())) == node.count()


def test_grammar_is_large():
    size = grammar_size()
    assert size["finding sentences"] > 1_000_000
    assert all(v > 0 for v in size.values())


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def test_report_sections_and_comparison_sentences(small_patients):
    onto = get_ontology()
    change_cues = {c for cues in onto.change_cues.values() for c in cues}
    saw_comparison = False
    for patient in small_patients:
        for study in patient.studies:
            text = study.report
            assert "FINAL REPORT" in text and " FINDINGS:" in text and " IMPRESSION:" in text
            assert ("COMPARISON:  None." in text) == (study.study_order == 1)
            for sentence in study.sentences:
                if sentence.change in ("worsened", "improved", "no change", "resolved", "new"):
                    saw_comparison = True
                    assert any(re.search(rf"\b{re.escape(c)}\b", _normal(sentence.text)) for c in change_cues)
    assert saw_comparison


def test_report_triplets_are_the_ground_truth(small_patients):
    for patient in small_patients:
        for study in patient.studies:
            stated = {
                (t.region, t.finding, t.existence, t.severity, t.change) for s in study.sentences for t in s.triplets
            }
            truth = {(t.region, t.finding, t.existence, t.severity, t.change) for t in study.triplets}
            assert stated == truth
            lesion_truth = {
                (t.region, t.finding, t.existence, t.severity, t.change)
                for les in study.lesions
                for t in les.triplets(study.changes.get(les.key, "unspecified"))
            }
            assert lesion_truth <= truth  # negatives are the only extra facts


def test_hedged_interpretations_are_graph_facts():
    """ "Opacity ... may represent pneumonia": opacity present, pneumonia uncertain at the same
    region, and a suggestive_of edge in the graph."""
    found = 0
    for study in PhantomCohort(30, size=64, seed=2).studies():
        for sentence in study.sentences:
            causes = [
                t
                for t in sentence.triplets
                if t.existence == "uncertain" and t.finding in ("pneumonia", "aspiration", "atelectasis")
            ]
            if not causes or not any(t.finding in ("lung opacity", "consolidation") for t in sentence.triplets):
                continue
            found += 1
            assert re.search(r"may represent|could represent|may reflect|possibly", sentence.text)
            opacity_regions = {t.region for t in sentence.triplets if t.finding in ("lung opacity", "consolidation")}
            assert {t.region for t in causes} == opacity_regions
            edges = study.graph["finding", "suggestive_of", "finding"].edge_index.t().tolist()
            onto = get_ontology()
            assert [onto.finding_index(sentence.triplets[0].finding), onto.finding_index(causes[0].finding)] in edges
    assert found > 0


def test_wording_varies():
    rng = np.random.default_rng(1)
    lesion = Lesion("lung opacity", "left", "lower", 2)
    texts = {write_report([lesion], None, rng).text for _ in range(50)}
    assert len(texts) == 50


def test_parsed_reports_recover_ground_truth():
    """>= 98% of ground-truth (region, finding, existence) triplets come back from the text parser."""
    text_mod = pytest.importorskip("cxrgraph.text", reason="cxrgraph.text (the report parser) is not importable yet")
    parse_report = getattr(text_mod, "parse_report", None)
    if parse_report is None:
        pytest.skip("cxrgraph.text.parse_report does not exist yet")
    total = hit = 0
    for study in PhantomCohort(30, size=64, seed=11).studies():
        parsed = {(t.region, t.finding): t.existence for t in parse_report(study.report).triplets()}
        for t in study.triplets:
            total += 1
            hit += parsed.get((t.region, t.finding)) == t.existence
    assert total > 300
    assert hit / total >= 0.98, f"recovered {hit}/{total} = {hit / total:.3f}"
