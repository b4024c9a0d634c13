"""Does graph-aligned pretraining learn? Every variant, several seeds, one budget, one split — PHANTOM data.

Each variant pretrains the same model (ResNet-18 from random init, frozen text transformer with
stored text features) for the same number of optimiser steps on the same training patients, then
its frozen image embedding (the image graph's readout) is evaluated on held-out patients:

* linear probe (per-finding logistic regression) at 1 %, 10 % and 100 % of the training labels,
* zero-shot classification from prompts,
* image→report retrieval R@5 (chance = 5 / test studies),
* region grounding: for each finding present in a test study, is the region the image graph
  links it to one of the regions where the phantom drew it (accuracy; AUC over regions).

"untrained" is the same model evaluated with its random initialisation (one per seed). Seeds change
the initialisation and the batch order, never the data split. The phantom is synthetic: every
figure this prints is on synthetic data and says so.

    python benchmarks/align/bench_pretrain.py --out benchmarks/align/results_phantom_cpu.json
    python benchmarks/align/bench_pretrain.py --quick        # a smoke run (minutes)

Results already in ``--out`` are kept (a rerun adds the missing variant / seed pairs).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

ASG = {"region_sentence": 1.0, "image_tag": 1.0, "soft_label": 1.0}
PLACE = {"pathology": 1.0, "patch_correlation": 1.0}
ALL = {"global": 1.0, "cascade": 1.0, **ASG, **PLACE}

#: name -> GraphAlignConfig changes ("_train": False evaluates the initialisation)
VARIANTS: dict[str, dict] = {
    "untrained": {"loss_weights": {"global": 1.0}, "_train": False},
    "global InfoNCE": {"loss_weights": {"global": 1.0}},
    "+ cascade (CGA)": {"loss_weights": {"global": 1.0, "cascade": 1.0}},
    "+ ASG": {"loss_weights": {"global": 1.0, **ASG}},
    "+ PLACE": {"loss_weights": {"global": 1.0, **PLACE}},
    "all": {"loss_weights": ALL},
    "all, Euclidean graph encoder": {"loss_weights": ALL, "graph_encoder": "euclidean"},
    "all, hyperbolic graph encoder": {"loss_weights": ALL, "graph_encoder": "hyperbolic"},
}

METRICS = {
    "probe 1 %": ("linear_probe", "0.01", "mean_auc"),
    "probe 10 %": ("linear_probe", "0.1", "mean_auc"),
    "probe 100 %": ("linear_probe", "1", "mean_auc"),
    "zero-shot AUC": ("zero_shot", "mean_auc"),
    "R@5": ("retrieval", "i2t_R@5"),
    "grounding acc": ("grounding", "accuracy"),
    "grounding AUC": ("grounding", "auc"),
}


def _get(row: dict, keys: tuple[str, ...]) -> float:
    cur = row
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return float("nan")
        cur = cur[k]
    return float(cur)


def run_one(name: str, seed: int, train, test, args) -> dict:
    """Pretrain one variant with one seed (or not, for "untrained") and evaluate it."""
    import lightning as L

    from cxrgraph.train import GraphAlignDataModule, GraphAlignPretrainer, evaluate

    overrides = dict(VARIANTS[name])
    do_train = overrides.pop("_train", True)
    config = {
        "backbone": "resnet18",
        "image_size": args.size,
        "channels": args.channels,
        "freeze_text": True,
        "max_length": 48,
        **overrides,
    }
    L.seed_everything(seed, verbose=False)
    module = GraphAlignPretrainer(config, lr=args.lr, warmup_steps=0.05, weight_decay=args.weight_decay)
    steps, train_s, final_loss = 0, 0.0, float("nan")
    if do_train:
        data = GraphAlignDataModule(image_size=args.size, batch_size=args.batch_size, samples={"train": train})
        trainer = L.Trainer(
            max_steps=args.steps,
            accelerator=args.accelerator,
            devices=1,
            precision=args.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            log_every_n_steps=10,
            gradient_clip_val=1.0,
        )
        start = time.perf_counter()
        trainer.fit(module, datamodule=data)
        train_s = time.perf_counter() - start
        steps = trainer.global_step
        final_loss = float(trainer.callback_metrics.get("train/loss", float("nan")))
    model = module.model.eval()
    start = time.perf_counter()
    res = evaluate(
        model, train, test, ["linear-probe", "zero-shot", "retrieval", "grounding"], [0.01, 0.1, 1.0], repeats=5
    ).to_dict()
    for g in ("grounding",):
        if isinstance(res.get(g), dict):
            res[g].pop("per_finding", None)
    return {
        "variant": name,
        "seed": seed,
        "config": config,
        "steps": steps,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - start, 1),
        "final_train_loss": final_loss,
        **{k: v for k, v in res.items() if k in ("linear_probe", "zero_shot", "retrieval", "grounding", "num_test")},
    }


def summary(results: dict) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``{variant: {metric: (mean, sd, seeds)}}`` over the runs in ``results``."""
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for name in VARIANTS:
        runs = [r for r in results.get("runs", []) if r["variant"] == name]
        if not runs:
            continue
        out[name] = {}
        for metric, keys in METRICS.items():
            values = [v for v in (_get(r, keys) for r in runs) if not math.isnan(v)]
            if values:
                sd = statistics.stdev(values) if len(values) > 1 else float("nan")
                out[name][metric] = (statistics.mean(values), sd, len(values))
    return out


