import json
from pathlib import Path

import pytest
import torch
import yaml

from cxrgraph.cli import main
from cxrgraph.models import GraphAlignModel
from cxrgraph.train import PretrainConfig, load_run_config
from cxrgraph.train.pretraining import resolved_config
from cxrgraph.utils.config import ConfigError


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
    path = tmp_path / "pretrain.yaml"
    cfg = load_run_config(PretrainConfig, path, ["trainer.max_epochs=3", "model.model_config.channels=64"])
    assert cfg.trainer.max_epochs == 3 and cfg.model.model_config["channels"] == 64
    assert cfg.image_size == 64  # one image size for model and data
    full = resolved_config(cfg)
    assert full["model"]["weight_decay"] == 0.01 and full["data"]["num_workers"] == 0
    assert full["model"]["model_config"]["backbone"] == "resnet18" and full["data"]["image_size"] == 64
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_run_config(PretrainConfig, path, ["trainer.max_epochs"])
    bad = yaml.safe_load(path.read_text())
    bad["data"]["num_patientz"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(
        ConfigError, match=r"bad\.yaml: data: unknown key 'num_patientz' \(did you mean 'num_patients'\?\)"
    ):
        load_run_config(PretrainConfig, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="no such config file"):
        load_run_config(PretrainConfig, tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("", [], r"empty\.yaml: the file is empty"),
        ("model:\n  lr: [\n", [], r"empty\.yaml: not valid YAML \(line 3, column 1\)"),
        ("- a\n- b\n", [], r"top level must be a mapping"),
        ("seed: 0\n", ["nosuch.key=1"], r"--set nosuch\.key=1: unknown key 'nosuch'; valid keys: checkpoint, data"),
        (
            "seed: 0\n",
            ["model.model_config.channels='32'"],
            r"model\.model_config\.channels: expected an integer, got '32'",
        ),
        ("seed: 0\n", ["model.lr=fast"], r"model\.lr: expected a number, got 'fast'"),
        ("seed: 0\n", ["trainer.max_epochs=one"], r"trainer\.max_epochs: expected an integer or null, got 'one'"),
        ("seed: 0\n", ["data.batch_size=1"], r"data: batch_size: contrastive losses need at least 2"),
        (
            "seed: 0\n",
            ["model.model_config.loss_weights={globl: 1}"],
            r"model\.model_config: loss_weights: unknown losses",
        ),
        ("seed: 0\n", ["model.model_config.image_size=64", "data.image_size=96"], r"differs from"),
        ("seed: 0\n", ["model=3"], r"model: expected a mapping"),
    ],
)
def test_config_errors_exit_2_with_one_line_naming_the_problem(tmp_path, capsys, content, overrides, message):
    path = tmp_path / "empty.yaml"
    path.write_text(content)
    args = ["pretrain", "--config", str(path), "--fast-dev-run", "--no-progress"]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cxrgraph pretrain: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert __import__("re").search(message, err), err
    with pytest.raises(ConfigError):  # --debug shows the traceback instead
        main(["--debug", *args])


def test_example_configs_load():
    root = Path(__file__).parents[2] / "configs"
    for name in ("pretrain_phantom_cpu.yaml", "pretrain_mimic_gpu.yaml"):
        cfg = load_run_config(PretrainConfig, root / name)
        assert cfg.model.model_config["image_size"] == cfg.image_size


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
    assert main(["pretrain", "--config", config, "--resume", str(tmp_path / "nope.ckpt")]) == 2
    assert "resume: no checkpoint" in capsys.readouterr().err

    model = GraphAlignModel.from_pretrained(ckpts / "last.ckpt")
    assert model.config.channels == 32
    out = tmp_path / "eval.json"
    code = main(["evaluate", "--checkpoint", str(ckpts / "last.ckpt"), "--task", "retrieval", "--task", "zero-shot",
                 "--min-positives", "1", "--no-progress", "--output", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text())
    assert results["data"] == "phantom" and "synthetic" in results["note"]
    assert 0.0 <= results["retrieval"]["i2t_R@1"] <= 1.0 and results["num_test"] >= 1


USER_GNN = '''
import torch
from torch import nn
from torch_geometric.nn import HeteroConv, SAGEConv


class SageGNN(nn.Module):
    """A graph encoder of the user's own: two HeteroConv(SAGEConv) layers over every edge type."""

    def __init__(self, channels, edge_types):
        super().__init__()
        edge_types = [tuple(et) for et in edge_types]
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv(channels, channels) for et in edge_types}, aggr="sum") for _ in range(2)
        )
        self.edge_types = edge_types

    def forward(self, x_dict, edge_index_dict, edge_attr_dict=None):
        edges = {et: edge_index_dict.get(et, next(iter(edge_index_dict.values())).new_empty((2, 0))) for et in self.edge_types}
        h = x_dict
        for conv in self.convs:
            out = conv(h, edges)
            h = {t: torch.relu(out.get(t, 0.0) + h[t]) for t in h}
        return h
'''


@pytest.mark.slow
def test_own_gnn_through_the_command_line(tmp_path, monkeypatch, capsys):
    """A user's GNN named by import path in the YAML trains through `cxrgraph pretrain` and reloads."""
    (tmp_path / "user_gnn.py").write_text(USER_GNN)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = Path(_config(tmp_path, max_steps=2, limit_val_batches=1))
    cfg = yaml.safe_load(path.read_text())
    edge_types = [
        ["finding", "located_at", "anatomy"],
        ["anatomy", "part_of", "anatomy"],
        ["finding", "suggestive_of", "finding"],
    ]
    cfg["model"]["model_config"]["graph_encoder"] = {
        "class_path": "user_gnn.SageGNN",
        "init_args": {"channels": 32, "edge_types": edge_types},
    }
    path.write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", "--config", str(path), "--no-progress"]) == 0
    model = GraphAlignModel.from_pretrained(tmp_path / "run" / "pretrained")
    assert type(model.graph_encoder).__name__ == "SageGNN"
    assert main(["pretrain", "--config", str(path), "--fast-dev-run", "--no-progress"]) == 0
