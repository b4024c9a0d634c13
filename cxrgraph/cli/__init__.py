"""The ``cxrgraph`` command line: one command with subcommands.

Each subcommand lives in its own module of this package and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; the modules only parse arguments, load a
config and call the library (:mod:`cxrgraph.train`). Modules are imported only when their
subcommand runs, so ``cxrgraph --help`` is fast.

A config or input the run cannot use (a bad key or value, a missing or damaged file) prints one
line naming it and exits with code 2; a training run whose loss stops being finite exits with
code 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

__all__ = ["main", "COMMANDS", "add_set_argument"]

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "smoke": ("cxrgraph.cli.smoke", "build, validate and print a clinical graph (installation check)"),
    "parse": ("cxrgraph.cli.parse", "parse radiology reports into graphs (JSON lines)"),
    "phantom": ("cxrgraph.cli.phantom", "write a synthetic phantom cohort in MIMIC-CXR / Chest ImaGenome layout"),
    "detect": ("cxrgraph.cli.detect", "train or run the anatomical region detector"),
    "pretrain": ("cxrgraph.cli.pretrain", "pretrain graph alignment from a YAML config"),
    "evaluate": ("cxrgraph.cli.evaluate", "evaluate a pretrained checkpoint on downstream tasks"),
    "progression": ("cxrgraph.cli.progression", "train or evaluate temporal progression"),
    "demo": ("cxrgraph.cli.demo", "run the end-to-end demo on the built-in phantom data"),
}


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """The ``--set KEY=VALUE`` option of the commands that read a run config (``example``: a key=value)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one config entry, e.g. --set {example} (VALUE is read as YAML); repeatable",
    )


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxrgraph", description="Graph-centric chest X-ray vision-language learning.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cxrgraph`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    if args.debug:
        return int(importlib.import_module(args._module).run(args) or 0)
    from cxrgraph.utils.checkpoint import CheckpointError
    from cxrgraph.utils.config import ConfigError

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ConfigError, CheckpointError, FileNotFoundError) as err:
        print(f"cxrgraph {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:  # cxrgraph.train.TrainingDiverged names the step and the loss terms
        print(f"cxrgraph {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
