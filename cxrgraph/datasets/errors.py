"""Errors raised by the data set readers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["DatasetNotFoundError", "DatasetFormatError", "StaleCacheError", "CacheCorruptError"]


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


class CacheCorruptError(StaleCacheError):
    """A graph cache's files are damaged: a truncated or empty shard, a shard holding other ids
    than its manifest lists, or a manifest that is not valid JSON. The message names the cache
    and the file; building the cache again repairs it."""
