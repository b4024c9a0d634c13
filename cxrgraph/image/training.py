"""Lightning training of :class:`~cxrgraph.image.detector.AnatomyDetector`.

This is the only module of :mod:`cxrgraph.image` that imports Lightning. The learning-rate
schedule (linear warm-up, cosine decay) runs on *progress*, the larger of the step fraction
and the wall-time fraction, so a time-capped run still ends with a decayed learning rate.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from cxrgraph.image.data import RegionBoxDataset, collate_boxes
from cxrgraph.image.detector import AnatomyDetector
from cxrgraph.image.evaluation import paired_iou

__all__ = ["AnatomyDetectorModule", "train_detector", "scheduled_lr"]

logger = logging.getLogger(__name__)


def scheduled_lr(base_lr: float, step: int, progress: float, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 2% of ``base_lr`` as progress goes 0 → 1."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    return base_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


class AnatomyDetectorModule(L.LightningModule):
    """Train an :class:`AnatomyDetector` on ``(images, boxes, present)`` batches.

    Args:
        detector: The detector to train (default: a new one built from ``detector_kwargs``).
        lr: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up length.
        max_steps: Steps of the cosine schedule (``None``: the trainer's ``max_steps``).
        max_seconds: Time budget in seconds; training stops when it is spent.
        clock: What the budget counts: ``"wall"`` (elapsed time) or ``"cpu"`` (this process's
            CPU time, fair on a machine shared with other jobs).
        max_wall_seconds: An extra wall-time cap (with ``clock="cpu"``); the schedule follows
            whichever budget is nearer its end.
        **detector_kwargs: Passed to :class:`AnatomyDetector` when ``detector`` is ``None``.

    Logs ``train_loss`` (and each Faster R-CNN loss term) and ``val_mean_iou``: the mean over
    regions of the IoU of the reported box with the true one (0 where a region is missed).
    """

    def __init__(
        self,
        detector: AnatomyDetector | None = None,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 50,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        clock: str = "wall",
        max_wall_seconds: float | None = None,
        **detector_kwargs: Any,
    ) -> None:
        super().__init__()
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
        self.detector = detector if detector is not None else AnatomyDetector(**detector_kwargs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.warmup_steps = int(warmup_steps)
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.clock = clock
        self.max_wall_seconds = max_wall_seconds
        self._wall_start: float | None = None
        self.save_hyperparameters(ignore=["detector"])
        self._start: float | None = None
        self._val_sum: torch.Tensor | None = None
        self._val_count: torch.Tensor | None = None

    # ------------------------------------------------------------------ schedule
    def _now(self) -> float:
        return time.process_time() if self.clock == "cpu" else time.monotonic()

    def elapsed(self) -> float:
        """Seconds of the budget's clock since training started."""
        return 0.0 if self._start is None else self._now() - self._start

    def progress(self) -> float:
        """Fraction of the budget used: the larger of steps and wall time."""
        frac = 0.0
        steps = self.max_steps or (self.trainer.max_steps if self._trainer is not None else -1)
        if steps and steps > 0:
            frac = self.global_step / steps
        if self.max_seconds and self._start is not None:
            frac = max(frac, self.elapsed() / self.max_seconds)
        if self.max_wall_seconds and self._wall_start is not None:
            frac = max(frac, (time.monotonic() - self._wall_start) / self.max_wall_seconds)
        return min(frac, 1.0)

    def _lr_now(self) -> float:
        return scheduled_lr(self.lr, self.global_step, self.progress(), self.warmup_steps)

    def on_train_start(self) -> None:
        self._start = self._now()
        self._wall_start = time.monotonic()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self._start is not None and self.progress() >= 1.0 and self.global_step > 0:
            self.trainer.should_stop = True
            return -1  # ends the epoch; should_stop ends the run
        lr = self._lr_now()
        for group in self.optimizers().param_groups:
            group["lr"] = lr
        return None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.global_step % 50 == 0:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            logger.info(
                "step %d  loss %.4f  lr %.2e  %.0f s (%s)",
                self.global_step,
                float(loss),
                self._lr_now(),
                self.elapsed(),
                self.clock,
            )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.detector.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, boxes, present = batch
        losses = self.detector.training_loss(images, boxes, present)
        loss = sum(losses.values())
        bs = len(images)
        self.log("train_loss", loss.detach(), prog_bar=True, batch_size=bs)
        for key, value in losses.items():
            self.log(f"train_{key}", value.detach(), batch_size=bs)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=bs)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum = torch.zeros(self.detector.num_regions, dtype=torch.float64)
        self._val_count = torch.zeros(self.detector.num_regions, dtype=torch.float64)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, boxes, present = batch
        dets = self.detector.detect(images)
        pred = torch.stack([d.boxes for d in dets])
        found = torch.stack([d.present for d in dets])
        iou = paired_iou(pred, torch.nan_to_num(boxes.cpu())) * found
        self._val_sum += (iou * present.cpu()).sum(0).double()
        self._val_count += present.cpu().sum(0).double()

    def on_validation_epoch_end(self) -> None:
        if self._val_count is None or self._val_count.sum() == 0:
            return
        seen = self._val_count > 0
        per_region = self._val_sum[seen] / self._val_count[seen]
        self.log("val_mean_iou", float(per_region.mean()), prog_bar=True)


