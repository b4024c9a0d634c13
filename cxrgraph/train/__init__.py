"""Training on top of the core modules: run functions, Lightning modules and data modules.

``pretrain``, ``evaluate`` / ``evaluate_checkpoint`` and ``train_progression`` /
``evaluate_progression_run`` run what the ``cxrgraph`` command runs, from typed configs
(:class:`PretrainConfig`, :class:`EvaluationConfig`, :class:`ProgressionRunConfig`; read from
YAML with :func:`load_run_config`), and return typed results. This is
the only layer that imports Lightning; names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from cxrgraph.train.config import EVALUATION_TASKS as EVALUATION_TASKS
    from cxrgraph.train.config import AlignDataConfig as AlignDataConfig
    from cxrgraph.train.config import CheckpointConfig as CheckpointConfig
    from cxrgraph.train.config import EvaluationConfig as EvaluationConfig
    from cxrgraph.train.config import PretrainConfig as PretrainConfig
    from cxrgraph.train.config import PretrainModelConfig as PretrainModelConfig
    from cxrgraph.train.config import TrainerConfig as TrainerConfig
    from cxrgraph.train.config import load_run_config as load_run_config
    from cxrgraph.train.datamodule import GraphAlignDataModule as GraphAlignDataModule
    from cxrgraph.train.divergence import TrainingDiverged as TrainingDiverged
    from cxrgraph.train.evaluation import EvaluationResult as EvaluationResult
    from cxrgraph.train.evaluation import evaluate as evaluate
    from cxrgraph.train.evaluation import evaluate_checkpoint as evaluate_checkpoint
    from cxrgraph.train.pretrainer import GraphAlignPretrainer as GraphAlignPretrainer
    from cxrgraph.train.pretraining import PretrainResult as PretrainResult
    from cxrgraph.train.pretraining import pretrain as pretrain
    from cxrgraph.train.progression import ProgressionDataModule as ProgressionDataModule
    from cxrgraph.train.progression import ProgressionModule as ProgressionModule
    from cxrgraph.train.progression_run import ProgressionDataConfig as ProgressionDataConfig
    from cxrgraph.train.progression_run import ProgressionResult as ProgressionResult
    from cxrgraph.train.progression_run import ProgressionRunConfig as ProgressionRunConfig
    from cxrgraph.train.progression_run import ProgressionTrainConfig as ProgressionTrainConfig
    from cxrgraph.train.progression_run import RegionPretrainConfig as RegionPretrainConfig
    from cxrgraph.train.progression_run import evaluate_progression_run as evaluate_progression_run
    from cxrgraph.train.progression_run import train_progression as train_progression

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "GraphAlignPretrainer": "cxrgraph.train.pretrainer",
        "GraphAlignDataModule": "cxrgraph.train.datamodule",
        "ProgressionModule": "cxrgraph.train.progression",
        "ProgressionDataModule": "cxrgraph.train.progression",
        "load_run_config": "cxrgraph.train.config",
        "PretrainConfig": "cxrgraph.train.config",
        "PretrainModelConfig": "cxrgraph.train.config",
        "AlignDataConfig": "cxrgraph.train.config",
        "TrainerConfig": "cxrgraph.train.config",
        "CheckpointConfig": "cxrgraph.train.config",
        "EvaluationConfig": "cxrgraph.train.config",
        "EVALUATION_TASKS": "cxrgraph.train.config",
        "pretrain": "cxrgraph.train.pretraining",
        "PretrainResult": "cxrgraph.train.pretraining",
        "evaluate": "cxrgraph.train.evaluation",
        "evaluate_checkpoint": "cxrgraph.train.evaluation",
        "EvaluationResult": "cxrgraph.train.evaluation",
        "train_progression": "cxrgraph.train.progression_run",
        "evaluate_progression_run": "cxrgraph.train.progression_run",
        "ProgressionResult": "cxrgraph.train.progression_run",
        "ProgressionRunConfig": "cxrgraph.train.progression_run",
        "ProgressionDataConfig": "cxrgraph.train.progression_run",
        "RegionPretrainConfig": "cxrgraph.train.progression_run",
        "ProgressionTrainConfig": "cxrgraph.train.progression_run",
        "TrainingDiverged": "cxrgraph.train.divergence",
    },
)
