import json

import pytest
import torch
import yaml

from cxrgraph.cli import main
from cxrgraph.cli.progression import load_config


def _config(tmp_path, **model):
    cfg = {
        "seed": 0,
        "out": str(tmp_path / "run"),
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
    for name in ("progression.pt", "metrics.json", "confusion.png", "regions.png", "poincare.png"):
        assert (run / name).is_file(), name
    state = torch.load(run / "progression.pt", weights_only=True)
    assert state["config"]["model"]["alignment"] == "poincare"
    trained = json.loads((run / "metrics.json").read_text())["summary"]
    assert main(["progression", "evaluate", "--config", str(cfg)]) == 0
    again = json.loads((run / "evaluate" / "metrics.json").read_text())["summary"]
    # same split, same weights: the same numbers
    assert again["accuracy"] == pytest.approx(trained["accuracy"])
    assert again["labelled_regions"] == trained["labelled_regions"] > 0


def test_config_errors_are_clear(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochz": 3}}))
    with pytest.raises(ValueError, match="unknown keys in 'train'"):
        load_config(path)
    path.write_text(yaml.safe_dump({"model": {"alignment": "poincare", "nope": 1}}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(path)
    path.write_text(yaml.safe_dump({"data": {"source": "mimic"}}))
    with pytest.raises(ValueError, match="not supported"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_evaluate_without_checkpoint_says_so(tmp_path):
    cfg = _config(tmp_path)
    with pytest.raises(FileNotFoundError, match="train first"):
        main(["progression", "evaluate", "--config", str(cfg), "--out", str(tmp_path / "empty")])


def test_example_config_loads():
    cfg = load_config(__import__("pathlib").Path(__file__).parents[2] / "configs" / "progression_phantom_cpu.yaml")
    assert cfg["model"]["alignment"] == "poincare" and cfg["data"]["image_size"] == 128
