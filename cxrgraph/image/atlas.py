"""``AtlasDetector``: regions from a mean layout fitted to the thorax, with no training at inference.

The atlas stores, for each of the 29 regions, its mean box expressed in the frame of the
*thorax box* (the union of the two lung-field boxes). The thorax box is found the same way
when fitting and at inference, by :func:`~cxrgraph.image.lungs.find_lung_fields` (which crops
borders and labels and reads the lung fields off the film), and the mean layout is mapped into
it. The layout is learned from any box-annotated data (e.g. Chest ImaGenome) with
:meth:`AtlasDetector.fit`; the packaged one (``data/atlas_layout.json``) is fitted on the
built-in **phantom** and says so in its provenance (``meta``). For real films without boxes,
:class:`~cxrgraph.image.rules.LungFieldDetector` places the regions by rule instead.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxrgraph.image.detection import RegionDetection, check_boxes
from cxrgraph.image.io import check_image_tensor
from cxrgraph.image.lungs import LungFields, LungFieldsNotFound, detect_from_lung_fields, find_lung_fields
from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_write_text

__all__ = ["AtlasDetector", "find_thorax", "DEFAULT_LAYOUT", "is_synthetic"]

logger = logging.getLogger(__name__)

#: File name of the packaged layout inside ``cxrgraph/data``.
DEFAULT_LAYOUT = "atlas_layout.json"

_FORMAT = "cxrgraph.AtlasLayout"


def is_synthetic(meta: dict[str, Any] | None) -> bool:
    """Whether provenance ``meta`` says the model was fitted on synthetic (phantom) data."""
    meta = meta or {}
    if "synthetic" in meta:
        return bool(meta["synthetic"])
    return "phantom" in str(meta.get("data", "")).lower()


def find_thorax(image: torch.Tensor) -> torch.Tensor | None:
    """The thorax box of a radiograph: the union of its two lung-field boxes.

    Args:
        image: ``float32 [1, H, W]`` in ``[0, 1]``.

    Returns:
        Normalised xyxy ``[4]`` box, or ``None`` when no pair of lung fields is found (see
        :func:`~cxrgraph.image.lungs.find_lung_fields`).
    """
    try:
        return find_lung_fields(image).thorax
    except LungFieldsNotFound:
        return None


def _to_frame(boxes: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    wh = (frame[2:] - frame[:2]).repeat(2)
    return (boxes - frame[:2].repeat(2)) / wh


def _from_frame(rel: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    wh = (frame[2:] - frame[:2]).repeat(2)
    return rel * wh + frame[:2].repeat(2)


class AtlasDetector:
    """Place the 29 regions from a mean layout fitted to the image's thorax; no training.

    Args:
        layout: ``[29, 4]`` mean region boxes in thorax coordinates (the thorax box is
            ``(0, 0, 1, 1)``; values outside are regions beyond the lung fields).
        presence: ``[29]`` fraction of fitted images in which each region had a box; regions
            below one half are reported absent.
        fallback_thorax: The mean thorax box of the fitted images (kept as a record; an image
            whose lung fields cannot be found is reported, not boxed at this mean position).
        meta: Provenance: ``data`` (what it was fitted on), ``synthetic`` (phantom or not),
            ``num_images``.

    Raises:
        ValueError: The layout is not a finite ``[29, 4]`` tensor or a box has x2 < x1 / y2 < y1.
    """

    def __init__(
        self,
        layout: torch.Tensor,
        presence: torch.Tensor | None = None,
        fallback_thorax: torch.Tensor | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        layout = torch.as_tensor(layout, dtype=torch.float32)
        n = get_ontology().num_regions
        if layout.shape != (n, 4) or not torch.isfinite(layout).all():
            raise ValueError(f"atlas layout must be a finite [{n}, 4] tensor, got {list(layout.shape)}")
        inverted = (layout[:, 2] < layout[:, 0]) | (layout[:, 3] < layout[:, 1])
        if inverted.any():
            names = [get_ontology().region(int(i)).name for i in inverted.nonzero().flatten()]
            raise ValueError(f"atlas layout: boxes of {names} have x2 < x1 or y2 < y1 (boxes are xyxy)")
        self.layout = layout
        self.presence = torch.ones(n) if presence is None else torch.as_tensor(presence, dtype=torch.float32)
        self.fallback_thorax = (
            torch.tensor([0.1, 0.1, 0.9, 0.8]) if fallback_thorax is None else torch.as_tensor(fallback_thorax).float()
        )
        self.meta = dict(meta or {})

    def __repr__(self) -> str:
        return (
            f"AtlasDetector(regions={self.layout.size(0)}, fitted_on={self.meta.get('num_images', '?')} images"
            f" of {self.meta.get('data', 'unspecified data')!r})"
        )

    @property
    def synthetic(self) -> bool:
        """Whether the layout was fitted on synthetic (phantom) images."""
        return is_synthetic(self.meta)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        boxes: torch.Tensor | Sequence[Any],
        images: Sequence[torch.Tensor],
        present: torch.Tensor | None = None,
        meta: dict[str, Any] | None = None,
    ) -> AtlasDetector:
        """Learn the mean layout from box-annotated images.

        Args:
            boxes: ``[N, 29, 4]`` normalised xyxy region boxes (NaN rows = no box; boxes a
                little off the image are clipped with a warning).
            images: The ``N`` images (``[1, H, W]`` in ``[0, 1]``) the boxes belong to; their
                thorax boxes are found with :func:`find_thorax`, the same way as at inference.
            present: Optional ``[N, 29]`` bool: which boxes to use.
            meta: Provenance stored with the layout: say what the boxes are (``data``) and
                whether they are synthetic (``synthetic``).

        Raises:
            BoxError: A box with NaN / inf corners, x2 < x1 or in pixel coordinates.
            ValueError: Shapes disagree, or no image has a thorax that can be found.
        """
        boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32) if not isinstance(boxes, torch.Tensor) else boxes)
        boxes = boxes.float()
        n_img, n_reg = boxes.size(0), get_ontology().num_regions
        if boxes.shape != (n_img, n_reg, 4) or len(images) != n_img:
            raise ValueError(f"fit needs boxes [N, {n_reg}, 4] and N images; got {list(boxes.shape)} and {len(images)}")
        boxes = check_boxes(boxes, "boxes", present)
        valid = torch.isfinite(boxes).all(-1) & ((boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1]))
        if present is not None:
            valid &= torch.as_tensor(present, dtype=torch.bool)
        rel_sum = torch.zeros(n_reg, 4, dtype=torch.float64)
        count = torch.zeros(n_reg, dtype=torch.float64)
        thoraxes = []
        for i, image in enumerate(images):
            thorax = find_thorax(check_image_tensor(image, f"images[{i}]"))
            if thorax is None:
                logger.warning("atlas fit: no thorax found in image %d, skipped", i)
                continue
            thoraxes.append(thorax)
            rel = _to_frame(torch.nan_to_num(boxes[i]), thorax).double()
            rel_sum += torch.where(valid[i][:, None], rel, torch.zeros_like(rel))
            count += valid[i].double()
        if not thoraxes:
            raise ValueError("atlas fit: no thorax found in any image")
        presence = (count / len(thoraxes)).float()
        layout = (rel_sum / count.clamp(min=1)[:, None]).float()
        missing = count == 0
        if missing.any():
            names = [get_ontology().region(int(i)).name for i in missing.nonzero().flatten()]
            logger.warning("atlas fit: no box for %s; they stay absent", names)
            layout[missing] = torch.tensor([0.0, 0.0, 1.0, 1.0])
        if not (meta or {}).get("data"):
            warnings.warn(
                "AtlasDetector.fit: say what the boxes are with meta={'data': ..., 'synthetic': ...}; "
                "the layout records it as its provenance",
                stacklevel=2,
            )
        info = {"data": "unspecified", "num_images": len(thoraxes), **(meta or {})}
        return cls(layout, presence, torch.stack(thoraxes).mean(0), info)

    # ------------------------------------------------------------------ inference
    def detect(
        self,
        images: Sequence[torch.Tensor] | torch.Tensor,
        sources: Sequence[str | None] | None = None,
    ) -> list[RegionDetection]:
        """Place the regions in each image (one ``[1, H, W]`` in ``[0, 1]`` or a list).

        An image whose lung fields cannot be found gets a detection with nothing present and
        the reason in ``problem``.

        Raises:
            ValueError: ``sources`` does not name every image.
        """

        def place(fields: LungFields) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            boxes = _from_frame(self.layout, fields.thorax).clamp(0.0, 1.0)
            present = (self.presence >= 0.5) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            return boxes, self.presence * fields.confidence, present

        return detect_from_lung_fields(images, sources, "AtlasDetector", place)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        onto = get_ontology()
        return {
            "format": _FORMAT,
            "ontology_version": onto.version,
            "frame": "thorax box (lung fields) = (0, 0, 1, 1); boxes are xyxy in that frame",
            "meta": self.meta,
            "fallback_thorax": [round(float(v), 6) for v in self.fallback_thorax],
            "regions": [
                {
                    "name": onto.region(i).name,
                    "box": [round(float(v), 6) for v in self.layout[i]],
                    "presence": round(float(self.presence[i]), 6),
                }
                for i in range(self.layout.size(0))
            ],
        }

    def save(self, path: str | Path) -> Path:
        """Write the layout as JSON (atomically)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AtlasDetector:
        if data.get("format") != _FORMAT:
            raise ValueError(f"not an atlas layout (format={data.get('format')!r})")
        onto = get_ontology()
        n = onto.num_regions
        layout = torch.zeros(n, 4)
        presence = torch.zeros(n)
        seen = torch.zeros(n, dtype=torch.bool)
        for entry in data["regions"]:
            i = onto.region_index(entry["name"])
            layout[i] = torch.tensor(entry["box"], dtype=torch.float32)
            presence[i] = float(entry.get("presence", 1.0))
            seen[i] = True
        if not seen.all():
            missing = [onto.region(int(i)).name for i in (~seen).nonzero().flatten()]
            raise ValueError(f"atlas layout lacks regions {missing}")
        return cls(layout, presence, torch.tensor(data["fallback_thorax"], dtype=torch.float32), data.get("meta"))

    @classmethod
    def load(cls, path: str | Path | None = None) -> AtlasDetector:
        """Load a layout file; ``None`` loads the packaged ``data/atlas_layout.json``.

        Raises:
            FileNotFoundError: No layout at ``path``.
            ValueError: The file is not an atlas layout.
        """
        if path is None:
            ref = resources.files("cxrgraph") / "data" / DEFAULT_LAYOUT
            if not ref.is_file():
                raise FileNotFoundError(f"packaged atlas layout {DEFAULT_LAYOUT} is missing from cxrgraph/data")
            text = ref.read_text(encoding="utf-8")
            where = f"cxrgraph/data/{DEFAULT_LAYOUT}"
        else:
            path = Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such atlas layout file")
            text = path.read_text(encoding="utf-8")
            where = str(path)
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{where}: not a valid atlas layout ({err})") from err
