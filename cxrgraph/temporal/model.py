"""The temporal image model: region encoder, BioViL-T style pair API, and the progression model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from cxrgraph.image.features import region_grid
from cxrgraph.image.io import check_image_batch, resize_image
from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.batch import PairBatch, TemporalSample, progression_against_empty
from cxrgraph.temporal.guidance import TextGuidance
from cxrgraph.temporal.head import ProgressionHead
from cxrgraph.temporal.manifold import ManifoldAlignment, ManifoldOutput

__all__ = [
    "RegionImageEncoder",
    "TemporalRegionEncoder",
    "TemporalRegionOutput",
    "ProgressionModel",
    "ProgressionOutput",
    "ProgressionConfig",
    "ALIGNMENTS",
    "attach_region_features",
]

#: how the two studies' regions are compared: on a Poincaré ball, in flat space, or not at all
#: (the plain baseline classifies the concatenated region features)
ALIGNMENTS = ("poincare", "euclidean", "concat")


def _conv(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class RegionImageEncoder(nn.Module):
    r"""Region features of radiographs: a feature map pooled per region box with RoIAlign.

    ``backbone="small"`` is a five-layer CNN of stride 8 (``width`` to ``4·width`` channels,
    about 30 MMAC per 128 px image at ``width=16``) sized for CPU training on the phantom; any
    name of :data:`cxrgraph.image.features.FEATURE_BACKBONES` uses
    :class:`~cxrgraph.image.RegionFeatureExtractor` instead (local weights only). Each region
    gets the mean and the max of its RoIAlign grid, so a small lesion inside a large zone
    still shows.

    Args:
        backbone: ``"small"`` or a :class:`~cxrgraph.image.RegionFeatureExtractor` backbone.
        image_size: Side images are resized to.
        width: Base width of the small CNN.
        output_size: RoIAlign grid per region.
        weights: Weights for a torchvision / torchxrayvision backbone (see
            :class:`~cxrgraph.image.RegionFeatureExtractor`).
        pixel_grid: Also append the region's pixels resampled to a ``pixel_grid`` x
            ``pixel_grid`` grid (0 = no): raw intensity layout, registered between studies by
            the boxes, which needs no training.
        box_geometry: Also append the box centre, width and height (region size is what
            cardiomegaly changes).

    Shapes:
        - **input:** images ``[B, 1, H, W]`` in ``[0, 1]``, boxes ``[B, R, 4]`` normalised xyxy
        - **output:** ``[B, R, out_channels]``
    """

    def __init__(
        self,
        backbone: str = "small",
        image_size: int = 128,
        width: int = 16,
        output_size: int = 3,
        weights: str | None = None,
        pixel_grid: int = 6,
        box_geometry: bool = True,
    ) -> None:
        super().__init__()
        if pixel_grid < 0:
            raise ValueError(f"pixel_grid: must be >= 0, got {pixel_grid}")
        self.backbone_name = backbone
        self.image_size = int(image_size)
        self.output_size = int(output_size)
        self.pixel_grid = int(pixel_grid)
        self.box_geometry = bool(box_geometry)
        if backbone == "small":
            if image_size % 8:
                raise ValueError(f"image_size: must be divisible by 8 for the small backbone, got {image_size}")
            self.body = nn.Sequential(
                *_conv(1, width, 5, 2), *_conv(width, 2 * width, 3, 2), *_conv(2 * width, 2 * width, 3, 1),
                *_conv(2 * width, 4 * width, 3, 2), *_conv(4 * width, 4 * width, 3, 1),
            )  # fmt: skip
            self.feature_channels, self.stride = 4 * width, 8
            self.extractor = None
        else:
            from cxrgraph.image.features import RegionFeatureExtractor

            self.extractor = RegionFeatureExtractor(backbone, weights=weights, image_size=image_size)
            self.body = None
            self.feature_channels, self.stride = self.extractor.out_channels, self.extractor.stride

    @property
    def out_channels(self) -> int:
        return 2 * self.feature_channels + self.pixel_grid**2 + (4 if self.box_geometry else 0)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.backbone_name!r}, out_channels={self.out_channels}, image_size={self.image_size})"

    def _images(self, images: Tensor) -> Tensor:
        batch = torch.stack([resize_image(img, self.image_size) for img in check_image_batch(images)])
        return batch.to(next(self.parameters()).device)

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, C, h, w]`` feature map of checked, resized images."""
        return self._map(self._images(images))

    def _map(self, batch: Tensor) -> Tensor:
        if self.extractor is not None:
            return self.extractor.body(self.extractor._normalise(batch))
        return self.body((batch - 0.5) / 0.25)

    def forward(self, images: Tensor, boxes: Tensor) -> Tensor:
        from torchvision.ops import roi_align

        pixels = self._images(images)
        fmap = self._map(pixels)
        grid, pix = region_grid(fmap, boxes, self.image_size, self.output_size, sampling_ratio=2)  # [B * R, C, s, s]
        grid = grid.to(fmap.dtype)
        num_b, num_r = fmap.size(0), pix.size(1)
        parts = [grid.mean(dim=(2, 3)), grid.amax(dim=(2, 3))]
        if self.pixel_grid:
            # each image standardised on its own: exposure differs between studies, lesions do not
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            std = pixels.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
            raw = roi_align(
                (pixels - mean) / std, list(pix), output_size=self.pixel_grid, sampling_ratio=2, aligned=True
            )
            parts.append(raw.flatten(1))
        if self.box_geometry:
            unit = pix / self.image_size
            size = unit[..., 2:] - unit[..., :2]
            parts.append(torch.cat([(unit[..., :2] + unit[..., 2:]) / 2, size], dim=-1).view(num_b * num_r, 4) * 4.0)
        return torch.cat(parts, dim=1).view(num_b, num_r, -1)


