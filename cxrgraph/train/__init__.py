"""Training on top of the core modules: run functions, Lightning modules and data modules.

``pretrain``, ``evaluate`` / ``evaluate_checkpoint`` and ``train_progression`` run what the
``cxrgraph`` command runs, from typed configs (:class:`PretrainConfig`,
:class:`EvaluationConfig`, :class:`ProgressionRunConfig`), and return typed results. This is
the only layer that imports Lightning; names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from cxrgraph.train.datamodule import GraphAlignDataModule as GraphAlignDataModule
    from cxrgraph.train.pretrainer import GraphAlignPretrainer as GraphAlignPretrainer
    from cxrgraph.train.progression import ProgressionDataModule as ProgressionDataModule
    from cxrgraph.train.progression import ProgressionModule as ProgressionModule

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "GraphAlignPretrainer": "cxrgraph.train.pretrainer",
        "GraphAlignDataModule": "cxrgraph.train.datamodule",
        "ProgressionModule": "cxrgraph.train.progression",
        "ProgressionDataModule": "cxrgraph.train.progression",
    },
)
