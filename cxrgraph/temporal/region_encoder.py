"""The temporal region encoder: region features of radiographs and BioViL-T style region pairs.

:class:`RegionImageEncoder` turns images and region boxes into one feature vector per region
(and the registered region crops the comparator reads); :class:`TemporalRegionEncoder` embeds
the regions of a current study and of its prior (or a learned stand-in), with an optional
:class:`~cxrgraph.temporal.RegionComparator` change vector per region.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from cxrgraph.image.features import region_grid
from cxrgraph.image.io import check_image_batch, resize_image
from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.comparator import RegionComparator, conv_bn_relu
from cxrgraph.temporal.crops import GEOMETRY_CHANNELS, region_crops, thorax_geometry
from cxrgraph.temporal.types import PairInputs, TemporalRegionOutput

__all__ = ["RegionImageEncoder", "TemporalRegionEncoder"]


class RegionImageEncoder(nn.Module):
    r"""Region features of radiographs, one vector per anatomy region box.

    ``backbone="crops"`` (the default) resamples each region box of the exposure-normalised
    image to a ``crop_size`` grid, with the mirrored contralateral region as a second channel
    (:func:`~cxrgraph.temporal.crops.region_crops`), and runs a four-layer CNN on every crop;
    crops keep the full image resolution inside small regions and register the same region
    across studies. The box in the frame of the thorax
    (:func:`~cxrgraph.temporal.crops.thorax_geometry`) is appended, so region sizes such as
    the heart's are read relative to the chest. ``backbone="small"`` is a five-layer CNN of
    stride 8 on the whole image, pooled per box with RoIAlign; any name of
    :data:`cxrgraph.image.features.FEATURE_BACKBONES` uses
    :class:`~cxrgraph.image.RegionFeatureExtractor` instead (local weights only). Each region
    gets the mean and the max of its CNN grid, so a small lesion inside a large zone still
    shows.

    Args:
        backbone: ``"crops"``, ``"small"`` or a :class:`~cxrgraph.image.RegionFeatureExtractor`
            backbone.
        image_size: Side images are resized to.
        width: Base width of the small CNNs.
        output_size: RoIAlign grid per region of a whole-image backbone.
        weights: Weights for a torchvision / torchxrayvision backbone (see
            :class:`~cxrgraph.image.RegionFeatureExtractor`).
        pixel_grid: Also append the region's pixels resampled to a ``pixel_grid`` x
            ``pixel_grid`` grid (0 = no): raw intensity layout, registered between studies by
            the boxes, which needs no training.
        box_geometry: Also append the box centre, width and height (region size is what
            cardiomegaly changes).
        crop_size: Side of the registered region crops: the ``"crops"`` backbone's input, and
            what the region comparator reads with every backbone.

    Shapes:
        - **input:** images ``[B, 1, H, W]`` in ``[0, 1]``, boxes ``[B, R, 4]`` normalised xyxy
        - **output:** ``[B, R, out_channels]``
    """

    def __init__(
        self,
        backbone: str = "crops",
        image_size: int = 128,
        width: int = 16,
        output_size: int = 3,
        weights: str | None = None,
        pixel_grid: int = 6,
        box_geometry: bool = True,
        crop_size: int = 16,
    ) -> None:
        super().__init__()
        if pixel_grid < 0:
            raise ValueError(f"pixel_grid: must be >= 0, got {pixel_grid}")
        if crop_size < 4:
            raise ValueError(f"crop_size: must be >= 4, got {crop_size}")
        self.backbone_name = backbone
        self.image_size = int(image_size)
        self.output_size = int(output_size)
        self.pixel_grid = int(pixel_grid)
        self.box_geometry = bool(box_geometry)
        self.crop_size = int(crop_size)
        self.extractor = None
        if backbone == "crops":
            self.body = nn.Sequential(
                *conv_bn_relu(2, width, 3, 1), *conv_bn_relu(width, 2 * width, 3, 2), *conv_bn_relu(2 * width, 2 * width, 3, 1),
                *conv_bn_relu(2 * width, 4 * width, 3, 2),
            )  # fmt: skip
            self.feature_channels, self.stride = 4 * width, 1
        elif backbone == "small":
            if image_size % 8:
                raise ValueError(f"image_size: must be divisible by 8 for the small backbone, got {image_size}")
            self.body = nn.Sequential(
                *conv_bn_relu(1, width, 5, 2), *conv_bn_relu(width, 2 * width, 3, 2), *conv_bn_relu(2 * width, 2 * width, 3, 1),
                *conv_bn_relu(2 * width, 4 * width, 3, 2), *conv_bn_relu(4 * width, 4 * width, 3, 1),
            )  # fmt: skip
            self.feature_channels, self.stride = 4 * width, 8
        else:
            from cxrgraph.image.features import RegionFeatureExtractor

            self.extractor = RegionFeatureExtractor(backbone, weights=weights, image_size=image_size)
            self.body = None
            self.feature_channels, self.stride = self.extractor.out_channels, self.extractor.stride

    @property
    def uses_crops(self) -> bool:
        """Whether regions are encoded from their own crops (per-region inputs exist)."""
        return self.backbone_name == "crops"

    @property
    def extra_channels(self) -> int:
        """Size of the untrained per-region inputs appended to the CNN features."""
        geometry = GEOMETRY_CHANNELS if self.uses_crops else 0
        return geometry + self.pixel_grid**2 + (4 if self.box_geometry else 0)

    @property
    def out_channels(self) -> int:
        return 2 * self.feature_channels + self.extra_channels

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.backbone_name!r}, out_channels={self.out_channels}, image_size={self.image_size})"

    def _images(self, images: Tensor) -> Tensor:
        batch = torch.stack([resize_image(img, self.image_size) for img in check_image_batch(images)])
        return batch.to(next(self.parameters()).device)

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, C, h, w]`` feature map of checked, resized images (whole-image backbones)."""
        if self.uses_crops:
            raise ValueError("feature_map: the 'crops' backbone has no whole-image feature map")
        return self._map(self._images(images))

    def _map(self, batch: Tensor) -> Tensor:
        if self.extractor is not None:
            return self.extractor.feature_map(batch)
        return self.body((batch - 0.5) / 0.25)

    def _extras(self, pixels: Tensor, boxes: Tensor) -> Tensor:
        """Untrained per-region inputs ``[B, R, extra_channels]``: geometry and pixel grid."""
        from torchvision.ops import roi_align

        num_b, num_r = boxes.shape[:2]
        unit = torch.nan_to_num(boxes.float()).clamp(0.0, 1.0).to(pixels.device)
        parts = []
        if self.uses_crops:
            parts.append(thorax_geometry(unit) * 4.0)
        if self.pixel_grid:
            # each image standardised on its own: exposure differs between studies, lesions do not
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            std = pixels.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
            raw = roi_align(
                (pixels - mean) / std,
                list(unit * self.image_size),
                output_size=self.pixel_grid,
                sampling_ratio=2,
                aligned=True,
            )
            parts.append(raw.flatten(1).view(num_b, num_r, -1))
        if self.box_geometry:
            size = unit[..., 2:] - unit[..., :2]
            parts.append(torch.cat([(unit[..., :2] + unit[..., 2:]) / 2, size], dim=-1) * 4.0)
        if not parts:
            return pixels.new_zeros(num_b, num_r, 0)
        return torch.cat(parts, dim=-1)

    def region_inputs(self, images: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """Per-region inputs of the ``"crops"`` backbone: crops ``[B, R, 2, S, S]`` and extras ``[B, R, E]``.

        Together with :meth:`encode_inputs` this encodes any subset of regions, e.g. only some
        regions of each study during pretraining.
        """
        if not self.uses_crops:
            raise ValueError(
                f"region_inputs: only the 'crops' backbone has per-region inputs, not {self.backbone_name!r}"
            )
        pixels = self._images(images)
        boxes = torch.as_tensor(boxes).to(pixels.device)
        return region_crops(pixels, boxes, self.crop_size), self._extras(pixels, boxes)

    def encode_inputs(self, crops: Tensor, extras: Tensor) -> Tensor:
        """Features ``[N, out_channels]`` of region inputs ``[N, 2, S, S]`` and ``[N, E]``."""
        h = self.body(crops)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), extras.to(h.dtype)], dim=1)

    def encode_regions(self, images: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``[B, R, out_channels]`` and registered region crops ``[B, R, 2, S, S]``, from one pass.

        Every backbone gives both: the ``"crops"`` backbone reads its features from these crops,
        a whole-image backbone pools its feature map, and the crops are cut from the same
        resized images for the region comparator.
        """
        if self.uses_crops:
            crops, extras = self.region_inputs(images, boxes)
            num_b, num_r = crops.shape[:2]
            return self.encode_inputs(crops.flatten(0, 1), extras.flatten(0, 1)).view(num_b, num_r, -1), crops
        pixels = self._images(images)
        crops = region_crops(pixels, torch.as_tensor(boxes).to(pixels.device), self.crop_size)
        return self._pooled(pixels, boxes), crops

    def forward(self, images: Tensor, boxes: Tensor) -> Tensor:
        if self.uses_crops:
            return self.encode_regions(images, boxes)[0]
        return self._pooled(self._images(images), boxes)

    def _pooled(self, pixels: Tensor, boxes: Tensor) -> Tensor:
        """Whole-image backbones: mean and max of each region's RoIAlign grid, and the extras."""
        fmap = self._map(pixels)
        grid, pix = region_grid(fmap, boxes, self.image_size, self.output_size, sampling_ratio=2)  # [B * R, C, s, s]
        grid = grid.to(fmap.dtype)
        num_b, num_r = fmap.size(0), pix.size(1)
        pooled = torch.cat([grid.mean(dim=(2, 3)), grid.amax(dim=(2, 3))], dim=1).view(num_b, num_r, -1)
        return torch.cat([pooled, self._extras(pixels, pix / self.image_size).to(pooled.dtype)], dim=-1)


class TemporalRegionEncoder(nn.Module):
    r"""Region embeddings of a current image and, if there is one, its prior (BioViL-T style API).

    ``forward(current, previous=None)``: both images go through one shared
    :class:`RegionImageEncoder` (one backbone pass for the stacked batch); region features are
    projected to ``out_channels`` with a per-region identity embedding, and regions without a box
    get a learned per-region embedding. When there is no prior image (``previous=None``, or
    ``has_previous`` false for some rows) a learned per-region stand-in takes the prior's place,
    as BioViL-T does for single-image inputs.

    With ``compare_channels > 0`` (any backbone) a
    :class:`~cxrgraph.temporal.RegionComparator` also reads each region's registered crops in
    both studies side by side and returns a change vector per region
    (:attr:`TemporalRegionOutput.difference`), BioViL-T's prior-aware difference stream.
    Regions left out by ``compare_mask``, without a box in either study, or without a prior
    get a learned per-region "not compared" vector.

    Args:
        out_channels: Region embedding size ``D``.
        compare_channels: Size ``K`` of the comparator's change vector (0 = no comparator).
        compare_width: Base width of the comparator CNN.
        **encoder_kwargs: Passed to :class:`RegionImageEncoder`.

    Shapes:
        - **input:** current ``[B, 1, H, W]``, previous ``[B, 1, H, W]`` or ``None``,
          boxes ``[B, R, 4]``, optional presence ``[B, R]``, optional ``has_previous`` ``[B]``
        - **output:** :class:`TemporalRegionOutput`
    """

    def __init__(
        self, out_channels: int = 64, compare_channels: int = 0, compare_width: int = 16, **encoder_kwargs: Any
    ) -> None:
        super().__init__()
        self.num_regions = get_ontology().num_regions
        self.out_channels = out_channels
        self.image_encoder = RegionImageEncoder(**encoder_kwargs)
        self.compare_channels = int(compare_channels)
        self.comparator = None
        if self.compare_channels < 0:
            raise ValueError(f"compare_channels: must be >= 0, got {compare_channels}")
        if self.compare_channels:
            self.comparator = RegionComparator(self.compare_channels, compare_width)
            self.not_compared = nn.Parameter(torch.empty(self.num_regions, self.compare_channels))
        self.proj = nn.Linear(self.image_encoder.out_channels, out_channels)
        self.region_identity = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.region_missing = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.previous_standin = nn.Parameter(torch.empty(self.num_regions, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        for p in (self.region_identity, self.region_missing, self.previous_standin):
            nn.init.normal_(p, std=0.02)
        if self.comparator is not None:
            nn.init.normal_(self.not_compared, std=0.02)

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

    def embed_selected(self, features: Tensor, region: Tensor) -> Tensor:
        """Embeddings ``[N, D]`` of single regions: features ``[N, C]`` of regions ``region`` ``[N]``."""
        return self.proj(features.to(self.proj.weight)) + self.region_identity[region.to(self.proj.weight.device)]

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
        compare_mask: Tensor | None = None,
    ) -> TemporalRegionOutput:
        """Region embeddings of both studies; ``compare_mask`` ``[B, R]`` limits the comparator."""
        return self.encode_pair(
            PairInputs(
                current,
                previous,
                current_boxes=current_boxes,
                previous_boxes=previous_boxes,
                current_present=current_present,
                previous_present=previous_present,
                has_previous=has_previous,
                compare_mask=compare_mask,
            )
        )

    def forward_features(
        self,
        current: Tensor,
        previous: Tensor | None = None,
        *,
        current_present: Tensor | None = None,
        previous_present: Tensor | None = None,
        has_previous: Tensor | None = None,
        current_crops: Tensor | None = None,
        previous_crops: Tensor | None = None,
        compare_mask: Tensor | None = None,
    ) -> TemporalRegionOutput:
        """:meth:`forward` on precomputed region features ``[B, R, C]`` (frozen backbone).

        The comparator, if any, reads precomputed region crops ``[B, R, 2, S, S]``
        (:meth:`RegionImageEncoder.encode_regions`); without them its regions count as not compared.
        """
        return self.encode_pair(
            PairInputs(
                current,
                previous,
                current_present=current_present,
                previous_present=previous_present,
                has_previous=has_previous,
                current_crops=current_crops,
                previous_crops=previous_crops,
                compare_mask=compare_mask,
                features=True,
            )
        )

    def encode_pair(self, inputs: PairInputs) -> TemporalRegionOutput:
        """Region embeddings (and the comparator's change vectors) of one batch of pairs."""
        x = inputs
        num_b = x.batch_size
        device = self.proj.weight.device
        if x.previous is None:
            cur = self._encode(x.current, x.current_boxes, x.current_present, x.features)
            has = torch.zeros(num_b, dtype=torch.bool, device=device)
            return TemporalRegionOutput(
                cur, self.previous_standin.expand(num_b, -1, -1), has, self._not_compared(num_b)
            )
        boxes = None
        if not x.features:
            previous_boxes = x.current_boxes if x.previous_boxes is None else x.previous_boxes
            boxes = torch.cat([x.current_boxes, previous_boxes]).to(x.current.dtype)
        if x.current_present is None and x.previous_present is None:
            present = None
        else:
            ones = torch.ones(num_b, self.num_regions, dtype=torch.bool)
            cp = ones if x.current_present is None else x.current_present.cpu().bool()
            pp = ones if x.previous_present is None else x.previous_present.cpu().bool()
            present = torch.cat([cp, pp])
        crops = None
        if x.features or self.comparator is None:
            both = self._encode(torch.cat([x.current, x.previous]), boxes, present, x.features)
            if x.current_crops is not None and x.previous_crops is not None:
                crops = (x.current_crops, x.previous_crops)
        else:  # one pass over the images serves the region features and the comparator
            feats, crop = self.image_encoder.encode_regions(torch.cat([x.current, x.previous]), boxes)
            both = self.embed(feats, present)
            crops = (crop[:num_b], crop[num_b:])
        cur, prev = both[:num_b], both[num_b:]
        has = torch.ones(num_b, dtype=torch.bool) if x.has_previous is None else x.has_previous.bool()
        has = has.to(device)
        prev = torch.where(has.view(-1, 1, 1), prev, self.previous_standin.expand_as(prev))
        difference = None
        if self.comparator is not None:
            select = has.view(-1, 1).expand(num_b, self.num_regions)
            if present is not None:  # a box in both studies
                present = present.to(device)
                select = select & present[:num_b] & present[num_b:]
            if x.compare_mask is not None:
                select = select & x.compare_mask.to(device, torch.bool)
            difference = self._compare(crops, select)
        return TemporalRegionOutput(cur, prev, has, difference)

    def _encode(self, x: Tensor, boxes: Tensor | None, present: Tensor | None, features: bool) -> Tensor:
        return self.embed(x, present) if features else self.regions(x, boxes, present)

    def _not_compared(self, num_b: int) -> Tensor | None:
        return None if self.comparator is None else self.not_compared.expand(num_b, -1, -1)

    def _compare(self, crops: tuple[Tensor, Tensor] | None, select: Tensor) -> Tensor:
        """Comparator output ``[B, R, K]`` where ``select``, the "not compared" vector elsewhere."""
        out = self.not_compared.unsqueeze(0).repeat(select.size(0), 1, 1)
        if crops is None or not select.any():
            return out
        cur, prev = crops
        if cur.shape[:2] != select.shape or prev.shape != cur.shape:
            raise ValueError(
                f"crops: expected current and prior crops [{select.size(0)}, {select.size(1)}, C, S, S], "
                f"got {list(cur.shape)} and {list(prev.shape)}"
            )
        idx = select.nonzero(as_tuple=True)
        device = out.device
        out[idx] = self.comparator(cur.to(device)[idx], prev.to(device)[idx]).to(out.dtype)
        return out
