"""MIMIC-CXR style reports written from phantom ground truth by a combinatorial grammar.

Every sentence is drawn from a small grammar (:class:`Lit`, :class:`Alt`, :class:`Seq`) whose
nodes can count and enumerate their realisations, so the size of the grammar is computed, not
guessed (:func:`grammar_size`). Region and finding words are ontology synonyms, severity words
are ontology severity cues and change words are ontology change cues (tests check this), so a
rule-based parser that knows the ontology can read the reports back.

Each sentence carries the triplets it states, so the ground truth of a report is exactly the
union of what its sentences say.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrgraph.datasets.phantom.findings import DEVICE_FINDINGS, NEGATABLE_FINDINGS, Lesion
from cxrgraph.graph import Triplet

__all__ = [
    "Lit",
    "Alt",
    "Seq",
    "ReportSentence",
    "PhantomReport",
    "write_report",
    "lesion_sentence",
    "grammar_size",
    "REGION_NOUNS",
    "REGION_ADJECTIVES",
    "FINDING_NOUNS",
    "SEVERITY_WORDS",
    "CHANGE_WORDS",
]


# ---------------------------------------------------------------------------------------------- grammar
class Node(ABC):
    """A grammar node: counts, samples and enumerates the strings it can produce."""

    @abstractmethod
    def count(self) -> int:
        """How many distinct strings the node can produce."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> str:
        """One string drawn with ``rng``."""

    @abstractmethod
    def expand(self) -> Iterator[str]:
        """Every string, in a fixed order."""


