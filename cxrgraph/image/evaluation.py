"""Evaluate region detections: per-region IoU, AP / mAP@0.5, and an overlay picture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cxrgraph.image.detection import RegionDetection
from cxrgraph.ontology import Ontology, get_ontology

__all__ = [
    "DetectionReport",
    "paired_iou",
    "region_iou",
    "region_average_precision",
    "evaluate_detections",
    "plot_detection_overlay",
]


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of matching rows of two ``[..., 4]`` xyxy box tensors (0 for empty unions)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


def region_iou(
    pred_boxes: torch.Tensor, pred_present: torch.Tensor, true_boxes: torch.Tensor, true_present: torch.Tensor
) -> torch.Tensor:
    """Mean IoU per region over the images where the region truly has a box.

    A region the detector misses counts as IoU 0. Regions with no true box in any image get NaN.

    Shapes:
        boxes ``[N, R, 4]`` normalised xyxy, presence ``[N, R]`` bool; output ``[R]``.
    """
    iou = paired_iou(torch.nan_to_num(pred_boxes.float()), torch.nan_to_num(true_boxes.float()))
    iou = iou * pred_present.float()
    mask = true_present.float()
    count = mask.sum(0)
    out = (iou * mask).sum(0) / count.clamp(min=1)
    return torch.where(count > 0, out, torch.full_like(out, math.nan))


def _average_precision(scores: torch.Tensor, hits: torch.Tensor, num_positive: int) -> float:
    if num_positive == 0:
        return math.nan
    if scores.numel() == 0:
        return 0.0
    order = torch.argsort(scores, descending=True, stable=True)
    tp = hits[order].double()
    ctp = torch.cumsum(tp, 0)
    cfp = torch.cumsum(1 - tp, 0)
    recall = ctp / num_positive
    precision = ctp / (ctp + cfp)
    # all-point interpolation (PASCAL VOC 2010+): precision envelope over recall steps
    mrec = torch.cat([torch.zeros(1, dtype=torch.float64), recall, torch.ones(1, dtype=torch.float64)])
    mpre = torch.cat([torch.zeros(1, dtype=torch.float64), precision, torch.zeros(1, dtype=torch.float64)])
    mpre = torch.flip(torch.cummax(torch.flip(mpre, [0]), 0).values, [0])
    step = mrec[1:] != mrec[:-1]
    return float(((mrec[1:] - mrec[:-1]) * mpre[1:])[step].sum())


def region_average_precision(
    pred_boxes: torch.Tensor,
    pred_scores: torch.Tensor,
    pred_present: torch.Tensor,
    true_boxes: torch.Tensor,
    true_present: torch.Tensor,
    iou_threshold: float = 0.5,
) -> torch.Tensor:
    """Average precision per region at an IoU threshold, one box per region and image.

    Each reported box is a true positive when the image has a true box of that region with
    IoU at least ``iou_threshold``; boxes are ranked by score across images.

    Returns:
        ``[R]`` AP values (NaN for regions that never have a true box).
    """
    iou = paired_iou(torch.nan_to_num(pred_boxes.float()), torch.nan_to_num(true_boxes.float()))
    hits = (iou >= iou_threshold) & true_present
    out = []
    for r in range(pred_boxes.size(1)):
        keep = pred_present[:, r]
        out.append(_average_precision(pred_scores[keep, r], hits[keep, r], int(true_present[:, r].sum())))
    return torch.tensor(out, dtype=torch.float64)


@dataclass
class DetectionReport:
    """Per-region IoU and AP@0.5 of a detector on a set of images."""

    per_region_iou: torch.Tensor
    per_region_ap: torch.Tensor
    num_images: int
    detector: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_iou(self) -> float:
        """Mean over regions of the per-region IoU (regions with a true box only)."""
        return float(torch.nanmean(self.per_region_iou.double()))

    @property
    def map50(self) -> float:
        """mAP@0.5: the mean over regions of AP at IoU 0.5."""
        return float(torch.nanmean(self.per_region_ap.double()))

    def to_dict(self, ontology: Ontology | None = None) -> dict[str, Any]:
        onto = ontology or get_ontology()
        return {
            "detector": self.detector,
            "num_images": self.num_images,
            "mean_iou": self.mean_iou,
            "map50": self.map50,
            "per_region": {
                onto.region(i).name: {"iou": float(self.per_region_iou[i]), "ap50": float(self.per_region_ap[i])}
                for i in range(self.per_region_iou.numel())
            },
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], ontology: Ontology | None = None) -> DetectionReport:
        """Read back :meth:`to_dict` output (regions matched by name; missing ones are NaN)."""
        onto = ontology or get_ontology()
        iou = torch.full((onto.num_regions,), float("nan"))
        ap = torch.full((onto.num_regions,), float("nan"))
        for name, entry in data.get("per_region", {}).items():
            i = onto.region_index(name)
            iou[i], ap[i] = float(entry["iou"]), float(entry["ap50"])
        return cls(iou, ap, int(data.get("num_images", 0)), str(data.get("detector", "")))


def evaluate_detections(
    detections: Sequence[RegionDetection],
    true_boxes: torch.Tensor,
    true_present: torch.Tensor | None = None,
    iou_threshold: float = 0.5,
) -> DetectionReport:
    """Score detections against true boxes.

    Args:
        detections: One :class:`RegionDetection` per image.
        true_boxes: ``[N, R, 4]`` normalised xyxy (NaN rows = no box).
        true_present: ``[N, R]`` bool (default: the finite, non-empty true boxes).
        iou_threshold: IoU for a true positive in AP.
    """
    true_boxes = torch.as_tensor(true_boxes, dtype=torch.float32)
    if len(detections) != true_boxes.size(0):
        raise ValueError(f"{len(detections)} detections but {true_boxes.size(0)} sets of true boxes")
    if true_present is None:
        finite = torch.isfinite(true_boxes).all(-1)
        tb = torch.nan_to_num(true_boxes)
        true_present = finite & (tb[..., 2] > tb[..., 0]) & (tb[..., 3] > tb[..., 1])
    true_present = torch.as_tensor(true_present, dtype=torch.bool)
    pred_boxes, pred_present = RegionDetection.stack_boxes(detections)
    scores = torch.stack([d.scores for d in detections])
    return DetectionReport(
        region_iou(pred_boxes, pred_present, true_boxes, true_present),
        region_average_precision(pred_boxes, scores, pred_present, true_boxes, true_present, iou_threshold),
        len(detections),
        detections[0].detector if detections else "",
    )


def plot_detection_overlay(
    image: torch.Tensor,
    detection: RegionDetection | None = None,
    true_boxes: torch.Tensor | None = None,
    true_present: torch.Tensor | None = None,
    path: str | Path | None = None,
    regions: Sequence[str | int] | None = None,
    title: str | None = None,
    ax: Any = None,
    ontology: Ontology | None = None,
) -> Any:
    """Draw predicted (solid) and true (dashed) region boxes over the image.

    Args:
        image: ``[1, H, W]`` image in ``[0, 1]``.
        detection: The predicted boxes.
        true_boxes: ``[R, 4]`` normalised true boxes (NaN rows = none).
        true_present: ``[R]`` bool mask for ``true_boxes``.
        path: Save the figure there as PNG (the figure is then closed).
        regions: Regions to draw (names or indices; default all).
        title: Figure title.
        ax: A matplotlib axes to draw on (default: a new figure).

    Returns:
        The matplotlib axes (``None`` when saved to ``path``).
    """
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    onto = ontology or get_ontology()
    h, w = int(image.size(-2)), int(image.size(-1))
    idx = range(onto.num_regions) if regions is None else [onto.region_index(r) for r in regions]
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 8 * h / w + 0.5))
    ax.imshow(image.squeeze(0).cpu().numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    cmap = plt.get_cmap("tab20")
    for k, r in enumerate(idx):
        color = cmap(k % 20)
        if true_boxes is not None:
            tb = torch.as_tensor(true_boxes)[r]
            ok = torch.isfinite(tb).all() and (true_present is None or bool(true_present[r]))
            if ok:
                x1, y1, x2, y2 = (tb * torch.tensor([w, h, w, h])).tolist()
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color, lw=1.0, ls="--"))
        if detection is not None and bool(detection.present[r]):
            x1, y1, x2, y2 = detection.pixel_boxes()[r].tolist()
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color, lw=1.4))
            ax.text(x1 + 1, y1 + 3, str(r), color=color, fontsize=6, va="top")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    ax.set_title(title or "predicted (solid) vs true (dashed) region boxes; numbers = region index", fontsize=9)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        (fig or ax.figure).savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig or ax.figure)
        return None
    return ax
