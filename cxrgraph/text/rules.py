"""The rules backend's reading of one sentence, and the cache that lets a corpus reuse it.

Everything the rules backend reads from a sentence (mentions, modifiers, attachment,
``suggestive_of`` links) depends on the sentence text alone, so the reading is cached by text.
Radiology reports repeat their sentences a great deal ("No pneumothorax.": 62 % of the findings
and impression sentences of the OpenI corpus are repeats of another one), which makes the cache
the largest single saving when a corpus is parsed. The cache is bounded and exact: a hit returns
what a fresh reading would.
"""

from __future__ import annotations

from cxrgraph.ontology import Ontology
from cxrgraph.text.mentions import FINDING, REGION, Mention, MentionMatcher, get_matcher, mention_term
from cxrgraph.text.modifiers import ABSENT, PRESENT, UNCERTAIN, Modifiers, get_modifier_finder
from cxrgraph.text.relations import attach, suggestive_pairs

__all__ = [
    "FindingReading",
    "SentenceReading",
    "merge_alternatives",
    "read_sentence",
    "sentence_cache_info",
    "set_sentence_cache_size",
]


#: One finding mention of a sentence and what the sentence says of it, sentence offsets:
#: ``(finding, start, end, existence, severity, change, regions, explicit, term)`` with ``term``
#: the mention's words, normalised (lower case, single blanks).
FindingReading = tuple[int, int, int, str, str, str, tuple[int, ...], bool, str]

#: What the rules backend reads from one sentence: ``(regions, findings, suggestive_of)`` with
#: ``regions`` the ``(region, start, end, term)`` of every region mention, ``findings`` the
#: :data:`FindingReading` of every finding mention left to right and ``suggestive_of`` the
#: ``(finding, finding)`` index pairs ("opacity ... may represent pneumonia"). Plain tuples of
#: ints and strings, not named tuples: the garbage collector stops tracking such tuples, so a full
#: cache adds nothing to its full collections (named tuples cost ~40 % of the parse time there).
SentenceReading = tuple[tuple[tuple[int, int, int, str], ...], tuple[FindingReading, ...], tuple[tuple[int, int], ...]]


_EMPTY: SentenceReading = ((), (), ())


def _read(sentence: str, onto: Ontology) -> SentenceReading:
    lower = sentence.lower()
    found = get_matcher(onto).find(sentence, lower)
    if not found:
        return _EMPTY
    regions = tuple(
        (m.value, m.start, m.end, mention_term(sentence[m.start : m.end])) for m in found if m.kind == REGION
    )
    findings = [m for m in found if m.kind == FINDING]
    if not findings:
        return (regions, (), ())
    matcher = get_matcher(onto)
    mods = get_modifier_finder(onto).analyse(
        sentence, [(m.start, m.end) for m in findings], blocked=[(m.start, m.end) for m in found], lower=lower
    )
    if len(findings) > 1:
        findings, mods, found = merge_alternatives(sentence, matcher, findings, mods, found)
    atts = attach(sentence, found, onto)
    regions_of = {id(att.mention): att.regions for att in atts}
    explicit_of = {id(att.mention): att.explicit for att in atts}
    suggest = []
    for i, j in suggestive_pairs(sentence, findings):
        src, dst = findings[i], findings[j]
        suggest.append((src.value, dst.value))
        # the suggested finding sits where its source was seen
        if not explicit_of[id(dst)] and explicit_of[id(src)]:
            regions_of[id(dst)] = regions_of[id(src)]
            explicit_of[id(dst)] = True
    read = tuple(
        (
            m.value,
            m.start,
            m.end,
            mod.existence,
            mod.severity,
            mod.change,
            tuple(regions_of[id(m)]),
            explicit_of[id(m)],
            mention_term(sentence[m.start : m.end]),
        )
        for m, mod in zip(findings, mods)
    )
    return (regions, read, tuple(suggest))


_RANK = {ABSENT: 0, UNCERTAIN: 1, PRESENT: 2}


def merge_alternatives(
    sentence: str, matcher: MentionMatcher, findings: list[Mention], mods: list[Modifiers], found: list[Mention]
) -> tuple[list[Mention], list[Modifiers], list[Mention]]:
    """Read a pair named as alternatives ("nodule/mass") as the one finding of uncertain type it
    makes up, unless it is negated ("no nodule or mass": neither is there, two absent findings)."""
    pairs = [
        (i, m)
        for i, m in matcher.alternatives(sentence, findings)
        if ABSENT not in (mods[i].existence, mods[i + 1].existence)
    ]
    if not pairs:
        return findings, mods, found
    merged_at = dict(pairs)
    new_f: list[Mention] = []
    new_m: list[Modifiers] = []
    gone: set[int] = set()
    i = 0
    while i < len(findings):
        if i in merged_at:
            a, b = mods[i], mods[i + 1]
            new_f.append(merged_at[i])
            new_m.append(
                Modifiers(
                    a.existence if _RANK[a.existence] >= _RANK[b.existence] else b.existence,
                    a.severity if a.severity != "unspecified" else b.severity,
                    a.change if a.change != "unspecified" else b.change,
                    a.clause,
                    a.cue or b.cue,
                )
            )
            gone.update((id(findings[i]), id(findings[i + 1])))
            i += 2
            continue
        new_f.append(findings[i])
        new_m.append(mods[i])
        i += 1
    found = sorted([m for m in found if id(m) not in gone] + [m for _i, m in pairs], key=lambda m: m.start)
    return new_f, new_m, found


class _Cache:
    """Bounded text -> reading map; emptied as a whole when full (cheap, and reports repeat the
    same few thousand sentences, which the next fill picks up again)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: dict[tuple[int, str], SentenceReading] = {}
        self.owners: dict[int, Ontology] = {}
        self.hits = self.misses = 0

    def get(self, sentence: str, onto: Ontology) -> SentenceReading:
        if self.size <= 0:
            self.misses += 1
            return _read(sentence, onto)
        key = (id(onto), sentence)
        hit = self.data.get(key)
        if hit is not None and self.owners.get(id(onto)) is onto:
            self.hits += 1
            return hit
        self.misses += 1
        reading = _read(sentence, onto)
        if len(self.data) >= self.size:
            self.data.clear()
        if self.owners.get(id(onto)) is not onto:
            # a new ontology object at a reused id: forget the old one's readings
            self.data = {k: v for k, v in self.data.items() if k[0] != id(onto)}
            self.owners[id(onto)] = onto
        self.data[key] = reading
        return reading


_CACHE = _Cache(65_536)


def read_sentence(sentence: str, ontology: Ontology) -> SentenceReading:
    """The rules backend's reading of ``sentence`` (cached by text; see :func:`set_sentence_cache_size`)."""
    return _CACHE.get(sentence, ontology)


def set_sentence_cache_size(size: int) -> None:
    """Bound the sentence cache to ``size`` readings (``0`` turns it off) and empty it.

    Each reading takes about half a kilobyte; the default of 65,536 readings stays under 40 MB.
    """
    if size < 0:
        raise ValueError(f"cache size must be >= 0, got {size}")
    _CACHE.size = size
    _CACHE.data.clear()
    _CACHE.hits = _CACHE.misses = 0


def sentence_cache_info() -> dict[str, int]:
    """``hits``, ``misses``, ``size`` (readings held) and ``maxsize`` of the sentence cache."""
    return {"hits": _CACHE.hits, "misses": _CACHE.misses, "size": len(_CACHE.data), "maxsize": _CACHE.size}