@dataclass
class TemporalRegionOutput:
    """Region embeddings of a current study and of its prior (or the stand-in).

    Attributes:
        current: ``[B, R, D]``.
        previous: ``[B, R, D]``; the learned stand-in where :attr:`has_previous` is false.
        has_previous: ``[B]`` bool.
    """

    current: Tensor
    previous: Tensor
    has_previous: Tensor


class TemporalRegionEncoder(nn.Module):
    r"""Region embeddings of a current image and, if there is one, its prior (BioViL-T style API).

    ``forward(current, previous=None)``: both images go through one shared
    :class:`RegionImageEncoder` (one backbone pass for the stacked batch); region features are
    projected to ``out_channels`` with a per-region identity embedding, and regions without a box
    get a learned per-region embedding. When there is no prior image (``previous=None``, or
    ``has_previous`` false for some rows) a learned per-region stand-in takes the prior's place,
    as BioViL-T does for single-image inputs.

    Args:
        out_channels: Region embedding size ``D``.
        **encoder_kwargs: Passed to :class:`RegionImageEncoder`.

    Shapes:
        - **input:** current ``[B, 1, H, W]``, previous ``[B, 1, H, W]`` or ``None``,
          boxes ``[B, R, 4]``, optional presence ``[B, R]``, optional ``has_previous`` ``[B]``
        - **output:** :class:`TemporalRegionOutput`
    """

    def __init__(self, out_channels: int = 64, **encoder_kwargs: Any) -> None:
        super().__init__()
        self.num_regions = get_ontology().num_regions
        self.out_channels = out_channels
        self.image_encoder = RegionImageEncoder(**encoder_kwargs)
        self.proj = nn.Linear(self.image_encoder.out_channels, out_channels)
        self.region_identity = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.region_missing = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.previous_standin = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        for p in (self.region_identity, self.region_missing, self.previous_standin):
            nn.init.normal_(p, std=0.02)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.image_encoder!r}, out_channels={self.out_channels})"

    def regions(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> Tensor:
        """Region embeddings ``[B, R, D]`` of one set of images."""
        return self.embed(self.image_encoder(images, boxes), present)

    def embed(self, features: Tensor, present: Tensor | None = None) -> Tensor:
        """Region embeddings ``[B, R, D]`` from region features ``[B, R, C]`` of the image encoder."""
        if features.dim() != 3 or features.size(-1) != self.image_encoder.out_channels:
            raise ValueError(
                f"features: expected [B, R, {self.image_encoder.out_channels}] region features, got {list(features.shape)}"
            )
        # no per-embedding normalisation: how strongly a region shows something is what changes
        x = self.proj(features.to(self.proj.weight)) + self.region_identity
        if present is not None:
            present = present.to(x.device, torch.bool).unsqueeze(-1)
            x = torch.where(present, x, self.region_missing.expand_as(x))
        return x

    def forward(
        self,
        current: Tensor,
        previous: Tensor | None = None,
        *,
        current_boxes: Tensor,
        previous_boxes: Tensor | None = None,
        current_present: Tensor | None = None,
        previous_present: Tensor | None = None,
        has_previous: Tensor | None = None,
    ) -> TemporalRegionOutput:
        return self._pair(
            current, previous, current_boxes, previous_boxes, current_present, previous_present, has_previous, False
        )

    def forward_features(
        self,
        current: Tensor,
        previous: Tensor | None = None,
        *,
        current_present: Tensor | None = None,
        previous_present: Tensor | None = None,
        has_previous: Tensor | None = None,
    ) -> TemporalRegionOutput:
        """:meth:`forward` on precomputed region features ``[B, R, C]`` (frozen backbone)."""
        return self._pair(current, previous, None, None, current_present, previous_present, has_previous, True)

    def _pair(
        self,
        current: Tensor,
        previous: Tensor | None,
        current_boxes: Tensor | None,
        previous_boxes: Tensor | None,
        current_present: Tensor | None,
        previous_present: Tensor | None,
        has_previous: Tensor | None,
        features: bool,
    ) -> TemporalRegionOutput:
        num_b = current.size(0)
        device = self.proj.weight.device

        def encode(x: Tensor, boxes: Tensor | None, present: Tensor | None) -> Tensor:
            return self.embed(x, present) if features else self.regions(x, boxes, present)

        if previous is None:
            cur = encode(current, current_boxes, current_present)
            has = torch.zeros(num_b, dtype=torch.bool, device=device)
            return TemporalRegionOutput(cur, self.previous_standin.expand(num_b, -1, -1), has)
        if previous.shape != current.shape:
            raise ValueError(f"previous: shape {list(previous.shape)} differs from current {list(current.shape)}")
        if not features:
            previous_boxes = current_boxes if previous_boxes is None else previous_boxes
            boxes = torch.cat([current_boxes, previous_boxes]).to(current.dtype)
        else:
            boxes = None
        if current_present is None and previous_present is None:
            present = None
        else:
            ones = torch.ones(num_b, self.num_regions, dtype=torch.bool)
            cp = ones if current_present is None else current_present.cpu().bool()
            pp = ones if previous_present is None else previous_present.cpu().bool()
            present = torch.cat([cp, pp])
        both = encode(torch.cat([current, previous]), boxes, present)
        cur, prev = both[:num_b], both[num_b:]
        has = torch.ones(num_b, dtype=torch.bool) if has_previous is None else has_previous.bool()
        has = has.to(device)
        prev = torch.where(has.view(-1, 1, 1), prev, self.previous_standin.expand_as(prev))
        return TemporalRegionOutput(cur, prev, has)


@dataclass
class ProgressionConfig:
    """Hyperparameters of :class:`ProgressionModel` (plain values, stored in checkpoints).

    Attributes:
        backbone: Region image backbone (``"small"`` or a RegionFeatureExtractor name).
        image_size: Image side.
        width: Small CNN base width.
        pixel_grid: Raw pixel grid per region appended to the features (0 = none).
        box_geometry: Append box centre and size to the region features.
        embed_channels: Region embedding size ``D``.
        alignment: One of :data:`ALIGNMENTS`.
        hidden_channels: Manifold dimension.
        num_layers: Graph layers over the anatomy graph on the manifold.
        curvature: Initial curvature.
        clip_radius: Tangent clip (units of ``1/sqrt(c)``).
        margin: Alignment margin for changed regions.
        radial_weight: Weight of the radial term of the alignment loss.
        head_hidden: Progression head hidden size.
        dropout: Head dropout.
        beta: Class-balancing beta.
        text_guidance: Use the comparison-sentence guidance loss.
        text_channels: Sentence embedding size (384 for MiniLM).
        align_weight: Weight of the alignment loss.
        text_weight: Weight of the text guidance loss.
        freeze_backbone: Keep the image backbone fixed (e.g. after region pretraining); its
            region features can then be computed once (:meth:`ProgressionModel.region_features`).
    """

    backbone: str = "small"
    image_size: int = 128
    width: int = 16
    pixel_grid: int = 6
    box_geometry: bool = True
    embed_channels: int = 64
    alignment: str = "poincare"
    hidden_channels: int = 32
    num_layers: int = 1
    curvature: float = 1.0
    clip_radius: float | None = 2.5
    margin: float = 1.0
    radial_weight: float = 1.0
    head_hidden: int = 64
    dropout: float = 0.1
    beta: float = 0.999
    text_guidance: bool = True
    text_channels: int = 384
    align_weight: float = 0.5
    text_weight: float = 0.5
    freeze_backbone: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProgressionConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"model config: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**d)


@dataclass
class ProgressionOutput:
    """What :class:`ProgressionModel` returns.

    Attributes:
        logits: ``[B, R, 3]`` improved / no change / worsened.
        features: Change features ``[B, R, F]`` fed to the head.
        regions: Region embeddings of both studies.
        manifold: The alignment output (``None`` for the plain baseline).
    """

    logits: Tensor
    features: Tensor
    regions: TemporalRegionOutput
    manifold: ManifoldOutput | None


class ProgressionModel(nn.Module):
    r"""Per-region progression between a prior and a current radiograph.

    :class:`TemporalRegionEncoder` → :class:`~cxrgraph.temporal.ManifoldAlignment` (Poincaré or
    Euclidean) → :class:`~cxrgraph.temporal.ProgressionHead`, with
    :class:`~cxrgraph.temporal.TextGuidance` on the change features during training. With
    ``alignment="concat"`` the head reads the concatenated region embeddings of the two studies
    instead (the plain baseline: no manifold, no alignment or guidance loss).

    ``forward(current, previous=None, ...)`` follows BioViL-T: without a prior the learned
    stand-in is compared with the current study.

    Args:
        config: A :class:`ProgressionConfig` (or its dict).
    """

    def __init__(self, config: ProgressionConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        cfg = config if isinstance(config, ProgressionConfig) else ProgressionConfig.from_dict(dict(config or {}))
        if cfg.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment: must be one of {ALIGNMENTS}, got {cfg.alignment!r}")
        self.config = cfg
        self.encoder = TemporalRegionEncoder(
            cfg.embed_channels,
            backbone=cfg.backbone,
            image_size=cfg.image_size,
            width=cfg.width,
            pixel_grid=cfg.pixel_grid,
            box_geometry=cfg.box_geometry,
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
        self.head = ProgressionHead(feat, cfg.head_hidden, dropout=cfg.dropout, beta=cfg.beta)
        self.guidance = (
            TextGuidance(feat, cfg.text_channels, cfg.head_hidden)
            if cfg.text_guidance and cfg.alignment != "concat"
            else None
        )

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

    @torch.no_grad()
    def region_features(self, images: Tensor, boxes: Tensor, batch_size: int = 64) -> Tensor:
        """Backbone region features ``[B, R, C]`` (eval mode, no gradient), to precompute once."""
        enc = self.encoder.image_encoder
        was = enc.training
        enc.eval()
        out = [enc(images[i : i + batch_size], boxes[i : i + batch_size]) for i in range(0, images.size(0), batch_size)]
        enc.train(was)
        return torch.cat(out)

    def forward_features(
        self,
        current: Tensor,
        previous: Tensor | None = None,
        *,
        current_present: Tensor | None = None,
        previous_present: Tensor | None = None,
        has_previous: Tensor | None = None,
    ) -> ProgressionOutput:
        """:meth:`forward` on precomputed backbone region features ``[B, R, C]``."""
        regions = self.encoder.forward_features(
            current,
            previous,
            current_present=current_present,
            previous_present=previous_present,
            has_previous=has_previous,
        )
        return self.from_regions(regions)

    def forward(
        self,
        current: Tensor,
        previous: Tensor | None = None,
        *,
        current_boxes: Tensor,
        previous_boxes: Tensor | None = None,
        current_present: Tensor | None = None,
        previous_present: Tensor | None = None,
        has_previous: Tensor | None = None,
    ) -> ProgressionOutput:
        regions = self.encoder(
            current,
            previous,
            current_boxes=current_boxes,
            previous_boxes=previous_boxes,
            current_present=current_present,
            previous_present=previous_present,
            has_previous=has_previous,
        )
        return self.from_regions(regions)

    def from_regions(self, regions: TemporalRegionOutput) -> ProgressionOutput:
        """Head and alignment on already encoded regions."""
        if self.alignment is None:
            features = torch.cat([regions.previous, regions.current], dim=-1)
            manifold = None
        else:
            manifold = self.alignment(regions.previous, regions.current)
            features = manifold.features
        return ProgressionOutput(self.head(features), features, regions, manifold)

    def forward_batch(self, batch: PairBatch, prior_dropout: float = 0.0) -> tuple[ProgressionOutput, Tensor]:
        """Run on a :class:`~cxrgraph.temporal.PairBatch`; returns the output and the targets.

        With ``prior_dropout > 0`` (training) that share of pairs loses its prior image; their
        targets become the progression against an empty chest
        (:func:`~cxrgraph.temporal.progression_against_empty`), which is what the stand-in means.
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
        if batch.current_features is not None:
            out = self.forward_features(
                batch.current_features,
                batch.prior_features,
                current_present=batch.current_present,
                previous_present=batch.prior_present,
                has_previous=has,
            )
        else:
            out = self(
                batch.current_image,
                batch.prior_image,
                current_boxes=batch.current_boxes,
                previous_boxes=batch.prior_boxes,
                current_present=batch.current_present,
                previous_present=batch.prior_present,
                has_previous=has,
            )
        return out, target

    def losses(
        self,
        out: ProgressionOutput,
        target: Tensor,
        sentence_embeddings: Tensor | None = None,
        guidance_index: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """``{"loss", "cls", "align", "text"}`` (weighted total and its parts)."""
        cfg = self.config
        cls = self.head.loss(out.logits, target)
        zero = out.logits.sum() * 0.0
        align = self.alignment.alignment_loss(out.manifold, target) if self.alignment is not None else zero
        text = zero
        guided = sentence_embeddings is not None and guidance_index is not None and sentence_embeddings.numel() > 0
        if self.guidance is not None and guided:
            text = self.guidance(out.features, sentence_embeddings.to(out.features), guidance_index)
        total = cls + cfg.align_weight * align + cfg.text_weight * text
        return {"loss": total, "cls": cls.detach(), "align": align.detach(), "text": text.detach()}


def attach_region_features(
    model: ProgressionModel, samples: Sequence[TemporalSample], batch_size: int = 64
) -> list[TemporalSample]:
    """Copies of ``samples`` carrying the model's frozen-backbone region features.

    With ``freeze_backbone=True`` the backbone's output never changes during training, so it is
    computed once per image here and training runs on the features (much cheaper on a CPU).
    """
    if not samples:
        return []
    num_r = get_ontology().num_regions

    def boxes(graph) -> Tensor:
        return torch.nan_to_num(graph["anatomy"].box.float()).view(num_r, 4)

    cur = torch.stack([s.current_image for s in samples])
    fc = model.region_features(cur, torch.stack([boxes(s.pair.current) for s in samples]), batch_size)
    with_prior = [i for i, s in enumerate(samples) if s.prior_image is not None]
    fp: dict[int, Tensor] = {}
    if with_prior:
        pri = torch.stack([samples[i].prior_image for i in with_prior])
        pb = torch.stack([boxes(samples[i].pair.prior) for i in with_prior])
        fp = dict(zip(with_prior, model.region_features(pri, pb, batch_size)))
    return [replace(s, current_features=fc[i], prior_features=fp.get(i)) for i, s in enumerate(samples)]
