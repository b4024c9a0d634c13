"""``ProgressionModel``: per-region progression between a prior and a current radiograph."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.batch import PairBatch, progression_against_empty, region_levels
from cxrgraph.temporal.guidance import TextGuidance
from cxrgraph.temporal.head import ProgressionHead
from cxrgraph.temporal.manifold import ManifoldAlignment, ManifoldOutput
from cxrgraph.temporal.region_encoder import TemporalRegionEncoder
from cxrgraph.temporal.types import (
    LEVEL_FEATURES,
    PairInputs,
    ProgressionConfig,
    ProgressionOutput,
    TemporalRegionOutput,
)

__all__ = ["ProgressionModel", "CHECKPOINT_FORMAT"]

#: ``format`` of the ``config.json`` that :meth:`ProgressionModel.save_pretrained` writes.
CHECKPOINT_FORMAT = "cxrgraph.progression/2"
# the single-file checkpoints of earlier versions (config and state dict in one torch file)
_LEGACY_FORMAT = "cxrgraph.progression/1"


class ProgressionModel(nn.Module):
    r"""Per-region progression between a prior and a current radiograph.

    :class:`TemporalRegionEncoder` → :class:`~cxrgraph.temporal.ManifoldAlignment` (Poincaré or
    Euclidean) → :class:`~cxrgraph.temporal.ProgressionHead`, with
    :class:`~cxrgraph.temporal.TextGuidance` on the change features during training. With
    ``alignment="concat"`` the head reads the concatenated region embeddings of the two studies
    instead (the plain baseline: no manifold, no alignment or guidance loss).

    ``forward(current, previous=None, ...)`` follows BioViL-T: without a prior the learned
    stand-in is compared with the current study.

    :meth:`save_pretrained` / :meth:`from_pretrained` write and read a weights-only folder
    (``config.json`` + ``model.pt``), like :class:`~cxrgraph.models.GraphAlignModel`.

    Args:
        config: A :class:`ProgressionConfig` (or its dict).
    """

    def __init__(self, config: ProgressionConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        cfg = config if isinstance(config, ProgressionConfig) else ProgressionConfig.from_dict(config)
        self.config = cfg
        self.encoder = TemporalRegionEncoder(
            cfg.embed_channels,
            compare_channels=cfg.compare_channels,
            compare_width=cfg.compare_width,
            backbone=cfg.backbone,
            image_size=cfg.image_size,
            width=cfg.width,
            pixel_grid=cfg.pixel_grid,
            box_geometry=cfg.box_geometry,
            crop_size=cfg.crop_size,
        )
        if cfg.alignment == "concat":
            self.alignment = None
            feat = 2 * cfg.embed_channels
        else:
            self.alignment = ManifoldAlignment(
                cfg.embed_channels,
                cfg.hidden_channels,
                manifold=cfg.alignment,
                num_layers=cfg.num_layers,
                c=cfg.curvature,
                clip_radius=cfg.clip_radius,
                margin=cfg.margin,
                radial_weight=cfg.radial_weight,
            )
            feat = self.alignment.out_channels
        self.uses_level_features = bool(cfg.level_features and cfg.level_weight > 0)
        if self.uses_level_features:
            feat += LEVEL_FEATURES
        feat += self.encoder.compare_channels
        self.head = ProgressionHead(feat, cfg.head_hidden, dropout=cfg.dropout, beta=cfg.beta)
        self.guidance = (
            TextGuidance(feat, cfg.text_channels, cfg.head_hidden)
            if cfg.text_guidance and cfg.alignment != "concat"
            else None
        )
        # severity read-out of single studies: a change is the sign of a level difference, so
        # each study's own representation should already order the levels
        state = cfg.embed_channels if self.alignment is None else cfg.hidden_channels
        self.level_head = nn.Linear(state, 4) if cfg.level_weight > 0 else None
        k = self.encoder.compare_channels
        self.compare_head = nn.Linear(k, 3) if k and cfg.compare_weight > 0 else None

        if cfg.freeze_backbone:
            self.encoder.image_encoder.requires_grad_(False)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(alignment={self.config.alignment!r}, text_guidance={self.guidance is not None})"
        )

    def train(self, mode: bool = True) -> ProgressionModel:
        super().train(mode)
        if self.config.freeze_backbone:
            self.encoder.image_encoder.eval()  # frozen batch-norm statistics too
        return self

    @property
    def compares(self) -> bool:
        """Whether the model has a region comparator (which reads region crops of both studies)."""
        return self.encoder.comparator is not None

    @torch.no_grad()
    def encode_studies(
        self, images: Tensor, boxes: Tensor, batch_size: int = 64, with_crops: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Backbone region features ``[B, R, C]`` and, if asked, float16 region crops ``[B, R, 2, S, S]``.

        One pass over the images in eval mode, without gradients: what a frozen backbone gives
        every time, to be computed once (:func:`~cxrgraph.temporal.attach_region_features`).
        """
        enc = self.encoder.image_encoder
        was = enc.training
        enc.eval()
        feats, crops = [], []
        for i in range(0, images.size(0), batch_size):
            chunk, box = images[i : i + batch_size], boxes[i : i + batch_size]
            if with_crops:
                f, c = enc.encode_regions(chunk, box)
                crops.append(c.half().cpu())
            else:
                f = enc(chunk, box)
            feats.append(f)
        enc.train(was)
        return torch.cat(feats), torch.cat(crops) if crops else None

    def forward(self, current: Tensor, previous: Tensor | None = None, **pair: Tensor | None) -> ProgressionOutput:
        """Progression of every region between ``previous`` and ``current`` images (``None``: the learned stand-in).

        The keyword arguments (``current_boxes``, ``previous_boxes``, ``current_present``,
        ``previous_present``, ``has_previous``, ``compare_mask``) are those of
        :meth:`TemporalRegionEncoder.forward`.
        """
        return self.from_regions(self.encoder(current, previous, **pair))

    def forward_features(
        self, current: Tensor, previous: Tensor | None = None, **pair: Tensor | None
    ) -> ProgressionOutput:
        """:meth:`forward` on precomputed backbone region features ``[B, R, C]`` (and region crops); the keyword
        arguments are those of :meth:`TemporalRegionEncoder.forward_features`."""
        return self.from_regions(self.encoder.forward_features(current, previous, **pair))

    def from_regions(self, regions: TemporalRegionOutput) -> ProgressionOutput:
        """Head and alignment on already encoded regions."""
        if self.alignment is None:
            features = torch.cat([regions.previous, regions.current], dim=-1)
            manifold = None
        else:
            manifold = self.alignment(regions.previous, regions.current)
            features = manifold.features
        if self.uses_level_features:
            lp, lc = self._level_logits(regions, manifold)
            pp, pc = lp.softmax(-1), lc.softmax(-1)
            grades = torch.arange(4, device=pp.device, dtype=pp.dtype)
            delta = (pc * grades).sum(-1, keepdim=True) - (pp * grades).sum(-1, keepdim=True)
            features = torch.cat([features, pp, pc, delta], dim=-1)
        if regions.difference is not None:
            features = torch.cat([features, regions.difference.to(features.dtype)], dim=-1)
        return ProgressionOutput(self.head(features), features, regions, manifold)

    def forward_batch(
        self, batch: PairBatch, prior_dropout: float = 0.0, compare_all: bool = False
    ) -> tuple[ProgressionOutput, Tensor]:
        """Run on a :class:`~cxrgraph.temporal.PairBatch`; returns the output and the targets.

        With ``prior_dropout > 0`` (training) that share of pairs loses its prior image; their
        targets become the progression against an empty chest
        (:func:`~cxrgraph.temporal.progression_against_empty`), which is what the stand-in means.

        The region comparator (if any) runs on the labelled regions only, the ones losses and
        metrics read (a pair has ~2 of 29 on the phantom); ``compare_all=True`` compares every
        region, for predictions on unlabelled regions too.
        """
        if batch.current_image is None and batch.current_features is None:
            raise ValueError("batch: has no images (built from bare StudyPairs); the image model needs TemporalSamples")
        has = batch.has_prior.clone()
        target = batch.change.clone()
        dropped = torch.zeros_like(has)
        if prior_dropout > 0:
            dropped = (torch.rand(has.shape, device=has.device) < prior_dropout) & has
            if dropped.any():
                has = has & ~dropped
                empty = progression_against_empty(batch.current).to(target.device)
                target = torch.where(dropped.view(-1, 1), empty, target)
        # labels of a pair whose prior image is missing describe a prior the stand-in cannot show
        target = torch.where((has | dropped).view(-1, 1), target, torch.full_like(target, -1))
        compare = None if compare_all or not self.compares else target >= 0
        if batch.current_features is not None:
            if self.compares and batch.current_crops is None:
                raise ValueError(
                    "batch: carries precomputed features but no region crops, which the comparator reads; "
                    "attach both with attach_region_features"
                )
            inputs = PairInputs(
                batch.current_features,
                batch.prior_features,
                current_present=batch.current_present,
                previous_present=batch.prior_present,
                has_previous=has,
                current_crops=batch.current_crops,
                previous_crops=batch.prior_crops,
                compare_mask=compare,
                features=True,
            )
        else:
            inputs = PairInputs(
                batch.current_image,
                batch.prior_image,
                current_boxes=batch.current_boxes,
                previous_boxes=batch.prior_boxes,
                current_present=batch.current_present,
                previous_present=batch.prior_present,
                has_previous=has,
                compare_mask=compare,
            )
        out = self.from_regions(self.encoder.encode_pair(inputs))
        return out, target

    @staticmethod
    def level_targets(batch: PairBatch) -> tuple[Tensor, Tensor]:
        """Region levels ``[B, R]`` of the prior and current graphs (-1 where the region has no box)."""
        prior = region_levels(batch.prior).masked_fill(~batch.prior_present.cpu(), -1)
        current = region_levels(batch.current).masked_fill(~batch.current_present.cpu(), -1)
        return prior, current

    def level_logits(self, out: ProgressionOutput) -> tuple[Tensor, Tensor]:
        """Severity logits ``[B, R, 4]`` of the prior and current study (needs ``level_weight > 0``)."""
        if self.level_head is None:
            raise ValueError("level_logits: the model has no level read-out (level_weight is 0)")
        return self._level_logits(out.regions, out.manifold)

    def _level_logits(self, regions: TemporalRegionOutput, manifold: ManifoldOutput | None) -> tuple[Tensor, Tensor]:
        if manifold is None:
            prior, current = regions.previous, regions.current
        else:
            prior, current = self.alignment.tangent(manifold.prior), self.alignment.tangent(manifold.current)
        return self.level_head(prior), self.level_head(current)

    def losses(
        self,
        out: ProgressionOutput,
        target: Tensor,
        sentence_embeddings: Tensor | None = None,
        guidance_index: Tensor | None = None,
        levels: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """``{"loss", "cls", "align", "text", "level", "compare"}`` (weighted total and its parts).

        ``levels`` are the prior and current region levels (:meth:`level_targets`) for the
        severity auxiliary; without them it is skipped.
        """
        cfg = self.config
        cls = self.head.loss(out.logits, target)
        zero = out.logits.sum() * 0.0
        align = self.alignment.alignment_loss(out.manifold, target) if self.alignment is not None else zero
        text = zero
        guided = sentence_embeddings is not None and guidance_index is not None and sentence_embeddings.numel() > 0
        if self.guidance is not None and guided:
            text = self.guidance(out.features, sentence_embeddings.to(out.features), guidance_index)
        level = zero
        if self.level_head is not None and levels is not None:
            lp, lc = self.level_logits(out)
            tp, tc = (t.to(out.logits.device) for t in levels)
            # a prior replaced by the stand-in shows nothing of the prior's levels
            tp = torch.where(out.regions.has_previous.view(-1, 1), tp, torch.full_like(tp, -1))
            logits, tgt = torch.cat([lp, lc]).flatten(0, 1), torch.cat([tp, tc]).flatten()
            if (tgt >= 0).any():
                level = F.cross_entropy(logits[tgt >= 0], tgt[tgt >= 0])
        compare = zero
        if self.compare_head is not None and out.regions.difference is not None:
            compare = self.head.loss(self.compare_head(out.regions.difference), target)
        total = cls + cfg.align_weight * align + cfg.text_weight * text + cfg.level_weight * level
        total = total + cfg.compare_weight * compare
        return {
            "loss": total,
            "cls": cls.detach(),
            "align": align.detach(),
            "text": text.detach(),
            "level": level.detach(),
            "compare": compare.detach(),
        }

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` (the :class:`ProgressionConfig`) and ``model.pt`` (weights) into folder ``path``."""
        from cxrgraph.utils.checkpoint import write_checkpoint

        meta = {
            "format": CHECKPOINT_FORMAT,
            "model": type(self).__name__,
            "ontology_version": get_ontology().version,
            "config": self.config.to_dict(),
        }
        return write_checkpoint(path, self.state_dict(), meta)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], map_location: Any = "cpu") -> ProgressionModel:
        """A model from a :meth:`save_pretrained` folder, read weights-only.

        A ``progression.pt`` file written by earlier versions of ``cxrgraph progression train``
        (config and weights in one file) also loads. Weights holding NaN or inf load with a warning.

        Raises:
            FileNotFoundError: No such folder or file, or a folder without both files.
            CheckpointError: A damaged, truncated or refused file (named), or another kind of checkpoint.
        """
        from cxrgraph.utils.checkpoint import CheckpointError, load_tensors, read_checkpoint, warn_non_finite

        p = Path(path)
        if p.is_dir():
            meta, state = read_checkpoint(p, CHECKPOINT_FORMAT, "ProgressionModel", map_location)
            config = ProgressionConfig.from_dict(meta["config"], where=f"{p}: config")
        elif p.is_file():
            payload = load_tensors(p, map_location)
            if not isinstance(payload, dict) or payload.get("format") != _LEGACY_FORMAT:
                raise CheckpointError(f"{p}: not a cxrgraph progression checkpoint")
            model_cfg = dict(payload["config"]["model"])
            model_cfg.setdefault("compare_channels", 0)  # written before the region comparator existed
            if model_cfg.get("backbone", "crops") != "crops":
                model_cfg["compare_channels"] = 0  # these versions built the comparator for "crops" only
            config = ProgressionConfig.from_dict(model_cfg, where=f"{p}: config")
            state = payload["state_dict"]
            if not isinstance(state, dict):
                raise CheckpointError(f"{p}: expected a state dict, got {type(state).__name__}")
            warn_non_finite(state, p)
        else:
            raise FileNotFoundError(f"{p}: no such checkpoint folder or file (train first, or check the path)")
        model = cls(config)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"{p}: the weights do not fit the model its config describes ({err})") from err
        return model
