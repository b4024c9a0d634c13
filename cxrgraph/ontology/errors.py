"""Errors raised by ontology lookups."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["UnknownConceptError", "OntologyError"]


class OntologyError(ValueError):
    """The ontology data files are inconsistent (raised when they are loaded)."""


class UnknownConceptError(KeyError):
    """A name, synonym or index that the ontology does not know.

    The message names what was looked up, in which vocabulary, and the closest known names.
    """

    def __init__(self, kind: str, query: object, candidates: Iterable[str]) -> None:
        self.kind = kind
        self.query = query
        self.suggestions = difflib.get_close_matches(str(query).lower(), list(candidates), n=3)
        hint = f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        self.message = f"unknown {kind} {query!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message
