"""Two CPU processes (gloo) through Lightning's DDP strategy: different data, same weights.

Parts of the model feed only some losses (the image-tag head only ``image_tag``), so a run with a
subset of the losses needs ``find_unused_parameters``.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import sys

    import lightning as L
    import torch
    from lightning.pytorch.callbacks import Callback

    from cxrgraph.train import GraphAlignDataModule, GraphAlignPretrainer
    from cxrgraph.datasets import phantom_samples

    class Record(Callback):
        def __init__(self):
            self.ids = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.ids.extend(batch.study_ids)

    out = sys.argv[1]
    torch.manual_seed(0)
    samples = phantom_samples(4, 64, 0, (2, 2))
    config = {"image_size": 64, "channels": 32, "freeze_text": True, "max_length": 32,
              "loss_weights": {"global": 1.0, "cascade": 1.0}}
    module = GraphAlignPretrainer(config, lr=1e-3)
    data = GraphAlignDataModule(image_size=64, batch_size=2, samples={"train": samples})
    record = Record()
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_steps=2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[record])
    trainer.fit(module, datamodule=data)
    torch.save({"ids": record.ids, "world": trainer.world_size, "steps": trainer.global_step,
                "params": {n: p.detach() for n, p in module.model.named_parameters()}}, f"{out}/rank{trainer.global_rank}.pt")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_ranks_see_different_data_and_agree_on_weights(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), OMP_NUM_THREADS="1")
    # the ranks import the cxrgraph under test, not whichever one is installed
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2 and r0["steps"] == r1["steps"] == 2
    # each rank trained on its own share of the studies
    assert len(r0["ids"]) == len(r1["ids"]) == 4
    assert not set(r0["ids"]) & set(r1["ids"])
    # gradients were averaged: both ranks end with the same weights (BatchNorm running statistics
    # are buffers, kept per rank until DDP broadcasts rank 0's at the next forward)
    assert r0["params"].keys() == r1["params"].keys()
    for key, value in r0["params"].items():
        assert torch.equal(value, r1["params"][key]), key
