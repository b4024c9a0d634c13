"""``cxrgraph progression train|evaluate --config FILE.yaml``: temporal progression on study pairs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

HELP = "train or evaluate temporal progression"

log = logging.getLogger(__name__)

#: config sections and the keys each accepts (anything else is an error, not silently ignored)
_SECTIONS: dict[str, set[str]] = {
    "data": {
        "source", "num_patients", "image_size", "seed", "val_fraction", "test_fraction",
        "studies_per_patient", "guidance", "batch_size", "num_workers",
    },
    "pretrain": {"epochs", "batch_size", "lr"},
    "train": {
        "epochs", "lr", "weight_decay", "warmup_steps", "prior_dropout", "precompute_features",
        "accelerator", "devices", "precision", "fast_dev_run", "limit_train_batches", "log_every_n_steps",
        "text_model",
    },
}  # fmt: skip
_TOP = {"seed", "out", "data", "model", "pretrain", "train"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("train", "evaluate"), help="train a model, or evaluate a checkpoint")
    parser.add_argument("--config", type=Path, required=True, help="YAML config (see configs/progression_*.yaml)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (overrides the config's 'out')")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="evaluate: checkpoint (default OUT/progression.pt)"
    )
    parser.add_argument("--fast-dev-run", action="store_true", help="train: one batch of each split, for checks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_config(path: Path) -> dict[str, Any]:
    """Read and check a progression YAML config (unknown keys are errors)."""
    import yaml

    from cxrgraph.temporal import ProgressionConfig

    if not path.is_file():
        raise FileNotFoundError(f"--config: no such file {path}")
    with path.open(encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: the config must be a mapping, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - _TOP)
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {unknown}; known: {sorted(_TOP)}")
    for section, keys in _SECTIONS.items():
        sub = cfg.setdefault(section, {}) or {}
        if not isinstance(sub, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping")
        bad = sorted(set(sub) - keys)
        if bad:
            raise ValueError(f"{path}: unknown keys in {section!r}: {bad}; known: {sorted(keys)}")
        cfg[section] = sub
    cfg["model"] = ProgressionConfig.from_dict(cfg.get("model") or {}).to_dict()
    source = cfg["data"].get("source", "phantom")
    if source != "phantom":
        raise ValueError(f"{path}: data.source {source!r} is not supported by the CLI yet; use 'phantom'")
    return cfg


def _datamodule(cfg: dict[str, Any]):
    from cxrgraph.train.progression import ProgressionDataModule

    d = dict(cfg["data"])
    d.pop("source", None)
    d.setdefault("seed", cfg.get("seed", 0))
    d.setdefault("image_size", cfg["model"]["image_size"])
    if "studies_per_patient" in d:
        d["studies_per_patient"] = tuple(d["studies_per_patient"])
    d.setdefault("num_patients", 200)
    return ProgressionDataModule(**d)


def _precompute(module, dm) -> None:
    from cxrgraph.temporal import attach_region_features

    for name, samples in dm.samples.items():
        dm.samples[name] = attach_region_features(module.model, samples)


def _train(cfg: dict[str, Any], out: Path, fast_dev_run: bool, progress: bool) -> int:
    import lightning as L

    from cxrgraph.temporal import evaluate_progression, pretrain_region_encoder, write_evaluation
    from cxrgraph.train.progression import ProgressionModule

    seed = int(cfg.get("seed", 0))
    L.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(cfg)
    dm.setup()
    tr = cfg["train"]
    module = ProgressionModule(
        cfg["model"],
        lr=float(tr.get("lr", 3e-3)),
        weight_decay=float(tr.get("weight_decay", 1e-4)),
        warmup_steps=int(tr.get("warmup_steps", 20)),
        prior_dropout=float(tr.get("prior_dropout", 0.0)),
        text_model=tr.get("text_model"),
        class_counts=dm.class_counts().tolist(),
    )
    pre = cfg["pretrain"]
    if int(pre.get("epochs", 0)) > 0 and not fast_dev_run:
        images, graphs = dm.pretrain_studies
        res = pretrain_region_encoder(
            module.model.encoder,
            images,
            graphs,
            epochs=int(pre["epochs"]),
            batch_size=int(pre.get("batch_size", 32)),
            lr=float(pre.get("lr", 2e-3)),
            seed=seed,
        )
        print(f"region pretraining: {res.num_studies} studies, losses {[round(x, 4) for x in res.losses]}")
    if cfg["model"]["freeze_backbone"] and tr.get("precompute_features", True):
        _precompute(module, dm)
    trainer = L.Trainer(
        max_epochs=int(tr.get("epochs", 20)),
        accelerator=tr.get("accelerator", "auto"),
        devices=tr.get("devices", "auto"),
        precision=tr.get("precision", "32-true"),
        fast_dev_run=fast_dev_run or bool(tr.get("fast_dev_run", False)),
        limit_train_batches=tr.get("limit_train_batches", 1.0),
        log_every_n_steps=int(tr.get("log_every_n_steps", 10)),
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=str(out),
    )
    has_val = bool(dm.samples.get("val"))
    trainer.fit(module, datamodule=dm) if has_val else trainer.fit(module, train_dataloaders=dm.train_dataloader())
    ckpt = out / "progression.pt"
    _save_checkpoint(ckpt, module, cfg)
    print(f"checkpoint: {ckpt}")
    if dm.samples.get("test"):
        ev = evaluate_progression(module.model, dm.test_dataloader(), module.device)
        paths = write_evaluation(ev, out, title="test split (PHANTOM, synthetic)")
        _print_summary(ev.summary(), paths)
    return 0


def _save_checkpoint(path: Path, module, cfg: dict[str, Any]) -> None:
    from cxrgraph.utils.atomic import atomic_torch_save

    payload = {"config": cfg, "state_dict": module.model.state_dict(), "format": "cxrgraph.progression/1"}
    atomic_torch_save(payload, path)


def load_checkpoint(path: Path):
    """``(model, config)`` from a checkpoint written by ``cxrgraph progression train``."""
    import torch

    from cxrgraph.temporal import ProgressionModel

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no such file {path} (train first, or pass --checkpoint)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != "cxrgraph.progression/1":
        raise ValueError(f"{path}: not a cxrgraph progression checkpoint")
    model_cfg = dict(state["config"]["model"])
    model_cfg.setdefault("compare_channels", 0)  # written before the region comparator existed
    model = ProgressionModel(model_cfg)
    model.load_state_dict(state["state_dict"])
    return model, state["config"]


def _print_summary(summary: dict[str, Any], paths: dict[str, Path]) -> None:
    print("held-out pairs (PHANTOM is synthetic):")
    for k, v in summary.items():
        print(f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}")
    for k, p in paths.items():
        print(f"  {k + ':':<22} {p}")


def _evaluate(cfg: dict[str, Any], out: Path, checkpoint: Path | None) -> int:
    from cxrgraph.temporal import attach_region_features, evaluate_progression, write_evaluation

    model, _ = load_checkpoint(checkpoint or out / "progression.pt")
    dm = _datamodule(cfg)
    dm.setup()
    test = dm.samples.get("test") or []
    if not test:
        raise ValueError("evaluate: the test split is empty (data.test_fraction is 0)")
    if model.config.freeze_backbone:
        dm.samples["test"] = attach_region_features(model, test)
    ev = evaluate_progression(model, dm.test_dataloader())
    paths = write_evaluation(ev, out / "evaluate", title="test split (PHANTOM, synthetic)")
    _print_summary(ev.summary(), paths)
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = Path(args.out or cfg.get("out") or "runs/progression")
    if args.action == "train":
        return _train(cfg, out, args.fast_dev_run, not args.no_progress)
    return _evaluate(cfg, out, args.checkpoint)
