"""What the rules backend reads from a report, as plain Python objects (no torch).

:func:`read_rules` gives everything a :class:`~cxrgraph.text.ReportGraph` is built from;
:func:`read_report_json` gives a report's JSON row without building the graph, which is what
``cxrgraph parse`` writes: its worker processes never import torch or PyTorch Geometric.
:func:`~cxrgraph.text.parse_report` reads a report with the same functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.mentions import FINDING, REGION
from cxrgraph.text.rules import read_sentence
from cxrgraph.text.sections import DEFAULT_SECTIONS, select_sections, split_sections
from cxrgraph.text.sentences import MAX_SENTENCE_CHARS, cap_sentences, split_sentences

if TYPE_CHECKING:
    from cxrgraph.graph import Triplet

__all__ = [
    "ReportMention",
    "ReportTriplet",
    "read_report_json",
    "read_rules",
    "report_spans",
    "sentence_spans",
    "suggestive_index_pairs",
    "suggestive_names",
]

#: what a report with nothing to read records, and the warning it gives
EMPTY_REPORT = ("empty report", "empty report text: returning an empty graph")
NO_REPORT_BODY = ("no report body", "report has no text to parse (only headers?): returning an empty graph")


class ReportTriplet(NamedTuple):
    """One located_at fact read from a report, with where it was read.

    Attributes:
        region: Region name.
        finding: Finding name.
        existence: ``"present"``, ``"absent"`` or ``"uncertain"``.
        severity: Severity label.
        change: Temporal change label.
        sentence: Index into :attr:`ReportGraph.sentences`.
        span: ``(start, end)`` of the finding mention in the report text.
        explicit: Whether the report named the region (``False``: the finding's default region).
        term: The report's own words for the finding, normalised (lower case, single blanks):
            ``"calcified granulomas"`` beside the finding ``"granuloma"``.
    """

    region: str
    finding: str
    existence: str
    severity: str
    change: str
    sentence: int
    span: tuple[int, int]
    explicit: bool = True
    term: str = ""

    def to_triplet(self) -> Triplet:
        """The plain :class:`~cxrgraph.graph.Triplet` (no provenance)."""
        from cxrgraph.graph import Triplet

        return Triplet(self.region, self.finding, self.existence, self.severity, self.change)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = self._asdict()
        d["span"] = list(self.span)
        return d


class ReportMention(NamedTuple):
    """A concept mention: ``kind`` is ``"finding"`` or ``"region"``, ``name`` the concept name,
    ``term`` the report's own words for it (normalised: lower case, single blanks)."""

    kind: str
    name: str
    sentence: int
    span: tuple[int, int]
    term: str = ""


def sentence_spans(
    text: str, sections: Sequence[str] | None, max_chars: int | None = MAX_SENTENCE_CHARS
) -> tuple[list[tuple[int, int]], list[str]]:
    """Sentence spans of the chosen sections, and notes on the sentences cut at the cap."""
    spans: list[tuple[int, int]] = []
    longest = 0
    for sec in select_sections(split_sections(text), sections):
        spans.extend(split_sentences(sec.text, offset=sec.start))
        longest = max(longest, len(sec.text))
    if max_chars is None or longest <= max_chars:  # no sentence can be over the cap
        return spans, []
    return cap_sentences(text, spans, max_chars)


def report_spans(
    text: str, sections: Sequence[str] | None, max_chars: int | None = MAX_SENTENCE_CHARS
) -> tuple[list[tuple[int, int]], list[str], str | None]:
    """Sentence spans to read, notes on sentences cut at the cap, and the error of a report with
    nothing to read (``"empty report"``, ``"no report body"``; then there are no spans).

    Warns as :func:`~cxrgraph.text.parse_report` does: for a report with nothing to read and for
    each cut sentence (the warnings name the caller's caller).
    """
    if not text.strip():
        warnings.warn(EMPTY_REPORT[1], UserWarning, stacklevel=3)
        return [], [], EMPTY_REPORT[0]
    spans, notes = sentence_spans(text, sections, max_chars)
    if not spans:
        warnings.warn(NO_REPORT_BODY[1], UserWarning, stacklevel=3)
        return [], [], NO_REPORT_BODY[0]
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return spans, notes, None


_NAMES: dict[int, tuple] = {}


def _names(onto: Ontology) -> tuple:
    hit = _NAMES.get(id(onto))
    if hit is None or hit[0] is not onto:
        hit = _NAMES[id(onto)] = (
            onto,
            onto.region_names,
            onto.finding_names,
            {n: i for i, n in enumerate(onto.labels["existence"])},
            {n: i for i, n in enumerate(onto.labels["severity"])},
            {n: i for i, n in enumerate(onto.labels["change"])},
        )
    return hit[1:]


def read_rules(
    text: str, spans: list[tuple[int, int]], onto: Ontology, errors: list[str] | None = None
) -> dict[str, Any]:
    """Everything the rules backend reads from a report, as :meth:`ReportGraph.build` arguments.

    Plain Python objects (the region-sentence matrix as a ``bytearray``): a worker process sends
    this back far faster than a pickled graph, whose ``HeteroData`` stores cost milliseconds.
    """
    sentences = [text[a:b] for a, b in spans]
    triplets: list[ReportTriplet] = []
    codes: list[tuple[int, int, int, int, int]] = []
    mentions: list[ReportMention] = []
    suggest: list[tuple[int, int]] = []
    num_regions = onto.num_regions
    rows = bytearray(len(spans) * num_regions)  # region_sentences, row-major
    region_names, finding_names, ex_code, sev_code, ch_code = _names(onto)
    for si, ((a, _b), sent) in enumerate(zip(spans, sentences)):
        regions, findings, suggestive = read_sentence(sent, onto)
        for r, start, end, term in regions:
            mentions.append(ReportMention(REGION, region_names[r], si, (a + start, a + end), term))
            rows[si * num_regions + r] = 1
        suggest.extend(suggestive)
        for f, start, end, existence, severity, change, f_regions, explicit, term in findings:
            span = (a + start, a + end)
            mentions.append(ReportMention(FINDING, finding_names[f], si, span, term))
            ex, sev, ch = ex_code[existence], sev_code[severity], ch_code[change]
            for r in f_regions:
                if explicit:
                    rows[si * num_regions + r] = 1
                codes.append((f, r, ex, sev, ch))
                triplets.append(
                    ReportTriplet(
                        region_names[r], finding_names[f], existence, severity, change, si, span, explicit, term
                    )
                )
    return {
        "report_triplets": triplets,
        "sentences": sentences,
        "sentence_spans": spans,
        "mentions": mentions,
        "region_sentences": rows,
        "suggestive_of": suggest,
        "codes": codes,
        "errors": errors or [],
    }


def suggestive_index_pairs(onto: Ontology, pairs: Sequence[tuple[str | int, str | int]]) -> list[tuple[int, int]]:
    """``suggestive_of`` pairs (names or indices) as the sorted, unique finding-index pairs of the
    graph's ``suggestive_of`` edges."""

    def index(key: str | int) -> int:
        return key if isinstance(key, int) else onto.finding_index(key)

    return sorted({(index(a), index(b)) for a, b in pairs})


def suggestive_names(onto: Ontology, pairs: Sequence[tuple[str | int, str | int]]) -> list[list[str]]:
    """``suggestive_of`` pairs (names or indices) as sorted, unique ``[finding, finding]`` names."""
    names = onto.finding_names
    return [[names[a], names[b]] for a, b in suggestive_index_pairs(onto, pairs)]


def read_report_json(
    text: str,
    *,
    sections: Sequence[str] | None = DEFAULT_SECTIONS,
    ontology: Ontology | None = None,
    max_sentence_chars: int | None = MAX_SENTENCE_CHARS,
) -> dict[str, Any]:
    """The JSON of the rules backend's graph of ``text`` (``triplets``, ``suggestive_of``,
    ``sentences``, ``errors``), equal to ``parse_report(text).to_json()`` and without the graph.

    ``sections`` must be checked names (:func:`~cxrgraph.text.sections.check_section_names`).
    """
    onto = ontology or get_ontology()
    spans, notes, problem = report_spans(text, sections, max_sentence_chars)
    if problem is not None:
        return {"triplets": [], "suggestive_of": [], "sentences": [], "errors": [problem]}
    reading = read_rules(text, spans, onto, notes)
    return {
        "triplets": [t.to_dict() for t in reading["report_triplets"]],
        "suggestive_of": suggestive_names(onto, reading["suggestive_of"]),
        "sentences": reading["sentences"],
        "errors": list(reading["errors"]),
    }
