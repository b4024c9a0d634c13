"""Throughput of the rules backend: the OpenI corpus repeated to >= 50,000 reports.

Prints reports per second on one core (single process, torch limited to one thread) and the
peak resident memory of the process, in two settings:

* ``sentence cache on``: the default. The cache is emptied at the start of every pass over
  the corpus, so no pass profits from the one before: each pass costs what parsing a fresh
  corpus of the same size (3,927 reports) costs, where only repeats *within* the corpus hit.
* ``sentence cache off``: every sentence read from scratch.
* ``... + graph stores``: each graph's PyG stores and tensors are created too (a graph made by
  the parser creates them on first use; triplets and JSON do not need them).

    python benchmarks/text/bench_parse.py [--reports 50000] [--mode all|cache|nocache]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time


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
    parser.add_argument("--mode", choices=("all", "cache", "nocache"), default="all")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
