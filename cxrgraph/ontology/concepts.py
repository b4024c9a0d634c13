"""Concept records of the clinical ontology: regions, findings, relation types."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Region", "Finding", "RelationType"]


@dataclass(frozen=True)
class Region:
    """One of the 29 anatomical regions (a Chest ImaGenome ``bbox_name``).

    Attributes:
        index: Position in the fixed region order (anatomy node index).
        name: Canonical name, e.g. ``"left lower lung zone"``.
        laterality: ``"right"``, ``"left"`` or ``"midline"``.
        zone: Coarse zone (``"upper"``, ``"mid"``, ``"lower"``, ``"hilar"``, ``"cardiac"`` ...).
        parent: Name of the ``part_of`` parent, or ``None`` for a top-level structure.
        plot_xy: Normalised (x, y) position on a frontal film, used to lay out plots.
        synonyms: Report phrases that name exactly this region.
    """

    index: int
    name: str
    laterality: str
    zone: str
    parent: str | None
    plot_xy: tuple[float, float]
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """A finding type (pathology, technical assessment, tube/line or device).

    Attributes:
        index: Position in the fixed finding order (finding node index).
        name: Canonical name (the Chest ImaGenome label where one exists).
        category: ``anatomicalfinding``, ``disease``, ``technicalassessment``,
            ``tubesandlines`` or ``device``.
        default_regions: Region names the finding is located at when a report names none.
        synonyms: Report phrases for the finding.
        parent: The Chest ImaGenome-level finding this one is a kind of (``"granuloma"`` ->
            ``"calcified nodule"``), or ``None`` for a finding of that level.
        either_of: Findings that, named as alternatives ("mass or nodule"), are read as this
            one finding of uncertain type.
    """

    index: int
    name: str
    category: str
    default_regions: tuple[str, ...]
    synonyms: tuple[str, ...]
    parent: str | None = None
    either_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelationType:
    """A typed relation between node types, e.g. ``finding -located_at-> anatomy``."""

    index: int
    name: str
    source: str
    target: str

    @property
    def edge_type(self) -> tuple[str, str, str]:
        """The PyG edge type triple ``(source, name, target)``."""
        return (self.source, self.name, self.target)