class Lit(Node):
    """A fixed string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def count(self) -> int:
        return 1

    def sample(self, rng: np.random.Generator) -> str:
        return self.text

    def expand(self) -> Iterator[str]:
        yield self.text


def _node(x: Node | str) -> Node:
    return x if isinstance(x, Node) else Lit(x)


class Alt(Node):
    """One of several alternatives, drawn uniformly."""

    def __init__(self, *options: Node | str) -> None:
        if not options:
            raise ValueError("Alt needs at least one option")
        self.options = [_node(o) for o in options]
        self._weights: np.ndarray | None = None

    def count(self) -> int:
        return sum(o.count() for o in self.options)

    def sample(self, rng: np.random.Generator) -> str:
        # weight by size so every realisation is equally likely (sizes computed once per node)
        if self._weights is None:
            w = np.array([o.count() for o in self.options], dtype=np.float64)
            self._weights = w / w.sum()
        return self.options[int(rng.choice(len(self.options), p=self._weights))].sample(rng)

    def expand(self) -> Iterator[str]:
        for o in self.options:
            yield from o.expand()


class Seq(Node):
    """Parts joined by single spaces (empty parts vanish)."""

    def __init__(self, *parts: Node | str) -> None:
        self.parts = [_node(p) for p in parts]
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            n = 1
            for p in self.parts:
                n *= p.count()
            self._count = n
        return self._count

    def sample(self, rng: np.random.Generator) -> str:
        return _join(p.sample(rng) for p in self.parts)

    def expand(self) -> Iterator[str]:
        for combo in itertools.product(*(list(p.expand()) for p in self.parts)):
            yield _join(combo)


def Opt(x: Node | str) -> Alt:
    """``x`` or nothing."""
    return Alt("", x)


_SPACES = re.compile(r"\s+")
_BEFORE_PUNCT = re.compile(r"\s+([,.;])")


def _join(parts) -> str:
    return _BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", " ".join(p for p in parts if p)).strip())


_AN = re.compile(r"\b([Aa]) (?=[aeiou])")


def _sentence(text: str) -> str:
    text = _AN.sub(r"\1n ", text.strip())
    if not text.endswith("."):
        text += "."
    return text[0].upper() + text[1:]


# ---------------------------------------------------------------------------------------------- lexicon
#: region phrases usable after "the" ("in the right lower lobe"); every one is an ontology synonym
REGION_NOUNS: dict[str, tuple[str, ...]] = {}
#: region phrases usable before a finding noun ("right basilar opacity")
REGION_ADJECTIVES: dict[str, tuple[str, ...]] = {}
for _s in ("right", "left"):
    REGION_NOUNS[f"{_s} upper lung zone"] = tuple(
        f"{_s} {w}" for w in ("upper lung zone", "upper lobe", "upper lung", "upper zone", "upper lung field")
    )
    REGION_NOUNS[f"{_s} mid lung zone"] = tuple(
        f"{_s} {w}" for w in ("mid lung zone", "midlung", "mid lung", "mid zone", "mid lung field")
    ) + (("lingula",) if _s == "left" else ("right middle lobe",))
    REGION_NOUNS[f"{_s} lower lung zone"] = tuple(
        f"{_s} {w}" for w in ("lower lung zone", "lower lobe", "lung base", "base", "lower lung", "lower zone")
    )
    REGION_NOUNS[f"{_s} lung"] = (f"{_s} lung", f"{_s} hemithorax")
    REGION_NOUNS[f"{_s} costophrenic angle"] = tuple(
        f"{_s} {w}" for w in ("costophrenic angle", "costophrenic sulcus", "costophrenic recess")
    )
    REGION_ADJECTIVES[f"{_s} upper lung zone"] = (f"{_s} upper lobe", f"{_s} upper lung", f"{_s} upper zone")
    REGION_ADJECTIVES[f"{_s} mid lung zone"] = (f"{_s} midlung", f"{_s} mid lung") + (
        ("lingular",) if _s == "left" else ()
    )
    REGION_ADJECTIVES[f"{_s} lower lung zone"] = (f"{_s} basilar", f"{_s} basal", f"{_s} lower lobe") + (
        ("retrocardiac",) if _s == "left" else ()
    )
REGION_NOUNS["svc"] = ("svc", "superior vena cava", "mid svc", "lower svc")

#: finding nouns per phantom finding (ontology synonyms), and whether they take "a"
FINDING_NOUNS: dict[str, tuple[str, ...]] = {
    "lung opacity": ("opacity", "opacification", "parenchymal opacity", "pulmonary opacity", "airspace disease"),
    "consolidation": ("consolidation", "consolidative opacity", "airspace consolidation"),
    "atelectasis": ("atelectasis", "subsegmental atelectasis", "atelectatic change"),
    "mass/nodule (not otherwise specified)": ("nodular opacity", "nodular density", "rounded opacity"),
    "pleural effusion": ("pleural effusion", "effusion"),
    "pneumothorax": ("pneumothorax",),
    "pulmonary edema/hazy opacity": ("pulmonary edema", "interstitial edema", "edema", "interstitial pulmonary edema"),
    "enlarged cardiac silhouette": ("cardiomegaly", "enlargement of the cardiac silhouette", "cardiac enlargement"),
    "endotracheal tube": ("endotracheal tube", "et tube"),
    "enteric tube": ("enteric tube", "orogastric tube", "gastric tube", "og tube", "gastrostomy tube"),
    "picc": ("right picc", "picc line", "right-sided picc", "right arm picc", "peripherally inserted central catheter"),
    "ij line": (
        "internal jugular catheter",
        "ij catheter",
        "internal jugular central venous catheter",
        "ij central line",
    ),
    "chest tube": ("chest tube", "pleural drain", "thoracostomy tube"),
    "cardiac pacer and wires": ("pacemaker", "dual-chamber pacemaker", "pacer", "pacemaker/icd"),
}
_COUNTABLE = {"mass/nodule (not otherwise specified)", "pleural effusion", "pneumothorax"}
_COUNTABLE |= set(DEVICE_FINDINGS)

#: attributive severity words per style (ontology severity cues)
SEVERITY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "density": {
        "mild": ("mild", "minimal", "slight", "subtle", "faint"),
        "moderate": ("moderate",),
        "severe": ("severe", "extensive", "marked", "dense"),
    },
    "size": {
        "mild": ("small", "trace", "tiny", "minimal"),
        "moderate": ("moderate", "moderate-sized", "medium-sized"),
        "severe": ("large", "large-sized", "massive"),
    },
    "grade": {"mild": ("mild",), "moderate": ("moderate",), "severe": ("severe", "marked")},
}
_STYLE = {"pleural effusion": "size", "pneumothorax": "size", "enlarged cardiac silhouette": "grade"}
_PREDICATIVE = {"mild": ("mild", "small"), "moderate": ("moderate",), "severe": ("large", "severe", "extensive")}

#: change words used by the comparison sentences (ontology change cues)
CHANGE_WORDS: dict[str, tuple[str, ...]] = {
    "new": ("new", "interval development of", "has developed", "now seen"),
    "worsened": ("has increased", "has worsened", "interval increase in", "has progressed", "increased"),
    "improved": ("has decreased", "has improved", "interval improvement in", "decreased", "improved"),
    "no change": ("unchanged", "stable", "is again seen", "remains", "persistent"),
    "resolved": ("has resolved", "interval resolution of", "has cleared", "is no longer seen", "removed"),
}

_SINCE = Alt(
    "",
    "since the prior study",
    "since the prior radiograph",
    "compared to the prior exam",
    "compared with the previous radiograph",
    "from the prior examination",
)
_HEDGE_PRE = ("possible", "questionable")
_HEDGE_POST = ("cannot be excluded", "is possible", "cannot be ruled out")


def _sev_words(finding: str, severity: str) -> Alt:
    if severity == "unspecified":
        return Alt("")
    return Alt(*SEVERITY_WORDS[_STYLE.get(finding, "density")][severity])


def _noun(finding: str) -> Alt:
    return Alt(*FINDING_NOUNS[finding])


def _loc(regions: Sequence[str], finding: str) -> Node:
    """A prepositional phrase naming every region of a lesion."""
    if list(regions) == ["right lung", "left lung"]:
        return Alt("in both lungs", "in the lungs bilaterally", "in the right and left lungs", "bilaterally")
    if len(regions) == 2 and regions[0].endswith("costophrenic angle"):
        cp, base = Alt(*REGION_NOUNS[regions[0]]), Alt(*REGION_NOUNS[regions[1]])
        return Alt(
            Seq(Alt("in", "at", "involving"), "the", cp, "and", Alt("the", ""), base),
            Seq("filling the", cp, "and extending into the", base),
            Seq(Alt("at", "in"), "the", base, "and", cp),
        )
    (region,) = regions
    if region in REGION_NOUNS:
        return Seq(Alt("in", "at", "within", "involving", "projecting over"), "the", Alt(*REGION_NOUNS[region]))
    if region == "trachea":
        return Alt(Seq(Alt("in", "within"), "the", Alt("trachea", "mid trachea")), "")
    if region == "abdomen":
        return Alt("with the tip in the stomach", "terminating in the stomach", "coursing below the diaphragm")
    if region == "cardiac silhouette" and finding == "cardiac pacer and wires":
        return Alt("", "with leads projecting over the heart", "with leads over the cardiac silhouette")
    if region == "cardiac silhouette":
        return Lit("")
    raise ValueError(f"no location phrase for region {region!r}")


def _adj_form(lesion: Lesion) -> Node | None:
    """``<severity> <region adjective> <finding>`` when the lesion has one region with adjectives."""
    regions = lesion.regions
    if len(regions) != 1 or regions[0] not in REGION_ADJECTIVES:
        return None
    return Seq(
        _sev_words(lesion.finding, lesion.severity),
        _nodule_size(lesion),
        Alt(*REGION_ADJECTIVES[regions[0]]),
        _noun(lesion.finding),
    )


def _side_form(lesion: Lesion) -> Node | None:
    """``<severity> <side> <finding>`` where side plus the finding's default regions is exact."""
    if lesion.finding in ("pneumothorax", "chest tube"):
        return Seq(_sev_words(lesion.finding, lesion.severity), lesion.side, _noun(lesion.finding))
    return None


