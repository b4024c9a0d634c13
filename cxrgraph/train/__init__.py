"""Training on top of the core modules: Lightning modules, data modules and checkpoints.

This is the only layer that imports Lightning; names are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "GraphAlignPretrainer": "cxrgraph.train.pretrainer",
    "GraphAlignDataModule": "cxrgraph.train.datamodule",
    "ProgressionModule": "cxrgraph.train.progression",
    "ProgressionDataModule": "cxrgraph.train.progression",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cxrgraph.train' has no attribute {name!r}")
