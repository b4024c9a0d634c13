"""The grammar of each phantom report sentence: a lesion stated present, uncertain, or changed.

Built from the grammar nodes of :mod:`cxrgraph.datasets.phantom.grammar` and the words of
:mod:`cxrgraph.datasets.phantom.lexicon` only.
"""

from __future__ import annotations

from collections.abc import Sequence

from cxrgraph.datasets.phantom.findings import DEVICE_FINDINGS, Lesion
from cxrgraph.datasets.phantom.grammar import Alt, Lit, Node, Opt, Seq, words
from cxrgraph.datasets.phantom.lexicon import (
    CAUSE_NOUNS,
    CHANGE_WORDS,
    COUNTABLE,
    FINDING_NOUNS,
    HEDGE_POST,
    HEDGE_PRE,
    REGION_ADJECTIVES,
    REGION_NOUNS,
    SEVERITY_STYLE,
    SEVERITY_WORDS,
    SINCE,
)

__all__ = ["lesion_sentence", "interpretation_sentence"]


def _sev_words(finding: str, severity: str) -> Alt:
    if severity == "unspecified":
        return Alt("")
    return Alt(*SEVERITY_WORDS[SEVERITY_STYLE.get(finding, "density")][severity])


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
    return "a" if lesion.finding in COUNTABLE else ""


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
                Seq(Alt(*HEDGE_PRE), np_),
                Seq(np_, Alt(*HEDGE_POST)),
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
    if change not in CHANGE_WORDS:
        raise ValueError(f"lesion_sentence: unknown change {change!r}")
    w = {role: words(options) for role, options in CHANGE_WORDS[change].items()}
    if change == "new":
        return Alt(
            Seq(Opt(Seq("there is", _article(lesion))), w["before"], np_),
            Seq(w["lead"], _article(lesion), np_),
            Seq(np_, w["after"], SINCE),
        )
    if change in ("worsened", "improved"):
        return Alt(Seq("the", np_, w["after"], SINCE), Seq(w["lead"], np_), Seq(w["before"], np_, SINCE))
    if change == "no change":
        if f in DEVICE_FINDINGS:
            return Alt(Seq("the", np_, w["device_after"]), Seq(w["device_lead"], np_))
        return Alt(Seq(w["before"], np_), Seq("the", np_, w["after"], SINCE))
    # resolved
    if f in DEVICE_FINDINGS:
        return Alt(Seq("the", _noun(f), w["device_after"]), Seq(w["device_lead"], _noun(f)))
    bare_forms: list[Node] = [Seq(_noun(f), _loc(lesion.regions, f))]
    if len(lesion.regions) == 1 and lesion.regions[0] in REGION_ADJECTIVES:
        bare_forms.append(Seq(Alt(*REGION_ADJECTIVES[lesion.regions[0]]), _noun(f)))
    if f in ("pneumothorax", "chest tube"):
        bare_forms.append(Seq(lesion.side, _noun(f)))
    bare = Alt(*bare_forms)
    return Alt(
        Seq("the previously seen", bare, w["after_previous"]),
        Seq(w["lead"], bare),
        Seq(bare, w["after"], SINCE),
    )


def interpretation_sentence(lesion: Lesion, cause: str, change: str = "unspecified") -> Node:
    """``<lesion> may represent <cause>``: a present finding with a hedged interpretation."""
    np_ = _np(lesion)
    if change == "new":
        np_ = Seq("new", np_)
    hedge = Alt("may represent", ", which may represent", "could represent", "may reflect", ", possibly")
    return Seq(np_, hedge, Alt(*CAUSE_NOUNS[cause]))
