"""Graph alignment vs a global baseline on PHANTOM data: pretrain each variant, then evaluate.

Every variant gets the same backbone, the same data, the same seed and the same budget (epochs
and batch size); only the losses and the graph encoder change. After pretraining, the frozen
image embeddings are evaluated with a linear probe at 1 % and 10 % of the training labels, zero-shot
classification from prompts, and image→report retrieval on held-out phantom patients.

The phantom is synthetic: every figure this prints is on synthetic data and says so.

    python benchmarks/align/bench_pretrain.py --out benchmarks/align/results.json
    python benchmarks/align/bench_pretrain.py --quick        # a smoke run (minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import torch

VARIANTS: dict[str, dict] = {
    # reference: the same model evaluated without any pretraining step
    "no pretraining (random init)": {"loss_weights": {"global": 1.0}, "_epochs": 0},
    "global InfoNCE": {"loss_weights": {"global": 1.0}},
    "+ cascading alignment": {"loss_weights": {"global": 1.0, "cascade": 1.0}},
    "+ ASG losses": {"loss_weights": {"global": 1.0, "region_sentence": 1.0, "image_tag": 1.0, "soft_label": 1.0}},
    "+ PLACE losses": {"loss_weights": {"global": 1.0, "pathology": 1.0, "patch_correlation": 1.0}},
    "+ cascade, Euclidean graph encoder": {
        "loss_weights": {"global": 1.0, "cascade": 1.0},
        "graph_encoder": "euclidean",
    },
    "+ cascade, hyperbolic graph encoder": {
        "loss_weights": {"global": 1.0, "cascade": 1.0},
        "graph_encoder": "hyperbolic",
    },
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=int, default=200, help="phantom patients (1-3 studies each)")
    p.add_argument("--size", type=int, default=128, help="image side")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--test-fraction", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator (cpu, gpu)")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    p.add_argument("--variants", nargs="*", default=None, help="subset of variant names (default: all)")
    p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cxrgraph-bench")
    p.add_argument("--out", type=Path, default=None, help="JSON results (variants already in it are skipped)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = p.parse_args()
    if args.quick:
        args.patients, args.epochs, args.batch_size, args.size, args.channels = 12, 1, 8, 64, 32
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    import lightning as L

    from cxrgraph.cli.evaluate import evaluate
    from cxrgraph.train import GraphAlignDataModule, GraphAlignPretrainer
    from cxrgraph.train.studies import phantom_samples, split_by_subject

    t0 = time.perf_counter()
    samples = phantom_samples(args.patients, args.size, args.seed, (1, 3), cache_dir=args.cache_dir, progress=True)
    splits = split_by_subject([s.subject_id for s in samples], (0.0, args.test_fraction), args.seed)
    train = [s for s, sp in zip(samples, splits) if sp == "train"]
    test = [s for s, sp in zip(samples, splits) if sp == "test"]
    print(
        f"PHANTOM data: {len(train)} train / {len(test)} test studies, {args.size}px (ready in {time.perf_counter() - t0:.0f} s)"
    )

    results = json.loads(args.out.read_text()) if args.out is not None and args.out.is_file() else {}
    results.setdefault("settings", {}).update(
        {
            "data": "PHANTOM (synthetic)",
            "patients": args.patients,
            "train_studies": len(train),
            "test_studies": len(test),
            "image_size": args.size,
            "backbone": "resnet18 (random init)",
            "text": "all-MiniLM-L6-v2 (frozen) + trained projection",
            "channels": args.channels,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "threads": args.threads,
            "accelerator": args.accelerator,
            "precision": args.precision,
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}, torch {torch.__version__}",
        }
    )
    variants = results.setdefault("variants", {})
    for name, overrides in VARIANTS.items():
        if args.variants and name not in args.variants:
            continue
        if name in variants:
            print(f"{name}: already in {args.out}, skipped")
            continue
        L.seed_everything(args.seed, verbose=False)
        overrides = dict(overrides)
        epochs = overrides.pop("_epochs", args.epochs)
        config = {
            "backbone": "resnet18",
            "image_size": args.size,
            "channels": args.channels,
            "freeze_text": True,
            "max_length": 48,
            **overrides,
        }
        module = GraphAlignPretrainer(config, lr=args.lr, warmup_steps=0.1)
        data = GraphAlignDataModule(image_size=args.size, batch_size=args.batch_size, samples={"train": train})
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator=args.accelerator,
            devices=1,
            precision=args.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            log_every_n_steps=1,
        )
        start = time.perf_counter()
        trainer.callbacks.append(_StepClock())
        trainer.fit(module, datamodule=data)
        train_s = time.perf_counter() - start
        model = module.model.eval()
        start = time.perf_counter()
        res = evaluate(model, train, test, ["linear-probe", "zero-shot", "retrieval"], [0.01, 0.1, 1.0], repeats=5)
        eval_s = time.perf_counter() - start
        steps = trainer.global_step
        row = {
            "config": config,
            "steps": steps,
            "train_seconds": round(train_s, 1),
            "eval_seconds": round(eval_s, 1),
            "final_train_loss": float(trainer.callback_metrics.get("train/loss", float("nan"))),
            **res,
        }
        variants[name] = row
        print(_row(name, row), flush=True)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=2))
            os.replace(tmp, args.out)
    print()
    print(table(results))


class _StepClock:
    """Print the wall time of every 5th optimiser step (the budget is easier to judge while it runs)."""

    def __new__(cls):  # a Lightning callback, built lazily so importing this file stays cheap
        from lightning.pytorch.callbacks import Callback

        class StepClock(Callback):
            def __init__(self) -> None:
                self.t = time.perf_counter()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                if trainer.global_step % 5 == 0:
                    loss = float(outputs["loss"]) if isinstance(outputs, dict) else float("nan")
                    print(
                        f"  step {trainer.global_step:4d}  loss {loss:.3f}  {time.perf_counter() - self.t:.0f} s",
                        flush=True,
                    )

        return StepClock()


def _get(row: dict, *keys: str) -> float:
    cur = row
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return float("nan")
        cur = cur[k]
    return float(cur)


def _row(name: str, row: dict) -> str:
    return (
        f"| {name} | {_get(row, 'linear_probe', '0.01', 'mean_auc'):.3f} | {_get(row, 'linear_probe', '0.1', 'mean_auc'):.3f} "
        f"| {_get(row, 'linear_probe', '1', 'mean_auc'):.3f} | {_get(row, 'zero_shot', 'mean_auc'):.3f} "
        f"| {_get(row, 'retrieval', 'i2t_R@5'):.3f} | {_get(row, 'retrieval_same_text', 'i2t_R@5'):.3f} "
        f"| {row['steps']} | {row['train_seconds']:.0f} |"
    )


def table(results: dict) -> str:
    """The markdown table of every variant in ``results``."""
    lines = [
        "PHANTOM data (synthetic). Linear-probe / zero-shot: mean AUC over findings; retrieval: image→report R@5.",
        "",
        "| variant (PHANTOM) | probe 1 % | probe 10 % | probe 100 % | zero-shot AUC | R@5 | R@5 (same text ok) | steps | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(name, row) for name, row in results.get("variants", {}).items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
