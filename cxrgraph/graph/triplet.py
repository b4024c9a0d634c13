"""Triplets: the unit a clinical graph is built from."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Triplet"]


@dataclass(frozen=True)
class Triplet:
    """⟨region, finding, existence, severity, change⟩ — one located_at fact.

    Fields accept ontology names, synonyms or integer codes. ``region=None`` means the report
    names no location: the finding's default regions are used.

    Attributes:
        region: Anatomical region (name, synonym, index) or ``None``.
        finding: Finding type (name, synonym, index).
        existence: ``"present"``, ``"absent"`` or ``"uncertain"``.
        severity: ``"unspecified"``, ``"mild"``, ``"moderate"`` or ``"severe"``.
        change: Temporal change cue (``"unspecified"``, ``"new"``, ``"worsened"``,
            ``"improved"``, ``"no change"``, ``"resolved"``).
    """

    region: str | int | None
    finding: str | int
    existence: str | int = "present"
    severity: str | int = "unspecified"
    change: str | int = "unspecified"