def _nodule_size(lesion: Lesion) -> Node:
    """Diameter words for a nodule (the drawn radius on a ~48 cm wide canonical frame)."""
    if lesion.finding != "mass/nodule (not otherwise specified)":
        return Lit("")
    from cxrgraph.datasets.phantom.render import nodule_radius

    mm = round(nodule_radius(lesion) * 2 * 480)
    return Alt("", f"{mm} mm", f"{mm}-mm", f"{mm / 10:.1f} cm")


def _np(lesion: Lesion) -> Node:
    """Noun phrases naming the lesion with its severity and location."""
    f, sev = lesion.finding, lesion.severity
    size = _nodule_size(lesion)
    forms: list[Node] = [Seq(_sev_words(f, sev), size, _noun(f), _loc(lesion.regions, f))]
    for extra in (_adj_form(lesion), _side_form(lesion)):
        if extra is not None:
            forms.append(extra)
    return Alt(*forms)


def _article(lesion: Lesion) -> str:
    return "a" if lesion.finding in _COUNTABLE else ""


def lesion_sentence(lesion: Lesion, change: str = "unspecified") -> Node:
    """The grammar of one sentence stating a lesion (present, uncertain, or its change)."""
    f = lesion.finding
    if f == "enlarged cardiac silhouette" and change in ("unspecified",) and not lesion.uncertain:
        sev = lesion.severity
        adverb = {"mild": ("mildly",), "moderate": ("moderately",), "severe": ("severely", "markedly")}[sev]
        return Alt(
            Seq(Opt("there is"), _sev_words(f, sev), Alt("cardiomegaly", "cardiac enlargement")),
            Seq(_sev_words(f, sev), Alt("enlargement of the cardiac silhouette", "enlargement of the heart")),
            Seq("the", Alt("heart", "cardiac silhouette"), "is", Alt(*adverb), "enlarged"),
        )
    np_ = _np(lesion)
    if change == "unspecified":
        if lesion.uncertain:
            return Alt(
                Seq(Alt(*_HEDGE_PRE), np_),
                Seq(np_, Alt(*_HEDGE_POST)),
                Seq("there may be", _article(lesion), np_),
            )
        if f in DEVICE_FINDINGS:
            tail = Alt("is in place", "is present", "is seen", "in standard position", "")
            return Alt(Seq(_article(lesion), np_, tail), Seq("there is", _article(lesion), np_))
        return Alt(
            Seq("there is", _article(lesion), np_),
            Seq(np_, Alt("is seen", "is present", "is noted")),
            np_,
            Seq(Alt("note is made of", "findings include"), _article(lesion), np_),
        )
    if change == "new":
        return Alt(
            Seq(Opt(Seq("there is", _article(lesion))), "new", np_),
            Seq("interval development of", _article(lesion), np_),
            Seq(np_, Alt("has developed", "is now seen", "has appeared"), _SINCE),
        )
    if change == "worsened":
        return Alt(
            Seq("the", np_, Alt("has increased", "has worsened", "has progressed"), _SINCE),
            Seq("interval increase in the", np_),
            Seq("increased", np_, _SINCE),
        )
    if change == "improved":
        return Alt(
            Seq("the", np_, Alt("has decreased", "has improved"), _SINCE),
            Seq("interval improvement in the", np_),
            Seq(Alt("decreased", "improved"), np_, _SINCE),
        )
    if change == "no change":
        if f in DEVICE_FINDINGS:
            return Alt(
                Seq("the", np_, Alt("is unchanged in position", "remains in place", "is stable in position")),
                Seq("unchanged position of the", np_),
            )
        return Alt(
            Seq(Alt("unchanged", "stable", "persistent"), np_),
            Seq("the", np_, Alt("is unchanged", "is stable", "is again seen", "remains"), _SINCE),
        )
    if change == "resolved":
        if f in DEVICE_FINDINGS:
            return Alt(Seq("the", _noun(f), "has been removed"), Seq("interval removal of the", _noun(f)))
        bare_forms: list[Node] = [Seq(_noun(f), _loc(lesion.regions, f))]
        if len(lesion.regions) == 1 and lesion.regions[0] in REGION_ADJECTIVES:
            bare_forms.append(Seq(Alt(*REGION_ADJECTIVES[lesion.regions[0]]), _noun(f)))
        if f in ("pneumothorax", "chest tube"):
            bare_forms.append(Seq(lesion.side, _noun(f)))
        bare = Alt(*bare_forms)
        return Alt(
            Seq("the previously seen", bare, Alt("has resolved", "has cleared", "is no longer seen")),
            Seq("interval resolution of the", bare),
            Seq(bare, Alt("has resolved", "is no longer seen"), _SINCE),
        )
    raise ValueError(f"lesion_sentence: unknown change {change!r}")


