"""Small file helpers shared by the data set readers: atomic writes and tolerant CSV reading."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from cxrgraph.datasets.errors import DatasetFormatError

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_json", "read_csv_rows", "find_file"]


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and move it into place only when done.

    A crash leaves either the old file or none, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding, newline=None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True)


def find_file(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` that exists in ``folder`` (e.g. a ``.csv.gz`` or its ``.csv``)."""
    for name in names:
        p = folder / name
        if p.is_file():
            return p
    return None


def read_csv_rows(path: str | Path, *, delimiter: str = ",", required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Read a (possibly gzipped) CSV/TSV into dicts; check that ``required`` columns exist."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as err:
            raise DatasetFormatError(path, f"not a valid gzip file ({err})") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetFormatError(path, f"not UTF-8 text ({err})") from err
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise DatasetFormatError(path, f"missing column(s) {missing}; header is {header}")
    return list(reader)
