"""Lightning training of temporal progression: ``ProgressionModule`` and ``ProgressionDataModule``."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from cxrgraph.temporal import (
    PairBatch,
    ProgressionConfig,
    ProgressionModel,
    SentenceEmbedder,
    TemporalSample,
    collate_temporal,
    finding_metrics,
    finding_records,
    progression_metrics,
)
from cxrgraph.train.divergence import check_finite_loss

__all__ = ["ProgressionModule", "ProgressionDataModule", "phantom_pair_samples"]

log = logging.getLogger(__name__)


def phantom_pair_samples(
    patients: Sequence[Any], guidance: bool = True, backend: str = "rules"
) -> list[TemporalSample]:
    """Consecutive study pairs of phantom patients as :class:`~cxrgraph.temporal.TemporalSample`.

    The guidance comes from the current report through the text pipeline
    (:func:`cxrgraph.text.parse_report`), not from the phantom's ground truth. A report that fails
    to parse gives a pair without guidance (logged), never a crash.
    """
    from cxrgraph.temporal import comparison_sentences
    from cxrgraph.text import parse_report

    out: list[TemporalSample] = []
    for patient in patients:
        for prior, cur, pair in zip(patient.studies[:-1], patient.studies[1:], patient.pairs()):
            text: dict[int, str] = {}
            if guidance:
                try:
                    graph = parse_report(cur.report, backend=backend)
                    text = {r: " ".join(s) for r, s in comparison_sentences(graph).items()}
                except (ValueError, TypeError) as err:  # a bad report must not stop the run
                    log.warning("study %s: report not parsed (%s); pair kept without guidance", cur.study_id, err)
            out.append(TemporalSample(pair, cur.image, prior.image, text))
    return out


class ProgressionDataModule(L.LightningDataModule):
    """Train / val / test study pairs for :class:`ProgressionModule`.

    Either give the samples (``train``, ``val``, ``test``: sequences of
    :class:`~cxrgraph.temporal.TemporalSample`) or let it render a phantom cohort
    (``num_patients`` > 0), split by patient so no patient is in two splits.

    Args:
        train: Training samples.
        val: Validation samples.
        test: Test samples.
        num_patients: Phantom patients to render when no samples are given.
        image_size: Phantom image side.
        seed: Phantom cohort seed.
        val_fraction: Patients held out for validation.
        test_fraction: Patients held out for testing.
        studies_per_patient: Phantom ``(min, max)`` studies per patient.
        guidance: Read comparison sentences from the current reports.
        batch_size: Pairs per batch.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        train: Sequence[TemporalSample] | None = None,
        val: Sequence[TemporalSample] | None = None,
        test: Sequence[TemporalSample] | None = None,
        num_patients: int = 0,
        image_size: int = 128,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        studies_per_patient: tuple[int, int] = (2, 4),
        guidance: bool = True,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if train is None and num_patients <= 0:
            raise ValueError("ProgressionDataModule: give training samples or num_patients > 0 for the phantom")
        self.samples: dict[str, list[TemporalSample]] = {}
        if train is not None:
            self.samples = {"train": list(train), "val": list(val or []), "test": list(test or [])}
        self.num_patients = int(num_patients)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.studies_per_patient = tuple(studies_per_patient)
        self.guidance = guidance
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pretrain_studies: tuple[list[Tensor], list[Any]] = ([], [])

    def setup(self, stage: str | None = None) -> None:
        if self.samples:
            return
        from cxrgraph.datasets.phantom import PhantomCohort
        from cxrgraph.datasets.splits import split_indices

        start = time.perf_counter()
        cohort = PhantomCohort(
            self.num_patients, size=self.image_size, seed=self.seed, studies_per_patient=self.studies_per_patient
        )
        # the patient split every run uses (cxrgraph.datasets.split_by_subject), over patient numbers
        split = split_indices(range(self.num_patients), (self.val_fraction, self.test_fraction), self.seed)
        for name, idx in split.items():
            patients = [cohort.patient(i) for i in idx]
            self.samples[name] = phantom_pair_samples(patients, guidance=self.guidance)
            if name == "train":
                # single studies of training patients only, for region pretraining
                self.pretrain_studies = (
                    [s.image for p in patients for s in p.studies],
                    [s.graph for p in patients for s in p.studies],
                )
        log.info(
            "phantom pairs: %s in %.1f s",
            {k: len(v) for k, v in self.samples.items()},
            time.perf_counter() - start,
        )

    def class_counts(self) -> Tensor:
        """Training labels per progression class ``[3]``."""
        self.setup()
        counts = torch.zeros(3, dtype=torch.long)
        for s in self.samples["train"]:
            c = s.pair.change
            counts += torch.bincount(c[c >= 0], minlength=3)
        return counts

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        self.setup()
        data = self.samples.get(name) or []
        if not data:
            raise ValueError(f"ProgressionDataModule: the {name!r} split is empty")
        return DataLoader(
            data, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers, collate_fn=collate_temporal
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)


