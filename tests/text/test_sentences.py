from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from cxrgraph.text.sentences import split_sentences


def _split(text):
    return [text[a:b] for a, b in split_sentences(text)]


def test_missing_space_after_full_stop():
    assert _split("No effusion.Heart size is normal.") == ["No effusion.", "Heart size is normal."]


def test_abbreviations_and_decimals():
    # CXR2197-like measurement sentence (OpenI dev split) and an abbreviation
    text = "There is a 1.5 cm nodular opacity, approx. at the level of the 5th rib. Dr. Smith was notified."
    assert _split(text) == [
        "There is a 1.5 cm nodular opacity, approx. at the level of the 5th rib.",
        "Dr. Smith was notified.",
    ]


def test_numbered_list_and_deid_marks():
    # CXR1000 impression (OpenI dev split)
    text = (
        "1. Increased opacity in the right upper lobe with XXXX associated atelectasis may represent focal "
        "consolidation or mass lesion with atelectasis. Recommend chest CT for further evaluation. 2. XXXX "
        "opacity overlying the left 5th rib may represent focal airspace disease."
    )
    out = _split(text)
    assert len(out) == 3
    assert out[0].startswith("Increased opacity") and out[2].startswith("XXXX opacity")
    assert _split("Heart size ___ normal. No effusion ___.") == ["Heart size ___ normal.", "No effusion ___."]


def test_line_breaks_and_offset():
    text = "Lungs are clear\nHeart is normal"
    spans = split_sentences(text, offset=100)
    assert spans == [(100, 115), (116, 131)]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_every_character_is_accounted_for(text):
    spans = split_sentences(text)
    for (a, b), (c, _d) in pairwise(spans):
        assert a < b <= c
    covered = set()
    for a, b in spans:
        covered.update(range(a, b))
    # a character outside every sentence is white space, punctuation or a list marker
    for i, ch in enumerate(text):
        if i not in covered:
            assert not ch.isalpha(), (text, i)


def test_long_sentences_are_cut_into_pieces_and_the_cut_is_recorded():
    from cxrgraph.text.sentences import cap_sentences

    clause = "small right effusion, left basilar opacity; no pneumothorax"
    text = "Findings: " + " and ".join([clause] * 60) + "."
    spans = split_sentences(text)
    assert len(spans) == 1 and spans[0][1] - spans[0][0] > 3000
    pieces, notes = cap_sentences(text, spans, 500)
    assert all(b - a <= 500 for a, b in pieces)
    assert len(notes) == 1 and f"{len(pieces)} pieces" in notes[0] and "no text dropped" in notes[0]
    # every non-space character is in exactly one piece, in order
    assert "".join(text[a:b] for a, b in pieces).replace(" ", "") == text[spans[0][0] :].replace(" ", "")
    assert all(b <= c for (_a, b), (c, _d) in pairwise(pieces))
    # cuts fall after a clause break where there is one
    assert all(text[b - 1] in ";," for _a, b in pieces[:-1])
    # short sentences pass untouched, with nothing to record
    assert cap_sentences("No effusion.", [(0, 12)], 500) == ([(0, 12)], [])


def test_a_sentence_without_spaces_is_cut_hard_and_nothing_is_lost():
    from cxrgraph.text.sentences import cap_sentences

    text = "x" * 1050
    pieces, notes = cap_sentences(text, [(0, 1050)], 100)
    assert [b - a for a, b in pieces] == [100] * 10 + [50] and len(notes) == 1
