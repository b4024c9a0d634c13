import json

import pytest
import torch
import yaml

from cxrgraph.cli import main
from cxrgraph.temporal import ProgressionModel
from cxrgraph.train import ProgressionRunConfig, load_run_config
from cxrgraph.utils.config import ConfigError


def _config(tmp_path, **model):
    cfg = {
        "seed": 0,
        "output_dir": str(tmp_path / "run"),
        "data": {"num_patients": 6, "image_size": 64, "val_fraction": 0.2, "test_fraction": 0.35, "batch_size": 4},
        "model": {"image_size": 64, "width": 4, "embed_channels": 16, "hidden_channels": 8, "head_hidden": 8,
                  "text_guidance": False, "freeze_backbone": True, **model},
        "pretrain": {"epochs": 1, "batch_size": 8},
        "train": {"epochs": 1, "accelerator": "cpu"},
    }  # fmt: skip
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_train_then_evaluate(tmp_path, capsys):
    torch.set_num_threads(1)
    cfg = _config(tmp_path)
    assert main(["progression", "train", "--config", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "run"
    out = capsys.readouterr().out
    assert "region pretraining" in out and "accuracy" in out
    for name in (
        "model/model.pt",
        "model/config.json",
        "config.yaml",
        "metrics.json",
        "confusion.png",
        "regions.png",
        "poincare.png",
    ):
        assert (run / name).is_file(), name
    model = ProgressionModel.from_pretrained(run / "model")
    assert model.config.alignment == "poincare" and model.config.embed_channels == 16
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["num_patients"] == 6
    trained = json.loads((run / "metrics.json").read_text())["summary"]
    assert main(["progression", "evaluate", "--config", str(cfg)]) == 0
    again = json.loads((run / "evaluate" / "metrics.json").read_text())["summary"]
    # same split, same weights: the same numbers
    assert again["accuracy"] == pytest.approx(trained["accuracy"])
    assert again["labelled_regions"] == trained["labelled_regions"] > 0


def test_config_errors_are_clear(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochz": 3}}))
    with pytest.raises(ConfigError, match=r"train: unknown key 'epochz' \(did you mean 'epochs'\?\); valid keys: "):
        load_run_config(ProgressionRunConfig, path)
    path.write_text(yaml.safe_dump({"model": {"alignment": "poincare", "nope": 1}}))
    with pytest.raises(ConfigError, match="model: unknown key 'nope'"):
        load_run_config(ProgressionRunConfig, path)
    path.write_text(yaml.safe_dump({"data": {"source": "mimic"}}))
    with pytest.raises(ConfigError, match=r"data\.source: expected one of 'phantom', got 'mimic'"):
        load_run_config(ProgressionRunConfig, path)
    path.write_text(yaml.safe_dump({"out": "runs/x"}))  # the key of earlier versions
    with pytest.raises(ConfigError, match="out: this key was renamed; call it 'output_dir'"):
        load_run_config(ProgressionRunConfig, path)
    path.write_text(yaml.safe_dump({"train": {"epochs": "one"}, "model": {"embed_channels": 16}}))
    assert main(["progression", "train", "--config", str(path)]) == 2
    assert "train.epochs: expected an integer, got 'one'" in capsys.readouterr().err
    assert main(["progression", "train", "--config", str(path), "--set", "train.epochs=2", "--set", "trian.lr=1"]) == 2
    assert "--set trian.lr=1: unknown key 'trian' (did you mean 'train'?)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no such config file"):
        load_run_config(ProgressionRunConfig, tmp_path / "missing.yaml")


def test_evaluate_without_checkpoint_says_so(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["progression", "evaluate", "--config", str(cfg), "--out", str(tmp_path / "empty")]) == 2
    assert "train first" in capsys.readouterr().err


def test_example_config_loads():
    cfg = load_run_config(
        ProgressionRunConfig,
        __import__("pathlib").Path(__file__).parents[2] / "configs" / "progression_phantom_cpu.yaml",
    )
    assert cfg.model.alignment == "poincare" and cfg.data.image_size == 128 and cfg.train.lr == 0.003
