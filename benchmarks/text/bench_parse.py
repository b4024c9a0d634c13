"""Throughput of the rules backend: the OpenI corpus repeated to >= 50,000 reports.

Prints reports per second on one core (single process, torch limited to one thread) and the
peak resident memory of the process.

    python benchmarks/text/bench_parse.py [--reports 50000]
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=50_000, help="number of reports to parse (>= 50,000)")
    parser.add_argument("--source", default=None, help="NLMCXR_reports.tgz or folder (default: torchxrayvision's)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from cxrgraph.datasets import OpenIReports
    from cxrgraph.text import parse_report

    corpus = [r.text for r in OpenIReports(args.source)]
    corpus = [t for t in corpus if t.strip()]
    texts = [corpus[i % len(corpus)] for i in range(args.reports)]
    parse_report(texts[0])  # build the matchers outside the timing

    cpu0, wall0 = time.process_time(), time.perf_counter()
    triplets = 0
    for text in texts:
        triplets += len(parse_report(text).triplets)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"reports: {len(texts)} (OpenI corpus of {len(corpus)} non-empty reports, repeated)")
    print(f"triplets: {triplets}")
    print(f"wall: {wall:.1f} s, cpu: {cpu:.1f} s")
    print(f"throughput: {len(texts) / cpu:.0f} reports/s per core (cpu time), {len(texts) / wall:.0f} reports/s wall")
    print(f"peak memory (max RSS): {peak_kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
