"""Text features of a frozen text encoder, computed once per report and stored beside the graph cache.

With a frozen transformer, what :class:`~cxrgraph.nn.TextGraphEncoder` reads from a report (its
mean-pooled sentence states and the states under each finding mention) never changes, so running
the transformer at every step only repeats work. :class:`TextFeatureCache` stores those features
in shards on disk, keyed by the encoder (name, weights revision, token limit) and by the parser
version (:func:`cxrgraph.text.version.parser_version`): another encoder or an edited parser rule
gives another key, hence a miss, never a stale hit. Every shard is written atomically and
recorded in the manifest with its checksum; a shard that fails its checksum or cannot be read is
reported and re-encoded. :func:`attach_text_features` puts the features on the studies, and
:func:`~cxrgraph.models.collate_align` packs them into the batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cxrgraph.utils.atomic import atomic_torch_save, atomic_write_json

__all__ = [
    "ReportTextFeatures",
    "SentenceMemo",
    "TextFeatureCache",
    "TextFeatureError",
    "attach_text_features",
    "encode_report_features",
    "text_encoder_key",
    "text_feature_key",
]

log = logging.getLogger(__name__)

#: Bumped when the stored layout or the meaning of the features changes.
FEATURE_FORMAT = 1
_MANIFEST = "manifest.json"


class TextFeatureError(RuntimeError):
    """A text feature cache that cannot be read (corrupt, truncated or from other studies)."""


@dataclass
class ReportTextFeatures:
    """Frozen-encoder features of one parsed report.

    Attributes:
        sentences: ``[S, H]`` mean-pooled token states of each sentence.
        mentions: ``[M, H]`` token states under each finding mention, in the order
            :func:`~cxrgraph.models.report_text_inputs` lists the report's mentions.
        key: What computed them (:func:`text_feature_key`); empty when unknown.
    """

    sentences: Tensor
    mentions: Tensor
    key: str = ""


# ---------------------------------------------------------------------------- keys
@lru_cache(maxsize=16)
def _weights_digest(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        with open(os.path.join(folder, name), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _revision(path: str) -> str:
    """A model folder's revision: the hub snapshot commit, else a digest of its weight files."""
    match = re.search(r"snapshots/([0-9a-f]{40})", path)
    if match:
        return match.group(1)[:12]
    folder = Path(path)
    if not folder.is_dir():
        return "unknown"
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth"))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights)
    return _weights_digest(str(folder), stamp) if stamp else "unknown"


def text_feature_key(encoder: Any, backend: str = "rules") -> str:
    """Key of the features ``encoder`` computes from reports parsed by ``backend``: the encoder's
    key (:func:`text_encoder_key`) and the parser version."""
    from cxrgraph.text.version import parser_version

    return f"{text_encoder_key(encoder)}-{parser_version(backend)}"


def text_encoder_key(encoder: Any) -> str:
    """Cache key of a :class:`~cxrgraph.nn.TextGraphEncoder`'s frozen features.

    ``<model name>-<revision>-len<max_length>``: the features change with the weights and with the
    token limit, not with the trained projection head.
    """
    path = str(encoder.model_name_or_path)
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", Path(path).name or path)[-48:]
    return f"{name}-{_revision(path)}-len{int(encoder.max_length)}"


# ---------------------------------------------------------------------------- encoding
@torch.no_grad()
def encode_report_features(encoder: Any, reports: Sequence[Any], batch_size: int = 64) -> list[ReportTextFeatures]:
    """Features of parsed reports from ``encoder`` (a :class:`~cxrgraph.nn.TextGraphEncoder`), float16 on the CPU."""
    from cxrgraph.models.batch import report_text_inputs

    out: list[ReportTextFeatures] = []
    for start in range(0, len(reports), batch_size):
        chunk = list(reports[start : start + batch_size])
        sentences, _, mentions = report_text_inputs(chunk, encoder.num_regions)
        pooled, spans = encoder.sentence_features(sentences, mentions)
        pooled, spans = pooled.detach().cpu().half(), spans.detach().cpu().half()
        s_count = torch.tensor([len(s) for s in sentences])
        m_count = (
            torch.bincount(mentions[:, 0], minlength=len(chunk)) if mentions.numel() else torch.zeros_like(s_count)
        )
        for sent, ment in zip(pooled.split(s_count.tolist()), spans.split(m_count.tolist())):
            out.append(ReportTextFeatures(sent.clone(), ment.clone()))
    return out


