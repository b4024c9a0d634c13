"""Modifiers of a mention: existence (negation, uncertainty), severity, temporal change.

A sentence is cut into clauses: at ";", ":", " - ", at a comma that starts a new clause
("..., the heart is normal") and at conjunctions like "but" and "however". Within its clause a
mention's existence is decided by the triggers of :mod:`cxrgraph.text.triggers`, its severity and
change by the nearest severity and change cue (the ontology's ``severity_cues`` and
``change_cues``). Laterality lives in :mod:`cxrgraph.text.relations`, where sides are
distributed over regions.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter

from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.mentions import trie_regex
from cxrgraph.text.triggers import ABSENT, PRESENT, UNCERTAIN, Trigger, TriggerLexicon, unblocked, words_between

__all__ = ["Modifiers", "ModifierFinder", "get_modifier_finder", "ABSENT", "PRESENT", "UNCERTAIN"]

# The lookaheads on the first character let the scan reject most positions at once. "due to" and
# "secondary to" start a clause (the cause of a finding), except after "be": "may be due to X" hedges X.
_TERMINATORS = (
    r"(?=[;:,\s])(?:[;:]|\s-\s"
    r"|,\s*(?=(?:there|the|this|these|it|that|which|with|and there|and the|and a|and an|but|may|could"
    r"|is|are|likely|probably|stable|unchanged|otherwise|however)\b))"
    r"|\b(?=[abcdehpstw])(?:(?:but|however|although|though|except|aside from|apart from|whereas|while|which|still"
    r"|there is|there are|there has been|there have been|(?<!be )secondary to|(?<!be )due to|causes? of|caused of"
    r"|source of"
    r"|persist(?:s|ent|ing)?)\b"
    r"|and\s+(?=(?:there|the|a|an|possibly|possible|likely|mild|small|new|stable)\b))"
)


@dataclass(frozen=True)
class Modifiers:
    """What the text says about one mention.

    Attributes:
        existence: ``"present"``, ``"absent"`` or ``"uncertain"``.
        severity: ``"unspecified"``, ``"mild"``, ``"moderate"`` or ``"severe"``.
        change: ``"unspecified"``, ``"new"``, ``"worsened"``, ``"improved"``, ``"no change"`` or
            ``"resolved"``.
        clause: ``(start, end)`` of the clause holding the mention, sentence offsets.
        cue: The trigger that decided ``existence`` ("" when none did).
    """

    existence: str = PRESENT
    severity: str = "unspecified"
    change: str = "unspecified"
    clause: tuple[int, int] = (0, 0)
    cue: str = ""


class ModifierFinder:
    """Reads the modifiers of the mentions of a sentence; build once with :func:`get_modifier_finder`."""

    def __init__(self, ontology: Ontology | None = None) -> None:
        onto = ontology or get_ontology()
        self.ontology = onto
        self.lexicon = TriggerLexicon(onto)
        b = r"(?<![\w-])"
        e = r"(?![\w-])"
        # every lexicon is lower case: scans run case-sensitively over the lowered sentence (about
        # twice as fast as IGNORECASE); the IGNORECASE twins serve text whose length lower() changes
        sev = {cue: label for label, cues in onto.severity_cues.items() for cue in cues}
        self._severity = sev
        ch = {}
        # more specific labels last so they win on a shared cue (e.g. "smaller": improved)
        for label in ("worsened", "new", "improved", "no change", "resolved"):
            for cue in onto.change_cues.get(label, ()):
                ch.setdefault(cue, label)
        self._change = ch
        patterns = {
            "clause": _TERMINATORS,
            "severity": b + "(?:" + trie_regex(list(sev)) + ")" + e,
            "change": b + "(?:" + trie_regex(list(ch)) + ")" + e,
        }
        self._lower_re = {k: re.compile(v) for k, v in patterns.items()}
        self._any_case_re = {k: re.compile(v, re.I) for k, v in patterns.items()}

    def _scanners(self, sentence: str, lower: str | None) -> tuple[str, dict[str, re.Pattern]]:
        """The text to scan and the regexes for it (lowered text when lower() keeps offsets)."""
        if lower is None:
            lower = sentence.lower()
        if len(lower) == len(sentence):
            return lower, self._lower_re
        return sentence, self._any_case_re

    # ------------------------------------------------------------------ scans
    def clauses(self, sentence: str, lower: str | None = None) -> list[tuple[int, int]]:
        """Clause spans of a sentence (cut at terminators; the terminator starts the next clause)."""
        text, regexes = self._scanners(sentence, lower)
        cuts = [0]
        for m in regexes["clause"].finditer(text):
            if m.start() > cuts[-1]:
                cuts.append(m.start())
        cuts.append(len(sentence))
        return [(a, b) for a, b in pairwise(cuts) if b > a]

    def triggers(self, sentence: str, lower: str | None = None) -> list[Trigger]:
        """``(start, end, kind, text)`` of every trigger; kind in pseudo, affirm, trig."""
        return self.lexicon.find(sentence, lower)

    def analyse(
        self,
        sentence: str,
        spans: list[tuple[int, int]],
        *,
        clauses: list[tuple[int, int]] | None = None,
        triggers: list[tuple[int, int, str, str]] | None = None,
        blocked: list[tuple[int, int]] = (),
        lower: str | None = None,
    ) -> list[Modifiers]:
        """Modifiers of each concept span of one sentence.

        Args:
            sentence: The sentence.
            spans: ``(start, end)`` of the concept mentions.
            clauses: Precomputed :meth:`clauses` (optional).
            triggers: Precomputed :meth:`triggers` (optional).
            blocked: Spans of other concept mentions; triggers inside them are ignored
                ("no" inside "no acute ..." is fine, "free" inside "free air" is not a trigger).
            lower: ``sentence.lower()`` when the caller already has it.
        """
        if lower is None:
            lower = sentence.lower()
        text, regexes = self._scanners(sentence, lower)
        clauses = self.clauses(sentence, lower) if clauses is None else clauses
        trig = self.triggers(sentence, lower) if triggers is None else triggers
        if blocked and trig:
            trig = unblocked(trig, blocked)
        sev_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["severity"].finditer(text)]
        ch_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["change"].finditer(text)]
        span_starts = None
        out = []
        # every lookup below bisects offsets sorted left to right: a sentence costs about linear
        # time in its length, not quadratic (a run-on sentence has hundreds of mentions in one clause)
        for s, e in spans:
            k = bisect_right(clauses, s, key=_FIRST) - 1
            c0, c1 = clauses[k] if k >= 0 and s < clauses[k][1] else (0, len(sentence))
            existence, cue = self.lexicon.existence(sentence, s, e, c0, c1, trig)
            severity = _nearest_label(sentence, sev_hits, s, e, c0, c1, self._severity, before=4, after=4)
            change = _nearest_label(sentence, ch_hits, s, e, c0, c1, self._change, before=12, after=12, inside=False)
            if change is None and ch_hits:
                # a comparison clause of its own about this finding: "..., which has decreased since
                # the prior study", "..., unchanged" (no other finding in between)
                k = bisect_left(ch_hits, e, key=_FIRST)
                if k < len(ch_hits):
                    h0, _h1, word = ch_hits[k]
                    if span_starts is None:
                        span_starts = sorted(a for a, _b in spans)
                    nxt = bisect_left(span_starts, e)
                    if words_between(sentence, e, h0) <= 12 and not (nxt < len(span_starts) and span_starts[nxt] < h0):
                        change = self._change.get(word)
            if change == "resolved" and existence == PRESENT:
                existence = ABSENT
            out.append(Modifiers(existence, severity or "unspecified", change or "unspecified", (c0, c1), cue))
        return out


def _nearest_label(
    sentence: str,
    hits: list,
    s: int,
    e: int,
    c0: int,
    c1: int,
    table: dict,
    *,
    before: int,
    after: int,
    inside: bool = True,
) -> str | None:
    """The label of the cue nearest to the mention ``[s, e)`` in its clause ``[c0, c1)``.

    ``hits`` are ``(start, end, word)`` left to right, not overlapping.
    A cue counts within ``before`` words before the mention, inside it (if ``inside``) or
    within ``after`` words after it; the nearest wins, the earlier on a tie.
    """
    # the cues ending before the mention that count are the last few of them: walk back to the
    # first one that is out of reach (clause start or word distance)
    if not hits:
        return None
    lo = bisect_right(hits, s, key=_SECOND)
    while lo > 0:
        h0, h1, _w = hits[lo - 1]
        if h0 < c0 or words_between(sentence, h1, s) > before:
            break
        lo -= 1
    best, best_d = None, None
    for k in range(lo, len(hits)):
        h0, h1, word = hits[k]
        if h1 <= s:
            d = words_between(sentence, h1, s)
        elif h0 >= e:
            if h0 >= c1:
                break
            d = words_between(sentence, e, h0)
            if d > after:
                break  # every later cue is further away
        elif inside:  # inside the mention ("heart is mildly enlarged")
            d = 0
        else:
            continue
        if best_d is None or d < best_d:
            best, best_d = table.get(word), d
    return best


_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _words(phrase: str) -> str:
    """A matched phrase in lower case with single blanks."""
    phrase = phrase.lower()
    return phrase if "  " not in phrase and phrase.isascii() and phrase.isprintable() else " ".join(phrase.split())


_FINDERS: dict[int, ModifierFinder] = {}


def get_modifier_finder(ontology: Ontology | None = None) -> ModifierFinder:
    """The shared :class:`ModifierFinder` of an ontology."""
    onto = ontology or get_ontology()
    finder = _FINDERS.get(id(onto))
    if finder is None or finder.ontology is not onto:
        finder = _FINDERS[id(onto)] = ModifierFinder(onto)
    return finder
