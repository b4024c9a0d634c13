"""Time ``import cxrgraph`` and its layers in fresh interpreters; list heavy modules pulled in.

Usage: python benchmarks/import_time.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

TARGETS = ["cxrgraph", "cxrgraph.ontology", "cxrgraph.graph"]
HEAVY = ["torch", "torch_geometric", "lightning", "pytorch_lightning", "stanza", "transformers"]


def measure(module: str) -> tuple[float, list[str]]:
    code = (
        "import time, sys, json\n"
        "t = time.perf_counter()\n"
        f"import {module}\n"
        "dt = time.perf_counter() - t\n"
        f"print(json.dumps([dt, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    dt, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    return dt, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'module':<22} {'median s':>9} {'min s':>7}  heavy modules imported")
    for module in TARGETS:
        runs = [measure(module) for _ in range(args.repeat)]
        times = [r[0] for r in runs]
        print(f"{module:<22} {statistics.median(times):>9.3f} {min(times):>7.3f}  {', '.join(runs[-1][1]) or '-'}")


if __name__ == "__main__":
    main()
