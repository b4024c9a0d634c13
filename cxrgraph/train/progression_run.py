"""``train_progression(config)``: a temporal progression run, as ``cxrgraph progression train`` runs it.

The YAML has the sections ``data`` (:class:`ProgressionDataConfig`), ``model``
(:class:`~cxrgraph.temporal.ProgressionConfig`), ``pretrain`` (region pretraining,
:class:`RegionPretrainConfig`) and ``train`` (:class:`ProgressionTrainConfig`), plus ``seed``
and ``output_dir``. Defaults are read from the functions and modules they configure.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from cxrgraph.temporal import ProgressionConfig, ProgressionModel, pretrain_region_encoder
from cxrgraph.train.config import defaults_of
from cxrgraph.train.progression import ProgressionDataModule, ProgressionModule
from cxrgraph.utils.config import config_to_dict

__all__ = [
    "ProgressionDataConfig",
    "RegionPretrainConfig",
    "ProgressionTrainConfig",
    "ProgressionRunConfig",
    "ProgressionResult",
    "train_progression",
    "evaluate_progression_run",
]

log = logging.getLogger(__name__)

_DATA = defaults_of(ProgressionDataModule)
_MODULE = defaults_of(ProgressionModule)
_REGION = defaults_of(pretrain_region_encoder)
_TITLE = "test split (PHANTOM, synthetic)"


@dataclass
class ProgressionDataConfig:
    """``data:`` section: the arguments of :class:`~cxrgraph.train.ProgressionDataModule` (phantom pairs).

    ``image_size`` defaults to the model's and ``seed`` to the run's.
    """

    source: Literal["phantom"] = "phantom"
    num_patients: int = 200
    image_size: int | None = None
    seed: int | None = None
    val_fraction: float = _DATA["val_fraction"]
    test_fraction: float = _DATA["test_fraction"]
    studies_per_patient: tuple[int, int] = _DATA["studies_per_patient"]
    guidance: bool = _DATA["guidance"]
    batch_size: int = _DATA["batch_size"]
    num_workers: int = _DATA["num_workers"]

    def __post_init__(self) -> None:
        if self.num_patients < 1:
            raise ValueError(f"num_patients: must be >= 1, got {self.num_patients}")


@dataclass
class RegionPretrainConfig:
    """``pretrain:`` section: report-graph region pretraining before the pairs (``epochs: 0`` = none)."""

    epochs: int = 0
    batch_size: int = _REGION["batch_size"]
    lr: float = _REGION["lr"]


@dataclass
class ProgressionTrainConfig:
    """``train:`` section: :class:`~cxrgraph.train.ProgressionModule` arguments and the Trainer's."""

    epochs: int = 20
    lr: float = _MODULE["lr"]
    weight_decay: float = _MODULE["weight_decay"]
    warmup_steps: int = _MODULE["warmup_steps"]
    prior_dropout: float = _MODULE["prior_dropout"]
    text_model: str | None = _MODULE["text_model"]
    precompute_features: bool = True
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    precision: str | int = "32-true"
    fast_dev_run: bool | int = False
    limit_train_batches: int | float = 1.0
    log_every_n_steps: int = 10


