"""``cxrgraph evaluate``: linear probe, zero-shot, retrieval and grounding of a pretrained checkpoint.

Parses the arguments into a :class:`cxrgraph.train.EvaluationConfig` and calls
:func:`cxrgraph.train.evaluate_checkpoint`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cxrgraph.cli import add_set_argument

HELP = "evaluate a pretrained checkpoint on downstream tasks"

TASKS = ("linear-probe", "zero-shot", "retrieval", "grounding")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a save_pretrained folder (config.json + model.pt) or a Lightning .ckpt of `cxrgraph pretrain`",
    )
    parser.add_argument(
        "--task", choices=[*TASKS, "all"], action="append", required=True, help="what to evaluate (repeatable)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="pretraining YAML whose data section gives the studies (default: the config.yaml beside the checkpoint)",
    )
    add_set_argument(parser, "data.num_patients=32")
    parser.add_argument("--split", default="test", choices=["val", "test"], help="studies to evaluate on")
    parser.add_argument(
        "--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0], help="linear-probe label fractions"
    )
    parser.add_argument("--repeats", type=int, default=3, help="linear-probe subsets per fraction below 1")
    parser.add_argument(
        "--min-positives", type=int, default=2, help="least positives and negatives a finding needs to be scored"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from cxrgraph.train import EvaluationConfig, PretrainConfig, evaluate_checkpoint, load_run_config
    from cxrgraph.train.evaluation import find_run_config
    from cxrgraph.utils.config import ConfigError

    config_path = args.config or find_run_config(args.checkpoint)
    if config_path is None:
        raise ConfigError(
            f"no config.yaml beside {args.checkpoint}; pass --config with the data section to evaluate on"
        )
    data = load_run_config(PretrainConfig, config_path, args.overrides).data
    config = EvaluationConfig(
        checkpoint=str(args.checkpoint),
        tasks=list(TASKS) if "all" in args.task else list(args.task),
        data=data,
        split=args.split,
        fractions=list(args.fractions),
        repeats=args.repeats,
        min_positives=args.min_positives,
        batch_size=args.batch_size,
        device=args.device,
        output=None if args.output is None else str(args.output),
        progress=not args.no_progress,
    )
    result = evaluate_checkpoint(config)
    print("\n".join(result.summary_lines()))
    if result.output_path is not None:
        print(f"results: {result.output_path}")
    return 0
