"""``cxrgraph phantom``: write a synthetic phantom cohort in MIMIC-CXR-JPG / Chest ImaGenome layout."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

HELP = "write a synthetic phantom cohort in MIMIC-CXR / Chest ImaGenome layout"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be empty or new)")
    parser.add_argument("--patients", type=int, default=20, help="number of patients (default 20)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels, 128-512 (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="cohort seed; the same seed writes identical files")
    parser.add_argument("--min-studies", type=int, default=2, help="fewest studies per patient (default 2)")
    parser.add_argument("--max-studies", type=int, default=4, help="most studies per patient (default 4)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from cxrgraph.datasets.phantom import PhantomCohort, write_phantom

    out: Path = args.out
    if out.exists() and not out.is_dir():
        log.error("--out %s exists and is not a folder", out)
        return 2
    if out.is_dir() and any(out.iterdir()) and not args.force:
        log.error("--out %s is not empty; pass --force to write into it anyway", out)
        return 2
    try:
        cohort = PhantomCohort(
            args.patients, size=args.size, seed=args.seed, studies_per_patient=(args.min_studies, args.max_studies)
        )
    except ValueError as err:
        log.error("%s", err)
        return 2

    bar = None
    if not args.no_progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(cohort), unit="patient", desc="phantom")
        except ImportError:  # progress is a nicety, not a requirement
            bar = None

    def progress(_n: int) -> None:
        if bar is not None:
            bar.update(1)

    start = time.perf_counter()
    summary = write_phantom(out, cohort, quality=args.quality, progress=progress)
    if bar is not None:
        bar.close()
    took = time.perf_counter() - start
    print(
        f"wrote {summary['studies']} studies ({summary['pairs']} prior/current pairs) of "
        f"{summary['patients']} synthetic patients to {out} in {took:.1f} s"
    )
    if summary["errors"]:
        print(f"{len(summary['errors'])} patient(s) failed; see {out / 'phantom_manifest.json'}")
        return 1
    return 0
