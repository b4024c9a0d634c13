"""``RegionDetection``: the 29 anatomical regions found in one image (any detector's output)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["RegionDetection", "boxes_to_pixels", "boxes_to_unit"]


def boxes_to_pixels(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Normalised xyxy boxes ``[..., 4]`` to pixel coordinates of an ``height x width`` image."""
    scale = boxes.new_tensor([width, height, width, height])
    return boxes * scale


def boxes_to_unit(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel xyxy boxes ``[..., 4]`` to normalised coordinates, clipped into ``[0, 1]``."""
    scale = boxes.new_tensor([width, height, width, height])
    return (boxes / scale).clamp(0.0, 1.0)


@dataclass
class RegionDetection:
    """One box (or none) per anatomical region of one image, in ontology order.

    Attributes:
        boxes: ``float [29, 4]`` normalised xyxy (``0 <= x1 <= x2 <= 1``); rows of absent
            regions are zero.
        scores: ``float [29]`` confidence of each box (0 where absent).
        present: ``bool [29]``: a box above the detector's threshold was found.
        image_size: ``(height, width)`` of the image in pixels.
        source: The image file or id, if known.
        detector: The name of the detector that produced it.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    present: torch.Tensor
    image_size: tuple[int, int]
    source: str | None = None
    detector: str = field(default="")

    def __post_init__(self) -> None:
        n = self.boxes.size(0)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,) or self.present.shape != (n,):
            raise ValueError(
                f"RegionDetection: inconsistent shapes boxes={list(self.boxes.shape)}, "
                f"scores={list(self.scores.shape)}, present={list(self.present.shape)}"
            )
        self.present = self.present.to(torch.bool)
        self.boxes = torch.where(self.present[:, None], self.boxes.float(), torch.zeros_like(self.boxes.float()))
        self.scores = torch.where(self.present, self.scores.float(), torch.zeros_like(self.scores.float()))

    @property
    def num_regions(self) -> int:
        return self.boxes.size(0)

    def pixel_boxes(self) -> torch.Tensor:
        """The boxes in pixel coordinates of the image."""
        return boxes_to_pixels(self.boxes, *self.image_size)

    def to_dict(self, ontology: Ontology | None = None) -> dict[str, Any]:
        """A JSON-ready dict: one entry per region with name, presence, score and boxes."""
        onto = ontology or get_ontology()
        pix = self.pixel_boxes()
        regions = []
        for i in range(self.num_regions):
            present = bool(self.present[i])
            regions.append(
                {
                    "index": i,
                    "name": onto.region(i).name,
                    "present": present,
                    "score": round(float(self.scores[i]), 6),
                    "box": [round(float(v), 6) for v in self.boxes[i]] if present else None,
                    "box_pixels": [round(float(v), 2) for v in pix[i]] if present else None,
                }
            )
        return {
            "image": self.source,
            "height": int(self.image_size[0]),
            "width": int(self.image_size[1]),
            "detector": self.detector,
            "ontology_version": onto.version,
            "regions": regions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], ontology: Ontology | None = None) -> RegionDetection:
        """Read back :meth:`to_dict` output (regions are matched by name)."""
        onto = ontology or get_ontology()
        n = onto.num_regions
        boxes = torch.zeros(n, 4)
        scores = torch.zeros(n)
        present = torch.zeros(n, dtype=torch.bool)
        for entry in data["regions"]:
            i = onto.region_index(entry["name"])
            if entry.get("present") and entry.get("box") is not None:
                boxes[i] = torch.tensor(entry["box"], dtype=torch.float32)
                scores[i] = float(entry.get("score", 1.0))
                present[i] = True
        return cls(
            boxes,
            scores,
            present,
            (int(data["height"]), int(data["width"])),
            data.get("image"),
            data.get("detector", ""),
        )

    @classmethod
    def stack_boxes(cls, detections: Sequence[RegionDetection]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, 29, 4]`` boxes and ``[N, 29]`` presence of many detections."""
        return torch.stack([d.boxes for d in detections]), torch.stack([d.present for d in detections])
