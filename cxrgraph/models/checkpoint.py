"""Weights-only checkpoints of :class:`~cxrgraph.models.GraphAlignModel`: a config plus a plain state dict."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cxrgraph.models.config import GraphAlignConfig
from cxrgraph.utils.atomic import atomic_torch_save, atomic_write_text

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "save_checkpoint", "load_checkpoint"]

log = logging.getLogger(__name__)

#: File names written by :meth:`GraphAlignModel.save_pretrained`.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"
_FORMAT = 1


def save_checkpoint(model: nn.Module, config: GraphAlignConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config.json`` and ``model.pt`` (a plain state dict) into folder ``path``, atomically."""
    from cxrgraph.ontology import get_ontology

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": _FORMAT,
        "model": type(model).__name__,
        "ontology_version": get_ontology().version,
        "config": config.to_dict(),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_torch_save(state, folder / WEIGHTS_FILE)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return folder


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[GraphAlignConfig, dict[str, Tensor]]:
    """``(config, state_dict)`` of a :meth:`GraphAlignModel.save_pretrained` folder or a Lightning ``.ckpt``.

    Everything is read with ``torch.load(weights_only=True)``: no pickled code runs.
    """
    from cxrgraph.ontology import get_ontology

    p = Path(path)
    if p.is_dir():
        cfg_path, w_path = p / CONFIG_FILE, p / WEIGHTS_FILE
        if not cfg_path.is_file() or not w_path.is_file():
            raise FileNotFoundError(f"{p}: expected {CONFIG_FILE} and {WEIGHTS_FILE} (written by save_pretrained)")
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{cfg_path}: checkpoint format {meta.get('format')}, this cxrgraph reads {_FORMAT}")
        version = get_ontology().version
        if meta.get("ontology_version") != version:
            log.warning(
                "%s was saved with ontology %s, the current one is %s", p, meta.get("ontology_version"), version
            )
        state = torch.load(w_path, map_location=map_location, weights_only=True)
        return GraphAlignConfig.from_dict(meta["config"]), state
    if p.is_file():
        ckpt: dict[str, Any] = torch.load(p, map_location=map_location, weights_only=True)
        hp = ckpt.get("hyper_parameters") or {}
        if "state_dict" not in ckpt or "model_config" not in hp:
            raise ValueError(f"{p}: not a GraphAlignPretrainer checkpoint (no state_dict / model_config)")
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        return GraphAlignConfig.from_dict(hp["model_config"]), state
    raise FileNotFoundError(f"{p}: no such checkpoint file or folder")