@torch.no_grad()
def _mean_iou(detector: AnatomyDetector, loader: DataLoader) -> float:
    device = next(detector.parameters()).device
    total = torch.zeros(detector.num_regions, dtype=torch.float64)
    count = torch.zeros(detector.num_regions, dtype=torch.float64)
    for images, boxes, present in loader:
        dets = detector.detect([img.to(device) for img in images])
        pred = torch.stack([d.boxes for d in dets])
        found = torch.stack([d.present for d in dets])
        iou = paired_iou(pred, torch.nan_to_num(boxes)) * found
        total += (iou * present).sum(0).double()
        count += present.sum(0).double()
    seen = count > 0
    return float((total[seen] / count[seen]).mean()) if seen.any() else math.nan


def train_detector(
    train: RegionBoxDataset,
    val: RegionBoxDataset | None = None,
    detector: AnatomyDetector | None = None,
    *,
    batch_size: int = 4,
    max_steps: int = 2000,
    max_minutes: float | None = None,
    clock: str = "wall",
    max_wall_minutes: float | None = None,
    lr: float = 2e-3,
    warmup_steps: int = 50,
    val_every: int | None = None,
    progress_bar: bool = False,
    accelerator: str = "cpu",
    seed: int | None = 0,
    data: str | None = None,
    synthetic: bool | None = None,
    **detector_kwargs: Any,
) -> tuple[AnatomyDetector, dict[str, Any]]:
    """Train a detector with the Lightning Trainer; return it and a summary.

    Args:
        train: Training images and boxes (use ``augment=True``).
        val: Optional held-out set, scored every ``val_every`` steps and at the end.
        detector: A detector to continue training (default: a new one from ``detector_kwargs``).
        batch_size: Images per step.
        max_steps: Step budget (also the length of the cosine schedule).
        max_minutes: Optional time budget; whichever budget ends first stops training.
        clock: ``"wall"`` or ``"cpu"`` (process CPU time) for ``max_minutes``.
        max_wall_minutes: An extra wall-time cap when ``clock="cpu"``.
        lr: Peak learning rate.
        warmup_steps: Warm-up steps.
        val_every: Validation interval in steps (default: only at the end).
        progress_bar: Show Lightning's progress bar.
        accelerator: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
        seed: Seeds Lightning's RNGs for this run (``None`` leaves them alone).
        data: What the training images are (recorded in the detector's ``meta``).
        synthetic: Whether they are synthetic (phantom) images; ``None`` guesses from ``data``.

    Returns:
        ``(detector, summary)`` with steps run, seconds and the last ``val_mean_iou``.
    """
    if seed is not None:
        L.seed_everything(seed, workers=True, verbose=False)
    max_seconds = None if max_minutes is None else 60.0 * max_minutes
    module = AnatomyDetectorModule(
        detector,
        lr=lr,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        max_seconds=max_seconds,
        clock=clock,
        max_wall_seconds=None if max_wall_minutes is None else 60.0 * max_wall_minutes,
        **detector_kwargs,
    )
    loader = DataLoader(
        train, batch_size=batch_size, shuffle=True, collate_fn=collate_boxes, drop_last=len(train) > batch_size
    )
    val_loader = None
    if val is not None:
        val_loader = DataLoader(val, batch_size=max(batch_size, 8), shuffle=False, collate_fn=collate_boxes)
    validate_during = val is not None and bool(val_every)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=max_steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        val_check_interval=val_every if validate_during else None,
        check_val_every_n_epoch=None if validate_during else 1,
        limit_val_batches=1.0 if validate_during else 0,
        log_every_n_steps=10,
    )
    start, cpu_start = time.monotonic(), time.process_time()
    trainer.fit(module, loader, val_loader if validate_during else None)
    summary: dict[str, Any] = {
        "steps": int(module.global_step),
        "seconds": round(time.monotonic() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "batch_size": batch_size,
    }
    if val_loader is not None:
        summary["val_mean_iou"] = _mean_iou(module.detector, val_loader)
    det = module.detector.cpu().eval()
    if data is not None or "data" not in det.meta or det.meta["data"] == "untrained":
        det.meta["data"] = data or "unspecified"
    det.meta["synthetic"] = bool(synthetic) if synthetic is not None else "phantom" in det.meta["data"].lower()
    det.meta["num_images"] = len(train)
    return det, summary
