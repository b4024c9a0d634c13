import json

import pytest
import torch
import yaml

from cxrgraph.cli import main
from cxrgraph.cli.pretrain import load_config, resolve
from cxrgraph.models import GraphAlignModel


def _config(tmp_path, **trainer) -> str:
    cfg = {
        "seed": 0,
        "output_dir": str(tmp_path / "run"),
        "model": {
            "model_config": {
                "image_size": 64,
                "channels": 32,
                "freeze_text": True,
                "max_length": 32,
                "loss_weights": {"global": 1.0, "cascade": 1.0},
            },
            "lr": 1.0e-3,
        },
        "data": {
            "source": "phantom",
            "num_patients": 8,
            "studies_per_patient": [1, 2],
            "batch_size": 2,
            "val_fraction": 0.2,
            "test_fraction": 0.2,
            "cache_dir": str(tmp_path / "cache"),
        },
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "log_every_n_steps": 1, **trainer},
    }
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_config_overrides_and_resolution(tmp_path):
    _config(tmp_path)
    cfg = load_config(tmp_path / "pretrain.yaml", ["trainer.max_epochs=3", "model.model_config.channels=64"])
    assert cfg["trainer"]["max_epochs"] == 3 and cfg["model"]["model_config"]["channels"] == 64
    assert cfg["data"]["image_size"] == 64  # one image size for model and data
    full = resolve(cfg)
    assert full["model"]["weight_decay"] == 0.01 and full["data"]["num_workers"] == 0
    assert full["model"]["model_config"]["backbone"] == "resnet18"
    with pytest.raises(ValueError, match="KEY=VALUE"):
        load_config(tmp_path / "pretrain.yaml", ["trainer.max_epochs"])
    bad = yaml.safe_load((tmp_path / "pretrain.yaml").read_text())
    bad["data"]["num_patientz"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="num_patientz"):
        resolve(load_config(tmp_path / "bad.yaml"))
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_fast_dev_run(tmp_path, capsys):
    assert main(["pretrain", "--config", _config(tmp_path), "--fast-dev-run", "--no-progress"]) == 0
    assert "fast dev run finished" in capsys.readouterr().out


@pytest.mark.slow
def test_train_checkpoint_resume_and_evaluate(tmp_path, capsys):
    config = _config(tmp_path, limit_train_batches=2, limit_val_batches=1)
    assert main(["pretrain", "--config", config, "--no-progress"]) == 0
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    assert (ckpts / "last.ckpt").is_file()
    resolved = yaml.safe_load((ckpts / "config.yaml").read_text())
    assert resolved["model"]["model_config"]["channels"] == 32 and resolved["trainer"]["max_epochs"] == 1
    assert (run / "pretrained" / "model.pt").is_file()
    assert list((run / "csv").rglob("metrics.csv")) and list((run / "tensorboard").rglob("events.out.tfevents*"))
    ckpt = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2

    # resume: the second epoch continues from step 2
    assert (
        main(["pretrain", "--config", config, "--resume", "last", "--set", "trainer.max_epochs=2", "--no-progress"])
        == 0
    )
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 4
    with pytest.raises(FileNotFoundError, match="resume"):
        main(["pretrain", "--config", config, "--resume", str(tmp_path / "nope.ckpt")])

    model = GraphAlignModel.from_pretrained(ckpts / "last.ckpt")
    assert model.config.channels == 32
    out = tmp_path / "eval.json"
    code = main(["evaluate", "--checkpoint", str(ckpts / "last.ckpt"), "--task", "retrieval", "--task", "zero-shot",
                 "--min-positives", "1", "--no-progress", "--output", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text())
    assert results["data"] == "phantom" and "synthetic" in results["note"]
    assert 0.0 <= results["retrieval"]["i2t_R@1"] <= 1.0 and results["num_test"] >= 1
