"""Section splitting: MIMIC-CXR style headers, OpenI XML fields and free text.

A header is a known section name (``FINDINGS:``, ``Impression:``...) or a run of capitals
followed by a colon (``PA AND LATERAL:``). Known names always start a section. A capitalised
header that is not a known name starts a section only after an administrative one (indication,
comparison, technique...); inside findings, impression or free text it is a sub-heading
(``LUNGS:``, ``HEART:``, ``NOTE:``) and its sentences stay in the section. A byte order mark
before a header is read as white space.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Section",
    "DEFAULT_SECTIONS",
    "SECTION_NAMES",
    "normalize_section_name",
    "split_sections",
    "select_sections",
    "check_section_names",
]

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
_HEADER = re.compile(r"[ \t\ufeff]*(?P<name>(?i:" + _KNOWN + r")|[A-Z][A-Z /&()-]{1,40}[A-Z)])[ \t]*:")
_KNOWN_NAME = re.compile(r"(?i:" + _KNOWN + r")")
_ANCHOR = re.compile(r"\n|\.\s")
_FINAL_REPORT = re.compile(r"^\s*FINAL REPORT\s*$", re.M)
# white space at either end of a body; a byte order mark (U+FEFF, not white space to str.strip)
# counts as white space so that a report saved with one keeps its first section
_LEAD = re.compile(r"[\s\ufeff]*")
_TRAIL = re.compile(r"[\s\ufeff]*\Z")

#: Sections that say how and why the study was done, not what it shows. A capitalised header
#: that is not a known name starts a new section after one of these (the body of a report whose
#: sections are not named), and is a sub-heading anywhere else.
ADMIN_SECTIONS = frozenset(
    ("comparison", "indication", "history", "technique", "examination", "final report", "wet read")
)

#: Every canonical name a known header gives (``"text"``: before any header); what
#: ``sections=`` may ask for.
SECTION_NAMES: frozenset[str] = frozenset(
    {"text", "findings", "impression", "recommendation", "recommendations", "notification", "addendum"}
    | ADMIN_SECTIONS
    | set(_ALIASES.values())
)


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
        if name not in ADMIN_SECTIONS and _KNOWN_NAME.fullmatch(m.group("name")) is None:
            continue  # a sub-heading: its sentences belong to the current section
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
        if _LEAD.fullmatch(body_clean):
            return
    # trim white space but keep offsets exact
    if "\ufeff" in body:
        lead = _LEAD.match(body).end()
        trail = _TRAIL.search(body, lead).start()
    else:
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
    wanted_set = set(check_section_names(wanted))
    chosen = [s for s in sections if s.name in wanted_set and s.text.strip()]
    if chosen:
        return chosen
    rest = [s for s in sections if s.name not in ADMIN_SECTIONS and s.text.strip()]
    return rest[-1:] if rest else []


def check_section_names(wanted: Sequence[str] | None) -> tuple[str, ...] | None:
    """The canonical names of ``wanted`` (``None`` = every section), checked.

    Raises:
        TypeError: ``wanted`` is a single string or holds a non-string.
        ValueError: A name is not one :func:`split_sections` gives (the message suggests the
            nearest one).
    """
    if wanted is None:
        return None
    if wanted is DEFAULT_SECTIONS:
        return DEFAULT_SECTIONS
    if isinstance(wanted, (str, bytes)):
        raise TypeError(
            f"sections must be a list of section names or None, got the string {wanted!r}; write sections=[{wanted!r}]"
        )
    names = []
    for w in wanted:
        if not isinstance(w, str):
            raise TypeError(f"section names must be str, got {type(w).__name__} ({w!r})")
        name = normalize_section_name(w)
        if name not in SECTION_NAMES:
            near = difflib.get_close_matches(name, sorted(SECTION_NAMES), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(f"unknown section {w!r}{hint} Known sections: {', '.join(sorted(SECTION_NAMES))}")
        names.append(name)
    return tuple(names)


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
