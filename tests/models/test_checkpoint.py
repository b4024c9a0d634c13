"""Damaged, unsafe and non-finite checkpoints: refused or warned about, always naming the file."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from cxrgraph.models import GraphAlignModel, load_checkpoint
from cxrgraph.utils.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError

from .helpers import tiny_config


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "pretrained"
    GraphAlignModel(tiny_config()).save_pretrained(folder)
    return folder


def _copy(saved, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (out / name).write_bytes((saved / name).read_bytes())
    return out


def test_a_truncated_weights_file_is_named(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(
        CheckpointError, match=rf"{weights}: not a readable checkpoint, the file is damaged or truncated"
    ):
        GraphAlignModel.from_pretrained(folder)
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"{weights}: the checkpoint file is empty"):
        load_checkpoint(folder)


def test_a_truncated_config_is_named(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    config = folder / CONFIG_FILE
    config.write_text(config.read_text()[:40])
    with pytest.raises(CheckpointError, match=rf"{config}: not a readable checkpoint config"):
        GraphAlignModel.from_pretrained(folder)
    config.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=rf"{config}: a checkpoint config must be a JSON object"):
        load_checkpoint(folder)


def test_non_finite_weights_load_with_a_warning(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, folder / WEIGHTS_FILE)
    with pytest.warns(
        RuntimeWarning, match=rf"{folder / WEIGHTS_FILE}: 1 weight tensor\(s\) hold NaN or inf \({name}\)"
    ):
        GraphAlignModel.from_pretrained(folder)


class _RunsCode:
    """A pickle that would create a file when loaded with weights_only=False."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_a_crafted_checkpoint_never_runs_code(tmp_path, monkeypatch):
    # torch's escape hatch to full unpickling changes only loads that do not pass weights_only
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as fh:
        pickle.dump({"state_dict": _RunsCode(str(marker))}, fh)
    with pytest.raises(CheckpointError, match=rf"{path}: refused"):
        load_checkpoint(path)
    assert not marker.exists()
