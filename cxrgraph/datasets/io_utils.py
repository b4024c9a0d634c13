"""Small file helpers shared by the data set readers: finding files and tolerant CSV reading."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from cxrgraph.datasets.errors import DatasetFormatError

__all__ = ["read_csv_rows", "find_file"]


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
