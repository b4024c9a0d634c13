"""Relation attachment: each finding mention to the region(s) it is located at.

Rules (in one location clause, cut at ";", "but", "however", "although", "whereas", "while"):

* side words and side-less region terms combine into region groups: "bilateral lower lobes",
  "left and right bases", "bibasilar" -> both lower lung zones; a side-less term with no side
  ("the lung bases") means both sides;
* every region group goes to the nearest finding mention (ties to the finding after it, as in
  "left lower lobe opacity");
* a side word with no region ("right effusion") keeps the finding's default regions on that side;
* a finding with no region gets the ontology's default regions; the target of a
  ``suggestive_of`` link ("opacity ... may represent pneumonia") takes its source's regions.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import pairwise
from operator import attrgetter

from cxrgraph.ontology import Ontology
from cxrgraph.text.mentions import FINDING, REGION, SIDE, SIDED, Mention, MentionMatcher

__all__ = ["Attachment", "attach", "suggestive_pairs"]

_LOC_CLAUSE = re.compile(r"(?=[;.bhaw])(?:;|\bbut\b|\bhowever\b|\balthough\b|\bwhereas\b|\bwhile\b|\. )", re.I)
_JOIN = re.compile(
    r"^(?:\s|,|-|and|or|the|both|of|sides?|lungs?|lower|upper|mid|hemithora(?:x|ces)|proximal|distal|medial|lateral"
    r"|anterior|posterior|superior|inferior|aspect|portion|XXXX)*$",
    re.I,
)
_SUGGEST = re.compile(
    r"\b(?:may|might|could|can|likely|probably|possibly)?\s*(?:represents?|reflects?|be due to|indicates?)\b"
    r"|\b(?:suggestive of|suggesting|suggests?|concerning for|concern for|consistent with|compatible with"
    r"|suspicious for|worrisome for|representing|reflecting|which may be|indicative of|due to|secondary to"
    r"|in keeping with|raising the possibility of|raises the possibility of|could be|may be)\b",
    re.I,
)


@dataclass
class Attachment:
    """Where one finding mention is located.

    Attributes:
        mention: The finding mention.
        regions: Region indices (ontology order), never empty.
        explicit: Whether the sentence named the location (``False`` = default regions).
    """

    mention: Mention
    regions: list[int]
    explicit: bool = False
    groups: list[list[int]] = field(default_factory=list, repr=False)


class _Lookup:
    """Ontology facts the attachment needs, as plain dicts (built once per ontology)."""

    def __init__(self, onto: Ontology) -> None:
        self.ontology = onto
        self.sided = {r.name: i for i, r in enumerate(onto.regions)}
        self.laterality = [r.laterality for r in onto.regions]
        self.suffix = [r.name.split(" ", 1)[1] if r.laterality in ("left", "right") else r.name for r in onto.regions]
        self.defaults = [
            [onto.region_index(r.name) for r in onto.default_regions(i)] for i in range(len(onto.findings))
        ]
        # findings that can sit on one side: some default region is lateral, or a whole-lung one
        self.lateral_finding = [any(self.laterality[r] in ("left", "right") for r in d) for d in self.defaults]


_LOOKUPS: dict[int, _Lookup] = {}


def _lookup(onto: Ontology) -> _Lookup:
    lk = _LOOKUPS.get(id(onto))
    if lk is None or lk.ontology is not onto:
        lk = _LOOKUPS[id(onto)] = _Lookup(onto)
    return lk


def _region_groups(
    mentions: list[Mention], sentence: str, lk: _Lookup
) -> list[tuple[int, int, list[int] | tuple[str, ...]]]:
    """Merge side words and region terms into ``(start, end, regions or sides)`` groups."""
    names = lk.sided
    out: list[tuple[int, int, list[int] | tuple[str, ...]]] = []
    pending: list[Mention] = []  # side words waiting for a term

    def flush() -> None:
        for p in pending:
            bi = MentionMatcher.bi_term(p)
            if bi is not None:
                out.append((p.start, p.end, [names[f"{s} {bi}"] for s in p.value]))
            else:
                out.append((p.start, p.end, tuple(p.value)))
        pending.clear()

    for m in mentions:
        if m.kind == SIDE:
            if pending and not _JOIN.match(sentence[pending[-1].end : m.start]):
                flush()
            pending.append(m)
            continue
        linked = pending and _JOIN.match(sentence[pending[-1].end : m.start])
        sides = tuple(dict.fromkeys(s for p in pending for s in p.value)) if linked else ()
        start = pending[0].start if linked else m.start
        if m.kind == SIDED:
            if not linked:
                flush()
                sides = ("right", "left")
            regs = [names[f"{s} {m.value}"] for s in sides if f"{s} {m.value}" in names]
            pending.clear()
            if regs:
                out.append((start, m.end, regs))
        elif m.kind == REGION:
            regs = [m.value]
            if linked and lk.laterality[m.value] in ("left", "right"):
                suffix = lk.suffix[m.value]
                for s in sides:
                    idx = names.get(f"{s} {suffix}")
                    if idx is not None and idx not in regs:
                        regs.append(idx)
                pending.clear()
            else:
                flush()
            out.append((start, m.end, regs))
    flush()
    return out


def attach(sentence: str, mentions: list[Mention], onto: Ontology) -> list[Attachment]:
    """Locate every finding mention of one sentence (mentions left to right).

    Linear in the number of mentions (up to a logarithm): mentions are walked through their
    location clauses once and each region group finds its nearest finding by bisection.
    """
    findings = [m for m in mentions if m.kind == FINDING]
    if not findings:
        return []
    lk = _lookup(onto)
    result = {id(f): Attachment(f, []) for f in findings}
    sides_for: dict[int, list[tuple[str, ...]]] = {}
    for f_in, locs in _clauses(sentence, mentions, findings):
        lateral_fit = None
        for g0, g1, value in _region_groups(locs, sentence, lk):
            # a lung region does not locate a finding of the midline (heart, spine, aorta...)
            lateral = isinstance(value, tuple) or any(lk.laterality[r] in ("left", "right") for r in value)
            fit = f_in
            if lateral:
                if lateral_fit is None:
                    lateral_fit = [f for f in f_in if lk.lateral_finding[f.value]]
                fit = lateral_fit
            if not fit:
                continue
            best = _nearest(fit, g0, g1)
            if isinstance(value, tuple):
                sides_for.setdefault(id(best), []).append(value)
            else:
                att = result[id(best)]
                att.groups.append(value)
    out = []
    for f in findings:
        att = result[id(f)]
        defaults = lk.defaults[f.value]
        regions: list[int] = []
        for grp in att.groups:
            regions.extend(r for r in grp if r not in regions)
        if regions:
            att.explicit = True
            if id(f) in sides_for:  # "lungs clear other than a granuloma on the left"
                sides = {s for v in sides_for[id(f)] for s in v}
                regions = [r for r in regions if lk.laterality[r] in sides] or regions
        elif id(f) in sides_for:
            sides = {s for v in sides_for[id(f)] for s in v}
            regions = [r for r in defaults if lk.laterality[r] in sides]
            if not regions:
                regions = [lk.sided[f"{s} lung"] for s in ("right", "left") if s in sides]
            att.explicit = True
        else:
            regions = defaults
        att.regions = regions
        out.append(att)
    return out


def _clauses(
    sentence: str, mentions: list[Mention], findings: list[Mention]
) -> list[tuple[list[Mention], list[Mention]]]:
    """``(findings, other mentions)`` of each location clause that has both, left to right."""
    cuts = [m.start() for m in _LOC_CLAUSE.finditer(sentence)]
    if not cuts:  # one clause, the common case
        locs = [m for m in mentions if m.kind != FINDING]
        return [(findings, locs)] if locs else []
    out = []
    f_in: list[Mention] = []
    locs: list[Mention] = []
    k = 0
    for m in mentions:  # left to right: each clause's mentions follow one another
        if k < len(cuts) and m.start >= cuts[k]:
            if f_in and locs:
                out.append((f_in, locs))
            f_in, locs = [], []
            while k < len(cuts) and m.start >= cuts[k]:
                k += 1
        (f_in if m.kind == FINDING else locs).append(m)
    if f_in and locs:
        out.append((f_in, locs))
    return out


_END, _START = attrgetter("end"), attrgetter("start")


def _nearest(findings: list[Mention], g0: int, g1: int) -> Mention:
    """The finding (left to right, not overlapping) nearest to the span ``[g0, g1)``.

    Nearest by character gap; on a tie the finding after the span wins, then the earlier one.
    Starts and ends both increase, so only the last finding before the span, those overlapping
    it and the first one after it can win: bisection finds them in a long list.
    """
    if len(findings) > 8:
        lo = max(0, bisect_right(findings, g0, key=_END) - 1)  # last finding ending at or before g0
        hi = bisect_left(findings, g1, key=_START) + 1  # first finding starting at or after g1
        findings = findings[lo:hi]
    return min(findings, key=lambda f: (_gap(f, g0, g1), 0 if f.start >= g1 else 1))


def _gap(f: Mention, g0: int, g1: int) -> int:
    if g1 <= f.start:
        return f.start - g1
    if g0 >= f.end:
        return g0 - f.end
    return 0


def suggestive_pairs(sentence: str, findings: list[Mention]) -> list[tuple[int, int]]:
    """``(i, j)`` positions in ``findings`` where mention i is said to suggest mention j.

    Mention j is suggested by the nearest mention i before it such that a suggestion cue
    ("may represent", "consistent with"...) lies between them and no clause break does. Linear
    in the sentence length: the cues and breaks are found in one scan each and every mention
    looks up the last of them before it.
    """
    if len(findings) < 2:
        return []
    # only cues and breaks between the first mention and the last one can count; the scan stops
    # one character into the last mention so that a word boundary there is seen as in the sentence
    lo, hi = min(f.end for f in findings), min(len(sentence), max(f.start for f in findings) + 1)
    cues = [m.span() for m in _SUGGEST.finditer(sentence, lo, hi)]
    if not cues:
        return []
    breaks = [m.span() for m in _LOC_CLAUSE.finditer(sentence, lo, hi)]
    cue_ends = [e for _s, e in cues]
    break_ends = [e for _s, e in breaks]
    ends = [f.end for f in findings]
    if not all(a < b for a, b in pairwise(ends)):
        return _suggestive_pairs_unsorted(findings, cues, breaks)
    pairs = []
    for j in range(1, len(findings)):
        b_start = findings[j].start
        k = bisect_right(cue_ends, b_start) - 1
        if k < 0:
            continue
        last_cue = cues[k][0]  # latest start of a cue that ends before mention j
        k = bisect_right(break_ends, b_start) - 1
        last_break = breaks[k][0] if k >= 0 else -1
        # the nearest mention i < j ending at or before the cue, and after the last break
        i = min(j, bisect_right(ends, last_cue)) - 1
        if i >= 0 and ends[i] > last_break:
            pairs.append((i, j))
    return pairs


def _suggestive_pairs_unsorted(
    findings: list[Mention], cues: list[tuple[int, int]], breaks: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """:func:`suggestive_pairs` for mentions whose ends do not increase (never made by the matcher)."""
    pairs = []
    for j, b in enumerate(findings):
        for i in range(j - 1, -1, -1):
            a0, b0 = findings[i].end, b.start
            if any(a0 <= s and e <= b0 for s, e in cues) and not any(a0 <= s and e <= b0 for s, e in breaks):
                pairs.append((i, j))
                break
    return pairs