# ---------------------------------------------------------------------------- storage
class TextFeatureCache:
    """Sharded on-disk store of :class:`ReportTextFeatures`, one entry per report id.

    Args:
        directory: Folder of this key's cache (``manifest.json``, ``shard-XXXXX.pt``).
        key: What the features were computed with (e.g. ``text_encoder_key(...) + parser version``);
            a manifest with another key is never read.
        shard_size: Reports per shard.
        max_open_shards: Shards kept in memory while reading.
    """

    def __init__(self, directory: str | Path, key: str, shard_size: int = 4096, max_open_shards: int = 2) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size: must be >= 1, got {shard_size}")
        self.directory = Path(directory)
        self.key = str(key)
        self.shard_size = int(shard_size)
        self.max_open_shards = max(int(max_open_shards), 1)
        self._open: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._manifest: dict[str, Any] | None = None

    @classmethod
    def for_encoder(cls, root: str | Path, encoder: Any, backend: str = "rules", **kwargs: Any) -> TextFeatureCache:
        """The cache of ``encoder``'s features under ``root`` (e.g. a graph cache folder + ``text-features``)."""
        key = text_feature_key(encoder, backend)
        return cls(Path(root) / key, key, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.directory)!r}, key={self.key!r})"

    def _shard_path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:05d}.pt"

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.directory / _MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("text feature cache %s: unreadable manifest (%s); re-encoding", path, err)
            return None
        if (
            not isinstance(manifest, dict)
            or manifest.get("format") != FEATURE_FORMAT
            or manifest.get("key") != self.key
        ):
            return None
        return manifest

    @staticmethod
    def _ids_digest(ids: Sequence[str]) -> str:
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ building
    def build(
        self,
        reports: Sequence[Any],
        ids: Sequence[str],
        encode: Callable[[list[Any]], list[ReportTextFeatures]],
        progress: bool = False,
    ) -> int:
        """Make sure every report has its features on disk; returns how many reports were encoded.

        Shards already stored for the same ids and key are kept when their checksum holds; a
        missing shard is encoded, a corrupt one is reported and encoded again.

        Args:
            reports: Parsed reports (indexable; only the shards that need encoding are read).
            ids: One id per report.
            encode: Features of a list of reports (e.g. ``partial(encode_report_features, encoder)``).
            progress: Show a progress bar.
        """
        ids = [str(i) for i in ids]
        if len(ids) != len(reports):
            raise ValueError(f"ids: {len(ids)} ids for {len(reports)} reports")
        digest = self._ids_digest(ids)
        manifest = self._read_manifest()
        if manifest is None or manifest.get("ids_digest") != digest or manifest.get("shard_size") != self.shard_size:
            manifest = {
                "format": FEATURE_FORMAT,
                "key": self.key,
                "ids_digest": digest,
                "num_items": len(ids),
                "shard_size": self.shard_size,
                "shards": {},
            }
        num_shards = -(-len(ids) // self.shard_size)
        todo = [s for s in range(num_shards) if not self._shard_ok(s, manifest)]
        encoded = 0
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=sum(min(self.shard_size, len(ids) - s * self.shard_size) for s in todo), desc="text features"
            )
        for shard in todo:
            lo, hi = shard * self.shard_size, min((shard + 1) * self.shard_size, len(ids))
            feats = encode([reports[i] for i in range(lo, hi)])
            if len(feats) != hi - lo:
                raise ValueError(f"encode: returned {len(feats)} feature sets for {hi - lo} reports")
            payload = _pack(ids[lo:hi], feats)
            path = self._shard_path(shard)
            atomic_torch_save(payload, path)
            manifest["shards"][str(shard)] = {"count": hi - lo, "crc32": _crc32(path), "bytes": path.stat().st_size}
            atomic_write_json(self.directory / _MANIFEST, manifest, indent=1)
            encoded += hi - lo
            if bar is not None:
                bar.update(hi - lo)
        if bar is not None:
            bar.close()
        self._manifest = manifest
        self._open.clear()
        return encoded

    def _shard_ok(self, shard: int, manifest: dict[str, Any]) -> bool:
        entry = manifest["shards"].get(str(shard))
        path = self._shard_path(shard)
        if entry is None or not path.is_file():
            return False
        if path.stat().st_size != entry.get("bytes") or _crc32(path) != entry.get("crc32"):
            log.warning("text feature cache %s: %s fails its checksum (corrupt or truncated); re-encoding", self, path)
            return False
        return True

    # ------------------------------------------------------------------ reading
    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = self._read_manifest()
            if self._manifest is None:
                raise TextFeatureError(f"{self}: no complete cache for this key; call build() first")
        return self._manifest

    def __len__(self) -> int:
        return int(self.manifest["num_items"])

    def _shard(self, shard: int) -> dict[str, Any]:
        if shard in self._open:
            self._open.move_to_end(shard)
            return self._open[shard]
        if str(shard) not in self.manifest["shards"]:
            raise TextFeatureError(f"{self}: shard {shard} was never written; call build() first")
        path = self._shard_path(shard)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            raise TextFeatureError(
                f"{path}: unreadable text feature shard ({err}); call build() to re-encode it"
            ) from err
        self._open[shard] = data
        while len(self._open) > self.max_open_shards:
            self._open.popitem(last=False)
        return data

    def get(self, index: int, expected_id: str | None = None) -> ReportTextFeatures:
        """Features of report ``index``; with ``expected_id``, check that the entry is that report's."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self}: index {index} out of range for {len(self)} reports")
        data = self._shard(index // self.shard_size)
        j = index % self.shard_size
        if expected_id is not None and data["ids"][j] != str(expected_id):
            raise TextFeatureError(
                f"{self}: entry {index} holds report {data['ids'][j]!r}, expected {expected_id!r} (cache of other studies)"
            )
        so, mo = data["sentence_offsets"], data["mention_offsets"]
        return ReportTextFeatures(
            data["sentences"][int(so[j]) : int(so[j + 1])], data["mentions"][int(mo[j]) : int(mo[j + 1])], self.key
        )

    def __getitem__(self, index: int) -> ReportTextFeatures:
        return self.get(index)


def _pack(ids: Sequence[str], feats: Sequence[ReportTextFeatures]) -> dict[str, Any]:
    s_len = torch.tensor([f.sentences.size(0) for f in feats], dtype=torch.long)
    m_len = torch.tensor([f.mentions.size(0) for f in feats], dtype=torch.long)
    hidden = next((f.sentences.size(1) for f in feats if f.sentences.dim() == 2), 0)
    return {
        "ids": list(ids),
        "sentence_offsets": torch.cat([s_len.new_zeros(1), s_len.cumsum(0)]),
        "mention_offsets": torch.cat([m_len.new_zeros(1), m_len.cumsum(0)]),
        "sentences": torch.cat([f.sentences.reshape(-1, hidden) for f in feats]).half(),
        "mentions": torch.cat([f.mentions.reshape(-1, hidden) for f in feats]).half(),
    }


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(chunk, crc)
    return crc


# ---------------------------------------------------------------------------- studies
def attach_text_features(
    samples: Sequence[Any],
    encoder: Any,
    cache_root: str | Path | None = None,
    backend: str = "rules",
    batch_size: int = 64,
    progress: bool = False,
) -> TextFeatureCache | None:
    """Compute (or read back) the frozen text features of every study and set ``sample.text_features``.

    Args:
        samples: :class:`~cxrgraph.models.AlignSample` objects (their ``report`` and ``study_id``).
        encoder: The frozen :class:`~cxrgraph.nn.TextGraphEncoder`.
        cache_root: Folder to store them in (e.g. ``<graph cache>/text-features``); ``None`` keeps
            them in memory only.
        backend: Parser backend the reports came from (part of the key).
        batch_size: Reports per transformer call.
        progress: Show a progress bar.

    Returns:
        The cache, or ``None`` without ``cache_root``.
    """
    reports = [s.report for s in samples]
    key = text_feature_key(encoder, backend)

    def encode(chunk: list[Any]) -> list[ReportTextFeatures]:
        return encode_report_features(encoder, chunk, batch_size)

    if cache_root is None:
        for s, f in zip(samples, encode(reports)):
            f.key = key
            s.text_features = f
        return None
    cache = TextFeatureCache.for_encoder(cache_root, encoder, backend)
    ids = [str(s.study_id) for s in samples]
    cache.build(reports, ids, encode, progress)
    for i, s in enumerate(samples):
        s.text_features = cache.get(i, ids[i])
    return cache


class SentenceMemo:
    """Memoised :meth:`TextGraphEncoder.encode_sentences` of a frozen transformer, in memory.

    Serves the calls that come without stored features (prompts for zero-shot, raw texts).
    Entries are kept unpadded on the CPU and re-padded per call; at most ``max_entries``
    sentences are kept (later ones are encoded every time).
    """

    def __init__(self, encoder: Any, max_entries: int = 100_000) -> None:
        self.encode = type(encoder).encode_sentences.__get__(encoder)
        self.encoder = encoder
        self.max_entries = max_entries
        self.entries: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

    def __call__(self, sentences: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        missing = list(dict.fromkeys(s for s in sentences if s not in self.entries))
        fresh: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        if missing:
            with torch.no_grad():
                states, attn, offsets, _ = self.encode(missing)
            for i, s in enumerate(missing):
                n = int(attn[i].sum())
                fresh[s] = (states[i, :n].detach().cpu(), offsets[i, :n].cpu(), states[i, :n].mean(0).cpu())
            if len(self.entries) < self.max_entries:
                self.entries.update(fresh)
        rows = [self.entries.get(s) or fresh[s] for s in sentences]
        device = self.encoder.device
        longest = max(r[0].size(0) for r in rows)
        hidden = rows[0][0].size(1)
        states = torch.zeros(len(rows), longest, hidden)
        offsets = torch.zeros(len(rows), longest, 2, dtype=torch.long)
        attn = torch.zeros(len(rows), longest, dtype=torch.bool)
        for i, (st, off, _) in enumerate(rows):
            states[i, : st.size(0)] = st
            offsets[i, : off.size(0)] = off
            attn[i, : st.size(0)] = True
        pooled = torch.stack([r[2] for r in rows])
        return states.to(device), attn.to(device), offsets.to(device), pooled.to(device)
