"""Phantom ground truth: lesions (findings with location and severity) and how they are sampled.

A :class:`Lesion` is one finding of one patient at a fixed place (side, zone, position inside
the zone), with a discrete level: 0 absent, 1 mild, 2 moderate, 3 severe. The same lesion object
identity (:attr:`Lesion.key`) persists across a patient's studies so that the series can grow,
shrink or resolve it; the renderer draws it from the level and the report writer describes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cxrgraph.graph import Triplet

__all__ = [
    "Lesion",
    "FOCAL_FINDINGS",
    "SEVERITY_FINDINGS",
    "DEVICE_FINDINGS",
    "PHANTOM_FINDINGS",
    "NEGATABLE_FINDINGS",
    "sample_lesions",
    "sample_new_lesion",
    "severity_name",
]

#: parenchymal findings drawn inside one lung zone
FOCAL_FINDINGS = ("lung opacity", "consolidation", "atelectasis", "mass/nodule (not otherwise specified)")
#: findings whose level is reported as a severity (mild / moderate / severe)
SEVERITY_FINDINGS = (
    "lung opacity",
    "consolidation",
    "atelectasis",
    "pleural effusion",
    "pneumothorax",
    "enlarged cardiac silhouette",
    "pulmonary edema/hazy opacity",
)
#: support devices the phantom draws, each at its ontology default region
DEVICE_FINDINGS = ("endotracheal tube", "enteric tube", "picc", "ij line", "chest tube", "cardiac pacer and wires")
#: every finding the phantom can draw
PHANTOM_FINDINGS = (
    *FOCAL_FINDINGS,
    "pleural effusion",
    "pneumothorax",
    "enlarged cardiac silhouette",
    "pulmonary edema/hazy opacity",
    *DEVICE_FINDINGS,
)
#: findings a report may state as pertinent negatives, with the regions the negation covers
NEGATABLE_FINDINGS: dict[str, tuple[str, ...]] = {
    "pneumothorax": ("right lung", "left lung"),
    "pleural effusion": ("right costophrenic angle", "left costophrenic angle"),
    "consolidation": ("right lung", "left lung"),
    "pulmonary edema/hazy opacity": ("right lung", "left lung"),
    "enlarged cardiac silhouette": ("cardiac silhouette",),
}

_LATERAL = {"lung opacity", "consolidation", "atelectasis", "mass/nodule (not otherwise specified)"}
_LATERAL |= {"pleural effusion", "pneumothorax", "chest tube"}
_SEVERITY = ("unspecified", "mild", "moderate", "severe")

# how often each finding is drawn for a new lesion (relative weights)
_WEIGHTS = {
    "lung opacity": 10,
    "consolidation": 6,
    "atelectasis": 7,
    "mass/nodule (not otherwise specified)": 4,
    "pleural effusion": 9,
    "pneumothorax": 3,
    "enlarged cardiac silhouette": 6,
    "pulmonary edema/hazy opacity": 5,
    "endotracheal tube": 3,
    "enteric tube": 3,
    "picc": 3,
    "ij line": 2,
    "chest tube": 2,
    "cardiac pacer and wires": 3,
}


def severity_name(finding: str, level: int) -> str:
    """Ontology severity label of a finding drawn at ``level`` (``unspecified`` when not graded)."""
    if level <= 0 or finding not in SEVERITY_FINDINGS:
        return "unspecified"
    return _SEVERITY[min(int(level), 3)]


@dataclass(frozen=True)
class Lesion:
    """One finding of a phantom patient.

    Attributes:
        finding: Ontology finding name.
        side: ``"right"``/``"left"`` for lateral findings, else ``None``.
        zone: ``"upper"``/``"mid"``/``"lower"`` for focal parenchymal findings, else ``None``.
        level: 0 absent (resolved), 1 mild, 2 moderate, 3 severe (1 for ungraded findings).
        uncertain: The report hedges about it (existence ``uncertain``).
        u: Lateral placement inside the zone, in ``[0, 1]``.
        v: Caudal placement inside the zone, in ``[0, 1]``.
        seed: Shape seed (texture offset, angle, nodule size) kept across studies.
    """

    finding: str
    side: str | None = None
    zone: str | None = None
    level: int = 1
    uncertain: bool = False
    u: float = 0.5
    v: float = 0.5
    seed: int = 0

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """Identity of the lesion across a patient's studies."""
        return (self.finding, self.side, self.zone)

    @property
    def present(self) -> bool:
        return self.level > 0

    @property
    def severity(self) -> str:
        return severity_name(self.finding, self.level)

    @property
    def graded(self) -> bool:
        return self.finding in SEVERITY_FINDINGS

    @property
    def regions(self) -> tuple[str, ...]:
        """The ontology regions the finding is located at."""
        f, side = self.finding, self.side
        if f in FOCAL_FINDINGS:
            return (f"{side} {self.zone} lung zone",)
        if f == "pleural effusion":
            return (f"{side} costophrenic angle", f"{side} lower lung zone")
        if f in ("pneumothorax", "chest tube"):
            return (f"{side} lung",)
        if f == "pulmonary edema/hazy opacity":
            return ("right lung", "left lung")
        if f in ("enlarged cardiac silhouette", "cardiac pacer and wires"):
            return ("cardiac silhouette",)
        if f == "endotracheal tube":
            return ("trachea",)
        if f == "enteric tube":
            return ("abdomen",)
        if f in ("picc", "ij line"):
            return ("svc",)
        raise ValueError(f"Lesion.finding: the phantom cannot place {f!r}")

    def with_level(self, level: int) -> Lesion:
        return replace(self, level=int(level), uncertain=self.uncertain and level == 1)

    def triplets(self, change: str = "unspecified") -> list[Triplet]:
        """Ground-truth triplets of the lesion (absent with ``resolved`` when level is 0)."""
        if self.level <= 0:
            return [Triplet(r, self.finding, "absent", "unspecified", change) for r in self.regions]
        existence = "uncertain" if self.uncertain else "present"
        return [Triplet(r, self.finding, existence, self.severity, change) for r in self.regions]


