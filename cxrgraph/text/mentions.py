"""Mention detection: ontology concepts, side-less region terms and side words in a sentence.

All phrases (finding and region synonyms, the ontology's side-less region terms, side words)
are compiled into one regular expression shaped like a character trie, so a sentence is
scanned once; at each position the longest phrase wins. Matching is case insensitive, treats
runs of white space as one space and accepts singular and plural forms of the last word.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from cxrgraph.ontology import Ontology, get_ontology

__all__ = [
    "Mention",
    "MentionMatcher",
    "get_matcher",
    "mention_term",
    "trie_regex",
    "FINDING",
    "REGION",
    "SIDED",
    "SIDE",
]

#: Mention kinds.
FINDING, REGION, SIDED, SIDE = "finding", "region", "sided", "side"

# Side words -> sides they name. "bibasilar" and friends name a side-less term too (see _BI_TERMS).
_SIDE_WORDS = {
    "left": ("left",),
    "right": ("right",),
    "bilateral": ("right", "left"),
    "bilaterally": ("right", "left"),
    "both": ("right", "left"),
    "both sides": ("right", "left"),
    "bibasilar": ("right", "left"),
    "bibasal": ("right", "left"),
    "bibasally": ("right", "left"),
    "bibasilarly": ("right", "left"),
    "biapical": ("right", "left"),
    "bihilar": ("right", "left"),
    "left-sided": ("left",),
    "right-sided": ("right",),
    "left sided": ("left",),
    "right sided": ("right",),
}
_BI_TERMS = {
    "bibasilar": "lower lung zone",
    "bibasal": "lower lung zone",
    "bibasally": "lower lung zone",
    "bibasilarly": "lower lung zone",
    "biapical": "apical zone",
    "bihilar": "hilar structures",
}


class Mention(NamedTuple):
    """A phrase found in a sentence.

    Attributes:
        kind: ``"finding"``, ``"region"`` (a region synonym, e.g. "left base"), ``"sided"`` (a
            side-less region term, e.g. "bases", ``value`` is the region suffix) or ``"side"``
            (``value`` is a tuple of sides).
        value: Concept index (finding, region), region suffix (sided) or sides (side).
        start: Start offset in the sentence.
        end: End offset (exclusive).
        text: The matched text.
    """

    kind: str
    value: object
    start: int
    end: int
    text: str


# Findings stated as a predicate of a region ("heart size is mildly enlarged for technique",
# "borderline heart size"): too many word orders for synonym lists. (finding, cheap prefilter
# words, pattern); a match replaces the plain mentions it overlaps.
_ADVERBS = (
    r"(?:(?:is|are|was|remains|remain|appears|appear|now|still|again|also|persistently|XXXX|at|the|top|upper"
    r"|limits?|of|normal|or|and|stable|stably|borderline|\w+ly)\s+){0,6}"
)
_PREDICATES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "enlarged cardiac silhouette",
        ("heart", "cardiac"),
        r"\b(?:the\s+)?(?:heart|cardiac)(?:\s+(?:size|silhouette|contours?|shadow))?\s+"
        + _ADVERBS
        + r"(?:enlarged|large|enlargement|borderline(?:\s+in\s+size)?)\b"
        r"|\bborderline\s+(?:heart|cardiac)\s+(?:size|silhouette|enlargement)\b"
        r"|\b(?:mild|moderate|marked|severe|borderline|slight|stable|XXXX)?\s*enlargement\s+of\s+the\s+"
        r"(?:heart|cardiac\s+silhouette)\b",
    ),
)


# what may join two findings named as alternatives of one finding ("mass or nodule", "nodule/mass")
_ALTERNATIVE = re.compile(r"\s*(?:/|or|and/or|versus|vs\.?)\s*", re.IGNORECASE)


def _variants(phrase: str) -> list[str]:
    """The phrase with its last word in singular and plural form."""
    out = [phrase]
    head, _, last = phrase.rpartition(" ")
    pre = head + " " if head else ""
    if not last[-1:].isalpha():
        return out
    if last.endswith("ies"):
        out.append(pre + last[:-3] + "y")
    elif last.endswith(("ses", "xes", "ches", "shes")):
        out.append(pre + last[:-2])
    elif last.endswith("s") and not last.endswith(("ss", "is", "us")):
        out.append(pre + last[:-1])
    else:
        if last.endswith("y") and last[-2:-1] not in "aeiou":
            out.append(pre + last[:-1] + "ies")
        elif last.endswith(("s", "x", "ch", "sh")):
            out.append(pre + last + "es")
        else:
            out.append(pre + last + "s")
    return out


def trie_regex(phrases: list[str]) -> str:
    """A regular expression matching any of ``phrases``, shaped like a character trie.

    At each position the longest phrase wins; a space in a phrase matches any run of white
    space. Far faster than a flat alternation of hundreds of phrases.
    """
    trie: dict = {}
    for p in phrases:
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict) -> str:
        end = "" in node
        alts = []
        for ch in sorted(k for k in node if k):
            alts.append((r"[\s]+" if ch == " " else re.escape(ch)) + build(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            # greedy optional: the longer phrase is tried first, the regex backs off to the
            # shorter one when the word boundary after it fails
            return "(?:" + body + ")?"
        return body

    return build(trie)


def mention_term(text: str) -> str:
    """A mention's words as the graph keeps them: lower case, runs of white space as one blank."""
    words = text.lower()
    if words.isascii() and words.isprintable() and "  " not in words:
        return words
    return " ".join(words.split())