#: causes a report may hedge an opacity with ("may represent pneumonia"), and their words
_INTERPRETATIONS: dict[str, tuple[str, ...]] = {
    "lung opacity": ("pneumonia", "atelectasis", "aspiration"),
    "consolidation": ("pneumonia", "aspiration"),
}
_CAUSE_NOUNS = {
    "pneumonia": ("pneumonia", "pneumonitis", "bronchopneumonia"),
    "atelectasis": ("atelectasis",),
    "aspiration": ("aspiration",),
}


def interpretation_sentence(lesion: Lesion, cause: str, change: str = "unspecified") -> Node:
    """``<lesion> may represent <cause>``: a present finding with a hedged interpretation."""
    np_ = _np(lesion)
    if change == "new":
        np_ = Seq("new", np_)
    hedge = Alt("may represent", ", which may represent", "could represent", "may reflect", ", possibly")
    return Seq(np_, hedge, Alt(*_CAUSE_NOUNS[cause]))


# pertinent negatives: grammar plus the findings each states as absent
_NEGATIVES: dict[str, Node] = {
    "pneumothorax": Alt(
        "no pneumothorax", "there is no pneumothorax", "no pneumothorax is seen", "no evidence of pneumothorax"
    ),
    "pleural effusion": Alt(
        "no pleural effusion", "no pleural effusions", "there is no pleural effusion", "no evidence of pleural effusion"
    ),
    "consolidation": Alt("no focal consolidation", "there is no focal consolidation", "no consolidation is seen"),
    "pulmonary edema/hazy opacity": Alt(
        "no pulmonary edema", "there is no pulmonary edema", "no evidence of pulmonary edema"
    ),
    "enlarged cardiac silhouette": Alt(
        "no cardiomegaly", "no enlargement of the cardiac silhouette", "there is no cardiomegaly"
    ),
}
_NEG_PAIRS: dict[tuple[str, ...], Node] = {
    ("pleural effusion", "pneumothorax"): Alt(
        "no pleural effusion or pneumothorax",
        "there is no pleural effusion or pneumothorax",
        "no pneumothorax or pleural effusion",
    ),
    ("consolidation", "pleural effusion", "pneumothorax"): Alt(
        "no focal consolidation, pleural effusion, or pneumothorax",
        "there is no focal consolidation, pleural effusion or pneumothorax",
    ),
}
_FILLERS_NORMAL_HEART = Alt(
    "heart size is normal",
    "the cardiomediastinal silhouette is within normal limits",
    "the cardiac and mediastinal contours are normal",
)
_FILLERS = Alt(
    "the lungs are otherwise clear",
    "hilar contours are unremarkable",
    "osseous structures are unremarkable",
    "the visualized upper abdomen is unremarkable",
)
_NORMAL_IMPRESSION = Alt(
    "no acute cardiopulmonary process",
    "no acute cardiopulmonary abnormality",
    "no acute intrathoracic process",
    "normal chest radiograph",
)
_REASONS = (
    "shortness of breath",
    "cough",
    "fever",
    "chest pain",
    "hypoxia",
    "dyspnea",
    "tachypnea",
    "weakness",
    "altered mental status",
    "leukocytosis",
    "preoperative evaluation",
    "follow-up",
)


