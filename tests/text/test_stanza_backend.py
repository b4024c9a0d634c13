"""The stanza backend on hand-built Documents (heads and relations written by hand): no models."""

from __future__ import annotations

import pytest

pytest.importorskip("stanza")

from stanza.models.common.doc import Document

from cxrgraph.text import ReportGraph, parse_report
from cxrgraph.text.stanza_backend import StanzaModelsMissing, make_pipeline


def _doc(text, sentences):
    """CoNLL-U-style token dicts from ``(word, head, deprel)`` rows, offsets found in ``text``."""
    out, pos = [], 0
    for rows in sentences:
        toks = []
        for i, (word, head, rel) in enumerate(rows, 1):
            start = text.index(word, pos)
            pos = start + len(word)
            toks.append(
                {
                    "id": i,
                    "text": word,
                    "lemma": word.lower(),
                    "head": head,
                    "deprel": rel,
                    "start_char": start,
                    "end_char": pos,
                }
            )
        out.append(toks)
    return Document(out, text=text)


# "No pleural effusion or pneumothorax." / CXR1257 (OpenI dev split)
TEXT = "No pleural effusion or pneumothorax. Right basilar XXXX opacity may represent atelectasis."
ROWS = [
    [
        ("No", 3, "det"),
        ("pleural", 3, "amod"),
        ("effusion", 0, "root"),
        ("or", 5, "cc"),
        ("pneumothorax", 3, "conj"),
        (".", 3, "punct"),
    ],
    [
        ("Right", 2, "amod"),
        ("basilar", 4, "amod"),
        ("XXXX", 4, "compound"),
        ("opacity", 6, "nsubj"),
        ("may", 6, "aux"),
        ("represent", 0, "root"),
        ("atelectasis", 6, "obj"),
        (".", 6, "punct"),
    ],
]


def test_negation_follows_conjunction():
    g = parse_report(TEXT, backend="stanza", document=_doc(TEXT, ROWS))
    assert isinstance(g, ReportGraph)
    ex = {t.finding: t.existence for t in g.triplets}
    assert ex["pleural effusion"] == "absent" and ex["pneumothorax"] == "absent"


def test_modal_governor_makes_object_uncertain_not_subject():
    g = parse_report(TEXT, backend="stanza", document=_doc(TEXT, ROWS))
    ex = {t.finding: t.existence for t in g.triplets}
    assert ex["lung opacity"] == "present"
    assert ex["atelectasis"] == "uncertain"
    assert {t.region for t in g.triplets if t.finding == "lung opacity"} == {"right lower lung zone"}


def test_tree_attaches_region_to_its_finding():
    # the region is closer to "effusion" in characters but hangs below "opacity" in the tree
    text = "Opacity in the left lower lobe and small effusion."
    rows = [
        [
            ("Opacity", 0, "root"),
            ("in", 6, "case"),
            ("the", 6, "det"),
            ("left", 6, "amod"),
            ("lower", 6, "amod"),
            ("lobe", 1, "nmod"),
            ("and", 9, "cc"),
            ("small", 9, "amod"),
            ("effusion", 1, "conj"),
            (".", 1, "punct"),
        ]
    ]
    g = parse_report(text, backend="stanza", document=_doc(text, rows))
    regions = {t.finding: sorted({x.region for x in g.triplets if x.finding == t.finding}) for t in g.triplets}
    assert regions["lung opacity"] == ["left lower lung zone"]
    assert regions["pleural effusion"] == ["left costophrenic angle", "right costophrenic angle"]
    # the rules backend, reading characters only, gives the region to the nearest finding too
    rules = parse_report(text)
    assert {t.region for t in rules.triplets if t.finding == "lung opacity"} == {"left lower lung zone"}


def test_post_negation_through_the_tree():
    text = "Pneumothorax is not seen."
    rows = [
        [
            ("Pneumothorax", 4, "nsubj:pass"),
            ("is", 4, "aux:pass"),
            ("not", 4, "advmod"),
            ("seen", 0, "root"),
            (".", 4, "punct"),
        ]
    ]
    g = parse_report(text, backend="stanza", document=_doc(text, rows))
    assert {t.existence for t in g.triplets} == {"absent"}


def test_document_of_other_text_is_refused():
    with pytest.raises(ValueError, match="not made from this report"):
        parse_report("Other text.", backend="stanza", document=_doc(TEXT, ROWS))


def test_pipeline_without_models_names_what_to_download(tmp_path):
    with pytest.raises(StanzaModelsMissing) as info:
        make_pipeline(tmp_path)
    msg = str(info.value)
    assert "package='mimic'" in msg and "'ner': 'radiology'" in msg and str(tmp_path) in msg
