"""``cxrgraph pretrain``: pretrain graph alignment from a YAML config (:func:`cxrgraph.train.pretrain`).

The YAML has the sections of :class:`cxrgraph.train.PretrainConfig`::

    seed: 0
    output_dir: runs/phantom
    model:      # cxrgraph.train.GraphAlignPretrainer(**model)
      model_config: {backbone: resnet18, image_size: 128, loss_weights: {global: 1.0}}
      lr: 3.0e-4
    data:       # cxrgraph.train.GraphAlignDataModule(**data)
      source: phantom
      num_patients: 64
    trainer:    # lightning.Trainer(**trainer)
      max_epochs: 2
    checkpoint: # lightning.pytorch.callbacks.ModelCheckpoint(**checkpoint)
      monitor: val/loss
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cxrgraph.cli import add_set_argument

HELP = "pretrain graph alignment from a YAML config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="YAML file (see configs/)")
    parser.add_argument("--output-dir", type=Path, default=None, help="run folder (overrides output_dir)")
    add_set_argument(parser, "trainer.max_epochs=3")
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="resume from a Lightning checkpoint ('last' = the run's last.ckpt)",
    )
    parser.add_argument(
        "--fast-dev-run", nargs="?", const=1, type=int, default=0, metavar="N", help="run N train/val batches only"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cxrgraph.train import PretrainConfig, load_run_config, pretrain

    config = load_run_config(PretrainConfig, args.config, args.overrides)
    if args.output_dir is not None:
        config = replace(config, output_dir=str(args.output_dir))
    result = pretrain(config, resume=args.resume, fast_dev_run=args.fast_dev_run, progress=not args.no_progress)
    if args.fast_dev_run:
        print("fast dev run finished (no checkpoint written)")
    if result.model_path is not None:
        print(f"pretrained model: {result.model_path}")
    if result.best_checkpoint is not None:
        print(f"best checkpoint: {result.best_checkpoint}")
    print(f"resolved config: {result.config_path}")
    return 0
