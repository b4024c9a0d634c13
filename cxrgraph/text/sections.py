"""Section splitting: MIMIC-CXR style headers, OpenI XML fields and free text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Section", "DEFAULT_SECTIONS", "normalize_section_name", "split_sections", "select_sections"]

#: Sections parsed by default (the radiologist's reading of the images).
DEFAULT_SECTIONS: tuple[str, ...] = ("findings", "impression")

# Header variants that name one of the canonical sections.
_ALIASES = {
    "findings and impression": "impression",
    "findings/impression": "impression",
    "impression and findings": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "impressions": "impression",
    "summary": "impression",
    "opinion": "impression",
    "finding": "findings",
    "report": "findings",
    "comparisons": "comparison",
    "comparision": "comparison",
    "indications": "indication",
    "reason for exam": "indication",
    "reason for examination": "indication",
    "clinical indication": "indication",
    "clinical history": "history",
    "examination": "examination",
    "exam": "examination",
    "procedure": "technique",
    "technique": "technique",
}

# A header: start of a line (or of the text), 1-5 words in capitals followed by a colon. Lower-case
# headers are accepted only for the known names so that "note: ..." prose is not cut.
_KNOWN = (
    "findings and impression|findings/impression|impression and findings|findings|finding|impressions?|"
    "conclusions?|comparisons?|comparision|indications?|clinical indication|clinical history|history|"
    "technique|examination|exam|procedure|reason for exam(?:ination)?|recommendations?|notification|"
    "final report|wet read|addendum|summary|opinion|report"
)
# A header starts a line, the text, or follows a full stop and one or two white space characters.
# The header pattern is tried only at those anchors: a lookbehind tried at every character of
# the report cost more than the rest of section splitting.
_HEADER = re.compile(r"[ \t]*(?P<name>(?i:" + _KNOWN + r")|[A-Z][A-Z /&()-]{1,40}[A-Z)])[ \t]*:")
_ANCHOR = re.compile(r"\n|\.\s")
_FINAL_REPORT = re.compile(r"^\s*FINAL REPORT\s*$", re.M)


@dataclass(frozen=True)
class Section:
    """One section of a report.

    Attributes:
        name: Canonical lower-case name (``"findings"``, ``"impression"``, ``"comparison"``...);
            ``"text"`` for text before any header or a report without headers.
        start: Character offset of the section body in the report.
        end: End offset (exclusive) of the body.
        text: The body, ``report[start:end]``.
    """

    name: str
    start: int
    end: int
    text: str


def normalize_section_name(name: str) -> str:
    """Canonical form of a header: lower case, single spaces, aliases resolved."""
    key = " ".join(name.lower().replace("_", " ").split())
    return _ALIASES.get(key, key)


def split_sections(text: str) -> list[Section]:
    """Cut a report at its section headers.

    Text before the first header is a section named ``"text"``; so is a whole report with no
    header. Offsets refer to ``text`` unchanged.
    """
    if not isinstance(text, str):
        raise TypeError(f"report text must be str, got {type(text).__name__}")
    heads = _headers(text)
    out: list[Section] = []
    pos = 0
    name = "text"
    for m in heads:
        if m.start("name") > pos or out or name != "text":
            _append(out, name, text, pos, m.start("name"))
        name = normalize_section_name(m.group("name"))
        pos = m.end()
    _append(out, name, text, pos, len(text))
    return out


def _headers(text: str) -> list[re.Match]:
    """Header matches, left to right, non-overlapping."""
    if ":" not in text:
        return []
    anchors = [0]
    for m in _ANCHOR.finditer(text):
        end = m.end()
        anchors.append(end)
        if m.group() != "\n" and end < len(text) and text[end].isspace():
            anchors.append(end + 1)
    heads: list[re.Match] = []
    pos = 0
    for a in anchors:
        if a < pos:
            continue
        m = _HEADER.match(text, a)
        if m is not None:
            heads.append(m)
            pos = m.end()
    return heads


def _append(out: list[Section], name: str, text: str, start: int, end: int) -> None:
    body = text[start:end]
    if name == "text":
        body_clean = _FINAL_REPORT.sub("", body)
        if not body_clean.strip():
            return
    # trim white space but keep offsets exact
    lead = len(body) - len(body.lstrip())
    trail = len(body.rstrip())
    if trail <= lead and name == "text":
        return
    out.append(Section(name, start + lead, start + max(trail, lead), body[lead : max(trail, lead)]))


def select_sections(
    sections: Sequence[Section] | Mapping[str, str | None], wanted: Sequence[str] | None = DEFAULT_SECTIONS
) -> list[Section]:
    """The sections to parse.

    Args:
        sections: Output of :func:`split_sections`, or a mapping ``name -> text`` (OpenI XML
            fields); mapped sections get offsets into their ``"\\n\\n"``-joined concatenation.
        wanted: Canonical names to keep, in report order; ``None`` keeps every section. When a
            report has none of them, the last non-empty section that is not a known
            administrative one (comparison, indication, history, technique, examination) is
            used, as MIMIC-CXR practice does.
    """
    if isinstance(sections, Mapping):
        sections = sections_from_fields(sections)
    if wanted is None:
        return [s for s in sections if s.text.strip()]
    wanted_set = {normalize_section_name(w) for w in wanted}
    chosen = [s for s in sections if s.name in wanted_set and s.text.strip()]
    if chosen:
        return chosen
    admin = {"comparison", "indication", "history", "technique", "examination", "final report", "wet read"}
    rest = [s for s in sections if s.name not in admin and s.text.strip()]
    return rest[-1:] if rest else []


def sections_from_fields(fields: Mapping[str, str | None]) -> list[Section]:
    """Sections from named fields (e.g. OpenI ``AbstractText`` labels), offsets into their join."""
    out, pos = [], 0
    for name, body in fields.items():
        if body is None:
            continue
        if not isinstance(body, str):
            raise TypeError(f"section {name!r} must be str or None, got {type(body).__name__}")
        out.append(Section(normalize_section_name(name), pos, pos + len(body), body))
        pos += len(body) + 2
    return out