class ProgressionModule(L.LightningModule):
    """Lightning module around :class:`~cxrgraph.temporal.ProgressionModel`.

    Loss: class-balanced cross-entropy + ``align_weight`` × manifold alignment +
    ``text_weight`` × text guidance (see :class:`~cxrgraph.temporal.ProgressionConfig`).
    Optimiser: :class:`geoopt.optim.RiemannianAdam` (manifold biases stay on the ball) with a
    linear warm-up and cosine decay.

    Args:
        model: Model hyperparameters (a :class:`~cxrgraph.temporal.ProgressionConfig` or dict).
        lr: Learning rate.
        weight_decay: Weight decay.
        warmup_steps: Linear warm-up steps.
        prior_dropout: Share of training pairs whose prior image is replaced by the stand-in.
        text_model: Sentence model folder for the guidance (``None``: offline MiniLM).
        class_counts: Training labels per class, for the class-balanced loss.
    """

    def __init__(
        self,
        model: ProgressionConfig | dict[str, Any] | None = None,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 20,
        prior_dropout: float = 0.0,
        text_model: str | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        cfg = model if isinstance(model, ProgressionConfig) else ProgressionConfig.from_dict(dict(model or {}))
        self.save_hyperparameters({"model": cfg.to_dict(), "lr": lr, "weight_decay": weight_decay,
                                   "warmup_steps": warmup_steps, "prior_dropout": prior_dropout,
                                   "text_model": text_model})  # fmt: skip
        self.model = ProgressionModel(cfg)
        if class_counts is not None:
            self.model.head.set_class_counts(torch.as_tensor(list(class_counts)))
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.prior_dropout = prior_dropout
        self.embedder = SentenceEmbedder(text_model) if self.model.guidance is not None else None
        self._outputs: dict[str, list[tuple[Tensor, Tensor, list]]] = {"val": [], "test": []}

    def forward(self, batch: PairBatch) -> Tensor:
        """Per-region logits ``[B, R, 3]``."""
        return self.model.forward_batch(batch)[0].logits

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, PairBatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: PairBatch, batch_idx: int) -> Tensor:
        out, target = self.model.forward_batch(batch, self.prior_dropout)
        emb = None
        if self.embedder is not None and batch.guidance_text:
            emb = self.embedder(batch.guidance_text).to(self.device)
        levels = self.model.level_targets(batch) if self.model.level_head is not None else None
        losses = self.model.losses(out, target, emb, batch.guidance_index, levels)
        terms = {k: v for k, v in losses.items() if k != "loss"}
        check_finite_loss(losses["loss"], terms, self.global_step, "progression training")
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, batch_size=batch.batch_size, prog_bar=False)
        if self.model.alignment is not None and self.model.alignment.ball is not None:
            self.log("train/curvature", self.model.alignment.curvature.detach(), batch_size=batch.batch_size)
        return losses["loss"]

    def _eval_step(self, batch: PairBatch, stage: str) -> None:
        # every region: the per-finding protocol may read regions without a pair label
        out, target = self.model.forward_batch(batch, compare_all=True)
        self._outputs[stage].append((out.logits.argmax(-1).cpu(), target.cpu(), batch.current.cpu().to_data_list()))

    def validation_step(self, batch: PairBatch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: PairBatch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_end(self, stage: str) -> None:
        outs = self._outputs[stage]
        if not outs:
            return
        pred = torch.cat([o[0] for o in outs])
        target = torch.cat([o[1] for o in outs])
        graphs = [g for o in outs for g in o[2]]
        self._outputs[stage] = []
        m = progression_metrics(pred, target)
        fm = finding_metrics(finding_records(pred, graphs)).get("mean", {})
        values = {
            f"{stage}/accuracy": m.accuracy,
            f"{stage}/macro_f1": m.macro_f1,
            f"{stage}/mean_region_accuracy": m.mean_region_accuracy,
            f"{stage}/mean_region_f1": m.mean_region_f1,
            f"{stage}/finding_accuracy": fm.get("accuracy", math.nan),
        }
        self.log_dict({k: float(v) for k, v in values.items()}, prog_bar=stage == "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def configure_optimizers(self) -> Any:
        from geoopt.optim import RiemannianAdam

        opt = RiemannianAdam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total = max(int(self.trainer.estimated_stepping_batches), 1) if self._trainer is not None else 1000
        warm = min(self.warmup_steps, max(total // 10, 1))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(total - warm, 1))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
