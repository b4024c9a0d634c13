"""``GraphAlignPretrainer``: the Lightning module that pretrains a :class:`~cxrgraph.models.GraphAlignModel`."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor

from cxrgraph.models.batch import AlignBatch
from cxrgraph.models.config import GraphAlignConfig
from cxrgraph.models.graph_align import GraphAlignModel
from cxrgraph.train.divergence import check_finite_loss

__all__ = ["GraphAlignPretrainer"]


class GraphAlignPretrainer(L.LightningModule):
    """Pretrain image and report graph encoders with any combination of alignment losses.

    The losses and their weights come from ``model_config["loss_weights"]`` (see
    :class:`~cxrgraph.models.GraphAlignConfig`). The optimiser is AdamW, or
    :class:`geoopt.optim.RiemannianAdam` when the model has manifold parameters (a hyperbolic
    graph encoder's biases then stay on the ball); the text transformer gets its own learning rate.
    Linear warm-up then cosine decay over the run's optimiser steps. Validation logs the loss
    and image→report recall@1/5 over the whole validation split (gathered across ranks).

    Args:
        model_config: :class:`~cxrgraph.models.GraphAlignConfig` fields.
        lr: Learning rate of everything but the text transformer.
        text_lr: Learning rate of the text transformer (``None``: ``lr / 10``).
        weight_decay: Decoupled weight decay (not applied to biases, norms and embeddings).
        warmup_steps: Linear warm-up steps (an int, or a fraction of the run if < 1).
        min_lr_ratio: Final learning rate of the cosine, as a fraction of the peak.
        scheduler: ``"cosine"`` or ``"constant"`` (after the warm-up).
        model: A :class:`~cxrgraph.models.GraphAlignModel` built already (e.g. with your own graph
            encoder or loss instances); ``model_config`` is then taken from it.
    """

    def __init__(
        self,
        model_config: dict[str, Any] | None = None,
        lr: float = 1e-4,
        text_lr: float | None = None,
        weight_decay: float = 0.01,
        warmup_steps: float = 0,
        min_lr_ratio: float = 0.0,
        scheduler: str = "cosine",
        model: GraphAlignModel | None = None,
    ) -> None:
        super().__init__()
        if scheduler not in ("cosine", "constant"):
            raise ValueError(f"scheduler: expected 'cosine' or 'constant', got {scheduler!r}")
        if model is not None and model_config is not None:
            raise ValueError("give model_config or model, not both (a built model carries its config)")
        config = model.config if model is not None else GraphAlignConfig.from_dict(model_config or {})
        # plain values only: the checkpoint must load with torch.load(weights_only=True)
        self.save_hyperparameters(
            {
                "model_config": config.to_dict(),
                "lr": float(lr),
                "text_lr": None if text_lr is None else float(text_lr),
                "weight_decay": float(weight_decay),
                "warmup_steps": float(warmup_steps),
                "min_lr_ratio": float(min_lr_ratio),
                "scheduler": scheduler,
            }
        )
        self.model = model if model is not None else GraphAlignModel(config)
        self._val_img: list[Tensor] = []
        self._val_txt: list[Tensor] = []

    @property
    def config(self) -> GraphAlignConfig:
        return self.model.config

    def forward(self, batch: AlignBatch) -> Any:
        return self.model(batch, epoch=self.current_epoch)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: AlignBatch | None, batch_idx: int) -> Tensor | None:
        if batch is None or len(batch) < 2:
            return None  # every study of the batch was unreadable
        out = self.model(batch, epoch=self.current_epoch)
        check_finite_loss(out.loss, out.losses, self.global_step, "pretraining")
        n = len(batch)
        self.log("train/loss", out.loss, prog_bar=True, batch_size=n)
        for name, value in out.losses.items():
            self.log(f"train/{name}", value.detach().float(), batch_size=n)
        curvature = getattr(self.model.graph_encoder, "curvature", None)
        if isinstance(curvature, Tensor):
            self.log("train/curvature", curvature.detach(), batch_size=n)
        return out.loss

    def validation_step(self, batch: AlignBatch | None, batch_idx: int) -> None:
        if batch is None:
            return
        n = len(batch)
        if n >= 2:
            out = self.model(batch, epoch=self.current_epoch)
            self.log("val/loss", out.loss, prog_bar=True, batch_size=n, sync_dist=True)
            for name, value in out.losses.items():
                self.log(f"val/{name}", value.float(), batch_size=n, sync_dist=True)
            img, txt = out.image.summary, out.text.summary
        else:
            img, txt = self.model.embed_batch(batch)
        self._val_img.append(img.detach().float())
        self._val_txt.append(txt.detach().float())

    def on_validation_epoch_end(self) -> None:
        if not self._val_img:
            return
        img = torch.cat(self._val_img)
        txt = torch.cat(self._val_txt)
        self._val_img.clear()
        self._val_txt.clear()
        if self._trainer is not None and self.trainer.world_size > 1:
            # ranks may hold different counts: pad to the largest, gather, drop the padding
            count = torch.tensor([img.size(0)], device=img.device)
            counts = self.all_gather(count).view(-1)
            most = int(counts.max())
            pad = most - img.size(0)
            if pad:
                img = torch.cat([img, img.new_zeros(pad, img.size(1))])
                txt = torch.cat([txt, txt.new_zeros(pad, txt.size(1))])
            img_all = self.all_gather(img)
            txt_all = self.all_gather(txt)
            img = torch.cat([img_all[r, : int(counts[r])] for r in range(len(counts))])
            txt = torch.cat([txt_all[r, : int(counts[r])] for r in range(len(counts))])
        from cxrgraph.eval.retrieval import recall_at_k

        sim = GraphAlignModel.similarity(img, txt)
        recall = recall_at_k(sim, ks=(1, 5))
        # every rank holds the gathered embeddings, so the value is the same everywhere
        self.log("val/i2t_R@1", recall[1], prog_bar=True)
        self.log("val/i2t_R@5", recall[5])

    def on_fit_start(self) -> None:
        """With a frozen text transformer, give the studies their stored text features (encoded once)."""
        if not self.config.freeze_text:
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "attach_text_features"):
            return
        # rank 0 encodes and writes the cache; the other ranks then read it
        if self.trainer.world_size > 1 and not self.trainer.is_global_zero:
            self.trainer.strategy.barrier("text-features")
        datamodule.attach_text_features(self.model.text_encoder)
        if self.trainer.world_size > 1 and self.trainer.is_global_zero:
            self.trainer.strategy.barrier("text-features")

    def on_train_epoch_start(self) -> None:
        cascade = self.model.losses["cascade"] if "cascade" in self.model.losses else None  # noqa: SIM401
        if cascade is not None:
            cascade.set_epoch(self.current_epoch)

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        text_lr = hp["text_lr"] if hp["text_lr"] is not None else hp["lr"] / 10.0
        groups: dict[str, dict[str, Any]] = {
            "decay": {"params": [], "lr": hp["lr"], "weight_decay": hp["weight_decay"]},
            "no_decay": {"params": [], "lr": hp["lr"], "weight_decay": 0.0},
            "text_decay": {"params": [], "lr": text_lr, "weight_decay": hp["weight_decay"]},
            "text_no_decay": {"params": [], "lr": text_lr, "weight_decay": 0.0},
            "manifold": {"params": [], "lr": hp["lr"], "weight_decay": 0.0},
        }
        manifold_types = _manifold_parameter_types()
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            if manifold_types and isinstance(p, manifold_types):
                groups["manifold"]["params"].append(p)
                continue
            text = name.startswith("text_encoder.backbone.")
            plain = p.ndim <= 1 or "norm" in name.lower() or "embedding" in name.lower() or "identity" in name
            key = ("text_" if text else "") + ("no_decay" if plain else "decay")
            groups[key]["params"].append(p)
        param_groups = [dict(g, name=k) for k, g in groups.items() if g["params"]]
        if groups["manifold"]["params"]:
            # manifold parameters (hyperbolic biases) must stay on their manifold after each step
            from geoopt.optim import RiemannianAdam

            optimizer = RiemannianAdam(param_groups, lr=hp["lr"])
        else:
            optimizer = torch.optim.AdamW(param_groups, lr=hp["lr"])
        trainer = self._trainer  # None when the module is used outside a Trainer
        total = max(int(trainer.estimated_stepping_batches), 1) if trainer is not None else 1
        warm = hp["warmup_steps"]
        warm = round(warm * total) if 0 < warm < 1 else int(warm)
        cosine = hp["scheduler"] == "cosine"
        floor = hp["min_lr_ratio"]

        def factor(step: int) -> float:
            if warm and step < warm:
                return (step + 1) / warm
            if not cosine:
                return 1.0
            progress = min(max((step - warm) / max(total - warm, 1), 0.0), 1.0)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _manifold_parameter_types() -> tuple[type, ...]:
    try:
        from geoopt import ManifoldParameter, ManifoldTensor
    except ImportError:
        return ()
    return (ManifoldParameter, ManifoldTensor)
