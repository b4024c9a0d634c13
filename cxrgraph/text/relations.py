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

    Linear in the number of mentions (up to a logarithm): mentions are put into their location
    clause in one pass and each region group finds its nearest finding by bisection.
    """
    findings = [m for m in mentions if m.kind == FINDING]
    if not findings:
        return []
    lk = _lookup(onto)
    cuts = [0] + [m.start() for m in _LOC_CLAUSE.finditer(sentence)] + [len(sentence) + 1]
    result = {id(f): Attachment(f, []) for f in findings}
    sides_for: dict[int, list[tuple[str, ...]]] = {}
    # clause k holds the mentions with cuts[k] <= start < cuts[k + 1]
    f_by: dict[int, list[Mention]] = {}
    locs_by: dict[int, list[Mention]] = {}
    for m in mentions:
        k = bisect_right(cuts, m.start) - 1
        if k < len(cuts) - 1:
            (f_by if m.kind == FINDING else locs_by).setdefault(k, []).append(m)
    for k in sorted(f_by.keys() & locs_by.keys()):
        f_in = f_by[k]
        lateral_fit = [f for f in f_in if lk.lateral_finding[f.value]]
        nearest = {False: _Nearest(f_in), True: _Nearest(lateral_fit)}
        for g0, g1, value in _region_groups(locs_by[k], sentence, lk):
            # a lung region does not locate a finding of the midline (heart, spine, aorta...)
            lateral = isinstance(value, tuple) or any(lk.laterality[r] in ("left", "right") for r in value)
            best = nearest[lateral].best(g0, g1)
            if best is None:
                continue
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


class _Nearest:
    """The finding nearest to a span, among findings given left to right.

    Nearest by character gap; on a tie the finding after the span wins, then the earlier one
    (the order ``min`` over the list would give). Mentions do not overlap, so starts and ends
    both increase and the candidates are the last finding before the span, the findings that
    overlap it and the first one after it.
    """

    def __init__(self, findings: list[Mention]) -> None:
        self.findings = findings
        self.starts = [f.start for f in findings]
        self.ends = [f.end for f in findings]
        self.sorted = all(a < b for a, b in pairwise(self.ends)) and all(a <= b for a, b in pairwise(self.starts))

    def best(self, g0: int, g1: int) -> Mention | None:
        fs = self.findings
        if not fs:
            return None
        if self.sorted:
            lo = max(0, bisect_right(self.ends, g0) - 1)  # last finding ending at or before g0
            hi = min(len(fs), bisect_left(self.starts, g1) + 1)  # first finding starting at or after g1
            fs = fs[lo:hi]
        return min(fs, key=lambda f: (_gap(f, g0, g1), 0 if f.start >= g1 else 1))


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
    cues = [m.span() for m in _SUGGEST.finditer(sentence)]
    if not cues:
        return []
    breaks = [m.span() for m in _LOC_CLAUSE.finditer(sentence)]
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
