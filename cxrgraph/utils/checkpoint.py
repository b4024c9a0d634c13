"""Weights-only checkpoint folders: ``config.json`` (plain values) beside ``model.pt`` (a state dict).

Every model of the package with ``save_pretrained`` / ``from_pretrained`` writes and reads this
layout through these functions, so every one of them:

* writes both files atomically (:mod:`cxrgraph.utils.atomic`);
* reads tensors with ``torch.load(weights_only=True)`` passed explicitly, so no pickled code
  runs even when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set;
* names the file in every error (missing, truncated, not JSON, not a state dict, refused);
* warns when a loaded tensor holds NaN or inf.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxrgraph.utils.atomic import atomic_torch_save, atomic_write_text

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CheckpointError",
    "write_checkpoint",
    "read_checkpoint",
    "read_checkpoint_config",
    "load_state_dict_file",
    "load_tensors",
    "warn_non_finite",
]

#: File names of a checkpoint folder.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong."""


def write_checkpoint(folder: str | os.PathLike[str], state: dict[str, Tensor], meta: dict[str, Any]) -> Path:
    """Write ``meta`` as ``config.json`` and ``state`` (tensors, moved to the CPU) as ``model.pt``, atomically."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_torch_save(state, out / WEIGHTS_FILE)
    atomic_write_text(out / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return out


def read_checkpoint_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON mapping of a checkpoint's ``config.json``.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Not UTF-8, truncated or otherwise not JSON, or not a mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint config (written by save_pretrained)")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{p}: not a readable checkpoint config, the file is damaged or truncated ({err})"
        ) from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p}: a checkpoint config must be a JSON object, got {type(meta).__name__}")
    return meta


def load_tensors(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: The file is empty, truncated or damaged, or holds objects other than
            tensors and plain containers (refused, never run).
    """
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: the checkpoint file is empty")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{p}: refused: it holds more than tensors and plain values, and cxrgraph loads checkpoints "
            f"weights-only ({first})"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{p}: not a readable checkpoint, the file is damaged or truncated ({err})") from err


def load_state_dict_file(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Tensor]:
    """A state dict read with :func:`load_tensors`; warns when a tensor holds NaN or inf.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Damaged, truncated or refused (see :func:`load_tensors`), or not a dict.
    """
    state = load_tensors(path, map_location)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    warn_non_finite(state, path)
    return state


def read_checkpoint(
    folder: str | os.PathLike[str], fmt: Any, model: str, map_location: Any = "cpu"
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """``(meta, state)`` of a checkpoint folder whose ``config.json`` has ``"format": fmt``.

    Args:
        folder: The folder :func:`write_checkpoint` wrote.
        fmt: The format the caller reads.
        model: What the folder should hold, for messages (``"GraphAlignModel"``).
        map_location: Where the tensors go.

    Raises:
        FileNotFoundError: No such folder, or one without both files.
        CheckpointError: A damaged, truncated or refused file, or a checkpoint of another format.
    """
    p = Path(folder)
    cfg_path, w_path = p / CONFIG_FILE, p / WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise FileNotFoundError(f"{p}: expected {CONFIG_FILE} and {WEIGHTS_FILE} (written by save_pretrained)")
    meta = read_checkpoint_config(cfg_path)
    if meta.get("format") != fmt or "config" not in meta:
        raise CheckpointError(
            f"{cfg_path}: not a {model} checkpoint this cxrgraph reads (format {meta.get('format')!r}, expected {fmt!r})"
        )
    return meta, load_state_dict_file(w_path, map_location)


def warn_non_finite(state: dict[str, Any], source: str | os.PathLike[str]) -> list[str]:
    """Warn (and return the names) when floating-point tensors of ``state`` hold NaN or inf."""
    import torch

    bad = [
        k
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(
            f"{source}: {len(bad)} weight tensor(s) hold NaN or inf ({shown}); the model's outputs will not be finite",
            RuntimeWarning,
            stacklevel=3,
        )
    return bad