class MentionMatcher:
    """Finds ontology mentions in text; build once (see :func:`get_matcher`) and reuse.

    Args:
        ontology: The ontology whose synonyms to match (default: the packaged one).
    """

    def __init__(self, ontology: Ontology | None = None) -> None:
        onto = ontology or get_ontology()
        self.ontology = onto
        table: dict[str, tuple[str, object]] = {}
        # lowest priority first: later tables overwrite
        for word, sides in _SIDE_WORDS.items():
            table[word] = (SIDE, sides)
        for term, suffix in onto.sided_terms.items():
            for v in _variants(term):
                table.setdefault(v, (SIDED, suffix))
        for phrase, idx in onto.region_synonyms().items():
            for v in _variants(phrase):
                table[v] = (REGION, idx)
        for phrase, idx in onto.finding_synonyms().items():
            for v in _variants(phrase):
                if v not in table or table[v][0] != FINDING or v == phrase:
                    table[v] = (FINDING, idx)
        self._table = table
        body = r"(?<![\w-])(?:" + trie_regex(sorted(table)) + r")(?![\w-])"
        # the table's keys are lower case: a case-sensitive scan of the lowered sentence is about
        # twice as fast as IGNORECASE; the latter serves text whose length lower() changes
        self._regex = re.compile(body, re.IGNORECASE)
        self._lower_regex = re.compile(body)
        self._predicates = [
            (onto.finding_index(name), words, re.compile(pattern, re.IGNORECASE))
            for name, words, pattern in _PREDICATES
        ]
        self._space = re.compile(r"\s+")
        # (finding, finding) named as alternatives -> the one finding of uncertain type they are read as
        self._either: dict[tuple[int, int], int] = {}
        for f in onto.findings:
            kinds = [onto.finding_index(n) for n in f.either_of]
            self._either.update({(a, b): f.index for a in kinds for b in kinds if a != b})

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(phrases={len(self._table)})"

    def find(self, sentence: str, lower: str | None = None) -> list[Mention]:
        """All mentions in ``sentence``, left to right, non-overlapping, longest first.

        ``lower`` may pass ``sentence.lower()`` when the caller already has it.
        """
        out = []
        table = self._table
        space = self._space
        if lower is None:
            lower = sentence.lower()
        if len(lower) == len(sentence):
            for m in self._lower_regex.finditer(lower):
                a, b = m.span()
                hit = table.get(m.group())
                if hit is None:  # white space other than one blank between words
                    hit = table[space.sub(" ", m.group())]
                kind, value = hit
                out.append(Mention(kind, value, a, b, sentence[a:b]))
        else:  # lower() changed offsets (rare unicode): match the original text
            for m in self._regex.finditer(sentence):
                s = m.group()
                key = s.lower()
                if " " in key or "\n" in key or "\t" in key:
                    key = space.sub(" ", key)
                hit = table.get(key)
                if hit is None:  # unicode case folding changed the text; skip rather than guess
                    continue
                kind, value = hit
                out.append(Mention(kind, value, m.start(), m.end(), s))
        for idx, words, regex in self._predicates:
            if not any(w in lower for w in words):
                continue
            for m in regex.finditer(sentence):
                a, b = m.start(), m.end()
                out = [x for x in out if x.end <= a or x.start >= b]
                out.append(Mention(FINDING, idx, a, b, m.group()))
                out.sort(key=lambda x: x.start)
        return out

    def alternatives(self, sentence: str, findings: list[Mention]) -> list[tuple[int, Mention]]:
        """Findings named as alternatives of one finding ("nodule or mass", "nodule/mass").

        Returns ``(i, merged)`` for each pair ``findings[i], findings[i + 1]`` that make up one
        finding of uncertain type (the ontology's ``either_of``), ``merged`` spanning both. The
        caller decides whether to merge: a negated pair ("no nodule or mass") says that neither
        is there and stays two findings.
        """
        out: list[tuple[int, Mention]] = []
        if not self._either:
            return out
        for i in range(len(findings) - 1):
            a, b = findings[i], findings[i + 1]
            target = self._either.get((a.value, b.value))
            # pairs never share a mention ("nodule or mass or nodule")
            shared = bool(out) and out[-1][0] == i - 1
            if target is not None and not shared and _ALTERNATIVE.fullmatch(sentence, a.end, b.start):
                out.append((i, Mention(FINDING, target, a.start, b.end, sentence[a.start : b.end])))
        return out

    @staticmethod
    def bi_term(mention: Mention) -> str | None:
        """Region suffix named by a "bi-" side word ("bibasilar" -> "lower lung zone")."""
        return _BI_TERMS.get(mention.text.lower())


_CACHE: dict[int, MentionMatcher] = {}


def get_matcher(ontology: Ontology | None = None) -> MentionMatcher:
    """The shared :class:`MentionMatcher` of an ontology (built on first use)."""
    onto = ontology or get_ontology()
    # keyed by identity: an ontology is immutable, and its version string is not free to compute
    matcher = _CACHE.get(id(onto))
    if matcher is None or matcher.ontology is not onto:
        matcher = _CACHE[id(onto)] = MentionMatcher(onto)
    return matcher
