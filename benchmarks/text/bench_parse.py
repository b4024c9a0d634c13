"""Throughput of the rules backend: the OpenI corpus repeated to >= 50,000 reports.

Prints reports per second on one core (single process, torch limited to one thread) and the
peak resident memory of the process, in two settings:

* ``sentence cache on``: the default. The cache is emptied at the start of every pass over
  the corpus, so no pass profits from the one before: each pass costs what parsing a fresh
  corpus of the same size (3,927 reports) costs, where only repeats *within* the corpus hit.
* ``sentence cache off``: every sentence read from scratch.
* ``... + graph stores``: each graph's PyG stores and tensors are created too (a graph made by
  the parser creates them on first use; triplets and JSON do not need them).

* ``--workers N``: ``parse_reports(..., workers=N)`` over the corpus repeated, every graph's
  stores created (full graphs), wall-clock time; prints the time MIMIC-CXR's 227,835 reports
  would take at that rate.
* ``--against PATH``: the same measurement of another checkout (e.g. the previous commit, made
  with ``git worktree add``) and of this one, alternately in fresh processes, ``--rounds``
  times: on a shared machine whose speed drifts only such pairs compare.

    python benchmarks/text/bench_parse.py [--reports 50000] [--mode all|cache|nocache|full]
    python benchmarks/text/bench_parse.py --mode full --against ../old-checkout --rounds 3
    python benchmarks/text/bench_parse.py --workers 2 --reports 227835
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIMIC_REPORTS = 227_835


def _run(corpus: list[str], n: int, cache_size: int, stores: bool) -> dict[str, float]:
    from cxrgraph.text import parse_report
    from cxrgraph.text.rules import sentence_cache_info, set_sentence_cache_size

    hits = misses = 0
    triplets = done = 0
    cpu = wall = 0.0
    while done < n:
        batch = corpus[: n - done]
        set_sentence_cache_size(cache_size)  # empty: each pass starts cold
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for text in batch:
            graph = parse_report(text)
            triplets += len(graph.triplets)
            if stores:
                _ = graph.node_types  # creates the PyG stores and tensors
        cpu += time.process_time() - cpu0
        wall += time.perf_counter() - wall0
        info = sentence_cache_info()
        hits, misses = hits + info["hits"], misses + info["misses"]
        done += len(batch)
    return {"reports": done, "triplets": triplets, "cpu": cpu, "wall": wall, "hits": hits, "misses": misses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=50_000, help="number of reports to parse (>= 50,000)")
    parser.add_argument("--source", default=None, help="NLMCXR_reports.tgz or folder (default: torchxrayvision's)")
    parser.add_argument("--mode", choices=("all", "cache", "nocache", "full"), default="all")
    parser.add_argument("--workers", type=int, default=0, help="time parse_reports with this many workers")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to pair this one with")
    parser.add_argument("--rounds", type=int, default=3, help="pairs to run with --against")
    args = parser.parse_args(argv)
    if args.against is not None:
        return _paired(args, argv or sys.argv[1:])
    if args.workers:
        return _workers(args)

    import torch

    torch.set_num_threads(1)
    from cxrgraph.datasets import OpenIReports
    from cxrgraph.text import parse_report

    corpus = [r.text for r in OpenIReports(args.source)]
    corpus = [t for t in corpus if t.strip()]
    parse_report(corpus[0])  # build the matchers outside the timing
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}"
    )
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"reports: {args.reports} (OpenI corpus of {len(corpus)} non-empty reports, repeated)")
    modes = {
        "cache": [("sentence cache on (emptied every pass)", 65_536, False)],
        "nocache": [("sentence cache off", 0, False)],
    }
    modes["full"] = [("sentence cache on (emptied every pass) + graph stores", 65_536, True)]
    modes["all"] = [
        *modes["cache"],
        ("sentence cache on (emptied every pass) + graph stores", 65_536, True),
        *modes["nocache"],
        ("sentence cache off + graph stores", 0, True),
    ]
    for label, size, stores in modes[args.mode]:
        r = _run(corpus, args.reports, size, stores)
        rate = r["hits"] / max(1, r["hits"] + r["misses"])
        print(f"-- {label}")
        print(f"   triplets: {r['triplets']}, sentence cache hit rate: {rate:.1%}")
        print(f"   wall: {r['wall']:.1f} s, cpu: {r['cpu']:.1f} s")
        print(
            f"   throughput: {r['reports'] / r['cpu']:.0f} reports/s per core (cpu time),"
            f" {r['reports'] / r['wall']:.0f} reports/s wall"
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory (max RSS): {peak_kib / 1024:.0f} MiB")
    return 0


def _workers(args: argparse.Namespace) -> int:
    """Wall-clock throughput of ``parse_reports(..., workers=N)`` with full graphs."""
    import torch

    torch.set_num_threads(1)
    from cxrgraph.datasets import OpenIReports
    from cxrgraph.text import parse_reports

    corpus = [t for t in (r.text for r in OpenIReports(args.source)) if t.strip()]
    texts = (corpus * (args.reports // len(corpus) + 1))[: args.reports]
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    graphs = parse_reports(texts, workers=args.workers, chunksize=256)
    for g in graphs:
        _ = g.node_types  # full graphs: every graph's PyG stores and tensors
    wall = time.perf_counter() - start
    rate = len(graphs) / wall
    print(f"parse_reports(workers={args.workers}): {len(graphs)} reports in {wall:.1f} s wall, {rate:.0f} reports/s")
    print(f"MIMIC-CXR's {MIMIC_REPORTS:,} reports at this rate: {MIMIC_REPORTS / rate:.1f} s")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory (max RSS, parent process): {peak_kib / 1024:.0f} MiB")
    return 0


def _paired(args: argparse.Namespace, argv: list[str]) -> int:
    """Run this script on ``--against`` and on this checkout alternately; print the pairs."""
    rest = []
    skip = False
    for a in argv:  # the child runs the same measurement without the pairing options
        if skip:
            skip = False
            continue
        if a in ("--against", "--rounds"):
            skip = True
            continue
        if a.startswith(("--against=", "--rounds=")):
            continue
        rest.append(a)
    sides = {"previous": args.against.resolve(), "this": ROOT}
    rates: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, path in sides.items():
            env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1"}
            out = subprocess.run(
                [sys.executable, "-W", "ignore", str(Path(__file__).resolve()), *rest],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            found = re.findall(r"throughput: (\d+) reports/s per core|, (\d+) reports/s\n", out)
            rate = float(next(a or b for a, b in found)) if found else float("nan")
            peak = re.search(r"peak memory[^:]*: (\d+) MiB", out)
            rates[name].append(rate)
            print(
                f"round {r + 1} {name:>8}: {rate:7.0f} reports/s  peak {peak.group(1) if peak else '?'} MiB  ({path})"
            )
    for k in range(args.rounds):
        a, b = rates["previous"][k], rates["this"][k]
        print(f"pair {k + 1}: previous {a:.0f}, this {b:.0f} reports/s ({(b / a - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