# ---------------------------------------------------------------------------------------------- reports
@dataclass
class ReportSentence:
    """One sentence of a phantom report and what it states."""

    text: str
    section: str
    triplets: list[Triplet] = field(default_factory=list)
    change: str = "unspecified"

    @property
    def regions(self) -> list[str]:
        return sorted({t.region for t in self.triplets if t.region is not None})


@dataclass
class PhantomReport:
    """A written report: full text, its sentences, the triplets it states and the
    ``(finding, finding)`` suggestive_of pairs of its interpretive hedges."""

    text: str
    sentences: list[ReportSentence]
    indication: str
    suggestive_of: list[tuple[str, str]] = field(default_factory=list)

    @property
    def triplets(self) -> list[Triplet]:
        seen: dict[tuple, Triplet] = {}
        for s in self.sentences:
            for t in s.triplets:
                seen.setdefault((t.region, t.finding, t.existence, t.severity, t.change), t)
        return list(seen.values())


def write_report(
    lesions: Sequence[Lesion],
    changes: dict[tuple, str] | None,
    rng: np.random.Generator,
    *,
    view: str = "PA",
    sex: str = "M",
    age: int = 60,
    follow_up: bool = False,
) -> PhantomReport:
    """Write a report of a study whose ground truth is ``lesions`` (level 0 = resolved since prior).

    Args:
        lesions: The study's lesions, including those resolved since the prior study (level 0).
        changes: Change label per :attr:`Lesion.key` for a follow-up (``None`` for a first study).
        rng: Source of every phrasing choice.
        view: ``"PA"`` or ``"AP"``.
        sex: ``"M"`` or ``"F"``.
        age: Patient age in years.
        follow_up: Whether a prior study exists (adds a COMPARISON section).
    """
    changes = changes or {}
    order = list(rng.permutation(len(lesions)))
    body: list[ReportSentence] = []
    stated: list[tuple[Lesion, str]] = []
    suggestive: list[tuple[str, str]] = []
    findings_here = {les.finding for les in lesions}
    for i in order:
        les = lesions[int(i)]
        change = changes.get(les.key, "unspecified")
        triplets = les.triplets(change)
        options = [x for x in _INTERPRETATIONS.get(les.finding, ()) if x not in findings_here]
        if options and les.present and not les.uncertain and change in ("unspecified", "new") and rng.random() < 0.3:
            # "opacity ... may represent pneumonia": the hedged cause, uncertain, at the same place
            cause = options[int(rng.integers(len(options)))]
            text = _sentence(interpretation_sentence(les, cause, change).sample(rng))
            triplets = triplets + [Triplet(r, cause, "uncertain", "unspecified", "unspecified") for r in les.regions]
            suggestive.append((les.finding, cause))
        else:
            text = _sentence(lesion_sentence(les, change).sample(rng))
        body.append(ReportSentence(text, "findings", triplets, change))
        stated.append((les, change))

    # pertinent negatives: findings absent everywhere in this study
    mentioned = {les.finding for les in lesions}
    absent = [f for f in NEGATABLE_FINDINGS if f not in mentioned]
    rng.shuffle(absent)
    negs = absent[: int(rng.integers(0, len(absent) + 1))] if absent else []
    neg_sentences: list[ReportSentence] = []
    pending = list(negs)
    for group, grammar in _NEG_PAIRS.items():
        if all(g in pending for g in group) and rng.random() < 0.6:
            trip = [Triplet(r, g, "absent") for g in group for r in NEGATABLE_FINDINGS[g]]
            neg_sentences.append(ReportSentence(_sentence(grammar.sample(rng)), "findings", trip))
            pending = [p for p in pending if p not in group]
    for g in pending:
        trip = [Triplet(r, g, "absent") for r in NEGATABLE_FINDINGS[g]]
        neg_sentences.append(ReportSentence(_sentence(_NEGATIVES[g].sample(rng)), "findings", trip))

    fillers: list[ReportSentence] = []
    if "enlarged cardiac silhouette" not in mentioned and rng.random() < 0.6:
        fillers.append(ReportSentence(_sentence(_FILLERS_NORMAL_HEART.sample(rng)), "findings"))
    if rng.random() < 0.5:
        fillers.append(ReportSentence(_sentence(_FILLERS.sample(rng)), "findings"))

    findings = body + neg_sentences + fillers if rng.random() < 0.7 else fillers + body + neg_sentences
    # impression: the most important positives again (or a normal statement)
    impression: list[ReportSentence] = []
    ranked = [x for x in stated if x[0].present] or stated
    if ranked:
        k = int(rng.integers(1, min(3, len(ranked)) + 1))
        for les, change in ranked[:k]:
            text = _sentence(lesion_sentence(les, change).sample(rng))
            impression.append(ReportSentence(text, "impression", les.triplets(change), change))
    else:
        impression.append(ReportSentence(_sentence(_NORMAL_IMPRESSION.sample(rng)), "impression"))

    reason = str(rng.choice(_REASONS))
    who = "man" if sex == "M" else "woman"
    indication = f"___ year old {who} with {reason}."
    exam = "CHEST (PORTABLE AP)" if view == "AP" else "CHEST (PA AND LAT)"
    technique = "Portable AP chest radiograph." if view == "AP" else "PA and lateral views of the chest."
    comparison = (
        str(rng.choice(["___", "Chest radiograph from ___.", "Prior study from ___."])) if follow_up else "None."
    )
    sep = " " if rng.random() < 0.5 else "\n "
    lines = [
        "                                 FINAL REPORT",
        f" EXAMINATION:  {exam}",
        "",
        f" INDICATION:  {indication}",
        "",
        f" TECHNIQUE:  {technique}",
        "",
        f" COMPARISON:  {comparison}",
        "",
        " FINDINGS:",
        " ",
        " " + sep.join(s.text for s in findings),
        " ",
        " IMPRESSION:",
        " ",
        " " + " ".join(s.text for s in impression),
        "",
    ]
    return PhantomReport("\n".join(lines), findings + impression, indication, sorted(set(suggestive)))


