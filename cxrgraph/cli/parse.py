"""``cxrgraph parse``: radiology reports -> graphs, one JSON line per report.

Inputs (any mix): a MIMIC-CXR ``files/`` tree (``files/pXX/pSUBJECT/sSTUDY.txt``), a folder of
``.txt`` reports (searched recursively), single ``.txt`` files, an OpenI ``NLMCXR_reports.tgz``
(or its extracted folder of XML files), or ``-`` for one report on standard input.
Each output line holds ``id``, ``source``, ``triplets``, ``suggestive_of``, ``sentences``,
``errors`` and ``parser`` (:func:`~cxrgraph.text.version.parser_version`); a report that cannot be
read or parsed gets a line with its error and the run goes on.

Rows are written as they are finished, to ``<out>.partial``, which becomes ``<out>`` when the run
completes. An interrupted run (Ctrl-C, ``kill``, a crash) keeps its finished rows there;
``--resume`` continues it, skipping the reports already done (and refuses rows written by another
parser version, so that one output never mixes two). Bad options (a section name, an
``--out`` that is a folder) are refused before anything is parsed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxrgraph.text.version import parser_version

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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep the rows of <out>.partial (or of <out>) and parse only the rest",
    )


def _decode(data: bytes) -> tuple[str | None, str | None]:
    try:
        return data.decode("utf-8-sig"), None  # a byte order mark is not part of the report
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason} at byte {err.start})"


def _txt_item(path: Path, root: Path | None) -> Item:
    """A ``.txt`` report, not yet read: whoever parses it reads it (a pool worker, in parallel)."""
    extra: dict[str, Any] = {}
    stem = path.stem
    if stem.startswith("s") and stem[1:].isdigit() and path.parent.name.startswith("p"):
        extra = {"study_id": stem, "subject_id": path.parent.name}
    rid = stem if extra or root is None else str(path.relative_to(root).with_suffix(""))
    return rid, str(path), None, None, extra


def _read_txt(source: str) -> tuple[str | None, str | None]:
    try:
        return _decode(Path(source).read_bytes())
    except OSError as exc:
        return None, f"unreadable file ({exc.strerror or exc})"


def iter_inputs(inputs: list[str]) -> Iterator[Item]:
    """Every report of the inputs, lazily, as ``(id, source, text, error, extra)``.

    An input that cannot be read carries an error instead of text; a ``.txt`` report carries
    neither (``text`` and ``error`` are None): :func:`_work` reads it from ``source``.
    """
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
            others: list[Path] = []
            found = False
            for f in _walk_files(path, others):  # reports go out as they are found: parsing starts at once
                found = True
                yield _txt_item(f, path)
            if not found and (any(path.glob("*.xml")) or any(path.glob("*/*.xml"))):
                yield from _openi_items(path)
                continue
            if not found:
                yield spec, spec, None, "folder holds no .txt reports and no OpenI XML", {}
            if others:
                log.warning(
                    "%s: skipped %d file(s) that are not .txt reports, e.g. %s",
                    path,
                    len(others),
                    ", ".join(str(p.relative_to(path)) for p in others[:3]),
                )


def _walk_files(root: Path, others: list[Path]) -> Iterator[Path]:
    """The ``.txt`` files under ``root``, in sorted order, folder by folder; the other files
    (hidden ones aside) are appended to ``others``. ``os.walk`` lists a MIMIC-CXR tree about five
    times faster than ``Path.rglob``, which builds and stats a path object per entry."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(folder)
        for name in sorted(files):
            if name[-4:].lower() == ".txt":
                yield base / name
            elif not name.startswith("."):
                others.append(base / name)


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
    row = _parse_row(job)
    row["parser"] = parser_version(job[1])  # a resumed run must not mix the rows of two parsers
    return row


def _parse_row(job: tuple[Item, str, Any]) -> dict[str, Any]:
    (rid, source, text, err, extra), backend, sections = job
    row: dict[str, Any] = {"id": rid, "source": source, **extra}
    if text is None and err is None:
        text, err = _read_txt(source)
    if err is not None:
        row.update(triplets=[], suggestive_of=[], sentences=[], errors=[err])
        return row
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if backend == "rules":  # the JSON straight from the reading: no graph, no torch
                from cxrgraph.text.reading import read_report_json

                out = read_report_json(text, sections=sections)
            else:
                from cxrgraph.text import parse_report

                out = parse_report(text, backend=backend, sections=sections).to_json()
        row.update(out)
        row["errors"] = list(row.get("errors", [])) + [
            str(w.message) for w in caught if str(w.message) not in row.get("errors", [])
        ]
    except Exception as exc:
        log.warning("report %s failed: %s", rid, exc)
        row.update(triplets=[], suggestive_of=[], sentences=[], errors=[f"{type(exc).__name__}: {exc}"])
    return row


