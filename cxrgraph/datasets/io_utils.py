"""Small file helpers shared by the data set readers: finding files and tolerant CSV reading."""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import re
import warnings
import zlib
from pathlib import Path

from cxrgraph.datasets.errors import DatasetFormatError

__all__ = ["read_csv_rows", "find_file", "warn_skipped", "label_value"]


def find_file(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` that exists in ``folder`` (e.g. a ``.csv.gz`` or its ``.csv``)."""
    for name in names:
        p = folder / name
        if p.is_file():
            return p
    return None


def _column_key(name: str) -> str:
    return re.sub(r"[\s_]+", " ", str(name).strip().lower())


def read_csv_rows(
    path: str | Path,
    *,
    delimiter: str = ",",
    required: tuple[str, ...] = (),
    skipped: list[tuple[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Read a (possibly gzipped) CSV/TSV into dicts; check that ``required`` columns exist.

    A required column is found whatever its case, surrounding spaces or ``_``/space spelling
    (``Study_ID`` for ``study_id``) and rows hold it under the required name.

    Args:
        path: The file (``.gz``: gzip-compressed).
        delimiter: Field separator.
        required: Columns that must exist.
        skipped: Receives ``("<path>:<line>", reason)`` for each ragged row (fewer or more fields
            than the header), which is left out; without it a ragged row raises.

    Raises:
        DatasetFormatError: Truncated or damaged gzip data, not UTF-8, a missing column, or a
            ragged row when ``skipped`` is not given. The message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            problem = "truncated gzip file" if isinstance(err, EOFError) else "not a valid gzip file"
            raise DatasetFormatError(path, f"{problem} ({err})") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetFormatError(path, f"not UTF-8 text ({err})") from err
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = list(reader.fieldnames or [])
    rename: dict[str, str] = {}
    missing = []
    by_key = {_column_key(h): h for h in header}
    for column in required:
        if column in header:
            continue
        found = by_key.get(_column_key(column))
        if found is None:
            missing.append(column)
        else:
            rename[found] = column
    if missing:
        hints = []
        for column in missing:
            near = difflib.get_close_matches(_column_key(column), list(by_key), n=1, cutoff=0.75)
            if near:
                hints.append(f"{column!r} (is {by_key[near[0]]!r} a misspelling?)")
        hint = f"; {', '.join(hints)}" if hints else ""
        raise DatasetFormatError(path, f"missing column(s) {missing}{hint}; header is {header}")
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            fields = len(header) + len(row.get(None) or []) - sum(v is None for v in row.values())
            problem = f"line {reader.line_num}: {fields} field(s) where the header has {len(header)}"
            if skipped is None:
                raise DatasetFormatError(path, f"ragged row, {problem}")
            skipped.append((f"{path}:{reader.line_num}", f"ragged row: {problem}"))
            continue
        if rename:
            row = {rename.get(k, k): v for k, v in row.items()}
        rows.append(row)
    return rows


def warn_skipped(what: str, skipped: list[tuple[str, str]], start: int = 0) -> None:
    """Warn once about the rows a reader left out (``skipped[start:]``), naming the first."""
    new = skipped[start:]
    if new:
        where, why = new[0]
        more = f" and {len(new) - 1} more" if len(new) > 1 else ""
        warnings.warn(
            f"{what}: left out {len(new)} row(s) that could not be read ({where}: {why}{more}); "
            "they are listed in .skipped",
            UserWarning,
            stacklevel=3,
        )


def label_value(raw: str | None, label: str) -> float | None:
    """A label cell: 1.0, 0.0, -1.0 or ``None`` (blank); anything else raises ``ValueError``."""
    text = (raw or "").strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{label}={text!r} is not a number") from None
    if value not in (1.0, 0.0, -1.0):  # also refuses nan and inf
        raise ValueError(f"{label}={text!r} is not 1, 0, -1 or blank")
    return value
