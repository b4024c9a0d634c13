"""pretrain(config): typed config sections, a typed result, a resume read weights-only."""

from __future__ import annotations

import dataclasses
import inspect
import os
import pickle

import pytest
import torch
from models.helpers import tiny_config

from cxrgraph.train import (
    AlignDataConfig,
    GraphAlignDataModule,
    GraphAlignPretrainer,
    PretrainConfig,
    PretrainModelConfig,
    ProgressionDataConfig,
    ProgressionDataModule,
    ProgressionModule,
    ProgressionTrainConfig,
    TrainerConfig,
    pretrain,
)
from cxrgraph.utils.checkpoint import CheckpointError


def _params(cls) -> set[str]:
    return {
        n
        for n, p in inspect.signature(cls.__init__).parameters.items()
        if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    }


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_config_sections_cover_what_they_configure():
    # every YAML-able argument has its typed field; defaults are read from the constructors
    assert _params(GraphAlignDataModule) - {"samples"} == _fields(AlignDataConfig)
    assert _params(GraphAlignPretrainer) - {"model"} == _fields(PretrainModelConfig)
    assert AlignDataConfig().num_patients == inspect.signature(GraphAlignDataModule).parameters["num_patients"].default
    assert _params(ProgressionDataModule) - {"train", "val", "test"} == _fields(ProgressionDataConfig) - {"source"}
    assert _params(ProgressionModule) - {"model", "class_counts"} <= _fields(ProgressionTrainConfig)
    assert ProgressionTrainConfig().lr == inspect.signature(ProgressionModule).parameters["lr"].default


def _config(tmp_path, **trainer) -> PretrainConfig:
    return PretrainConfig(
        output_dir=str(tmp_path / "run"),
        model=PretrainModelConfig(model_config=tiny_config(loss_weights={"global": 1.0, "cascade": 1.0}).to_dict()),
        data=AlignDataConfig(
            num_patients=8, studies_per_patient=(1, 2), batch_size=2, val_fraction=0.2, test_fraction=0.2,
            cache_dir=str(tmp_path / "cache"),
        ),
        trainer=TrainerConfig(max_epochs=1, accelerator="cpu", log_every_n_steps=1, **trainer),
    )  # fmt: skip


def test_pretrain_returns_a_typed_result(tmp_path):
    result = pretrain(_config(tmp_path), fast_dev_run=1)
    assert result.model_path is None and result.global_step == 1  # a fast dev run saves nothing
    assert result.config_path.is_file() and result.output_dir == tmp_path / "run"
    assert isinstance(result.train_loss, float) and result.metrics["train/loss"] == result.train_loss


def test_resume_reads_weights_only_and_names_bad_files(tmp_path, monkeypatch):
    config = _config(tmp_path)
    with pytest.raises(FileNotFoundError, match="has this run saved a checkpoint yet"):
        pretrain(config, resume="last")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "ran"

    class RunsCode:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": RunsCode()}))
    with pytest.raises(CheckpointError, match=rf"{evil}: refused"):
        pretrain(config, resume=evil)
    assert not marker.exists()
    truncated = tmp_path / "half.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=rf"{truncated}: not a readable checkpoint"):
        pretrain(config, resume=truncated)
