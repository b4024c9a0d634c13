"""A NaN loss stops training with a message naming the step and the loss terms."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from models.helpers import phantom_studies, tiny_config

from cxrgraph.train import (
    GraphAlignDataModule,
    GraphAlignPretrainer,
    ProgressionDataModule,
    ProgressionModule,
    TrainingDiverged,
)


def _poison(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.fill_(float("nan"))


def test_a_nan_loss_stops_pretraining_naming_the_step_and_terms(tmp_path):
    samples = phantom_studies()
    module = GraphAlignPretrainer(tiny_config(loss_weights={"global": 1.0, "cascade": 1.0}).to_dict())
    _poison(module.model.image_encoder)
    data = GraphAlignDataModule(image_size=64, batch_size=3, samples={"train": samples[:6]})
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2, logger=False, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, limit_val_batches=0, default_root_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.raises(
        TrainingDiverged, match=r"pretraining stopped at step 0: the loss is nan; non-finite loss terms: global=nan"
    ):
        trainer.fit(module, datamodule=data)


def test_a_nan_loss_stops_progression_training(tmp_path):
    from temporal.synthetic import make_sample

    module = ProgressionModule({"image_size": 64, "width": 4, "embed_channels": 16, "text_guidance": False})
    _poison(module.model.head)
    data = ProgressionDataModule(train=[make_sample(i) for i in range(4)], batch_size=2)
    trainer = L.Trainer(
        accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, default_root_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.raises(
        TrainingDiverged, match=r"progression training stopped at step 0: .*non-finite loss terms: cls=nan"
    ):
        trainer.fit(module, train_dataloaders=data.train_dataloader())