@dataclass
class ProgressionRunConfig:
    """A progression run (``cxrgraph progression train --config FILE``)."""

    #: keys of earlier versions and what they are called now
    RENAMED: ClassVar[dict[str, str]] = {"out": "output_dir"}

    seed: int = 0
    output_dir: str = "runs/progression"
    data: ProgressionDataConfig = field(default_factory=ProgressionDataConfig)
    model: ProgressionConfig = field(default_factory=ProgressionConfig)
    pretrain: RegionPretrainConfig = field(default_factory=RegionPretrainConfig)
    train: ProgressionTrainConfig = field(default_factory=ProgressionTrainConfig)

    def datamodule(self) -> ProgressionDataModule:
        """The phantom pairs of this run."""
        kw = config_to_dict(self.data)
        kw.pop("source")
        kw["seed"] = self.seed if self.data.seed is None else self.data.seed
        kw["image_size"] = self.data.image_size or self.model.image_size
        kw["studies_per_patient"] = tuple(kw["studies_per_patient"])
        return ProgressionDataModule(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML / JSON values."""
        return config_to_dict(self)


@dataclass
class ProgressionResult:
    """What a progression run wrote and its scores on the held-out pairs (``None`` without a test split).

    Attributes:
        output_dir: The run folder.
        model_path: The :meth:`~cxrgraph.temporal.ProgressionModel.save_pretrained` folder.
        config_path: The run config written beside it.
        metrics_path: ``metrics.json`` of the test pairs.
        figures: Pictures written (``confusion``, ``regions``, ``poincare``), by name.
        pairs: Test pairs scored.
        labelled_regions: Labelled regions of those pairs.
        accuracy: Per-region accuracy.
        macro_f1: Macro-F1 over improved / no change / worsened.
        mean_region_accuracy: Mean over regions of their accuracy.
        mean_region_f1: Mean over regions of their macro-F1.
        finding_accuracy: Accuracy of the per-finding (MS-CXR-T) protocol.
        finding_macro_f1: Its macro-F1.
        curvature: Curvature of the ball (0 when Euclidean).
        region_pretraining_losses: Loss per region-pretraining epoch (empty without it).
    """

    output_dir: Path
    model_path: Path | None
    config_path: Path | None
    metrics_path: Path | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    pairs: int | None = None
    labelled_regions: int | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    mean_region_accuracy: float | None = None
    mean_region_f1: float | None = None
    finding_accuracy: float | None = None
    finding_macro_f1: float | None = None
    curvature: float | None = None
    region_pretraining_losses: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        """The headline scores that exist, by name (as in ``metrics.json``)."""
        names = ("pairs", "labelled_regions", "accuracy", "macro_f1", "mean_region_accuracy", "mean_region_f1")
        names += ("finding_accuracy", "finding_macro_f1", "curvature")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}


def _record_scores(result: ProgressionResult, ev: Any, out: Path) -> None:
    """Write the evaluation's metrics and pictures under ``out`` and copy its scores into ``result``."""
    from cxrgraph.temporal import write_evaluation

    paths = write_evaluation(ev, out, title=_TITLE)
    result.metrics_path = paths.pop("metrics")
    result.figures = paths
    for k, v in ev.summary().items():
        setattr(result, k, None if isinstance(v, float) and math.isnan(v) else v)


def train_progression(
    config: ProgressionRunConfig, *, fast_dev_run: bool = False, progress: bool = False
) -> ProgressionResult:
    """Train a :class:`~cxrgraph.temporal.ProgressionModel` as ``config`` says and score it on the test pairs.

    Region pretraining first (``config.pretrain.epochs > 0``), the frozen backbone's features
    computed once (``model.freeze_backbone``), then Lightning training. Writes
    ``<output_dir>/model`` (:meth:`~cxrgraph.temporal.ProgressionModel.save_pretrained`),
    ``<output_dir>/config.yaml``, and ``metrics.json`` with pictures of the test pairs.

    Args:
        config: The run (:func:`~cxrgraph.train.load_run_config` reads one from YAML).
        fast_dev_run: One batch of each split and no region pretraining (a check).
        progress: Show progress bars.

    Raises:
        TrainingDiverged: The loss became NaN or infinite (the message names the step and terms).
    """
    import lightning as L
    import yaml

    from cxrgraph.temporal import attach_region_features, evaluate_progression
    from cxrgraph.utils.atomic import atomic_write_text

    out = Path(config.output_dir)
    L.seed_everything(config.seed, workers=True, verbose=False)
    dm = config.datamodule()
    dm.setup()
    tr = config.train
    module = ProgressionModule(
        config.model,
        lr=tr.lr,
        weight_decay=tr.weight_decay,
        warmup_steps=tr.warmup_steps,
        prior_dropout=tr.prior_dropout,
        text_model=tr.text_model,
        class_counts=dm.class_counts().tolist(),
    )
    losses: list[float] = []
    pre = config.pretrain
    if pre.epochs > 0 and not fast_dev_run:
        images, graphs = dm.pretrain_studies
        res = pretrain_region_encoder(
            module.model.encoder,
            images,
            graphs,
            epochs=pre.epochs,
            batch_size=pre.batch_size,
            lr=pre.lr,
            seed=config.seed,
        )
        losses = list(res.losses)
        log.info("region pretraining: %d studies, losses %s", res.num_studies, [round(x, 4) for x in losses])
    if config.model.freeze_backbone and tr.precompute_features:
        for name, samples in dm.samples.items():
            dm.samples[name] = attach_region_features(module.model, samples)
    trainer = L.Trainer(
        max_epochs=tr.epochs,
        accelerator=tr.accelerator,
        devices=tr.devices,
        precision=tr.precision,
        fast_dev_run=fast_dev_run or tr.fast_dev_run,
        limit_train_batches=tr.limit_train_batches,
        log_every_n_steps=tr.log_every_n_steps,
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=str(out),
    )
    if dm.samples.get("val"):
        trainer.fit(module, datamodule=dm)
    else:
        trainer.fit(module, train_dataloaders=dm.train_dataloader())
    model_path = module.model.save_pretrained(out / "model")
    config_path = out / "config.yaml"
    atomic_write_text(config_path, yaml.safe_dump(config.to_dict(), sort_keys=False))
    result = ProgressionResult(out, model_path, config_path, region_pretraining_losses=losses)
    if dm.samples.get("test"):
        _record_scores(result, evaluate_progression(module.model, dm.test_dataloader(), module.device), out)
    return result


def evaluate_progression_run(config: ProgressionRunConfig, checkpoint: str | Path | None = None) -> ProgressionResult:
    """Score a trained progression model on the test pairs of ``config``; writes ``<output_dir>/evaluate/``.

    Args:
        config: The run whose data gives the test pairs.
        checkpoint: A :meth:`~cxrgraph.temporal.ProgressionModel.save_pretrained` folder (or an
            earlier ``progression.pt``); default ``<output_dir>/model`` (or ``<output_dir>/progression.pt``).

    Raises:
        FileNotFoundError: No checkpoint (train first, or pass one).
        ValueError: The test split is empty (``data.test_fraction`` is 0).
    """
    from cxrgraph.temporal import attach_region_features, evaluate_progression

    out = Path(config.output_dir)
    if checkpoint is None:
        legacy = out / "progression.pt"
        checkpoint = legacy if legacy.is_file() and not (out / "model").exists() else out / "model"
    if not Path(checkpoint).exists():
        raise FileNotFoundError(f"checkpoint: no such folder or file {checkpoint} (train first, or pass --checkpoint)")
    model = ProgressionModel.from_pretrained(checkpoint)
    dm = dataclasses.replace(config, model=model.config).datamodule()
    dm.setup()
    test = dm.samples.get("test") or []
    if not test:
        raise ValueError("evaluate: the test split is empty (data.test_fraction is 0)")
    if model.config.freeze_backbone:
        dm.samples["test"] = attach_region_features(model, test)
    result = ProgressionResult(out, Path(checkpoint), None)
    _record_scores(result, evaluate_progression(model, dm.test_dataloader()), out / "evaluate")
    return result
