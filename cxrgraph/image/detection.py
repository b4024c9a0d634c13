"""``RegionDetection``: the 29 anatomical regions found in one image (any detector's output)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cxrgraph.ontology import Ontology, get_ontology

# a normalised box may stick out of the image by this much before it is taken for pixel
# coordinates (Chest ImaGenome's own boxes overshoot the image by a few per cent)
_OFF_EDGE = 0.25
_EPS = 1e-4


class BoxError(ValueError):
    """Region boxes that cannot be used: NaN or inf corners, x2 < x1, pixel coordinates."""


def check_boxes(boxes: torch.Tensor, name: str = "boxes", present: torch.Tensor | None = None) -> torch.Tensor:
    """Check normalised xyxy boxes ``[..., 4]`` and return them clipped into ``[0, 1]``.

    Rows that are entirely NaN are absent regions and pass through; so do rows that
    ``present`` marks absent. One vectorised pass over the tensor (one host sync), cheap
    enough for a training step.

    Raises:
        BoxError: A box with some (not all) corners NaN, an infinite corner, ``x2 < x1`` or
            ``y2 < y1``, or corners far outside ``[0, 1]`` (pixel coordinates).

    Warns:
        UserWarning: A box sticks out of the image by less than 0.25 and was clipped.
    """
    nan = torch.isnan(boxes)
    absent = nan.all(-1)
    if present is not None:
        absent = absent | ~torch.as_tensor(present, dtype=torch.bool, device=boxes.device)
    used = ~absent.unsqueeze(-1)
    partial = (nan & used).any(-1)
    inf = (torch.isinf(boxes) & used).any(-1)
    finite = torch.nan_to_num(boxes, nan=0.0, posinf=0.0, neginf=0.0)
    inverted = ((finite[..., 2] < finite[..., 0] - _EPS) | (finite[..., 3] < finite[..., 1] - _EPS)) & ~absent
    far = ((finite < -_OFF_EDGE) | (finite > 1 + _OFF_EDGE)).any(-1) & ~absent
    off = ((finite < -_EPS) | (finite > 1 + _EPS)).any(-1) & ~absent
    flags = torch.stack([partial.any(), inf.any(), inverted.any(), far.any(), off.any()]).tolist()
    if any(flags[:4]):
        for bad, what in zip(
            (partial, inf, inverted, far),
            (
                "some corners are NaN (a missing box must be all NaN)",
                "a corner is infinite",
                "x2 < x1 or y2 < y1 (boxes are xyxy)",
                "corners far outside [0, 1]: boxes must be normalised xyxy, not pixel coordinates",
            ),
        ):
            if bad.any():
                where = [int(v) for v in bad.nonzero()[0].tolist()]
                example = [round(float(v), 4) for v in boxes[tuple(where)].tolist()]
                raise BoxError(f"{name}{where}: {what}; got {example}")
    if flags[4]:
        count = int(off.sum())
        warnings.warn(f"{name}: {count} box(es) stick out of the image and were clipped to [0, 1]", stacklevel=2)
    return torch.where(used, boxes.clamp(0.0, 1.0), boxes)


__all__ = ["RegionDetection", "boxes_to_pixels", "boxes_to_unit", "check_boxes", "check_sources", "BoxError"]


def check_sources(sources: Sequence[str | None] | None, count: int) -> list[str | None]:
    """One name per image: ``sources`` checked against the number of images (``None``: no names).

    Raises:
        ValueError: ``sources`` is a single string or its length differs from ``count``.
    """
    if sources is None:
        return [None] * count
    if isinstance(sources, (str, bytes)):
        raise ValueError(f"sources must be a list of names, one per image, got the string {sources!r}")
    names = list(sources)
    if len(names) != count:
        raise ValueError(f"sources has {len(names)} names for {count} images; give one name per image")
    return [None if n is None else str(n) for n in names]


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
        confidence: The detector's confidence in the image as a whole, in ``[0, 1]`` (for the
            training-free detectors: how clearly the film shows two lung fields).
        problem: Why nothing was placed (e.g. no lung fields found), or ``None``; batch jobs
            skip and record detections with a problem.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    present: torch.Tensor
    image_size: tuple[int, int]
    source: str | None = None
    detector: str = field(default="")
    confidence: float = 1.0
    problem: str | None = None

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
        self.confidence = float(self.confidence)

    @classmethod
    def empty(
        cls,
        image_size: tuple[int, int],
        source: str | None,
        detector: str,
        problem: str,
        num_regions: int | None = None,
    ) -> RegionDetection:
        """A detection with no region present, confidence 0 and the reason in ``problem``."""
        n = num_regions or get_ontology().num_regions
        return cls(
            torch.zeros(n, 4),
            torch.zeros(n),
            torch.zeros(n, dtype=torch.bool),
            image_size,
            source,
            detector,
            0.0,
            problem,
        )

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
            "confidence": round(self.confidence, 6),
            "problem": self.problem,
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
            float(data.get("confidence", 1.0)),
            data.get("problem"),
        )

    @classmethod
    def stack_boxes(cls, detections: Sequence[RegionDetection]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, 29, 4]`` boxes and ``[N, 29]`` presence of many detections."""
        return torch.stack([d.boxes for d in detections]), torch.stack([d.present for d in detections])