def grammar_size() -> dict[str, int]:
    """Number of distinct sentences the report grammar can realise, by family.

    ``finding sentences`` sums, over every lesion content the phantom can produce (finding,
    side, zone, severity, hedge, change), the realisations of its sentence; the other entries
    count the negative, filler and impression sentences. A whole report multiplies these over
    its sentences and its sentence orders, so the count per report is far larger.
    """
    from cxrgraph.datasets.phantom.findings import FOCAL_FINDINGS, SEVERITY_FINDINGS

    total = 0
    lesions: list[Lesion] = []
    for f in FINDING_NOUNS:
        sides = (
            ("right", "left")
            if (f in FOCAL_FINDINGS or f in ("pleural effusion", "pneumothorax", "chest tube"))
            else (None,)
        )
        zones = ("upper", "mid", "lower") if f in FOCAL_FINDINGS else (None,)
        levels = (1, 2, 3) if f in SEVERITY_FINDINGS else (1,)
        for side, zone, level in itertools.product(sides, zones, levels):
            lesions.append(Lesion(f, side, zone, level))
    for les in lesions:
        for change in ("unspecified", "new", "worsened", "improved", "no change"):
            total += lesion_sentence(les, change).count()
        if les.graded and les.level == 1:
            total += lesion_sentence(Lesion(les.finding, les.side, les.zone, 1, uncertain=True)).count()
        if les.level == 1:
            total += lesion_sentence(les.with_level(0), "resolved").count()
        for cause in _INTERPRETATIONS.get(les.finding, ()):
            for change in ("unspecified", "new"):
                total += interpretation_sentence(les, cause, change).count()
    negatives = sum(n.count() for n in _NEGATIVES.values()) + sum(n.count() for n in _NEG_PAIRS.values())
    return {
        "finding sentences": total,
        "negative sentences": negatives,
        "filler sentences": _FILLERS.count() + _FILLERS_NORMAL_HEART.count(),
        "normal impressions": _NORMAL_IMPRESSION.count(),
    }
