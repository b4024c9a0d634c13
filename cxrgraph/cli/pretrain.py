"""``cxrgraph pretrain``: pretrain graph alignment from a YAML config.

The YAML mirrors the constructor arguments::

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
from typing import Any

HELP = "pretrain graph alignment from a YAML config"

RESOLVED_CONFIG = "config.yaml"
_SECTIONS = ("model", "data", "trainer", "checkpoint")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="YAML file (see configs/)")
    parser.add_argument("--output-dir", type=Path, default=None, help="run folder (overrides output_dir)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one entry, e.g. --set trainer.max_epochs=3 (VALUE is read as YAML); repeatable",
    )
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


def load_config(path: Path, overrides: list[str] = ()) -> dict[str, Any]:
    """Read a pretraining YAML and apply ``key.sub=value`` overrides."""
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"--config: {path} does not exist")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: the top level must be a mapping with sections {list(_SECTIONS)}")
    unknown = set(cfg) - {*_SECTIONS, "seed", "output_dir"}
    if unknown:
        raise ValueError(
            f"{path}: unknown top-level keys {sorted(unknown)}; known: {[*_SECTIONS, 'seed', 'output_dir']}"
        )
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {p!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    for s in _SECTIONS:
        cfg.setdefault(s, {})
        if not isinstance(cfg[s], dict):
            raise ValueError(f"{path}: section {s!r} must be a mapping")
    model_cfg = cfg["model"].setdefault("model_config", {})
    # one image size for the model and the data
    if "image_size" in model_cfg:
        cfg["data"].setdefault("image_size", model_cfg["image_size"])
    elif "image_size" in cfg["data"]:
        model_cfg["image_size"] = cfg["data"]["image_size"]
    return cfg


def resolve(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config with every default filled in (what the run really used)."""
    import inspect

    from cxrgraph.models import GraphAlignConfig
    from cxrgraph.train.datamodule import GraphAlignDataModule
    from cxrgraph.train.pretrainer import GraphAlignPretrainer

    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    out["model"]["model_config"] = GraphAlignConfig.from_dict(cfg["model"].get("model_config") or {}).to_dict()
    for section, cls in (("model", GraphAlignPretrainer), ("data", GraphAlignDataModule)):
        params = inspect.signature(cls.__init__).parameters
        unknown = set(out[section]) - set(params)
        if unknown:
            raise ValueError(f"section {section!r}: unknown keys {sorted(unknown)} for {cls.__name__}")
        for name, p in params.items():
            if name in ("self", "samples") or p.default is inspect.Parameter.empty:
                continue
            value = p.default
            out[section].setdefault(name, list(value) if isinstance(value, tuple) else value)
    return out


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import logging

    import lightning as L
    import yaml
    from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from cxrgraph.train.datamodule import GraphAlignDataModule
    from cxrgraph.train.pretrainer import GraphAlignPretrainer

    log = logging.getLogger("cxrgraph.pretrain")
    cfg = resolve(load_config(args.config, args.overrides))
    out_dir = Path(args.output_dir or cfg.get("output_dir") or "runs/pretrain")
    cfg["output_dir"] = str(out_dir)
    seed = int(cfg.get("seed", 0))
    cfg["seed"] = seed
    L.seed_everything(seed, workers=True, verbose=False)

    ckpt_dir = out_dir / "checkpoints"
    text = yaml.safe_dump(cfg, sort_keys=False)

    class SaveResolvedConfig(Callback):
        """Write the resolved config beside the checkpoints (rank 0, atomically)."""

        def _write(self, trainer: L.Trainer) -> None:
            if trainer.is_global_zero:
                _atomic_text(ckpt_dir / RESOLVED_CONFIG, text)

        def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self._write(trainer)

        def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
            self._write(trainer)

    data = GraphAlignDataModule(**cfg["data"])
    module = GraphAlignPretrainer(**cfg["model"])
    ck = dict(cfg["checkpoint"])
    ck.setdefault("save_last", True)
    ck.setdefault("filename", "epoch{epoch:03d}-step{step:07d}")
    ck.setdefault("auto_insert_metric_name", False)
    callbacks: list[Callback] = [ModelCheckpoint(dirpath=ckpt_dir, **ck), SaveResolvedConfig()]
    trainer_kw = dict(cfg["trainer"])
    if args.fast_dev_run:
        trainer_kw["fast_dev_run"] = int(args.fast_dev_run)
    if not args.fast_dev_run:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    loggers: list[Any] = [CSVLogger(out_dir, name="csv")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(out_dir, name="tensorboard"))
    else:
        log.warning("tensorboard is not installed: CSV logs only (pip install tensorboard)")
    trainer = L.Trainer(
        default_root_dir=str(out_dir),
        callbacks=callbacks,
        logger=loggers,
        enable_progress_bar=not args.no_progress,
        **trainer_kw,
    )
    ckpt_path = args.resume
    if ckpt_path == "last":
        last = ckpt_dir / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(f"--resume last: no {last} (has this run saved a checkpoint yet?)")
        ckpt_path = str(last)
    elif ckpt_path is not None and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"--resume: {ckpt_path} does not exist")
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        _atomic_text(ckpt_dir / RESOLVED_CONFIG, text)
        if not args.fast_dev_run:
            final = module.model.save_pretrained(out_dir / "pretrained")
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            print(f"pretrained model: {final}")
            if best:
                print(f"best checkpoint: {best}")
        else:
            print("fast dev run finished (no checkpoint written)")
        log.info("resolved config: %s", ckpt_dir / RESOLVED_CONFIG)
    return 0


def _atomic_text(path: Path, text: str) -> None:
    from cxrgraph.utils.atomic import atomic_write_text

    atomic_write_text(path, text)
