"""``GraphCache``: graphs processed once and stored in shards on disk.

A corpus of 240k studies never sits in memory: graphs are converted shard by shard, each shard
is written atomically (temporary file + rename) and recorded in ``manifest.json``; a crashed
run resumes at the first unfinished shard. Reading loads one shard at a time. The manifest
records the ontology version and a format version; a cache built with another ontology is
refused with :class:`StaleCacheError` (rebuild with ``force_reload=True``).
"""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import HeteroData

from cxrgraph.datasets.errors import StaleCacheError
from cxrgraph.datasets.records import column_offsets, graph_to_record, pack_records, record_to_graph, unpack_record
from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_write, atomic_write_json

__all__ = ["GraphCache", "CacheFailure", "CACHE_FORMAT"]

log = logging.getLogger(__name__)

#: Bumped whenever the on-disk record layout changes.
CACHE_FORMAT = 2


@dataclass(frozen=True)
class CacheFailure:
    """An item that could not be converted: its id and why."""

    id: str
    reason: str


class GraphCache:
    """A sharded, resumable on-disk store of graphs keyed by string ids.

    Args:
        directory: Folder of the cache (``manifest.json`` and ``shard-XXXXX.pt`` files).
        shard_size: Graphs per shard when building.
        max_open_shards: Shards kept in memory while reading.
    """

    def __init__(self, directory: str | Path, shard_size: int = 1024, max_open_shards: int = 2) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.directory = Path(directory)
        self.shard_size = shard_size
        self.max_open_shards = max_open_shards
        self._open: OrderedDict[int, tuple[dict[str, Any], dict[str, torch.Tensor]]] = OrderedDict()
        self._manifest: dict[str, Any] | None = None
        self._index: list[tuple[int, int]] | None = None

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def _read_manifest(self) -> dict[str, Any] | None:
        import json

        if not self.manifest_path.is_file():
            return None
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def _new_manifest(self, ids: Sequence[str], key: str) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "ontology_version": get_ontology().version,
            "source_key": key,
            "shard_size": self.shard_size,
            "num_items": len(ids),
            "shards": {},
            "complete": False,
        }

    def check(self, manifest: dict[str, Any]) -> None:
        """Raise :class:`StaleCacheError` if the cache was built by another version."""
        version = get_ontology().version
        if manifest.get("format") != CACHE_FORMAT:
            raise StaleCacheError(
                f"graph cache {self.directory} has format {manifest.get('format')}, this cxrgraph writes "
                f"format {CACHE_FORMAT}; rebuild it (force_reload=True) or delete the folder"
            )
        if manifest.get("ontology_version") != version:
            raise StaleCacheError(
                f"graph cache {self.directory} was built with ontology {manifest.get('ontology_version')}, "
                f"but the current ontology is {version}; rebuild it (force_reload=True) or delete the folder"
            )

    @property
    def is_complete(self) -> bool:
        m = self._read_manifest()
        if m is None or not m.get("complete"):
            return False
        self.check(m)
        return True

    # ------------------------------------------------------------------ building
    def build(
        self,
        items: Sequence[Any],
        convert: Callable[[Any], HeteroData | None],
        *,
        ids: Sequence[str] | None = None,
        source_key: str = "",
        force: bool = False,
        progress: bool = False,
    ) -> list[CacheFailure]:
        """Convert ``items`` into graphs and store them, resuming a crashed run.

        Args:
            items: The inputs (paths, records ...), in a fixed order.
            convert: Turns one item into a graph; may return ``None`` to leave it out (recorded
                as a failure) or raise (recorded with the error message, the run goes on).
            ids: One id per item (defaults to the item's ``str``).
            source_key: Identifies the inputs; a cache built from other inputs is rebuilt.
            force: Rebuild from scratch.
            progress: Show a progress bar.

        Returns:
            The failures of this build (also kept in the manifest).
        """
        ids = [str(i) for i in (ids if ids is not None else items)]
        if len(ids) != len(items):
            raise ValueError(f"got {len(items)} items but {len(ids)} ids")
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = None if force else self._read_manifest()
        if manifest is not None:
            try:
                self.check(manifest)
            except StaleCacheError:
                raise
            if manifest.get("source_key") != source_key or manifest.get("num_items") != len(ids):
                log.info("graph cache %s was built from other inputs: rebuilding", self.directory)
                manifest = None
            elif manifest.get("shard_size") != self.shard_size:
                self.shard_size = int(manifest["shard_size"])  # resume with the shard size on disk
        if manifest is None:
            for old in self.directory.glob("shard-*.pt"):
                old.unlink()
            manifest = self._new_manifest(ids, source_key)
            atomic_write_json(self.manifest_path, manifest)

        num_shards = max(1, -(-len(ids) // self.shard_size)) if ids else 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(ids), desc=f"caching graphs -> {self.directory.name}", unit="graph")
        failures: list[CacheFailure] = []
        for s in range(num_shards):
            lo, hi = s * self.shard_size, min(len(ids), (s + 1) * self.shard_size)
            done = manifest["shards"].get(str(s))
            if done is not None and (self.directory / done["file"]).is_file():
                if bar is not None:
                    bar.update(hi - lo)
                continue
            records, kept_ids, shard_failures = [], [], []
            for item, item_id in zip(items[lo:hi], ids[lo:hi]):
                try:
                    graph = convert(item)
                    if graph is None:
                        shard_failures.append(CacheFailure(item_id, "converter returned no graph"))
                    else:
                        records.append(graph_to_record(graph))
                        kept_ids.append(item_id)
                except Exception as err:  # one bad input must not stop a corpus
                    reason = f"{type(err).__name__}: {err}"
                    log.debug("failed to convert %s:\n%s", item_id, traceback.format_exc())
                    shard_failures.append(CacheFailure(item_id, reason))
                if bar is not None:
                    bar.update(1)
            name = f"shard-{s:05d}.pt"
            with atomic_write(self.directory / name, "wb") as fh:
                torch.save({"ids": kept_ids, "graphs": pack_records(records)}, fh)
            manifest["shards"][str(s)] = {
                "file": name,
                "ids": kept_ids,
                "failures": [[f.id, f.reason] for f in shard_failures],
            }
            atomic_write_json(self.manifest_path, manifest)
            failures.extend(shard_failures)
        if bar is not None:
            bar.close()
        manifest["complete"] = True
        atomic_write_json(self.manifest_path, manifest)
        self._manifest, self._index = None, None
        self._open.clear()
        return failures

    # ------------------------------------------------------------------ reading
    def _load_manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            m = self._read_manifest()
            if m is None:
                raise FileNotFoundError(f"no graph cache at {self.directory} (manifest.json missing)")
            self.check(m)
            if not m.get("complete"):
                raise StaleCacheError(f"graph cache {self.directory} is incomplete; run its build again to resume")
            self._manifest = m
            self._index = [(int(s), j) for s in sorted(m["shards"], key=int) for j in range(len(m["shards"][s]["ids"]))]
        return self._manifest

    @property
    def ids(self) -> list[str]:
        m = self._load_manifest()
        return [i for s in sorted(m["shards"], key=int) for i in m["shards"][s]["ids"]]

    @property
    def failures(self) -> list[CacheFailure]:
        m = self._load_manifest()
        return [CacheFailure(i, r) for s in sorted(m["shards"], key=int) for i, r in m["shards"][s]["failures"]]

    def __len__(self) -> int:
        self._load_manifest()
        assert self._index is not None
        return len(self._index)

    def _shard(self, s: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if s in self._open:
            self._open.move_to_end(s)
            return self._open[s]
        m = self._load_manifest()
        path = self.directory / m["shards"][str(s)]["file"]
        packed = torch.load(path, weights_only=True)["graphs"]
        self._open[s] = (packed, column_offsets(packed))
        while len(self._open) > self.max_open_shards:
            self._open.popitem(last=False)
        return self._open[s]

    def __getitem__(self, idx: int) -> HeteroData:
        self._load_manifest()
        assert self._index is not None
        if not -len(self._index) <= idx < len(self._index):
            raise IndexError(f"graph cache index {idx} out of range for {len(self._index)} graphs")
        s, j = self._index[idx]
        packed, offsets = self._shard(s)
        return record_to_graph(unpack_record(packed, j, offsets))

    def __repr__(self) -> str:
        n = len(self) if self.is_complete else "incomplete"
        return f"GraphCache({str(self.directory)!r}, graphs={n})"
