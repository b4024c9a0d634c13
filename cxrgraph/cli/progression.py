"""``cxrgraph progression train|evaluate --config FILE.yaml``: temporal progression on study pairs.

Loads a :class:`cxrgraph.train.ProgressionRunConfig` and calls
:func:`cxrgraph.train.train_progression` or :func:`cxrgraph.train.evaluate_progression_run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cxrgraph.cli import add_set_argument

HELP = "train or evaluate temporal progression"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("train", "evaluate"), help="train a model, or evaluate a checkpoint")
    parser.add_argument("--config", type=Path, required=True, help="YAML config (see configs/progression_*.yaml)")
    parser.add_argument(
        "--output-dir", "--out", dest="output_dir", type=Path, default=None, help="run folder (overrides output_dir)"
    )
    add_set_argument(parser, "train.epochs=3")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="evaluate: model folder (default OUTPUT_DIR/model)"
    )
    parser.add_argument("--fast-dev-run", action="store_true", help="train: one batch of each split, for checks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cxrgraph.train import ProgressionRunConfig, evaluate_progression_run, load_run_config, train_progression

    config = load_run_config(ProgressionRunConfig, args.config, args.overrides)
    if args.output_dir is not None:
        config = replace(config, output_dir=str(args.output_dir))
    if args.action == "train":
        result = train_progression(config, fast_dev_run=args.fast_dev_run, progress=not args.no_progress)
        if result.region_pretraining_losses:
            losses = [round(x, 4) for x in result.region_pretraining_losses]
            print(f"region pretraining: losses {losses}")
        print(f"model: {result.model_path}")
    else:
        result = evaluate_progression_run(config, args.checkpoint)
    if result.metrics_path is not None:
        print("held-out pairs (PHANTOM is synthetic):")
        for k, v in result.summary().items():
            print(f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}")
        for k, p in {"metrics": result.metrics_path, **result.figures}.items():
            print(f"  {k + ':':<22} {p}")
    return 0
