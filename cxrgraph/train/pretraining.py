"""``pretrain(config)``: a graph-alignment pretraining run, as ``cxrgraph pretrain`` runs it."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrgraph.train.config import PretrainConfig

__all__ = ["PretrainResult", "pretrain", "RESOLVED_CONFIG", "resolved_config"]

log = logging.getLogger(__name__)

#: The resolved config a pretraining run writes beside its checkpoints (what evaluation reads).
RESOLVED_CONFIG = "config.yaml"


@dataclass
class PretrainResult:
    """What a pretraining run wrote and its last logged metrics.

    Attributes:
        output_dir: The run folder.
        model_path: The ``save_pretrained`` folder of the final model (``None`` after a fast dev run).
        config_path: The resolved config (every default filled in).
        best_checkpoint: Best Lightning checkpoint by ``checkpoint.monitor`` (``None`` if none).
        last_checkpoint: ``last.ckpt`` (``None`` if none was saved).
        metrics_csv: The CSV logger's ``metrics.csv``.
        global_step: Optimiser steps taken.
        epochs: Epochs completed.
        train_loss: Last logged training loss.
        val_loss: Last validation loss.
        val_recall_at_1: Last validation image→report recall@1.
        val_recall_at_5: Last validation image→report recall@5.
        metrics: Every last logged value, by name.
    """

    output_dir: Path
    model_path: Path | None
    config_path: Path
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    metrics_csv: Path | None = None
    global_step: int = 0
    epochs: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_recall_at_1: float | None = None
    val_recall_at_5: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def resolved_config(config: PretrainConfig) -> dict[str, Any]:
    """The config as plain values with every default filled in, the model config's too (what the run used)."""
    from cxrgraph.models import GraphAlignConfig

    out = config.to_dict()
    out["model"]["model_config"] = GraphAlignConfig.from_dict(config.model.model_config).to_dict()
    out["data"]["image_size"] = config.data.image_size or config.image_size
    return out


def _resume_path(resume: str | os.PathLike[str] | None, ckpt_dir: Path) -> str | None:
    from cxrgraph.utils.checkpoint import load_tensors

    if resume is None:
        return None
    path = ckpt_dir / "last.ckpt" if str(resume) == "last" else Path(resume)
    if not path.is_file():
        hint = " (has this run saved a checkpoint yet?)" if str(resume) == "last" else ""
        raise FileNotFoundError(f"resume: no checkpoint {path}{hint}")
    # read once weights-only here, so a damaged or unsafe file is named before training starts
    state = load_tensors(path)
    if not isinstance(state, dict) or "state_dict" not in state:
        from cxrgraph.utils.checkpoint import CheckpointError

        raise CheckpointError(f"{path}: not a Lightning checkpoint of a pretraining run (no state_dict)")
    return str(path)


def pretrain(
    config: PretrainConfig,
    *,
    resume: str | os.PathLike[str] | None = None,
    fast_dev_run: int = 0,
    progress: bool = False,
    graph_encoder: Any = None,
    losses: Any = None,
) -> PretrainResult:
    """Pretrain a :class:`~cxrgraph.models.GraphAlignModel` as ``config`` says.

    Writes ``<output_dir>/checkpoints/`` (Lightning checkpoints and the resolved
    ``config.yaml``), CSV (and TensorBoard, when installed) logs, and the final model with
    :meth:`~cxrgraph.models.GraphAlignModel.save_pretrained` to ``<output_dir>/pretrained``.

    Args:
        config: The run (:func:`~cxrgraph.train.load_run_config` reads one from YAML).
        resume: A Lightning checkpoint to continue from, or ``"last"`` for the run's
            ``last.ckpt``; read weights-only.
        fast_dev_run: Run this many train / val batches only (a check; nothing is saved).
        progress: Show progress bars.
        graph_encoder: A graph encoder module of your own (instead of ``model_config.graph_encoder``).
        losses: ``{name: module}`` losses of your own (:class:`~cxrgraph.align.AlignmentLoss`), added to
            the config's; weighted by ``model_config.loss_weights[name]`` (default 1).

    Raises:
        FileNotFoundError: ``resume`` names no file.
        CheckpointError: ``resume`` is damaged, truncated or holds more than tensors.
        TrainingDiverged: The loss became NaN or infinite (the message names the step and terms).
    """
    import lightning as L
    import yaml
    from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from cxrgraph.train.pretrainer import GraphAlignPretrainer
    from cxrgraph.utils.atomic import atomic_write_text

    out_dir = Path(config.output_dir)
    ckpt_dir = out_dir / "checkpoints"
    config_path = ckpt_dir / RESOLVED_CONFIG
    ckpt_path = _resume_path(resume, ckpt_dir)
    L.seed_everything(config.seed, workers=True, verbose=False)
    text = yaml.safe_dump(resolved_config(config), sort_keys=False)

    class SaveResolvedConfig(Callback):
        """Write the resolved config beside the checkpoints (rank 0, atomically)."""

        def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if trainer.is_global_zero:
                atomic_write_text(config_path, text)

        def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
            if trainer.is_global_zero:
                atomic_write_text(config_path, text)

    m = config.model
    model = None
    if graph_encoder is not None or losses:
        from cxrgraph.models import GraphAlignModel

        model = GraphAlignModel(m.model_config, graph_encoder=graph_encoder, losses=losses)
    module = GraphAlignPretrainer(
        None if model is not None else m.model_config,
        model=model,
        lr=m.lr,
        text_lr=m.text_lr,
        weight_decay=m.weight_decay,
        warmup_steps=m.warmup_steps,
        min_lr_ratio=m.min_lr_ratio,
        scheduler=m.scheduler,
    )
    data = config.data.datamodule(module.config.image_size)
    ck = vars(config.checkpoint).copy()
    callbacks: list[Callback] = [ModelCheckpoint(dirpath=ckpt_dir, **ck), SaveResolvedConfig()]
    if not fast_dev_run:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    loggers: list[Any] = [CSVLogger(out_dir, name="csv")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(out_dir, name="tensorboard"))
    else:
        log.warning("tensorboard is not installed: CSV logs only (pip install tensorboard)")
    trainer_kw = config.trainer.kwargs()
    if fast_dev_run:
        trainer_kw["fast_dev_run"] = int(fast_dev_run)
    trainer = L.Trainer(
        default_root_dir=str(out_dir),
        callbacks=callbacks,
        logger=loggers,
        enable_progress_bar=progress,
        **trainer_kw,
    )
    # weights_only passed explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot turn it off
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    model_path = None
    if trainer.is_global_zero:
        atomic_write_text(config_path, text)
        if not fast_dev_run:
            model_path = module.model.save_pretrained(out_dir / "pretrained")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
    checkpoint = trainer.checkpoint_callback
    best = Path(checkpoint.best_model_path) if checkpoint is not None and checkpoint.best_model_path else None
    last = ckpt_dir / "last.ckpt"
    csv = Path(loggers[0].log_dir) / "metrics.csv"

    def metric(name: str) -> float | None:
        value = metrics.get(name)
        return None if value is None or math.isnan(value) else value

    return PretrainResult(
        output_dir=out_dir,
        model_path=model_path,
        config_path=config_path,
        best_checkpoint=best,
        last_checkpoint=last if last.is_file() else None,
        metrics_csv=csv if csv.is_file() else None,
        global_step=int(trainer.global_step),
        epochs=int(trainer.current_epoch),
        train_loss=metric("train/loss"),
        val_loss=metric("val/loss"),
        val_recall_at_1=metric("val/i2t_R@1"),
        val_recall_at_5=metric("val/i2t_R@5"),
        metrics=metrics,
    )
