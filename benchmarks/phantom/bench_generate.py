"""Phantom generation speed: studies per second at 128 / 256 / 512 px on one core.

Times the whole in-memory path of :class:`cxrgraph.datasets.phantom.PhantomCohort` (image,
29 boxes, findings, report, ClinicalGraph) and, separately, image + boxes alone. Prints wall
clock and CPU-time throughput: on a shared machine the CPU figure is the one that says what one
free core would do.

Usage::

    python benchmarks/phantom/bench_generate.py [--patients 30] [--sizes 128 256 512]
"""

from __future__ import annotations

import argparse
import os
import time

# one core: keep numpy / torch from spreading over threads
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cxrgraph.datasets.phantom import ChestFields, PatientAnatomy, PhantomCohort, StudyPose, region_boxes  # noqa: E402
from cxrgraph.datasets.phantom.findings import sample_lesions  # noqa: E402
from cxrgraph.datasets.phantom.render import render, to_uint8  # noqa: E402


def _time(fn) -> tuple[int, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - t0, time.process_time() - c0


def bench_full(size: int, patients: int) -> tuple[int, float, float]:
    cohort = PhantomCohort(patients, size=size, seed=123)
    list(PhantomCohort(1, size=size, seed=0).studies())  # warm caches (grids, textures, ontology)
    return _time(lambda: sum(1 for _ in cohort.studies()))


def bench_image(size: int, n: int) -> tuple[int, float, float]:
    rng = np.random.default_rng(0)
    jobs = []
    for _ in range(n):
        jobs.append((PatientAnatomy.sample(rng), StudyPose.sample(rng), sample_lesions(rng)))

    def run() -> int:
        for anatomy, pose, lesions in jobs:
            f = ChestFields(anatomy, pose, size)
            to_uint8(render(f, lesions, rng))
            region_boxes(f)
        return n

    run_warm = jobs[:1]
    for anatomy, pose, lesions in run_warm:
        render(ChestFields(anatomy, pose, size), lesions, rng)
    return _time(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    print(f"phantom generation, one thread, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'size':>5} {'what':<28} {'studies':>7} {'wall/s':>9} {'cpu/s':>9}")
    for size in args.sizes:
        n, wall, cpu = bench_full(size, args.patients)
        print(f"{size:>5} {'full study (image+GT+report)':<28} {n:>7} {n / wall:>9.1f} {n / cpu:>9.1f}")
        n, wall, cpu = bench_image(size, 3 * args.patients)
        print(f"{size:>5} {'image + 29 boxes only':<28} {n:>7} {n / wall:>9.1f} {n / cpu:>9.1f}")


if __name__ == "__main__":
    main()
