"""Existence rules: each rule class with a sentence that must and one that must not assert the finding."""

from __future__ import annotations

import pytest

from cxrgraph.ontology import get_ontology
from cxrgraph.text import parse_report
from cxrgraph.text.triggers import TriggerLexicon


def _existence(sentence: str, finding: str) -> set[str]:
    graph = parse_report(f"FINDINGS: {sentence}")
    return {t.existence for t in graph.triplets if t.finding == finding}


@pytest.mark.parametrize(
    ("asserted", "hedged", "finding"),
    [
        # a modal hedge reaches over "due to" / "secondary to" (which otherwise start a clause of causes)
        ("Basilar opacity due to atelectasis.", "Basilar opacity may be due to atelectasis.", "atelectasis"),
        (
            "Blunting secondary to a small effusion.",
            "Blunting could be secondary to a small effusion.",
            "pleural effusion",
        ),
        ("Edema and fibrosis.", "Maybe due to pulmonary fibrosis.", "fibrosis"),
        # recommendations, evaluations and conditions assert nothing
        ("Right upper lobe nodule.", "Recommend CT to evaluate for pulmonary nodule.", "nodule"),
        ("Right basilar pneumonia.", "Follow-up radiographs to exclude pneumonia.", "pneumonia"),
        ("Left pleural effusion.", "Limited evaluation for pleural effusion.", "pleural effusion"),
        ("Left pleural effusion.", "Decubitus views if there is concern for a pleural effusion.", "pleural effusion"),
        # "suspected" after the finding hedges it, as before it does
        ("Small bilateral pleural effusions.", "Small bilateral pleural effusions suspected.", "pleural effusion"),
    ],
)
def test_hedge_rules(asserted, hedged, finding):
    assert _existence(asserted, finding) == {"present"}
    assert _existence(hedged, finding) == {"uncertain"}


def test_alternatives_stay_present_and_a_new_clause_is_not_hedged():
    # differentials of a seen abnormality stay present (the MeSH indexing convention; making
    # "versus" a hedge lowered the dev micro-F1 in every fold)
    assert _existence("Scarring versus effusion.", "pleural effusion") == {"present"}
    # "due to" after anything but "be" still starts a clause: the hedge before it does not reach
    assert _existence("Opacities may represent scarring due to pneumonia.", "pneumonia") == {"present"}


def test_lexicon_holds_only_deciding_triggers():
    lexicon = TriggerLexicon(get_ontology())
    # coordinators join alternatives and decided nothing: they are no longer listed
    assert not {"or", "versus", "vs", "either", "?"} & set(lexicon.kinds)
    assert lexicon.kinds["if"] == "trig" and "if" in lexicon.uncertainty_before
    assert lexicon.kinds["no change"] == "pseudo" and lexicon.kinds["consistent with"] == "affirm"
    triggers = lexicon.find("No change in the small effusion, consistent with scarring.")
    assert [(kind, word) for _a, _b, kind, word in triggers] == [
        ("pseudo", "no change in"),
        ("affirm", "consistent with"),
    ]
    assert repr(lexicon).startswith("TriggerLexicon(triggers=")
