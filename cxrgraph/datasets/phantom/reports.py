"""MIMIC-CXR style reports written from phantom ground truth.

Every sentence is drawn from a counted grammar (:mod:`~cxrgraph.datasets.phantom.grammar`,
:mod:`~cxrgraph.datasets.phantom.sentences`) over the words of
:mod:`~cxrgraph.datasets.phantom.lexicon`, so the size of the grammar is computed, not guessed
(:func:`grammar_size`). Each sentence carries the triplets it states, so the ground truth of a
report is exactly the union of what its sentences say.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrgraph.datasets.phantom.findings import NEGATABLE_FINDINGS, Lesion
from cxrgraph.datasets.phantom.grammar import as_sentence
from cxrgraph.datasets.phantom.lexicon import (
    FILLERS,
    FILLERS_NORMAL_HEART,
    FINDING_NOUNS,
    INTERPRETATIONS,
    NEGATIVE_GROUPS,
    NEGATIVES,
    NORMAL_IMPRESSION,
    REASONS,
)
from cxrgraph.datasets.phantom.sentences import interpretation_sentence, lesion_sentence
from cxrgraph.graph import Triplet

__all__ = ["ReportSentence", "PhantomReport", "write_report", "grammar_size"]


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
        options = [x for x in INTERPRETATIONS.get(les.finding, ()) if x not in findings_here]
        if options and les.present and not les.uncertain and change in ("unspecified", "new") and rng.random() < 0.3:
            # "opacity ... may represent pneumonia": the hedged cause, uncertain, at the same place
            cause = options[int(rng.integers(len(options)))]
            text = as_sentence(interpretation_sentence(les, cause, change).sample(rng))
            triplets = triplets + [Triplet(r, cause, "uncertain", "unspecified", "unspecified") for r in les.regions]
            suggestive.append((les.finding, cause))
        else:
            text = as_sentence(lesion_sentence(les, change).sample(rng))
        body.append(ReportSentence(text, "findings", triplets, change))
        stated.append((les, change))

    # pertinent negatives: findings absent everywhere in this study
    mentioned = {les.finding for les in lesions}
    absent = [f for f in NEGATABLE_FINDINGS if f not in mentioned]
    rng.shuffle(absent)
    negs = absent[: int(rng.integers(0, len(absent) + 1))] if absent else []
    neg_sentences: list[ReportSentence] = []
    pending = list(negs)
    for group, grammar in NEGATIVE_GROUPS.items():
        if all(g in pending for g in group) and rng.random() < 0.6:
            trip = [Triplet(r, g, "absent") for g in group for r in NEGATABLE_FINDINGS[g]]
            neg_sentences.append(ReportSentence(as_sentence(grammar.sample(rng)), "findings", trip))
            pending = [p for p in pending if p not in group]
    for g in pending:
        trip = [Triplet(r, g, "absent") for r in NEGATABLE_FINDINGS[g]]
        neg_sentences.append(ReportSentence(as_sentence(NEGATIVES[g].sample(rng)), "findings", trip))

    fillers: list[ReportSentence] = []
    if "enlarged cardiac silhouette" not in mentioned and rng.random() < 0.6:
        fillers.append(ReportSentence(as_sentence(FILLERS_NORMAL_HEART.sample(rng)), "findings"))
    if rng.random() < 0.5:
        fillers.append(ReportSentence(as_sentence(FILLERS.sample(rng)), "findings"))

    findings = body + neg_sentences + fillers if rng.random() < 0.7 else fillers + body + neg_sentences
    # impression: the most important positives again (or a normal statement)
    impression: list[ReportSentence] = []
    ranked = [x for x in stated if x[0].present] or stated
    if ranked:
        k = int(rng.integers(1, min(3, len(ranked)) + 1))
        for les, change in ranked[:k]:
            text = as_sentence(lesion_sentence(les, change).sample(rng))
            impression.append(ReportSentence(text, "impression", les.triplets(change), change))
    else:
        impression.append(ReportSentence(as_sentence(NORMAL_IMPRESSION.sample(rng)), "impression"))

    reason = str(rng.choice(REASONS))
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
        for cause in INTERPRETATIONS.get(les.finding, ()):
            for change in ("unspecified", "new"):
                total += interpretation_sentence(les, cause, change).count()
    negatives = sum(n.count() for n in NEGATIVES.values()) + sum(n.count() for n in NEGATIVE_GROUPS.values())
    return {
        "finding sentences": total,
        "negative sentences": negatives,
        "filler sentences": FILLERS.count() + FILLERS_NORMAL_HEART.count(),
        "normal impressions": NORMAL_IMPRESSION.count(),
    }
