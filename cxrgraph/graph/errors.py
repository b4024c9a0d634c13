"""Errors raised by graph construction and validation."""

from __future__ import annotations

__all__ = ["GraphValidationError"]


class GraphValidationError(ValueError):
    """A ClinicalGraph field is missing, has the wrong shape or dtype, or holds a bad value.

    ``field`` names the offending store and attribute, e.g. ``('finding', 'located_at',
    'anatomy').existence``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
