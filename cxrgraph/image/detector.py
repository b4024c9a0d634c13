"""``AnatomyDetector``: a torchvision Faster R-CNN that finds the 29 anatomical regions.

No weights are ever downloaded: the network starts from random weights unless a local
backbone state dict is given, and trained detectors are saved and loaded as a state dict plus
a plain config (``torch.load(..., weights_only=True)``). Training lives in
:mod:`cxrgraph.image.training` (Lightning), so importing this module never imports Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxrgraph.image.detection import RegionDetection, boxes_to_pixels, boxes_to_unit, check_sources
from cxrgraph.image.io import check_image_batch
from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_torch_save

__all__ = ["AnatomyDetector", "BACKBONES", "make_targets"]

#: Selectable detector backbones: the light one for CPU and the usual one for real work.
BACKBONES = ("mobilenet_v3", "resnet50_fpn")

_FORMAT = "cxrgraph.AnatomyDetector"
_FORMAT_VERSION = 1


def make_targets(
    boxes: torch.Tensor, present: torch.Tensor | None, height: int, width: int, min_side: float = 1.0
) -> dict[str, torch.Tensor]:
    """Faster R-CNN targets from one image's normalised region boxes.

    Args:
        boxes: ``[29, 4]`` normalised xyxy boxes (NaN rows allowed for unknown boxes).
        present: ``[29]`` bool: which boxes to use (default: the finite ones).
        height: Image height in pixels.
        width: Image width in pixels.
        min_side: Boxes narrower or lower than this many pixels are dropped (zero-area boxes
            are absent regions).

    Returns:
        ``{"boxes": float [N, 4] pixels, "labels": long [N]}`` with label = region index + 1.
    """
    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    keep = torch.isfinite(boxes).all(dim=1)
    if present is not None:
        keep &= torch.as_tensor(present, dtype=torch.bool)
    pix = boxes_to_pixels(torch.nan_to_num(boxes).clamp(0.0, 1.0), height, width)
    keep &= ((pix[:, 2] - pix[:, 0]) >= min_side) & ((pix[:, 3] - pix[:, 1]) >= min_side)
    idx = keep.nonzero().flatten()
    return {"boxes": pix[idx], "labels": idx + 1}


class AnatomyDetector(nn.Module):
    r"""Faster R-CNN over the 29 anatomical regions (plus background), one box per region.

    At inference each region keeps its best-scoring box; a region whose best score is below
    ``score_threshold`` is marked absent. Images follow the package convention
    (``float32 [1, H, W]`` in ``[0, 1]``, see :mod:`cxrgraph.image.io`); the grey channel is
    repeated to the three channels the torchvision backbones expect.

    Args:
        backbone: ``"mobilenet_v3"`` (MobileNetV3-Large FPN, light enough for CPU) or
            ``"resnet50_fpn"`` (ResNet-50 FPN, for real work).
        image_size: The longer image side the network works at (images are resized by
            torchvision's transform; boxes come back in the input's coordinates).
        score_threshold: Minimum class score for a region to count as present.
        backbone_weights: Optional local path to a state dict of the classification backbone
            (torchvision ``mobilenet_v3_large`` or ``resnet50``). Nothing is downloaded.
        num_regions: Number of region classes (default: the ontology's 29).
        rpn_proposals: Proposals kept after NMS in training (half of it at inference).
        box_batch_size: Sampled RoIs per image for the box head in training.
        head_channels: Width of the two-layer box head (torchvision uses 1024; narrower is
            much cheaper on CPU and enough for 29 classes).
        fpn_channels: Width of the feature pyramid (torchvision: 256; 128 halves the cost of
            the RPN and RoI stages on CPU).
        roi_sampling_ratio: RoIAlign samples per bin of the box head (torchvision: 2).
        meta: Provenance: ``data`` (what it was trained on) and ``synthetic`` (phantom or
            not); :func:`~cxrgraph.image.training.train_detector` fills it in, and it is saved
            with the weights.

    Example:
        >>> det = AnatomyDetector("mobilenet_v3", image_size=256)
        >>> out = det.detect([torch.rand(1, 256, 256)])  # list of RegionDetection
    """

    def __init__(
        self,
        backbone: str = "mobilenet_v3",
        image_size: int = 512,
        score_threshold: float = 0.05,
        backbone_weights: str | Path | None = None,
        num_regions: int | None = None,
        rpn_proposals: int = 500,
        box_batch_size: int = 128,
        head_channels: int = 512,
        fpn_channels: int = 256,
        roi_sampling_ratio: int = 2,
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        if not 32 <= int(image_size) <= 4096:
            raise ValueError(f"image_size must be within [32, 4096], got {image_size}")
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
        self.backbone_name = backbone
        self.image_size = int(image_size)
        self.score_threshold = float(score_threshold)
        self.num_regions = int(num_regions or get_ontology().num_regions)
        self.rpn_proposals = int(rpn_proposals)
        self.box_batch_size = int(box_batch_size)
        self.head_channels = int(head_channels)
        self.fpn_channels = int(fpn_channels)
        self.roi_sampling_ratio = int(roi_sampling_ratio)
        self.meta: dict[str, Any] = {"data": "untrained", **(meta or {})}
        self.model = self._build()
        if backbone_weights is not None:
            self.load_backbone_weights(backbone_weights)

    # ------------------------------------------------------------------ construction
    @property
    def synthetic(self) -> bool:
        """Whether the detector was trained on synthetic (phantom) images."""
        from cxrgraph.image.atlas import is_synthetic

        return is_synthetic(self.meta)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this detector (weights path excluded)."""
        return {
            "backbone": self.backbone_name,
            "image_size": self.image_size,
            "score_threshold": self.score_threshold,
            "num_regions": self.num_regions,
            "rpn_proposals": self.rpn_proposals,
            "box_batch_size": self.box_batch_size,
            "head_channels": self.head_channels,
            "fpn_channels": self.fpn_channels,
            "roi_sampling_ratio": self.roi_sampling_ratio,
        }

    def _build(self) -> nn.Module:
        from torchvision.models import mobilenet_v3_large, resnet50
        from torchvision.models.detection import FasterRCNN
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.backbone_utils import BackboneWithFPN
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
        from torchvision.ops import MultiScaleRoIAlign
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        s = self.image_size
        # anchors scaled with the working size (torchvision's defaults assume ~800 px images);
        # lungs are tall, hence the extra 3:1 (height:width) ratio
        sizes = tuple(max(4, round(s / d)) for d in (16, 8, 4, 2, 1))
        ratios = (0.5, 1.0, 2.0, 3.0)
        # the same bodies as torchvision's fasterrcnn_mobilenet_v3_large_fpn / fasterrcnn_resnet50_fpn
        # (random init, so plain BatchNorm and every layer trainable), with a configurable FPN width
        if self.backbone_name == "mobilenet_v3":
            features = mobilenet_v3_large(weights=None, norm_layer=nn.BatchNorm2d).features
            stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
            returned = [len(stages) - 2, len(stages) - 1]
            return_layers = {str(stages[k]): str(v) for v, k in enumerate(returned)}
            in_channels = [features[stages[i]].out_channels for i in returned]
            body = BackboneWithFPN(
                features, return_layers, in_channels, self.fpn_channels, extra_blocks=LastLevelMaxPool()
            )
            anchors = AnchorGenerator((sizes,) * 3, (ratios,) * 3)
            levels = ["0", "1"]
        else:
            net = resnet50(weights=None, norm_layer=nn.BatchNorm2d)
            return_layers = {f"layer{k}": str(k - 1) for k in range(1, 5)}
            body = BackboneWithFPN(
                net, return_layers, [256, 512, 1024, 2048], self.fpn_channels, extra_blocks=LastLevelMaxPool()
            )
            anchors = AnchorGenerator(tuple((v,) for v in sizes), (ratios,) * 5)
            levels = ["0", "1", "2", "3"]
        resolution = 7
        return FasterRCNN(
            body,
            box_roi_pool=MultiScaleRoIAlign(levels, output_size=resolution, sampling_ratio=self.roi_sampling_ratio),
            box_head=TwoMLPHead(self.fpn_channels * resolution**2, self.head_channels),
            box_predictor=FastRCNNPredictor(self.head_channels, self.num_regions + 1),
            min_size=s,
            max_size=s,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.25, 0.25, 0.25],
            rpn_anchor_generator=anchors,
            rpn_pre_nms_top_n_train=2 * self.rpn_proposals,
            rpn_post_nms_top_n_train=self.rpn_proposals,
            rpn_pre_nms_top_n_test=self.rpn_proposals,
            rpn_post_nms_top_n_test=max(self.rpn_proposals // 2, 4 * self.num_regions),
            box_batch_size_per_image=self.box_batch_size,
            # keep every class's candidates: the one-box-per-region choice and the threshold are ours
            box_score_thresh=1e-3,
            box_detections_per_img=10 * self.num_regions,
        )

    def load_backbone_weights(self, path: str | Path) -> None:
        """Load a local classification-backbone state dict (torchvision layout) into the body.

        Raises:
            FileNotFoundError: No file at ``path``.
            ValueError: The file matches none of the backbone's parameters.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: backbone weights not found (cxrgraph never downloads weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        prefix = "features." if self.backbone_name == "mobilenet_v3" else ""
        mapped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        body = self.model.backbone.body
        own = body.state_dict()
        usable = {k: v for k, v in mapped.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ValueError(f"{path}: no tensor matches the {self.backbone_name} backbone")
        missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
        if missing:
            raise ValueError(f"{path}: {len(missing)} backbone tensors missing or mis-shaped, e.g. {missing[:3]}")
        body.load_state_dict(usable, strict=False)

    # ------------------------------------------------------------------ forward
    def _prepare(self, images: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
        checked = check_image_batch(images)
        return [img.expand(3, -1, -1) for img in checked]

    def forward(
        self,
        images: Sequence[torch.Tensor] | torch.Tensor,
        targets: Sequence[dict[str, torch.Tensor]] | None = None,
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        """Training: the Faster R-CNN loss dict; evaluation: torchvision's raw detections.

        Args:
            images: ``[1, H, W]`` images (or a ``[B, 1, H, W]`` tensor) in ``[0, 1]``.
            targets: Per image ``{"boxes": [N, 4] pixels, "labels": [N]}`` (see :func:`make_targets`).
        """
        return self.model(self._prepare(images), None if targets is None else list(targets))

    def training_loss(
        self,
        images: Sequence[torch.Tensor],
        boxes: Sequence[torch.Tensor],
        present: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The loss dict for images with normalised region boxes (absent / zero-area boxes dropped)."""
        targets = []
        for i, img in enumerate(images):
            t = make_targets(boxes[i], None if present is None else present[i], img.size(-2), img.size(-1))
            targets.append({k: v.to(img.device) for k, v in t.items()})
        return self.model(self._prepare(images), targets)

    @torch.no_grad()
    def detect(
        self,
        images: Sequence[torch.Tensor] | torch.Tensor,
        sources: Sequence[str | None] | None = None,
        score_threshold: float | None = None,
    ) -> list[RegionDetection]:
        """Find the regions: for each region its best-scoring box, absent below the threshold.

        Args:
            images: One ``[1, H, W]`` image or a list (or ``[B, 1, H, W]``) in ``[0, 1]``.
            sources: Optional file names / ids stored in the results, one per image.
            score_threshold: Override of the detector's threshold.

        Returns:
            One :class:`RegionDetection` per image (boxes normalised to the input's size);
            its ``confidence`` is the mean score over the 29 regions.

        Raises:
            ValueError: ``sources`` does not name every image.
        """
        thr = self.score_threshold if score_threshold is None else float(score_threshold)
        inputs = self._prepare(images)
        names = check_sources(sources, len(inputs))
        was_training = self.training
        self.eval()
        try:
            raw = self.model(inputs)
        finally:
            self.train(was_training)
        out = []
        for i, (img, det) in enumerate(zip(inputs, raw)):
            h, w = int(img.size(-2)), int(img.size(-1))
            out.append(self._best_per_region(det, h, w, thr, names[i]))
        return out

    def _best_per_region(
        self, det: dict[str, torch.Tensor], height: int, width: int, threshold: float, source: str | None
    ) -> RegionDetection:
        n = self.num_regions
        boxes = torch.zeros(n, 4)
        scores = torch.zeros(n)
        labels = det["labels"].cpu() - 1
        det_scores = det["scores"].cpu()
        det_boxes = det["boxes"].cpu()
        if labels.numel():
            # best score per class: sort by score, the first occurrence of each label wins
            order = torch.argsort(det_scores, descending=True)
            seen = torch.zeros(n, dtype=torch.bool)
            for j in order.tolist():
                r = int(labels[j])
                if 0 <= r < n and not seen[r]:
                    seen[r] = True
                    boxes[r] = det_boxes[j]
                    scores[r] = det_scores[j]
        present = scores >= max(threshold, 1e-12)
        unit = boxes_to_unit(boxes, height, width)
        return RegionDetection(
            unit,
            scores,
            present,
            (height, width),
            source,
            detector=f"AnatomyDetector({self.backbone_name})",
            confidence=float(scores.mean()),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save config + state dict (atomically) for :meth:`load`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "ontology_version": get_ontology().version,
            "config": self.config,
            "meta": self.meta,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }
        atomic_torch_save(payload, path)
        return path

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> AnatomyDetector:
        """Load a detector written by :meth:`save` (``weights_only=True``: no pickled code runs).

        Raises:
            FileNotFoundError: No file at ``path``.
            ValueError: The file is not an AnatomyDetector checkpoint.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such detector checkpoint")
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: not a readable AnatomyDetector checkpoint ({err})") from err
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{path}: not an AnatomyDetector checkpoint (format={payload.get('format')!r})")
        det = cls(**payload["config"], meta=payload.get("meta") or {"data": "unrecorded"})
        det.load_state_dict(payload["state_dict"])
        return det

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, image_size={self.image_size}, regions={self.num_regions}"
