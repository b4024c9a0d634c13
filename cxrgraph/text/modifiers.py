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
from dataclasses import dataclass
from itertools import pairwise

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
            trig = [t for t in trig if not any(a <= t[0] < b for a, b in blocked)]
        sev_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["severity"].finditer(text)]
        ch_hits = [(m.start(), m.end(), _words(m.group())) for m in regexes["change"].finditer(text)]
        out = []
        for s, e in spans:
            c0, c1 = next(((a, b) for a, b in clauses if a <= s < b), (0, len(sentence)))
            existence, cue = self._existence(sentence, s, e, c0, c1, trig)
            severity = self._nearest_label(sentence, sev_hits, s, e, c0, c1, self._severity, before=4, after=4)
            change = self._nearest_label(
                sentence, ch_hits, s, e, c0, c1, self._change, before=12, after=12, inside=False
            )
            if change is None:
                # a comparison clause of its own about this finding: "..., which has decreased since
                # the prior study", "..., unchanged" (no other finding in between)
                for h0, _h1, word in ch_hits:
                    if h0 < e:
                        continue
                    if _words_between(sentence, e, h0) > 12 or any(e <= a < h0 for a, _b in spans):
                        break
                    change = self._change.get(word)
                    break
            if change == "resolved" and existence == PRESENT:
                existence = ABSENT
            out.append(Modifiers(existence, severity or "unspecified", change or "unspecified", (c0, c1), cue))
        return out

    def _existence(self, sentence: str, s: int, e: int, c0: int, c1: int, trig: list) -> tuple[str, str]:
        # pre-triggers: the nearest trigger before the mention in its clause decides
        # "or" / "versus" only join alternatives (see _AFFIRM) and never decide
        pre = None
        for t0, _t1, kind, word in trig:
            if t0 >= s:
                break
            if t0 < c0 or word in _COORDINATORS:
                continue
            pre = (kind, word, t0)
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
        for t0, _t1, kind, word in trig:
            if t0 < e:
                continue
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

    @staticmethod
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
        best, best_d = None, None
        for h0, h1, word in hits:
            if h1 <= s:
                if h0 < c0:
                    continue
                d = _words_between(sentence, h1, s)
                if d > before:
                    continue
            elif h0 >= e:
                if h0 >= c1:
                    break
                d = _words_between(sentence, e, h0)
                if d > after:
                    continue
            elif inside:  # inside the mention ("heart is mildly enlarged")
                d = 0
            else:
                continue
            if best_d is None or d < best_d:
                best, best_d = table.get(word), d
        return best


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
