"""Existence of a mention: negation and uncertainty triggers and their scope.

The trigger lists are data (``existence_cues`` in the ontology's ``labels.yaml``), beside the
severity and change cues. The scope rules follow NegEx (pre- and post-triggers, pseudo-triggers
that look like negations but are not, scope ended at clause boundaries) with two changes that
radiology needs: a pre-trigger reaches over a whole list ("no effusion, pneumothorax or focal
consolidation") up to the end of its clause instead of a fixed word window, and the clause (cut
by :class:`~cxrgraph.text.modifiers.ModifierFinder`) ends at a comma that starts a new clause as
well as at conjunctions like "but" and "however".

Hedges of high probability and differential lists of a seen abnormality ("atelectasis or
scarring", "probable effusion", "consistent with pneumonia") are kept as present: the OpenI MeSH
indexers record such findings (measured on the OpenI dev split: 149 of 189 such mentions are
indexed), while "may represent", "possible", "suggest" hedges are mostly not.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate
from operator import itemgetter

from cxrgraph.ontology import Ontology
from cxrgraph.text.mentions import trie_regex

__all__ = ["ABSENT", "PRESENT", "UNCERTAIN", "Trigger", "TriggerLexicon"]

ABSENT, PRESENT, UNCERTAIN = "absent", "present", "uncertain"

#: ``(start, end, kind, word)`` of a trigger in a sentence; kind is ``"trig"`` (a negation or
#: hedge), ``"affirm"`` or ``"pseudo"``.
Trigger = tuple[int, int, str, str]

# How far (in words) a trigger reaches from the mention it decides.
_NEG_BEFORE, _UNC_BEFORE, _AFTER = 14, 10, 8
# short words that reach only their neighbours ("not" a verb away; "free", "negative" right after)
_SHORT_REACH = {"not": 3, "free": 2, "negative": 2}


class TriggerLexicon:
    """The trigger lists of an ontology, compiled for scanning lowered sentences.

    Args:
        ontology: The ontology whose ``existence_cues`` to use.
    """

    def __init__(self, ontology: Ontology) -> None:
        cues = ontology.existence_cues
        self.negation_before = frozenset(cues["negation_before"])
        self.negation_after = frozenset(cues["negation_after"])
        self.uncertainty_before = frozenset(cues["uncertainty_before"])
        self.uncertainty_after = frozenset(cues["uncertainty_after"])
        kinds = {w: "trig" for k in ("negation_before", "negation_after", "uncertainty_before", "uncertainty_after")
                 for w in cues[k]}  # fmt: skip
        kinds.update({w: "affirm" for w in cues["affirm"]})
        kinds.update({w: "pseudo" for w in cues["pseudo"]})
        self.kinds = kinds
        pattern = r"(?<![\w-])(?:" + trie_regex(sorted(kinds)) + r")(?![\w-])"
        self._lower_re = re.compile(pattern)
        self._any_case_re = re.compile(pattern, re.I)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(triggers={len(self.kinds)})"

    def find(self, sentence: str, lower: str | None = None) -> list[Trigger]:
        """Every trigger of ``sentence``, left to right.

        ``lower`` may pass ``sentence.lower()``; when lower() changes the length (rare unicode)
        the original text is scanned case-insensitively so that offsets stay exact.
        """
        if lower is None:
            lower = sentence.lower()
        if len(lower) == len(sentence):
            text, regex = lower, self._lower_re
        else:
            text, regex = sentence, self._any_case_re
        kinds = self.kinds
        out = []
        for m in regex.finditer(text):
            word = m.group().lower()
            kind = kinds.get(word)
            if kind is None:  # white space other than one blank between words
                word = " ".join(word.split())
                kind = kinds.get(word)
            if kind is not None:
                out.append((m.start(), m.end(), kind, word))
        return out

    def existence(self, sentence: str, s: int, e: int, c0: int, c1: int, trig: list[Trigger]) -> tuple[str, str]:
        """Existence of the mention ``[s, e)`` in its clause ``[c0, c1)``, and the trigger that decided.

        The nearest trigger before the mention in its clause decides if it is a pre-trigger in
        reach; else the first trigger after it, if it is a post-trigger in reach. An
        affirmation or a pseudo-trigger nearer to the mention stops the search: the mention is
        present.
        """
        first_after = bisect_left(trig, s, key=_FIRST)
        k = first_after - 1
        if k >= 0 and trig[k][0] >= c0:
            t0, _t1, kind, word = trig[k]
            if kind == "trig":
                gap = words_between(sentence, t0, s)
                if word in self.negation_before and gap <= _SHORT_REACH.get(word, _NEG_BEFORE):
                    return ABSENT, word
                if word in self.uncertainty_before and gap <= _UNC_BEFORE:
                    return UNCERTAIN, word
        for k in range(bisect_left(trig, e, lo=first_after, key=_FIRST), len(trig)):
            t0, _t1, kind, word = trig[k]
            if t0 >= c1 or kind != "trig":
                break
            gap = words_between(sentence, e, t0)
            if gap > _AFTER:
                break
            if word in self.negation_after:
                if gap > _SHORT_REACH.get(word, _AFTER):
                    break
                return ABSENT, word
            if word in self.uncertainty_after:
                return UNCERTAIN, word
            break  # a pre-trigger of what follows
        return PRESENT, ""


def unblocked(trig: list[Trigger], blocked: list[tuple[int, int]]) -> list[Trigger]:
    """The triggers that start outside every ``blocked`` span (the spans of concept mentions)."""
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


_FIRST = itemgetter(0)


def words_between(text: str, a: int, b: int) -> int:
    """Words between two offsets of ``text`` (blanks counted: the sentence's own measure)."""
    return text.count(" ", a, b)
