"""Longitudinal phantom series: findings appear, grow, shrink and resolve across a patient's studies.

A series is planned on lesion levels alone (0 absent .. 3 severe); each follow-up labels every
lesion that existed before or exists now with an edge change (new, worsened, improved, no
change, resolved), and each region with a progression label (improved, no change, worsened)
by the same precedence :func:`cxrgraph.graph.progression_from_changes` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cxrgraph.datasets.phantom.findings import DEVICE_FINDINGS, Lesion, sample_lesions, sample_new_lesion
from cxrgraph.ontology import get_ontology

__all__ = ["SeriesStep", "plan_series", "edge_change", "region_progression"]


@dataclass(frozen=True)
class SeriesStep:
    """The ground truth of one study in a series.

    Attributes:
        lesions: Lesions to draw and report; a level-0 lesion resolved since the prior study
            (it is reported as resolved and not drawn).
        changes: Edge change label per :attr:`Lesion.key` (empty for the first study).
    """

    lesions: tuple[Lesion, ...]
    changes: dict[tuple, str]


def edge_change(prior_level: int | None, level: int) -> str:
    """Change label of a lesion between two studies (``prior_level=None``: not there before)."""
    if not prior_level:
        return "new" if level > 0 else "unspecified"
    if level <= 0:
        return "resolved"
    if level > prior_level:
        return "worsened"
    if level < prior_level:
        return "improved"
    return "no change"


def _next_level(lesion: Lesion, rng: np.random.Generator) -> int:
    lvl = lesion.level
    if lesion.finding in DEVICE_FINDINGS:
        return 0 if rng.random() < 0.35 else 1
    if not lesion.graded:  # nodules persist, rarely resolve
        return 0 if rng.random() < 0.08 else 1
    if lesion.finding == "enlarged cardiac silhouette":
        moves = [(lvl, 0.7), (min(lvl + 1, 3), 0.15), (max(lvl - 1, 1), 0.15)]
    else:
        moves = [(lvl, 0.35), (min(lvl + 1, 3), 0.25), (lvl - 1, 0.25), (0, 0.15)]
    levels = [m[0] for m in moves]
    p = np.array([m[1] for m in moves])
    return int(levels[int(rng.choice(len(levels), p=p / p.sum()))])


def plan_series(rng: np.random.Generator, num_studies: int, new_rate: float = 0.35) -> list[SeriesStep]:
    """Plan the lesions of ``num_studies`` consecutive studies of one patient."""
    if num_studies < 1:
        raise ValueError(f"plan_series: num_studies must be >= 1, got {num_studies}")
    current = sample_lesions(rng)
    steps = [SeriesStep(tuple(current), {})]
    for _ in range(num_studies - 1):
        prior = {les.key: les for les in current if les.present}
        nxt: list[Lesion] = []
        changes: dict[tuple, str] = {}
        for les in prior.values():
            level = _next_level(les, rng)
            # follow-up sentences state change, not doubt: hedges belong to first sightings
            moved = replace(les, level=level, uncertain=False)
            nxt.append(moved)
            changes[moved.key] = edge_change(les.level, level)
        if rng.random() < new_rate:
            new = sample_new_lesion(rng, set(prior))
            if new is not None:
                new = replace(new, uncertain=False)
                nxt.append(new)
                changes[new.key] = "new"
        current = nxt
        steps.append(SeriesStep(tuple(nxt), changes))
    return steps


def region_progression(lesions: Sequence[Lesion], changes: dict[tuple, str]) -> np.ndarray:
    """Per-region progression codes ``[29]`` (-1 unlabelled) from the lesions' edge changes."""
    onto = get_ontology()
    out = np.full(onto.num_regions, -1, dtype=np.int64)
    rank = {-1: 0}
    for name in ("no change", "improved", "worsened"):
        rank[onto.label_index("progression", name)] = len(rank)
    for les in lesions:
        code = onto.progression_of_change(changes.get(les.key, "unspecified"))
        if code < 0:
            continue
        for region in les.regions:
            r = onto.region_index(region)
            if rank[code] > rank[int(out[r])]:
                out[r] = code
    return out
