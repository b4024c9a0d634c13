from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from cxrgraph.text import parse_report
from cxrgraph.text.reading import read_report_json

_RUN_ON = "FINDINGS: " + ", ".join(("small right effusion", "no pneumothorax")[i % 2] for i in range(150)) + "."


@pytest.mark.parametrize(
    "text",
    [
        "FINDINGS: Right basilar XXXX opacity may represent atelectasis. IMPRESSION: No pneumothorax.",
        "The left basilar opacity has increased since the prior study. Stable calcified granuloma.",
        "",  # empty
        "   \n ",  # blank
        "FINDINGS:\nIMPRESSION:\n",  # headers only
        _RUN_ON,  # cut at the sentence cap
    ],
    ids=["suggestive", "change-and-term", "empty", "blank", "headers-only", "run-on"],
)
def test_the_json_row_equals_the_graphs_json_with_the_same_warnings(text):
    with warnings.catch_warnings(record=True) as from_graph:
        warnings.simplefilter("always")
        expected = parse_report(text, max_sentence_chars=1000).to_json()
    with warnings.catch_warnings(record=True) as from_reading:
        warnings.simplefilter("always")
        got = read_report_json(text, max_sentence_chars=1000)
    assert got == expected
    assert [str(w.message) for w in from_reading] == [str(w.message) for w in from_graph]
    assert all(w.filename == __file__ for w in from_reading + from_graph)  # warnings name the caller


def test_suggestive_pairs_and_errors_are_kept():
    row = read_report_json("Right basilar XXXX opacity may represent atelectasis.")
    assert row["suggestive_of"] == [["lung opacity", "atelectasis"]]
    with pytest.warns(UserWarning, match="empty report text"):
        assert read_report_json("")["errors"] == ["empty report"]
    with pytest.warns(UserWarning, match="only headers"):
        assert read_report_json("FINDINGS:\n")["errors"] == ["no report body"]


def test_reading_reports_to_json_never_imports_torch():
    code = (
        "import sys; from cxrgraph.text.reading import read_report_json; "
        "read_report_json('FINDINGS: Small right effusion.'); "
        "import cxrgraph.cli.parse; "
        "print(sorted(m for m in ('torch', 'torch_geometric') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
