"""``cxrgraph parse``: radiology reports -> graphs, one JSON line per report.

Inputs (any mix): a MIMIC-CXR ``files/`` tree (``files/pXX/pSUBJECT/sSTUDY.txt``), a folder of
``.txt`` reports (searched recursively), single ``.txt`` files, an OpenI ``NLMCXR_reports.tgz``
(or its extracted folder of XML files), or ``-`` for one report on standard input.
Each output line holds ``id``, ``source``, ``triplets``, ``suggestive_of``, ``sentences`` and
``errors``; a report that cannot be read or parsed gets a line with its error and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HELP = "parse radiology reports into graphs (JSON lines)"

log = logging.getLogger(__name__)

#: (id, source, text or None, error or None, extra fields)
Item = tuple[str, str, "str | None", "str | None", dict]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files/ tree, folder of .txt, .txt, OpenI .tgz, or -"
    )
    parser.add_argument("--out", "-o", required=True, help="output JSON lines file ('-' = standard output)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--backend", default="rules", choices=("rules", "stanza"), help="parser backend")
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["findings", "impression"],
        help="report sections to parse ('all' = every section; default findings impression)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _decode(data: bytes) -> tuple[str | None, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason} at byte {err.start})"


def _txt_item(path: Path, root: Path | None) -> Item:
    extra: dict[str, Any] = {}
    stem = path.stem
    if stem.startswith("s") and stem[1:].isdigit() and path.parent.name.startswith("p"):
        extra = {"study_id": stem, "subject_id": path.parent.name}
    rid = stem if extra or root is None else str(path.relative_to(root).with_suffix(""))
    try:
        text, err = _decode(path.read_bytes())
    except OSError as exc:
        text, err = None, f"unreadable file ({exc.strerror or exc})"
    return rid, str(path), text, err, extra


def iter_inputs(inputs: list[str]) -> Iterator[Item]:
    """Every report of the inputs, lazily; unreadable ones carry an error instead of text."""
    for spec in inputs:
        if spec == "-":
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
            text, err = _decode(data)
            yield "stdin", "-", text, err, {}
            continue
        path = Path(spec)
        if not path.exists():
            yield spec, spec, None, "no such file or folder", {}
            continue
        name = path.name.lower()
        if path.is_file() and (name.endswith((".tgz", ".tar.gz", ".tar"))):
            yield from _openi_items(path)
        elif path.is_file():
            yield _txt_item(path, None)
        else:
            txts = sorted(path.rglob("*.txt"))
            if not txts and (any(path.glob("*.xml")) or any(path.glob("*/*.xml"))):
                yield from _openi_items(path)
                continue
            if not txts:
                yield spec, spec, None, "folder holds no .txt reports and no OpenI XML", {}
            for f in txts:
                yield _txt_item(f, path)


def _openi_items(path: Path) -> Iterator[Item]:
    from cxrgraph.datasets.openi import OpenIReports

    try:
        reports = OpenIReports(path)
    except (FileNotFoundError, ValueError) as err:
        yield str(path), str(path), None, str(err), {}
        return
    for r in reports:
        yield r.id, str(path), r.text, None, {"mesh": list(r.mesh), "images": list(r.images)}


def _work(job: tuple[Item, str, Any]) -> dict[str, Any]:
    (rid, source, text, err, extra), backend, sections = job
    row: dict[str, Any] = {"id": rid, "source": source, **extra}
    if err is not None:
        row.update(triplets=[], suggestive_of=[], sentences=[], errors=[err])
        return row
    import warnings

    from cxrgraph.text import parse_report

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph = parse_report(text, backend=backend, sections=sections)
        out = graph.to_json()
        out.pop("id", None)
        row.update(out)
        row["errors"] = list(row.get("errors", [])) + [
            str(w.message) for w in caught if str(w.message) not in row.get("errors", [])
        ]
    except Exception as exc:
        log.warning("report %s failed: %s", rid, exc)
        row.update(triplets=[], suggestive_of=[], sentences=[], errors=[f"{type(exc).__name__}: {exc}"])
    return row


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("cxrgraph parse: --workers must be >= 1", file=sys.stderr)
        return 2
    sections = None if [s.lower() for s in args.sections] == ["all"] else list(args.sections)
    jobs = ((item, args.backend, sections) for item in iter_inputs(list(args.inputs)))
    bar = None
    if not args.no_progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(unit="report", desc="parse", file=sys.stderr)
        except ImportError:
            bar = None
    to_stdout = args.out == "-"
    out_path = Path(args.out)
    if to_stdout:
        fh, tmp = sys.stdout, None
    else:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
        fh = os.fdopen(fd, "w", encoding="utf-8")
    n = bad = 0
    try:
        if args.workers == 1:
            rows = map(_work, jobs)
            pool = None
        else:
            import multiprocessing as mp

            pool = mp.get_context("fork").Pool(args.workers)
            rows = pool.imap(_work, jobs, chunksize=32)
        try:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
                bad += bool(row["errors"])
                if bar is not None:
                    bar.update(1)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        if not to_stdout:
            fh.close()
            os.replace(tmp, out_path)
    except BaseException:
        if not to_stdout:
            fh.close()
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    print(f"parsed {n} reports ({bad} with errors) -> {args.out}", file=sys.stderr)
    return 0