def table(results: dict) -> str:
    """Markdown table: mean ± sd over seeds of every metric."""
    s = results.get("settings", {})
    chance = 5 / s["test_studies"] if s.get("test_studies") else float("nan")
    lines = [
        f"PHANTOM data (synthetic). Mean ± sd over seeds; R@5 chance = {chance:.4f}.",
        "",
        "| variant (PHANTOM) | " + " | ".join(METRICS) + " | seeds | train s / run |",
        "|---|" + "---|" * (len(METRICS) + 2),
    ]
    summ = summary(results)
    for name, metrics in summ.items():
        runs = [r for r in results["runs"] if r["variant"] == name]
        cells = []
        for metric in METRICS:
            if metric in metrics:
                m, sd, _ = metrics[metric]
                cells.append(f"{m:.3f} ± {sd:.3f}" if not math.isnan(sd) else f"{m:.3f}")
            else:
                cells.append("-")
        secs = statistics.mean(r["train_seconds"] for r in runs)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(runs)} | {secs:.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=int, default=1500, help="phantom patients (1-3 studies each)")
    p.add_argument("--size", type=int, default=128, help="image side")
    p.add_argument("--steps", type=int, default=400, help="optimiser steps per run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--data-seed", type=int, default=0, help="phantom cohort and split seed (fixed for all runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator (cpu, gpu)")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    p.add_argument("--variants", nargs="*", default=None, help="subset of variant names (default: all)")
    p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cxrgraph-bench")
    p.add_argument("--out", type=Path, default=None, help="JSON results (runs already in it are kept)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = p.parse_args()
    if args.quick:
        args.patients, args.steps, args.batch_size, args.size, args.channels = 40, 4, 8, 64, 32
        args.seeds = args.seeds[:1]
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from cxrgraph.datasets import phantom_samples, split_by_subject
    from cxrgraph.models import GraphAlignModel, attach_text_features

    t0 = time.perf_counter()
    samples = phantom_samples(args.patients, args.size, args.data_seed, (1, 3), cache_dir=args.cache_dir, progress=True)
    splits = split_by_subject([s.subject_id for s in samples], (0.0, args.test_fraction), args.data_seed)
    train = [s for s, sp in zip(samples, splits) if sp == "train"]
    test = [s for s, sp in zip(samples, splits) if sp == "test"]
    # the frozen text features are the same for every variant: encode once, store beside the report cache
    encoder = GraphAlignModel(
        {"image_size": args.size, "channels": args.channels, "freeze_text": True, "max_length": 48}
    )
    key = f"phantom-n{args.patients}-s{args.size}-seed{args.data_seed}"
    attach_text_features(samples, encoder.text_encoder, args.cache_dir / f"{key}-text-features", progress=True)
    del encoder
    print(
        f"PHANTOM data (synthetic): {len(train)} train / {len(test)} test studies, {args.size}px "
        f"(ready in {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )

    results = json.loads(args.out.read_text()) if args.out is not None and args.out.is_file() else {}
    results["settings"] = {
        "data": "PHANTOM (synthetic)",
        "patients": args.patients,
        "train_studies": len(train),
        "test_studies": len(test),
        "image_size": args.size,
        "backbone": "resnet18 (random init)",
        "text": "all-MiniLM-L6-v2 (frozen, stored features) + trained projection",
        "channels": args.channels,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "seeds": args.seeds,
        "threads": args.threads,
        "accelerator": args.accelerator,
        "precision": args.precision,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}",
    }
    runs = results.setdefault("runs", [])
    done = {(r["variant"], r["seed"]) for r in runs}
    started = time.perf_counter()
    for seed in args.seeds:
        for name in VARIANTS:
            if args.variants and name not in args.variants:
                continue
            if (name, seed) in done:
                continue
            row = run_one(name, seed, train, test, args)
            runs.append(row)
            print(
                f"[{time.perf_counter() - started:6.0f} s] {name} seed {seed}: "
                + ", ".join(f"{m} {_get(row, k):.3f}" for m, k in METRICS.items())
                + f" ({row['steps']} steps, {row['train_seconds']:.0f} s train, {row['eval_seconds']:.0f} s eval)",
                flush=True,
            )
            if args.out is not None:
                from cxrgraph.utils.atomic import atomic_write_json

                atomic_write_json(args.out, results, indent=1)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
