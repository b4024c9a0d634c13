from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxrgraph.text.mentions import FINDING, get_matcher
from cxrgraph.text.modifiers import _nearest_label, get_modifier_finder
from cxrgraph.text.triggers import unblocked as _unblocked
from cxrgraph.text.triggers import words_between as _words_between


def _mods(sentence):
    found = get_matcher().find(sentence)
    fm = [m for m in found if m.kind == FINDING]
    mods = get_modifier_finder().analyse(
        sentence, [(m.start, m.end) for m in fm], blocked=[(m.start, m.end) for m in found]
    )
    return [(m.text.lower(), x.existence, x.severity, x.change) for m, x in zip(fm, mods)]


@pytest.mark.parametrize(
    "sentence, expected",
    [
        # OpenI dev split sentences
        ("No pleural effusion or pneumothorax.", [("pleural effusion", "absent"), ("pneumothorax", "absent")]),
        (
            "No pneumothorax, pleural effusion, or focal air space consolidation.",  # CXR1204
            [("pneumothorax", "absent"), ("pleural effusion", "absent"), ("air space consolidation", "absent")],
        ),
        (
            "The lungs are grossly clear of focal airspace disease, pneumothorax, pleural effusion.",  # CXR1449
            [("airspace disease", "absent"), ("pneumothorax", "absent"), ("pleural effusion", "absent")],
        ),
        ("Bilateral streaky opacities.", [("streaky opacities", "present")]),  # CXR1125
        ("This may represent atelectasis.", [("atelectasis", "uncertain")]),  # CXR1003
        ("Cannot exclude early pulmonary edema.", [("pulmonary edema", "uncertain")]),  # CXR343
        ("No change in the moderate right effusion.", [("effusion", "present")]),  # pseudo-negation
        ("Pneumothorax is not seen.", [("pneumothorax", "absent")]),  # post-trigger
        # scope ends at "but"
        (
            "Small left pleural effusion is unchanged, but there is no pneumothorax.",
            [("pleural effusion", "present"), ("pneumothorax", "absent")],
        ),
        # a differential of a seen abnormality is recorded as present (MeSH convention, see module doc)
        ("XXXX scarring or atelectasis right midlung.", [("scarring", "present"), ("atelectasis", "present")]),
    ],
)
def test_existence(sentence, expected):
    got = [(t, e) for t, e, _s, _c in _mods(sentence)]
    assert got == expected


def test_severity_and_change():
    # MIMIC-CXR style comparison sentence
    assert _mods("The left basilar opacity has increased since the prior study.") == [
        ("opacity", "present", "unspecified", "worsened")
    ]
    assert _mods("Small left pleural effusion is unchanged.")[0][2:] == ("mild", "no change")
    # a change word inside the mention ("enlarged heart") is not a change cue
    assert _mods("Heart size is mildly enlarged.")[0][2:] == ("mild", "unspecified")
    # a comparison clause of its own (MIMIC-CXR style)
    assert _mods("There is a moderate right pleural effusion, which has decreased since the prior study.")[0][2:] == (
        "moderate",
        "improved",
    )
    assert _mods("Small bilateral pleural effusions, unchanged.")[0][3] == "no change"
    # resolved means no longer there
    assert _mods("The right pleural effusion has resolved.")[0][1:] == ("absent", "unspecified", "resolved")


def test_clauses_cut_at_conjunctions():
    finder = get_modifier_finder()
    s = "No effusion, however there is atelectasis"
    clauses = finder.clauses(s)
    first = next(c for c in clauses if c[0] <= s.index("effusion") < c[1])
    last = next(c for c in clauses if c[0] <= s.index("atelectasis") < c[1])
    assert first != last and first[1] <= s.index("however")


def test_modifiers_on_text_whose_lower_case_is_longer():
    from cxrgraph.text.modifiers import get_modifier_finder

    text = "İ: no pleural effusion but mild cardiomegaly"
    s = text.index("pleural")
    e = s + len("pleural effusion")
    c = text.index("cardiomegaly")
    mods = get_modifier_finder().analyse(text, [(s, e), (c, c + len("cardiomegaly"))])
    assert [m.existence for m in mods] == ["absent", "present"]
    assert mods[1].severity == "mild"


# ---------------------------------------------------------------- linear-time lookups
_WORDS = (
    "no not may possible mild moderate severe small large increased decreased unchanged new stable resolved "
    "effusion opacity pneumothorax edema nodule , ; but however which there is and the or versus ? seen "
    "identified heart size enlarged since prior study interval worsening improved left lower lobe XXXX"
)
_VOCAB = _WORDS.split()


def _nearest_by_definition(sentence, hits, s, e, c0, c1, table, before, after, inside=True):
    best, best_d = None, None
    for h0, h1, word in hits:
        if h1 <= s:
            if h0 < c0 or _words_between(sentence, h1, s) > before:
                continue
            d = _words_between(sentence, h1, s)
        elif h0 >= e:
            if h0 >= c1 or _words_between(sentence, e, h0) > after:
                continue
            d = _words_between(sentence, e, h0)
        elif inside:
            d = 0
        else:
            continue
        if best_d is None or d < best_d:
            best, best_d = table.get(word), d
    return best


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=80).map(" ".join))
def test_bisecting_lookups_match_their_definitions(sentence):
    finder = get_modifier_finder()
    found = get_matcher().find(sentence)
    blocked = [(m.start, m.end) for m in found][::-1]  # any order
    trig = finder.triggers(sentence)
    for some in (blocked, blocked[:2], blocked * 20):  # the plain test and the bisecting one
        assert _unblocked(trig, some) == [t for t in trig if not any(a <= t[0] < b for a, b in some)]
    lower = sentence.lower()
    hits = [(m.start(), m.end(), m.group()) for m in finder._lower_re["change"].finditer(lower)]
    for c0, c1 in finder.clauses(sentence):
        for m in found:
            for inside in (True, False):
                args = (sentence, m.start, m.end, c0, c1, finder._change)
                got = _nearest_label(sentence, hits, *args[1:], before=3, after=5, inside=inside)
                assert got == _nearest_by_definition(sentence, hits, *args[1:], 3, 5, inside)


def test_triggers_are_read_from_the_ontology_data(tmp_path):
    # the trigger lists are data: a trigger added to labels.yaml decides without a code change
    import shutil

    import yaml

    from cxrgraph.ontology import data_dir, load_ontology
    from cxrgraph.text import parse_report

    root = tmp_path / "data"
    shutil.copytree(data_dir(), root)
    doc = yaml.safe_load((root / "labels.yaml").read_text())
    doc["existence_cues"]["negation_after"].append("is nowhere to be seen")
    (root / "labels.yaml").write_text(yaml.safe_dump(doc))
    edited = load_ontology(root)
    text = "FINDINGS: The pneumothorax is nowhere to be seen."
    assert [t.existence for t in parse_report(text).triplets] == ["present", "present"]
    assert [t.existence for t in parse_report(text, ontology=edited).triplets] == ["absent", "absent"]
