"""``cxrgraph demo``: the whole library on the built-in phantom, with a report of figures."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the end-to-end demo on the built-in phantom data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (report.md, figures/)")
    parser.add_argument("--quick", action="store_true", help="small settings: about two minutes on a laptop CPU")
    parser.add_argument("--patients", type=int, default=None, help="phantom patients (default 60, quick 14)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from cxrgraph.demo import DemoSettings, run_demo

    kw = {"seed": args.seed, "device": args.device, "progress": not args.no_progress}
    settings = DemoSettings.quick_settings(**kw) if args.quick else DemoSettings(**kw)
    if args.patients is not None:
        settings.patients = args.patients
    run_demo(args.out, settings)
    return 0
