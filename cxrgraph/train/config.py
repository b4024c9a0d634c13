"""Typed run configs of pretraining and evaluation, read from YAML with ``--set`` overrides.

Each YAML section is a dataclass whose fields are the arguments of what it configures
(``model`` → :class:`~cxrgraph.train.GraphAlignPretrainer`, ``data`` →
:class:`~cxrgraph.train.GraphAlignDataModule`, ``trainer`` → ``lightning.Trainer``,
``checkpoint`` → ``ModelCheckpoint``). Defaults are read from those constructors, so they are
stated once. :func:`load_run_config` is the one way a file and its overrides become a config;
every problem is a :class:`~cxrgraph.utils.config.ConfigError` naming the file or the
``--set`` item, the key and what is wrong.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from cxrgraph.train.datamodule import GraphAlignDataModule
from cxrgraph.train.pretrainer import GraphAlignPretrainer
from cxrgraph.utils.config import ConfigError, apply_overrides, build, check_types, config_to_dict, read_yaml

__all__ = [
    "AlignDataConfig",
    "CheckpointConfig",
    "EvaluationConfig",
    "PretrainConfig",
    "PretrainModelConfig",
    "TrainerConfig",
    "EVALUATION_TASKS",
    "load_run_config",
    "defaults_of",
]

C = TypeVar("C")

#: Downstream tasks of :func:`~cxrgraph.train.evaluate`.
EVALUATION_TASKS = ("linear-probe", "zero-shot", "retrieval", "grounding")


def defaults_of(target: Any) -> dict[str, Any]:
    """The default of every parameter of a class's ``__init__`` or of a function: config sections
    read their defaults from what they configure, so each default is stated once."""
    fn = target.__init__ if isinstance(target, type) else target
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


_PRETRAINER = defaults_of(GraphAlignPretrainer)
_DATA = defaults_of(GraphAlignDataModule)


@dataclass
class PretrainModelConfig:
    """``model:`` section: the arguments of :class:`~cxrgraph.train.GraphAlignPretrainer`.

    ``model_config`` is passed on to :class:`~cxrgraph.models.GraphAlignConfig`, which checks
    its own keys; its values may be nested mappings (``{class_path: ..., init_args: ...}``).
    """

    model_config: dict[str, Any] = field(default_factory=dict)
    lr: float = _PRETRAINER["lr"]
    text_lr: float | None = _PRETRAINER["text_lr"]
    weight_decay: float = _PRETRAINER["weight_decay"]
    warmup_steps: float = _PRETRAINER["warmup_steps"]
    min_lr_ratio: float = _PRETRAINER["min_lr_ratio"]
    scheduler: Literal["cosine", "constant"] = _PRETRAINER["scheduler"]

    def __post_init__(self) -> None:
        from cxrgraph.models import GraphAlignConfig

        check_types(GraphAlignConfig, self.model_config, "model_config")
        try:
            GraphAlignConfig.from_dict(self.model_config)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model_config: {err}") from err
        if self.lr <= 0 or (self.text_lr is not None and self.text_lr <= 0):
            raise ValueError(f"lr and text_lr must be > 0, got lr={self.lr}, text_lr={self.text_lr}")


@dataclass
class AlignDataConfig:
    """``data:`` section: the arguments of :class:`~cxrgraph.train.GraphAlignDataModule`.

    ``image_size`` defaults to the model's (``model.model_config.image_size``).
    """

    source: Literal["phantom", "mimic"] = _DATA["source"]
    image_size: int | None = None
    batch_size: int = _DATA["batch_size"]
    num_workers: int = _DATA["num_workers"]
    cache_dir: str | None = _DATA["cache_dir"]
    num_patients: int = _DATA["num_patients"]
    phantom_size: int | None = _DATA["phantom_size"]
    seed: int = _DATA["seed"]
    studies_per_patient: tuple[int, int] = _DATA["studies_per_patient"]
    val_fraction: float = _DATA["val_fraction"]
    test_fraction: float = _DATA["test_fraction"]
    root: str | None = _DATA["root"]
    imagenome_root: str | None = _DATA["imagenome_root"]
    views: tuple[str, ...] = _DATA["views"]
    backend: str = _DATA["backend"]
    max_studies: int | None = _DATA["max_studies"]
    shard_mix: int = _DATA["shard_mix"]
    pin_memory: bool = _DATA["pin_memory"]
    persistent_workers: bool = _DATA["persistent_workers"]
    progress: bool = _DATA["progress"]

    def __post_init__(self) -> None:
        if self.source == "mimic" and self.root is None:
            raise ValueError("source 'mimic' needs root (the MIMIC-CXR-JPG folder)")
        if self.batch_size < 2:
            raise ValueError(f"batch_size: contrastive losses need at least 2 studies per batch, got {self.batch_size}")
        if not (self.val_fraction >= 0 and self.test_fraction >= 0 and self.val_fraction + self.test_fraction < 1):
            raise ValueError(
                f"val_fraction + test_fraction must be below 1, got {self.val_fraction}, {self.test_fraction}"
            )

    def datamodule(self, image_size: int) -> GraphAlignDataModule:
        """The data module of this section, images resized to ``image_size`` unless the section sets its own."""
        kw = config_to_dict(self)
        kw["image_size"] = self.image_size or image_size
        return GraphAlignDataModule(**kw)


@dataclass
class TrainerConfig:
    """``trainer:`` section: arguments of ``lightning.Trainer`` (a key left out keeps Lightning's default)."""

    max_epochs: int | None = None
    max_steps: int | None = None
    min_epochs: int | None = None
    max_time: str | None = None
    accelerator: str | None = None
    devices: int | str | list[int] | None = None
    num_nodes: int | None = None
    strategy: str | None = None
    precision: str | int | None = None
    accumulate_grad_batches: int | None = None
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: Literal["norm", "value"] | None = None
    log_every_n_steps: int | None = None
    val_check_interval: int | float | None = None
    check_val_every_n_epoch: int | None = None
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    limit_test_batches: int | float | None = None
    num_sanity_val_steps: int | None = None
    deterministic: bool | None = None
    benchmark: bool | None = None
    detect_anomaly: bool | None = None
    sync_batchnorm: bool | None = None

    def kwargs(self) -> dict[str, Any]:
        """The keys that are set, as ``lightning.Trainer`` keyword arguments."""
        return {k: v for k, v in config_to_dict(self).items() if v is not None}


@dataclass
class CheckpointConfig:
    """``checkpoint:`` section: arguments of ``lightning.pytorch.callbacks.ModelCheckpoint``."""

    monitor: str | None = None
    mode: Literal["min", "max"] = "min"
    save_top_k: int = 1
    every_n_train_steps: int | None = None
    every_n_epochs: int | None = None
    save_last: bool = True
    filename: str = "epoch{epoch:03d}-step{step:07d}"
    auto_insert_metric_name: bool = False


@dataclass
class PretrainConfig:
    """A pretraining run (``cxrgraph pretrain --config FILE``): seed, output folder and four sections.

    Example:
        >>> cfg = load_run_config(PretrainConfig, "configs/pretrain_phantom_cpu.yaml", ["trainer.max_epochs=1"])
        >>> result = cxrgraph.train.pretrain(cfg)
    """

    seed: int = 0
    output_dir: str = "runs/pretrain"
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    data: AlignDataConfig = field(default_factory=AlignDataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def __post_init__(self) -> None:
        # one image size for the model and the data
        model_size = self.model.model_config.get("image_size")
        if self.data.image_size is not None and model_size is None:
            self.model.model_config["image_size"] = self.data.image_size
        elif self.data.image_size is not None and self.data.image_size != model_size:
            raise ConfigError(
                f"data.image_size ({self.data.image_size}) differs from model.model_config.image_size "
                f"({model_size}); set one of them"
            )

    @property
    def image_size(self) -> int:
        """The side the model reads (and the data is resized to)."""
        from cxrgraph.models import GraphAlignConfig

        return GraphAlignConfig.from_dict(self.model.model_config).image_size

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML / JSON values."""
        return config_to_dict(self)


@dataclass
class EvaluationConfig:
    """An evaluation of a pretrained checkpoint (``cxrgraph evaluate``).

    Attributes:
        checkpoint: A ``save_pretrained`` folder or a Lightning ``.ckpt`` of a pretraining run.
        tasks: Any of :data:`EVALUATION_TASKS`.
        data: The studies (the ``data`` section of a pretraining config); ``None`` reads the
            ``config.yaml`` that the pretraining run wrote beside the checkpoint.
        split: Studies evaluated (``"val"`` or ``"test"``); the linear probe fits on ``"train"``.
        fractions: Linear-probe label fractions.
        repeats: Linear-probe subsets per fraction below 1.
        min_positives: Least positives and negatives a finding needs to be scored.
        batch_size: Studies per embedding batch.
        device: Torch device.
        output: Write the results as JSON here.
        progress: Show progress bars.
    """

    checkpoint: str
    tasks: list[Literal["linear-probe", "zero-shot", "retrieval", "grounding"]] = field(
        default_factory=lambda: list(EVALUATION_TASKS)
    )
    data: AlignDataConfig | None = None
    split: Literal["val", "test"] = "test"
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])
    repeats: int = 3
    min_positives: int = 2
    batch_size: int = 32
    device: str = "cpu"
    output: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError(f"tasks: give at least one of {list(EVALUATION_TASKS)}")
        self.tasks = list(dict.fromkeys(self.tasks))
        if any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"fractions: each must lie in (0, 1], got {self.fractions}")


def load_run_config(cls: type[C], path: str | Path | None, overrides: Sequence[str] = ()) -> C:
    """A run config of type ``cls`` from a YAML file (or none: every default) and ``--set`` overrides.

    Args:
        cls: :class:`PretrainConfig`, :class:`~cxrgraph.train.ProgressionRunConfig`, or any
            config dataclass.
        path: The YAML file; ``None`` starts from the defaults.
        overrides: ``key.sub=value`` items (values read as YAML), applied after the file.

    Raises:
        ConfigError: The file is missing, empty, not YAML or not a mapping; an override is not
            ``KEY=VALUE``; a key is unknown or renamed; a value has the wrong type. The message
            names the file or the override.
    """
    raw = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    apply_overrides(raw, overrides)
    try:
        return build(cls, raw)
    except ConfigError as err:
        key = getattr(err, "key", "") or ""
        for item in overrides:
            name = item.partition("=")[0].strip()
            if key and (name == key or name.startswith(key + ".") or key.startswith(name + ".")):
                raise ConfigError(f"--set {item}: {err}", key=key) from None
        raise ConfigError(f"{source}: {err}", key=key) from None
