"""Modifiers of a mention: negation and uncertainty scopes, severity, temporal change.

The scope rules follow NegEx (pre- and post-triggers, pseudo-triggers that look like negations
but are not, scope ended at clause boundaries) with two changes that radiology needs: a
pre-trigger reaches over a whole list ("no effusion, pneumothorax or focal consolidation") up to
the end of its clause instead of a fixed word window, and a clause ends at a comma that starts a
new clause ("..., the heart is normal") as well as at conjunctions like "but" and "however".
Laterality lives in :mod:`cxrgraph.text.relations`, where sides are distributed over regions.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate, pairwise
from operator import itemgetter

from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.mentions import trie_regex

__all__ = ["Modifiers", "ModifierFinder", "get_modifier_finder", "ABSENT", "PRESENT", "UNCERTAIN"]

ABSENT, PRESENT, UNCERTAIN = "absent", "present", "uncertain"

_PRE_NEG = [
    "no",
    "not",
    "without",
    "negative for",
    "free of",
    "absence of",
    "absent",
    "no evidence of",
    "no evidence for",
    "no signs of",
    "no sign of",
    "no definite",
    "no definitive",
    "no obvious",
    "no convincing",
    "no clear",
    "no findings of",
    "no finding of",
    "no suspicious",
    "no visible",
    "no radiographic evidence of",
    "no radiographic signs of",
    "no acute",
    "no other",
    "no focal",
    "neither",
    "nor",
    "never",
    "denies",
    "denied",
    "denying",
    "no longer",
    "resolution of",
    "resolved",
    "rather than",
    "clear of",
    "interval resolution of",
    "no residual",
    "no significant",
    "no large",
    "no new",
    "no further",
    "ruled out",
    "not demonstrate",
    "not show",
    "fails to reveal",
    "no pathologic",
    "without evidence of",
    "without any",
    "no appreciable",
    "no discrete",
    "no overt",
    "no frank",
    "no gross",
    "no detectable",
    "no displaced",
    "no e/o",
    "w/o",
    "unremarkable for",
    "no abnormal",
    "no substantial",
    "removal of",
    "no identifiable",
    "-ve for",
    "denies any",
    "not support",
    "not consistent with",
    "not typical for",
    "no residual",
]
_POST_NEG = [
    "not seen",
    "not identified",
    "not present",
    "not evident",
    "not appreciated",
    "not demonstrated",
    "not visualized",
    "not visible",
    "not detected",
    "not noted",
    "not apparent",
    "not observed",
    "is absent",
    "are absent",
    "has resolved",
    "have resolved",
    "resolved",
    "has cleared",
    "have cleared",
    "no longer seen",
    "no longer visible",
    "no longer present",
    "no longer evident",
    "no longer identified",
    "no longer apparent",
    "no longer",
    "ruled out",
    "has been removed",
    "have been removed",
    "removed",
    "unlikely",
    "is gone",
    "are gone",
    "not",
    "free",
    "negative",
    "was ruled out",
    "has been excluded",
    "is excluded",
    "are excluded",
    "not suggested",
    "not shown",
]
_PRE_UNC = [
    "may",
    "might",
    "could",
    "possible",
    "possibly",
    "suspicious for",
    "suspected",
    "suspect",
    "concerning for",
    "concern for",
    "suggestive of",
    "suggesting",
    "suggest",
    "suggests",
    "question of",
    "questionable",
    "question",
    "cannot exclude",
    "can not exclude",
    "cannot rule out",
    "can not rule out",
    "can't exclude",
    "can't rule out",
    "not exclude",
    "rule out",
    "r/o",
    "versus",
    "vs",
    "differential",
    "differential diagnosis",
    "consider",
    "considered",
    "worrisome for",
    "equivocal",
    "indeterminate",
    "uncertain",
    "perhaps",
    "would be difficult to exclude",
    "difficult to exclude",
    "obscure",
    "obscured",
    "obscuring",
    "may represent",
    "could represent",
    "might represent",
    "may reflect",
    "could reflect",
    "may be",
    "may indicate",
    "raise the possibility of",
    "raises the possibility of",
    "potential",
    "developing",
    "early",
    "cannot be excluded",
    "not excluded",
    "either",
    "versus",
    "atypical",
    "or",
    "correlate",
    "correlation",
    "may be compatible with",
    "may be consistent with",
    "could be compatible with",
    "could be consistent with",
    "differential considerations",
    "differential considerations include",
    "history of",
    "previous",
    "old",
    "prior history of",
    "remote",
    "sequela of",
    "sequelae of",
    "residua of",
]
_POST_UNC = [
    "cannot be excluded",
    "can not be excluded",
    "cannot be ruled out",
    "can not be ruled out",
    "not excluded",
    "not ruled out",
    "is not excluded",
    "is possible",
    "are possible",
    "is suspected",
    "are suspected",
    "is questioned",
    "is not entirely excluded",
    "could be present",
    "may be present",
    "is difficult to exclude",
    "difficult to exclude",
    "not entirely excluded",
    "is suggested",
    "are suggested",
    "is questionable",
    "?",
    "cannot be entirely excluded",
    "can not be entirely excluded",
    "also possible",
    "possible",
    "difficult to entirely exclude",
    "not entirely excluded",
]
# Looks like a trigger, is not one: "no change in the effusion" keeps the effusion present.
_PSEUDO = [
    "no change",
    "no significant change",
    "no interval change",
    "no increase",
    "no decrease",
    "no significant interval change",
    "not changed",
    "not significantly changed",
    "no substantial change",
    "no appreciable change",
    "not only",
    "no further change",
    "without change",
    "not been changed",
    "no worsening",
    "no improvement",
    "no definite change",
    "not appreciably changed",
    "no change in",
    "without significant change",
    "no longer or",
    "not worsened",
    "not improved",
    "gram negative",
    "not cause",
    "no apparent change",
    "no radiographic change",
    "no overall change",
    "no evidence of change",
    "not well seen",
    "not well visualized",
    "not well evaluated",
    "not well assessed",
    "not well demonstrated",
    "not clearly",
    "not been",
]
# Hedges of high probability and differential lists of a seen abnormality ("atelectasis or
# scarring", "probable effusion", "consistent with pneumonia") are kept as present: the OpenI MeSH
# indexers record such findings (measured on the OpenI dev split: 149 of 189 such mentions are
# indexed), while "may represent", "possible", "suggest" hedges are mostly not.
_AFFIRM = [
    "consistent with",
    "compatible with",
    "represents",
    "representing",
    "reflects",
    "reflecting",
    "diagnostic of",
    "indicative of",
    "characteristic of",
    "most likely represents",
    "probable",
    "probably",
    "likely",
    "most likely",
    "presumably",
    "presumed",
]

# The lookaheads on the first character let the scan reject most positions at once.
_TERMINATORS = (
    r"(?=[;:,\s])(?:[;:]|\s-\s"
    r"|,\s*(?=(?:there|the|this|these|it|that|which|with|and there|and the|and a|and an|but|may|could"
    r"|is|are|likely|probably|stable|unchanged|otherwise|however)\b))"
    r"|\b(?=[abcdehpstw])(?:(?:but|however|although|though|except|aside from|apart from|whereas|while|which|still"
    r"|there is|there are|there has been|there have been|secondary to|due to|causes? of|caused of|source of"
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
    """Applies the trigger lexicons to sentences; build once with :func:`get_modifier_finder`."""

    def __init__(self, ontology: Ontology | None = None) -> None:
        onto = ontology or get_ontology()
        self.ontology = onto
        b = r"(?<![\w-])"
        e = r"(?![\w-])"
        # every lexicon is lower case: scans run case-sensitively over the lowered sentence (about
        # twice as fast as IGNORECASE); the IGNORECASE twins serve text whose length lower() changes
        kinds = {w: "trig" for w in _PRE_NEG + _POST_NEG + _PRE_UNC + _POST_UNC}
        kinds.update({w: "affirm" for w in _AFFIRM})
        kinds.update({w: "pseudo" for w in _PSEUDO})
        self._kinds = kinds
        self._pre_neg = set(_PRE_NEG)
        self._post_neg = set(_POST_NEG)
        self._pre_unc = set(_PRE_UNC)
        self._post_unc = set(_POST_UNC)
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
            "trigger": b + "(?:" + trie_regex(list(kinds)) + ")" + e,
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

    def triggers(self, sentence: str, lower: str | None = None) -> list[tuple[int, int, str, str]]:
        """``(start, end, kind, text)`` of every trigger; kind in pseudo, affirm, trig."""
        text, regexes = self._scanners(sentence, lower)
        kinds = self._kinds
        out = []
        for m in regexes["trigger"].finditer(text):
            word = m.group().lower()
            kind = kinds.get(word)
            if kind is None:  # white space other than one blank between words
                word = " ".join(word.split())
                kind = kinds.get(word)
            if kind is not None:
                out.append((m.start(), m.end(), kind, word))
        if "?" in sentence:
            out.extend((i, i + 1, "trig", "?") for i, c in enumerate(sentence) if c == "?")
        out.sort()
        return out

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
            trig = _unblocked(trig, blocked)
        sev_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["severity"].finditer(text)]
        ch_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["change"].finditer(text)]
        span_starts = None
        out = []
        # every lookup below bisects offsets sorted left to right: a sentence costs about linear
        # time in its length, not quadratic (a run-on sentence has hundreds of mentions in one clause)
        for s, e in spans:
            k = bisect_right(clauses, s, key=_FIRST) - 1
            c0, c1 = clauses[k] if k >= 0 and s < clauses[k][1] else (0, len(sentence))
            existence, cue = self._existence(sentence, s, e, c0, c1, trig)
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
                    if _words_between(sentence, e, h0) <= 12 and not (nxt < len(span_starts) and span_starts[nxt] < h0):
                        change = self._change.get(word)
            if change == "resolved" and existence == PRESENT:
                existence = ABSENT
            out.append(Modifiers(existence, severity or "unspecified", change or "unspecified", (c0, c1), cue))
        return out

    def _existence(self, sentence: str, s: int, e: int, c0: int, c1: int, trig: list) -> tuple[str, str]:
        # pre-triggers: the nearest trigger before the mention in its clause decides
        # "or" / "versus" only join alternatives (see _AFFIRM) and never decide
        first_after = bisect_left(trig, s, key=_FIRST)
        pre = None
        for k in range(first_after - 1, -1, -1):
            t0, _t1, kind, word = trig[k]
            if t0 < c0:
                break
            if word not in _COORDINATORS:
                pre = (kind, word, t0)
                break
        if pre is not None:
            kind, word, t0 = pre
            if kind == "trig":
                if word in self._pre_neg and word not in ("not",) and _words_between(sentence, t0, s) <= 14:
                    return ABSENT, word
                if word == "not" and _words_between(sentence, t0, s) <= 3:
                    return ABSENT, word
                if word in self._pre_unc and _words_between(sentence, t0, s) <= 10:
                    return UNCERTAIN, word
        # post-triggers: the first trigger after the mention in its clause
        for k in range(bisect_left(trig, e, lo=first_after, key=_FIRST), len(trig)):
            t0, _t1, kind, word = trig[k]
            if t0 >= c1:
                break
            if _words_between(sentence, e, t0) > 8:
                break
            if kind != "trig":
                break
            if word in self._post_neg:
                if word == "not" and _words_between(sentence, e, t0) > 3:
                    break
                if word in ("free", "negative") and _words_between(sentence, e, t0) > 2:
                    break
                return ABSENT, word
            if word in _COORDINATORS:
                continue
            if word in self._post_unc:
                return UNCERTAIN, word
            if word in self._pre_neg or word in self._pre_unc:
                break
        # "A or B", "A versus B": the alternatives are uncertain
        return PRESENT, ""


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
        if h0 < c0 or _words_between(sentence, h1, s) > before:
            break
        lo -= 1
    best, best_d = None, None
    for k in range(lo, len(hits)):
        h0, h1, word = hits[k]
        if h1 <= s:
            d = _words_between(sentence, h1, s)
        elif h0 >= e:
            if h0 >= c1:
                break
            d = _words_between(sentence, e, h0)
            if d > after:
                break  # every later cue is further away
        elif inside:  # inside the mention ("heart is mildly enlarged")
            d = 0
        else:
            continue
        if best_d is None or d < best_d:
            best, best_d = table.get(word), d
    return best


def _unblocked(trig: list[tuple[int, int, str, str]], blocked: list[tuple[int, int]]) -> list:
    """The triggers that start outside every ``blocked`` span."""
    if len(trig) * len(blocked) <= 64:  # a short sentence: the plain test is cheaper
        return [t for t in trig if not any(a <= t[0] < b for a, b in blocked)]
    spans = sorted(blocked)
    starts = [a for a, _b in spans]
    reach = list(accumulate((b for _a, b in spans), max))  # furthest end among spans so far
    out = []
    for t in trig:
        k = bisect_right(starts, t[0]) - 1
        if k < 0 or reach[k] <= t[0]:
            out.append(t)
    return out


_FIRST, _SECOND = itemgetter(0), itemgetter(1)

_COORDINATORS = frozenset(("or", "versus", "vs", "either", "?"))


def _words(phrase: str) -> str:
    """A matched phrase in lower case with single blanks."""
    phrase = phrase.lower()
    return phrase if "  " not in phrase and phrase.isascii() and phrase.isprintable() else " ".join(phrase.split())


def _words_between(text: str, a: int, b: int) -> int:
    return text.count(" ", a, b)


_FINDERS: dict[int, ModifierFinder] = {}


def get_modifier_finder(ontology: Ontology | None = None) -> ModifierFinder:
    """The shared :class:`ModifierFinder` of an ontology."""
    onto = ontology or get_ontology()
    finder = _FINDERS.get(id(onto))
    if finder is None or finder.ontology is not onto:
        finder = _FINDERS[id(onto)] = ModifierFinder(onto)
    return finder