def _work_lines(jobs: list[tuple[Item, str, Any]]) -> tuple[str, int, int]:
    """Some reports' output lines, their number and how many have errors. A worker sends text
    back, which costs the parent far less to receive than the rows' objects."""
    lines = []
    bad = 0
    for job in jobs:
        row = _work(job)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        bad += bool(row["errors"])
    return "".join(lines), len(lines), bad


def _warm_up(backend: str) -> None:
    """Build the rules backend's matchers once, before the workers are forked, not once in each."""
    if backend == "rules":
        from cxrgraph.text.reading import read_report_json

        read_report_json("FINDINGS: No pleural effusion. IMPRESSION: Mild cardiomegaly, worse.")


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _fail(message: str) -> int:
    print(f"cxrgraph parse: {message}", file=sys.stderr)
    return 2


def _finished_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The complete rows of an earlier run's output, as (line, row) (a row cut short by a kill is
    dropped)."""
    rows = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # the last row was being written when the run stopped
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(row, dict) and "id" in row and "source" in row:
                rows.append((line, row))
    return rows


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the finished rows are kept and reported."""


def _on_sigterm(main_pid: int) -> Any:
    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != main_pid:  # a pool worker being stopped
            os._exit(128 + signum)
        raise _Terminated()

    return handler


def run(args: argparse.Namespace) -> int:
    from cxrgraph.text.sections import check_section_names

    if args.workers < 1:
        return _fail("--workers must be >= 1")
    try:
        sections = None if [s.lower() for s in args.sections] == ["all"] else list(check_section_names(args.sections))
    except (TypeError, ValueError) as err:
        return _fail(f"--sections: {err}")
    to_stdout = args.out == "-"
    out_path = Path(args.out)
    partial = out_path.with_name(out_path.name + ".partial")
    kept: list[tuple[str, dict[str, Any]]] = []
    source = None
    if not to_stdout:
        if out_path.is_dir():
            return _fail(f"--out {out_path} is a folder; give a file name, e.g. {out_path / 'graphs.jsonl'}")
        if partial.exists() and not args.resume:
            return _fail(f"{partial} holds the rows of an interrupted run: pass --resume to continue it, or delete it")
        if args.resume:
            source = partial if partial.exists() else out_path if out_path.is_file() else None
            if source is not None:
                kept = _finished_rows(source)
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return _fail(f"cannot create the folder of --out {out_path}: {err.strerror or err}")
    other = sorted({str(row.get("parser")) for _, row in kept} - {parser_version(args.backend)})
    if other:
        return _fail(
            f"--resume: {source} holds rows of another parser version ({', '.join(other)}; this one is "
            f"{parser_version(args.backend)}), and one output must come from one parser: delete it, or write "
            "to another --out"
        )
    done = {(row["source"], row["id"]) for _, row in kept}
    jobs = ((item, args.backend, sections) for item in iter_inputs(list(args.inputs)) if (item[1], item[0]) not in done)
    bar = None
    if not args.no_progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(unit="report", desc="parse", file=sys.stderr)
        except ImportError:
            bar = None
    if to_stdout:
        fh = sys.stdout
    else:
        # the finished rows go to the partial file one by one: whatever stops the run, they stay
        from cxrgraph.utils.atomic import atomic_write_text

        atomic_write_text(partial, "".join(line for line, _ in kept))
        fh = partial.open("a", encoding="utf-8")
    n = bad = 0
    old_handler = None
    try:
        old_handler = signal.signal(signal.SIGTERM, _on_sigterm(os.getpid()))
    except ValueError:  # not the main thread: leave the signal alone
        old_handler = None
    try:
        if args.workers == 1:
            # one report at a time: whatever stops the run, every finished row is in the file
            results = map(_work_lines, ([job] for job in jobs))
            pool = None
        else:
            import multiprocessing as mp

            _warm_up(args.backend)
            pool = mp.get_context("fork").Pool(args.workers)
            results = pool.imap(_work_lines, _batched(jobs, 64))
        try:
            for lines, count, with_errors in results:
                fh.write(lines)
                fh.flush()
                n += count
                bad += with_errors
                if bar is not None:
                    bar.update(count)
        finally:
            if pool is not None:
                if sys.exc_info()[0] is not None:
                    pool.terminate()
                else:
                    pool.close()
                pool.join()
    except BaseException as exc:
        if not to_stdout:
            fh.close()
            print(
                f"cxrgraph parse: stopped after {n} new report(s) ({type(exc).__name__}); "
                f"{len(kept) + n} finished row(s) are kept in {partial}: run the same command with --resume "
                "to continue",
                file=sys.stderr,
            )
        if isinstance(exc, KeyboardInterrupt):
            return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        if bar is not None:
            bar.close()
    if not to_stdout:
        fh.close()
        os.replace(partial, out_path)
    resumed = f", {len(kept)} kept from the earlier run" if kept else ""
    print(f"parsed {n} reports ({bad} with errors{resumed}) -> {args.out}", file=sys.stderr)
    return 0
