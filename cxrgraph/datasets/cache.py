"""``GraphCache``: graphs processed once and stored in shards on disk.

A corpus of 240k studies never sits in memory: graphs are converted shard by shard, each shard
is written atomically (temporary file + rename) and recorded in ``manifest.json``; a crashed
run resumes at the first unfinished shard, and temporary files a killed run left behind are
removed by the next build. One build runs at a time (a lock file, ``.lock``); another process
building the same cache waits for it. Reading loads one shard at a time. The manifest records the ontology
version and a format version; a cache built with another ontology is refused with
:class:`StaleCacheError` (rebuild with ``force_reload=True``).

The manifest also records, per shard, a digest of its inputs (the ids and, when the caller
gives them, a fingerprint of each input's content such as a report file's size and time), the
ids it holds and its size in bytes. A build redoes the shards whose inputs changed (an edited
report is not served stale); reading checks the size and the ids stored in the shard itself,
so a truncated, empty or swapped shard file fails with :class:`CacheCorruptError` naming the
cache and the file instead of returning wrong graphs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import HeteroData

from cxrgraph.datasets.errors import CacheCorruptError, StaleCacheError
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
        """The manifest, ``None`` when there is none.

        Raises:
            CacheCorruptError: It is not valid JSON or not a cache manifest.
        """
        if not self.manifest_path.is_file():
            return None
        try:
            m = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CacheCorruptError(
                f"graph cache {self.directory}: manifest.json is unreadable ({err}); build the cache again "
                "(force_reload=True) or delete the folder"
            ) from err
        if not isinstance(m, dict) or not isinstance(m.get("shards"), dict):
            raise CacheCorruptError(
                f"graph cache {self.directory}: manifest.json is not a graph cache manifest; build the cache again "
                "(force_reload=True) or delete the folder"
            )
        return m

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
        fingerprints: Sequence[str] | None = None,
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
            fingerprints: One string per item that changes when the item's content does (e.g. a
                file's size and modification time); a shard whose inputs changed is rebuilt.

        Returns:
            The failures of the shards converted by this call (all failures: :attr:`failures`).
        """
        ids = [str(i) for i in (ids if ids is not None else items)]
        if len(ids) != len(items):
            raise ValueError(f"got {len(items)} items but {len(ids)} ids")
        if fingerprints is not None and len(fingerprints) != len(ids):
            raise ValueError(f"got {len(ids)} items but {len(fingerprints)} fingerprints")
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._build_lock():
            return self._build(items, convert, ids, source_key, force, progress, fingerprints)

    def _build(
        self,
        items: Sequence[Any],
        convert: Callable[[Any], HeteroData | None],
        ids: list[str],
        source_key: str,
        force: bool,
        progress: bool,
        fingerprints: Sequence[str] | None,
    ) -> list[CacheFailure]:
        self._remove_orphans()
        manifest = None
        if not force:
            try:
                manifest = self._read_manifest()
            except CacheCorruptError as err:
                warnings.warn(f"{err}: rebuilding it", UserWarning, stacklevel=3)
        if manifest is not None:
            self.check(manifest)
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
        todo = []
        for s in range(num_shards):
            lo, hi = s * self.shard_size, min(len(ids), (s + 1) * self.shard_size)
            digest = _inputs_digest(ids[lo:hi], None if fingerprints is None else fingerprints[lo:hi])
            problem = self._shard_problem(manifest["shards"].get(str(s)), digest, fingerprints is not None)
            if problem is not None:
                if problem != "not built yet":
                    log.info("graph cache %s: shard %d is %s: building it again", self.directory, s, problem)
                todo.append((s, lo, hi, digest))
        if not todo and manifest.get("complete"):
            return []
        if manifest.get("complete"):
            manifest["complete"] = False  # a reader must not take the shards being redone for current
            atomic_write_json(self.manifest_path, manifest)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=sum(hi - lo for _s, lo, hi, _d in todo), desc=f"caching graphs -> {self.directory.name}")
        failures: list[CacheFailure] = []
        for s, lo, hi, digest in todo:
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
                "inputs": digest,
                "bytes": (self.directory / name).stat().st_size,
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

    def _shard_problem(self, done: dict[str, Any] | None, digest: str, fingerprinted: bool) -> str | None:
        """Why a shard must be built (again), ``None`` when it is up to date."""
        if done is None:
            return "not built yet"
        path = self.directory / str(done.get("file", ""))
        if not path.is_file():
            return "missing"
        size = done.get("bytes")
        if size is not None and path.stat().st_size != size:
            return f"damaged ({path.stat().st_size} bytes, the manifest recorded {size})"
        recorded = done.get("inputs")
        # a manifest written before input digests existed: trust it unless contents are tracked now
        if (recorded is None and fingerprinted) or (recorded is not None and recorded != digest):
            return "out of date (its inputs changed)"
        return None

    @contextlib.contextmanager
    def _build_lock(self) -> Iterator[None]:
        """Hold the cache's build lock: one build at a time; another process waits for it.

        The operating system releases the lock of a killed process, so under the lock every
        temporary file in the folder is an orphan. Without ``fcntl`` (Windows) or write access
        (a read-only cache, which a build leaves untouched when it is current) there is no lock.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        try:
            fh = open(self.directory / ".lock", "a")  # noqa: SIM115 - closed below
        except OSError:
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _remove_orphans(self) -> None:
        """Delete the temporary files of an atomic write that a killed build left behind
        (called under the build lock: no live build is writing them)."""
        for pattern in (".shard-*.tmp", ".manifest.json.*.tmp"):
            for tmp in self.directory.glob(pattern):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    log.info("removed %s left by an interrupted build", tmp)

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
    def content_key(self) -> str:
        """A digest that changes whenever a shard is built again (for files derived from the cache)."""
        m = self._load_manifest()
        return hashlib.sha256(json.dumps(m["shards"], sort_keys=True).encode()).hexdigest()[:16]

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
        entry = m["shards"][str(s)]
        path = self.directory / entry["file"]
        rebuild = "; build the cache again (force_reload=True) or delete the folder"
        size = path.stat().st_size if path.is_file() else None
        if size is None:
            raise CacheCorruptError(f"graph cache {self.directory}: {entry['file']} is missing{rebuild}")
        if entry.get("bytes") is not None and size != entry["bytes"]:
            raise CacheCorruptError(
                f"graph cache {self.directory}: {entry['file']} has {size} bytes, the manifest recorded "
                f"{entry['bytes']} (truncated or replaced){rebuild}"
            )
        try:
            payload = torch.load(path, weights_only=True)
            packed = payload["graphs"]
            stored_ids = payload["ids"]
        except Exception as err:  # torch raises several types for a damaged file
            raise CacheCorruptError(
                f"graph cache {self.directory}: {entry['file']} is unreadable ({type(err).__name__}: {err}){rebuild}"
            ) from err
        if list(stored_ids) != list(entry["ids"]):
            raise CacheCorruptError(
                f"graph cache {self.directory}: {entry['file']} holds other graphs than the manifest lists for it "
                f"(first ids {list(stored_ids)[:2]} instead of {list(entry['ids'])[:2]}; shard files swapped or "
                f"copied from another cache?){rebuild}"
            )
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


def _inputs_digest(ids: Sequence[str], fingerprints: Sequence[str] | None) -> str:
    """Digest of a shard's inputs: its ids and, when given, their content fingerprints."""
    h = hashlib.sha256()
    for k, item_id in enumerate(ids):
        h.update(item_id.encode("utf-8", "surrogatepass") + b"\0")
        if fingerprints is not None:
            h.update(str(fingerprints[k]).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]
