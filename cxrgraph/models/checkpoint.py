"""Weights-only checkpoints of :class:`~cxrgraph.models.GraphAlignModel`: a config plus a plain state dict.

The folder layout, the weights-only loading and the error messages are those of
:mod:`cxrgraph.utils.checkpoint`, shared with :class:`~cxrgraph.temporal.ProgressionModel`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cxrgraph.models.config import GraphAlignConfig
from cxrgraph.utils.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_tensors,
    read_checkpoint,
    warn_non_finite,
    write_checkpoint,
)

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "save_checkpoint", "load_checkpoint"]

log = logging.getLogger(__name__)

_FORMAT = 1


def save_checkpoint(model: nn.Module, config: GraphAlignConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config.json`` and ``model.pt`` (a plain state dict) into folder ``path``, atomically."""
    from cxrgraph.ontology import get_ontology

    meta = {
        "format": _FORMAT,
        "model": type(model).__name__,
        "ontology_version": get_ontology().version,
        "config": config.to_dict(),
    }
    return write_checkpoint(path, model.state_dict(), meta)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[GraphAlignConfig, dict[str, Tensor]]:
    """``(config, state_dict)`` of a :meth:`GraphAlignModel.save_pretrained` folder or a Lightning ``.ckpt``.

    Everything is read with ``torch.load(weights_only=True)``: no pickled code runs. Weights
    holding NaN or inf load with a warning.

    Raises:
        FileNotFoundError: No such folder or file, or a folder without both files.
        CheckpointError: A damaged, truncated or refused file (named), or a file of another kind.
    """
    from cxrgraph.ontology import get_ontology

    p = Path(path)
    if p.is_dir():
        meta, state = read_checkpoint(p, _FORMAT, "GraphAlignModel", map_location)
        version = get_ontology().version
        if meta.get("ontology_version") != version:
            log.warning(
                "%s was saved with ontology %s, the current one is %s", p, meta.get("ontology_version"), version
            )
        return GraphAlignConfig.from_dict(meta["config"]), state
    if p.is_file():
        ckpt: Any = load_tensors(p, map_location)
        hp = (ckpt.get("hyper_parameters") or {}) if isinstance(ckpt, dict) else {}
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "model_config" not in hp:
            raise CheckpointError(f"{p}: not a GraphAlignPretrainer checkpoint (no state_dict / model_config)")
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        warn_non_finite(state, p)
        return GraphAlignConfig.from_dict(hp["model_config"]), state
    raise FileNotFoundError(f"{p}: no such checkpoint file or folder")
