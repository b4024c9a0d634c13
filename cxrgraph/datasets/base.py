"""``CachedGraphDataset``: the PyG dataset base of every graph-producing reader.

It follows PyG's conventions (``root``, ``transform``, ``pre_transform``, ``force_reload``) but
reads the official layout in place (credentialed data has no download) and keeps processed
graphs in a :class:`~cxrgraph.datasets.cache.GraphCache` under ``processed_dir``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch_geometric.data import Dataset, HeteroData

from cxrgraph.datasets.cache import CacheFailure, GraphCache

__all__ = ["CachedGraphDataset"]


class CachedGraphDataset(Dataset, ABC):
    """Base class: subclasses implement :meth:`check_raw`, :meth:`items` and :meth:`convert`.

    Args:
        root: Folder of the data set in its official layout.
        split: Which split to read (``None`` = all), where the data set has splits.
        transform: Applied to each graph on access.
        pre_transform: Applied to each graph once, before caching.
        force_reload: Rebuild the cache.
        processed_root: Where to keep the cache (default ``<root>/processed``; use it when the
            data folder is read-only).
        shard_size: Graphs per cache shard.
        progress: Show a progress bar while processing.
    """

    #: Folder name of this data set's cache inside ``processed_dir``.
    cache_name = "graphs"

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        transform: Callable[[HeteroData], HeteroData] | None = None,
        pre_transform: Callable[[HeteroData], HeteroData] | None = None,
        force_reload: bool = False,
        processed_root: str | Path | None = None,
        shard_size: int = 1024,
        progress: bool = False,
    ) -> None:
        self.split = split
        self.progress = progress
        self._processed_root = Path(processed_root) if processed_root is not None else None
        root = Path(root).expanduser()
        self.check_raw(root)
        self.cache = GraphCache(self._cache_dir(root), shard_size=shard_size)
        super().__init__(str(root), transform, pre_transform, log=False, force_reload=force_reload)
        len(self.cache)  # refuse a stale or incomplete cache now, with a clear message

    # -------------------------------------------------------------- subclass API
    @abstractmethod
    def check_raw(self, root: Path) -> None:
        """Raise :class:`~cxrgraph.datasets.errors.DatasetNotFoundError` if files are missing."""

    @abstractmethod
    def items(self) -> tuple[Sequence[Any], Sequence[str]]:
        """The inputs to convert and one id per input."""

    @abstractmethod
    def convert(self, item: Any) -> HeteroData | None:
        """Turn one input into a graph."""

    def fingerprints(self, items: Sequence[Any]) -> list[str] | None:
        """One string per input that changes when its content does (a file's size and time).

        When given, a cache built before an input was edited is brought up to date on the next
        load (only the shards holding changed inputs are converted again). ``None`` (the
        default): inputs are tracked by id only.
        """
        return None

    # -------------------------------------------------------------- PyG plumbing
    @property
    def raw_dir(self) -> str:
        return self.root

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_dir(self) -> str:
        base = self._processed_root if self._processed_root is not None else Path(self.root) / "processed"
        return str(base)

    def _cache_dir(self, root: Path) -> Path:
        base = self._processed_root if self._processed_root is not None else root / "processed"
        return base / f"{self.cache_name}-{self.split or 'all'}"

    @property
    def processed_file_names(self) -> list[str]:
        return [f"{self.cache.directory.name}/manifest.json"]

    def process(self) -> None:
        items, ids = self.items()
        key = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

        def convert(item: Any) -> HeteroData | None:
            graph = self.convert(item)
            if graph is not None and self.pre_transform is not None:
                graph = self.pre_transform(graph)
            return graph

        self.cache.build(
            items,
            convert,
            ids=ids,
            source_key=key,
            force=self.force_reload,
            progress=self.progress,
            fingerprints=self.fingerprints(items),
        )

    def _process(self) -> None:
        # PyG skips processing whenever the manifest exists; instead an existing cache goes
        # through build(), which resumes an interrupted build, redoes shards whose inputs were
        # edited or damaged, and converts nothing when the cache is up to date
        if self.force_reload or not self.cache.manifest_path.is_file():
            super()._process()
            return
        self.process()

    def len(self) -> int:
        return len(self.cache)

    def get(self, idx: int) -> HeteroData:
        return self.cache[idx]

    @property
    def ids(self) -> list[str]:
        """Ids of the cached graphs, in dataset order."""
        return self.cache.ids

    @property
    def failures(self) -> list[CacheFailure]:
        """Inputs that could not be turned into graphs, with the reason."""
        return self.cache.failures

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)}, split={self.split!r})"
