"""``cxrgraph parse`` end to end on a MIMIC-CXR-shaped tree of 227,835 reports.

MIMIC-CXR itself needs credentialed access, so the tree is made from the OpenI corpus: its
reports, repeated, written as ``files/pXX/pSUBJECT/sSTUDY.txt`` (MIMIC-CXR's layout and report
count). The command then runs as a user would run it, in a fresh process, and its wall-clock time
is what is printed, with the rows written, the rows with errors and the peak memory of the
command's processes together.

A repeated corpus flatters the parser: its sentence cache would read each sentence once and hit
on every later copy. So each copy's words differ from every other copy's in letter case (some
letters of each word of five or more letters, chosen by the word and the copy), which the reading ignores but the
cache, keyed by the text as written, does not: the cache then hits where a corpus repeats itself,
as it would on MIMIC-CXR, and not across copies. The benchmark checks that every copy's triplets
equal those of the unaltered report (``same reading`` in the output).

``--against CHECKOUT`` runs the other checkout's ``cxrgraph parse`` on the same tree too,
alternately with this one, ``--rounds`` times: on a shared machine whose speed drifts only such
pairs compare.

    python benchmarks/text/bench_parse_cli.py [--reports 227835] [--workers 2] [--tree DIR]
    python benchmarks/text/bench_parse_cli.py --against ../old-checkout --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIMIC_REPORTS = 227_835
_LONG_WORD = re.compile(r"\b[a-z]{5,}\b")


def _variant(text: str, copy: int) -> str:
    """``text`` with letters of its long lower-case words upper-cased, chosen by word and ``copy``.

    A word gets the same letters upper-cased wherever it occurs in one copy, so a sentence that
    repeats within the corpus repeats within each copy too, while two copies differ.
    """
    if copy == 0:
        return text

    def upper_some(match: re.Match[str]) -> str:
        word = match.group()
        mask = zlib.crc32(f"{copy}:{word}".encode()) | 2  # never the first letter; always one other
        return word[0] + "".join(c.upper() if mask >> j & 1 else c for j, c in enumerate(word[1:], 1))

    return _LONG_WORD.sub(upper_some, text)


def make_tree(root: Path, corpus: list[str], n: int) -> list[tuple[str, int]]:
    """Write ``n`` reports under ``root/files``; returns (study id, corpus index) per report."""
    index = []
    patients = -(-n // 3)  # about three studies per patient, as in MIMIC-CXR
    for k in range(n):
        copy, i = divmod(k, len(corpus))
        patient = k // 3
        # p10 ... p19 hold consecutive tenths of the patients, so that each copy of the corpus is
        # one stretch of the tree: the sentence cache meets a copy's own repeats close together,
        # as bench_parse.py's passes do, and never another copy's
        group = patient * 10 // patients
        subject = 10_000_000 + group * 1_000_000 + patient
        study = 50_000_000 + k
        folder = root / "files" / f"p{str(subject)[:2]}" / f"p{subject}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"s{study}.txt").write_text(_variant(corpus[i], copy), encoding="utf-8")
        index.append((f"s{study}", i))
    return index


def _triplet_key(row: dict) -> str:
    return "\n".join(sorted(json.dumps(t, sort_keys=True).lower() for t in row["triplets"]))


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children, from ``/proc`` (Linux); 0 once it is gone."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError, ValueError):
            continue
    return total / 1024


def _run_cli(root: Path, index: list[tuple[str, int]], checkout: Path, workers: int, label: str) -> bool:
    """Time one ``cxrgraph parse`` of the tree with ``checkout``'s code; print what it did."""
    out = root / "graphs.jsonl"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "cxrgraph", "parse", str(root / "files"), "--out", str(out)]
    cmd += ["--workers", str(workers), "--no-progress"]
    # PYTHONPATH comes before the installed package; the working directory must not hold another
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    log = root / "parse.log"
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0.0
        while proc.poll() is None:  # the parent and its workers together, sampled
            peak = max(peak, _tree_rss_mib(proc.pid))
            time.sleep(0.25)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"{label}: failed\n{log.read_text()}", file=sys.stderr)
        return False
    corpus_index = dict(index)
    first: dict[int, str] = {}
    rows = errors = same = 0
    with out.open(encoding="utf-8") as fh:  # streamed: the benchmark itself stays small
        for line in fh:
            row = json.loads(line)
            rows += 1
            errors += bool(row["errors"])
            key = _triplet_key(row)
            same += first.setdefault(corpus_index[row["id"]], key) == key  # copy 0 is written first
    print(f"{label}:")
    print(f"  cxrgraph parse --workers {workers}: {wall:.1f} s wall, {len(index) / wall:,.0f} reports/s")
    print(f"  rows: {rows:,} of {len(index):,}, {errors:,} with errors")
    print(f"  same reading as the unaltered report: {same:,} of {len(index):,}")
    print(
        f"  peak resident memory summed over the parent and its workers (shared pages counted in each; sampled): {peak:,.0f} MiB"
    )
    print(f"  load average after the run: {os.getloadavg()[0]:.1f}")
    return rows == len(index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=MIMIC_REPORTS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", default=None, help="NLMCXR_reports.tgz or folder (default: torchxrayvision's)")
    parser.add_argument("--tree", type=Path, default=None, help="folder for the tree (default: a temporary one)")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to pair this one with")
    parser.add_argument("--rounds", type=int, default=2, help="pairs to run with --against")
    args = parser.parse_args(argv)

    from cxrgraph.datasets import OpenIReports

    corpus = [t for t in (r.text for r in OpenIReports(args.source)) if t.strip()]
    root = args.tree or Path(tempfile.mkdtemp(prefix="cxrgraph-mimic-shaped-"))
    try:
        t0 = time.perf_counter()
        index = make_tree(root, corpus, args.reports)
        print(f"tree: {args.reports:,} reports under {root / 'files'} ({time.perf_counter() - t0:.0f} s to write)")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
        sides = {"this": ROOT} if args.against is None else {"previous": args.against.resolve(), "this": ROOT}
        ok = True
        for r in range(args.rounds if args.against is not None else 1):
            for name, checkout in sides.items():
                ok &= _run_cli(root, index, checkout, args.workers, f"{name} ({checkout}), round {r + 1}")
        return 0 if ok else 1
    finally:
        if args.tree is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
