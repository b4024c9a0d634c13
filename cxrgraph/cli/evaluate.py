"""``cxrgraph evaluate``: linear probe, zero-shot classification and retrieval of a pretrained checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config entry"
    )
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


def _find_config(checkpoint: Path) -> Path | None:
    from cxrgraph.cli.pretrain import RESOLVED_CONFIG

    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for candidate in (folder / RESOLVED_CONFIG, folder.parent / "checkpoints" / RESOLVED_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def evaluate(
    model: Any,
    train: Any,
    test: Any,
    tasks: list[str],
    fractions: list[float],
    repeats: int = 3,
    batch_size: int = 32,
    progress: bool = False,
    min_positives: int = 2,
) -> dict[str, Any]:
    """Run the tasks on embeddings of ``train`` (linear-probe fitting) and ``test`` studies."""
    from cxrgraph.eval import (
        duplicate_positives,
        extract_embeddings,
        linear_probe,
        region_grounding,
        retrieval_metrics,
        zero_shot,
    )
    from cxrgraph.ontology import get_ontology

    names = [f.name for f in get_ontology().findings]
    results: dict[str, Any] = {}
    te = extract_embeddings(model, test, batch_size, progress)
    results["num_test"] = len(te)
    if "linear-probe" in tasks:
        tr = extract_embeddings(model, train, batch_size, progress)
        results["num_train"] = len(tr)
        try:
            probe = linear_probe(
                tr.image,
                tr.labels,
                te.image,
                te.labels,
                fractions,
                names=names,
                repeats=repeats,
                min_positives=min_positives,
            )
            results["linear_probe"] = {
                f"{r.fraction:g}": {
                    "num_train": r.num_train,
                    "mean_auc": r.mean_auc,
                    "repeats": r.repeats,
                    "auc": r.auc,
                }
                for r in probe
            }
        except ValueError as err:  # too few labelled studies: say so, run the other tasks
            results["linear_probe"] = {"error": str(err)}
    if "zero-shot" in tasks:
        try:
            zs = zero_shot(te.image, te.labels, model.embed_texts, names, min_positives=min_positives)
            results["zero_shot"] = {"mean_auc": zs.mean_auc, "auc": zs.auc}
        except ValueError as err:
            results["zero_shot"] = {"error": str(err)}
    if "grounding" in tasks:
        if te.region_scores is None:
            results["grounding"] = {"error": "the studies carry no ground-truth finding regions"}
        else:
            g = region_grounding(te.region_scores, te.label_regions, te.region_mask, names)
            results["grounding"] = {
                "accuracy": g.accuracy,
                "auc": g.auc,
                "num_pairs": g.num_pairs,
                "chance_accuracy": g.chance_accuracy,
                "per_finding": {k: {"accuracy": a, "auc": u, "pairs": n} for k, (a, u, n) in g.per_finding.items()},
            }
    if "retrieval" in tasks:
        results["retrieval"] = retrieval_metrics(te.image, te.report, (1, 5, 10))
        if any(te.report_texts):
            results["retrieval_same_text"] = retrieval_metrics(
                te.image, te.report, (1, 5, 10), duplicate_positives(te.report_texts)
            )
    return results


def run(args: argparse.Namespace) -> int:
    import torch

    from cxrgraph.cli.pretrain import load_config
    from cxrgraph.models import GraphAlignModel
    from cxrgraph.train.datamodule import GraphAlignDataModule

    tasks = list(TASKS) if "all" in args.task else list(dict.fromkeys(args.task))
    config_path = args.config or _find_config(args.checkpoint)
    if config_path is None:
        raise FileNotFoundError(
            f"no config.yaml beside {args.checkpoint}; pass --config with the data section to evaluate on"
        )
    cfg = load_config(config_path, args.overrides)
    model = GraphAlignModel.from_pretrained(args.checkpoint).to(torch.device(args.device))
    data_kw = dict(cfg["data"])
    data_kw["image_size"] = model.config.image_size
    data = GraphAlignDataModule(**data_kw)
    data.prepare_data()
    data.setup("test")
    if args.split not in data.datasets or "train" not in data.datasets:
        data.datasets.clear()
        data.setup(None)
    # bigger eval batches than training ones are fine: no gradients
    data.batch_size = max(args.batch_size, 2)
    results = evaluate(
        model,
        data._loader("train", train=False),
        data._loader(args.split, train=False),
        tasks,
        args.fractions,
        args.repeats,
        args.batch_size,
        not args.no_progress,
        args.min_positives,
    )
    results = {"checkpoint": str(args.checkpoint), "split": args.split, "data": cfg["data"].get("source"), **results}
    if cfg["data"].get("source", "phantom") == "phantom":
        results["note"] = "phantom data: synthetic studies, not real radiographs"
    _print(results)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"results: {args.output}")
    return 0


def _print(results: dict[str, Any]) -> None:
    print(f"checkpoint {results['checkpoint']}  split {results['split']}  studies {results['num_test']}")
    if "note" in results:
        print(f"  ({results['note']})")
    for frac, r in results.get("linear_probe", {}).items():
        if frac == "error":
            print(f"  linear probe  not run: {r}")
            continue
        print(f"  linear probe  {float(frac):>6.0%} labels ({r['num_train']:>5} studies): mean AUC {r['mean_auc']:.3f}")
    if "error" in results.get("zero_shot", {}):
        print(f"  zero-shot     not run: {results['zero_shot']['error']}")
    elif "zero_shot" in results:
        print(
            f"  zero-shot     mean AUC {results['zero_shot']['mean_auc']:.3f} over {len(results['zero_shot']['auc'])} findings"
        )
    g = results.get("grounding")
    if g is not None and "error" in g:
        print(f"  grounding     not run: {g['error']}")
    elif g is not None:
        print(
            f"  grounding     accuracy {g['accuracy']:.3f} (chance {g['chance_accuracy']:.3f}), region AUC "
            f"{g['auc']:.3f} over {g['num_pairs']} present findings"
        )
    if "retrieval" in results:
        r = results["retrieval"]
        print("  retrieval     " + "  ".join(f"{k} {v:.3f}" for k, v in r.items()))
