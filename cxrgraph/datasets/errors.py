"""Errors raised by the data set readers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["DatasetNotFoundError", "DatasetFormatError", "StaleCacheError"]


class DatasetNotFoundError(FileNotFoundError):
    """Files of a data set are missing: says what was expected, where it looked and how to get it."""

    def __init__(self, dataset: str, expected: str, looked_in: Sequence[str | Path], how_to_get: str) -> None:
        places = "\n".join(f"  - {p}" for p in looked_in)
        self.dataset = dataset
        super().__init__(f"{dataset}: {expected} not found. Looked in:\n{places}\n{how_to_get}")


class DatasetFormatError(ValueError):
    """A data set file exists but does not have the expected layout (names the file and the problem)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StaleCacheError(RuntimeError):
    """A processed graph cache was built with another ontology or format version."""