def sample_new_lesion(rng: np.random.Generator, taken: set[tuple], allow_devices: bool = True) -> Lesion | None:
    """Draw one new lesion whose key and regions do not clash with ``taken`` keys (or ``None``)."""
    names = [n for n in _WEIGHTS if allow_devices or n not in DEVICE_FINDINGS]
    w = np.array([_WEIGHTS[n] for n in names], dtype=np.float64)
    for _ in range(8):
        finding = names[int(rng.choice(len(names), p=w / w.sum()))]
        side = str(rng.choice(["right", "left"])) if finding in _LATERAL else None
        zone = None
        if finding in FOCAL_FINDINGS:
            zp = [0.2, 0.3, 0.5] if finding != "atelectasis" else [0.0, 0.3, 0.7]
            zone = str(rng.choice(["upper", "mid", "lower"], p=zp))
        graded = finding in SEVERITY_FINDINGS
        level = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2])) if graded else 1
        lesion = Lesion(
            finding=finding,
            side=side,
            zone=zone,
            level=level,
            uncertain=bool(graded and level == 1 and rng.random() < 0.25),
            u=float(rng.uniform(0.0, 1.0)),
            v=float(rng.uniform(0.0, 1.0)),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
        clash = lesion.key in taken or any(
            (k[0] == finding and set(_regions_of(k)) & set(lesion.regions)) for k in taken
        )
        if not clash:
            return lesion
    return None


def _regions_of(key: tuple[str, str | None, str | None]) -> tuple[str, ...]:
    return Lesion(key[0], key[1], key[2]).regions


def sample_lesions(rng: np.random.Generator, max_lesions: int = 4, normal_rate: float = 0.25) -> list[Lesion]:
    """Findings of a first study: none with probability ``normal_rate``, else 1..``max_lesions``."""
    if rng.random() < normal_rate:
        return []
    n = int(rng.integers(1, max_lesions + 1))
    out: list[Lesion] = []
    taken: set[tuple] = set()
    for _ in range(n):
        lesion = sample_new_lesion(rng, taken)
        if lesion is not None:
            out.append(lesion)
            taken.add(lesion.key)
    return out
