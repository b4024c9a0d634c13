"""Graph-cache benchmark: process a phantom cohort written in the MIMIC-CXR / Chest ImaGenome
layouts into cxrgraph's graph caches, then open the caches again.

Prints studies per second of the first (processing) run, the time of the second run with the
caches present (and the speed-up), and the peak resident memory of each run, measured in a
fresh subprocess so the phantom generation does not count. The data are SYNTHETIC (phantom).

Usage: python benchmarks/data/bench_cache.py [--studies 5000] [--size 128] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = r"""
import json, resource, sys, time
from cxrgraph.datasets.imagenome import ChestImaGenome
from cxrgraph.datasets.mimic_cxr import MIMICCXRReportGraphs
from cxrgraph.ontology import get_ontology
root, cache = sys.argv[1], sys.argv[2]
out = {}
get_ontology()  # loaded once per process; not part of either run
t = time.perf_counter()
reports = MIMICCXRReportGraphs(root, processed_root=cache, shard_size=512)
out["reports_s"] = time.perf_counter() - t
out["reports_n"] = len(reports)
out["reports_failed"] = len(reports.failures)
t = time.perf_counter()
scenes = ChestImaGenome(root, split=None, processed_root=cache, shard_size=512)
out["scenes_s"] = time.perf_counter() - t
out["scenes_n"] = len(scenes)
t = time.perf_counter()
for i in range(0, len(scenes), max(1, len(scenes) // 50)):
    scenes[i]
out["sample_read_s"] = time.perf_counter() - t
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(root: Path, cache: Path) -> dict:
    res = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", RUN, str(root), str(cache)], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=5000, help="at least this many studies")
    parser.add_argument("--size", type=int, default=128, help="image size (does not affect the caches)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the phantom tree here")
    args = parser.parse_args()

    from cxrgraph.datasets.phantom import PhantomCohort, write_phantom

    work = args.out or Path(tempfile.mkdtemp(prefix="cxrgraph-bench-"))
    root, cache = work / "phantom", work / "cache"
    patients = -(-args.studies // 3)  # three studies per patient
    t = time.perf_counter()
    cohort = PhantomCohort(patients, size=args.size, seed=args.seed, studies_per_patient=(3, 3))
    write_phantom(root, cohort)
    print(
        f"phantom (synthetic): {patients} patients, {3 * patients} studies at {args.size} px "
        f"written in {time.perf_counter() - t:.1f} s"
    )

    first = run(root, cache)
    second = run(root, cache)
    total_first = first["reports_s"] + first["scenes_s"]
    total_second = second["reports_s"] + second["scenes_s"]
    print()
    print("| run | report graphs | scene graphs | studies/s (reports + scenes) | peak RSS |")
    print("|---|---|---|---|---|")
    for name, r, tot in (("first (process)", first, total_first), ("second (cache present)", second, total_second)):
        rate = r["reports_n"] / tot if tot else float("inf")
        print(
            f"| {name} | {r['reports_n']} in {r['reports_s']:.2f} s | {r['scenes_n']} in {r['scenes_s']:.2f} s "
            f"| {rate:,.0f} | {r['peak_rss_mb']:.0f} MB |"
        )
    print()
    print(f"failed reports recorded: {first['reports_failed']}")
    print(f"speed-up of the second run: {total_first / total_second:.1f}x")
    print(f"reading 50 graphs spread over the cache: {second['sample_read_s'] * 1000:.0f} ms")
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
