"""``AtlasDetector``: regions from a mean layout fitted to the thorax, with no training.

The atlas stores, for each of the 29 regions, its mean box expressed in the frame of the
*thorax box* (the bounding box of the lung fields). At inference the thorax box is found from
intensity alone (:func:`find_thorax`: lung fields are the large dark areas that do not touch
the image border; their row and column profiles give the box) and the mean layout is mapped
into it. The layout is learned from any box-annotated data with :meth:`AtlasDetector.fit`;
the packaged one (``data/atlas_layout.json``) is fitted on the built-in phantom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.io import check_image_tensor, resize_image
from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_write_text

__all__ = ["AtlasDetector", "find_thorax", "DEFAULT_LAYOUT"]

logger = logging.getLogger(__name__)

#: File name of the packaged layout inside ``cxrgraph/data``.
DEFAULT_LAYOUT = "atlas_layout.json"

_FORMAT = "cxrgraph.AtlasLayout"
# thorax search runs at this size: enough to place the lung fields, cheap on CPU
_WORK_SIDE = 256


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = m0 / np.maximum(w0, 1e-12)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1e-12)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centers[int(np.argmax(between[:-1]))])


def _extent(profile: np.ndarray, frac: float) -> tuple[int, int] | None:
    idx = np.nonzero(profile >= frac * profile.max())[0] if profile.max() > 0 else np.array([])
    if idx.size == 0:
        return None
    return int(idx[0]), int(idx[-1]) + 1


def find_thorax(image: torch.Tensor, min_area: float = 0.01, profile_frac: float = 0.1) -> torch.Tensor | None:
    """The thorax (lung fields) box of a radiograph, from intensity only.

    The smoothed image is split at its Otsu threshold; dark connected areas that touch the
    image border (air outside the body) are dropped, as are specks below ``min_area`` of the
    image; the row and column profiles of what is left (the lung fields) give the box, taking
    the rows and columns that hold at least ``profile_frac`` of the profile's peak.

    Args:
        image: ``float32 [1, H, W]`` in ``[0, 1]``.
        min_area: Smallest dark area kept, as a fraction of the image.
        profile_frac: Profile level that bounds the box.

    Returns:
        Normalised xyxy ``[4]`` box, or ``None`` when no lung field is found.
    """
    from scipy import ndimage

    check_image_tensor(image)
    h, w = image.shape[-2:]
    scale = _WORK_SIDE / max(h, w)
    small = resize_image(image, (max(8, round(h * scale)), max(8, round(w * scale))))[0].numpy().astype(np.float64)
    sh, sw = small.shape
    small = ndimage.gaussian_filter(small, sigma=max(1.0, sh / 128))
    dark = small < _otsu(small)
    labels, num = ndimage.label(dark)
    if num == 0:
        return None
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    sizes = ndimage.sum(np.ones_like(labels), labels, index=np.arange(1, num + 1))
    keep = np.zeros(num + 1, dtype=bool)
    keep[1:] = sizes >= min_area * sh * sw
    keep[border] = False
    if not keep.any():
        # lungs cut by the image edge: drop only the largest border area (the outside air)
        border_ids = [b for b in border if b != 0]
        if len(border_ids) < 2:
            return None
        largest = max(border_ids, key=lambda b: sizes[b - 1])
        keep[1:] = sizes >= min_area * sh * sw
        keep[largest] = False
        if not keep.any():
            return None
    mask = keep[labels]
    cols = _extent(mask.sum(axis=0).astype(np.float64), profile_frac)
    rows = _extent(mask.sum(axis=1).astype(np.float64), profile_frac)
    if cols is None or rows is None:
        return None
    box = torch.tensor([cols[0] / sw, rows[0] / sh, cols[1] / sw, rows[1] / sh], dtype=torch.float32)
    if (box[2] - box[0]) < 0.1 or (box[3] - box[1]) < 0.1:
        return None
    return box


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
        fallback_thorax: Normalised thorax box used when :func:`find_thorax` finds none
            (default: the mean thorax box of the fitted images).
        meta: Free-form provenance (data set, number of images).
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
        self.layout = layout
        self.presence = torch.ones(n) if presence is None else torch.as_tensor(presence, dtype=torch.float32)
        self.fallback_thorax = (
            torch.tensor([0.1, 0.1, 0.9, 0.8]) if fallback_thorax is None else torch.as_tensor(fallback_thorax).float()
        )
        self.meta = dict(meta or {})

    def __repr__(self) -> str:
        return f"AtlasDetector(regions={self.layout.size(0)}, fitted_on={self.meta.get('num_images', '?')} images)"

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
            boxes: ``[N, 29, 4]`` normalised xyxy region boxes (NaN rows = no box).
            images: The ``N`` images (``[1, H, W]`` in ``[0, 1]``) the boxes belong to; their
                thorax boxes are found with :func:`find_thorax`, the same way as at inference.
            present: Optional ``[N, 29]`` bool: which boxes to use.
            meta: Provenance stored with the layout.

        Raises:
            ValueError: Shapes disagree, or no image has a thorax that can be found.
        """
        boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32) if not isinstance(boxes, torch.Tensor) else boxes)
        boxes = boxes.float()
        n_img, n_reg = boxes.size(0), get_ontology().num_regions
        if boxes.shape != (n_img, n_reg, 4) or len(images) != n_img:
            raise ValueError(f"fit needs boxes [N, {n_reg}, 4] and N images; got {list(boxes.shape)} and {len(images)}")
        valid = torch.isfinite(boxes).all(-1) & ((boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1]))
        if present is not None:
            valid &= torch.as_tensor(present, dtype=torch.bool)
        rel_sum = torch.zeros(n_reg, 4, dtype=torch.float64)
        count = torch.zeros(n_reg, dtype=torch.float64)
        thoraxes = []
        for i, image in enumerate(images):
            thorax = find_thorax(image)
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
        info = {"num_images": len(thoraxes), **(meta or {})}
        return cls(layout, presence, torch.stack(thoraxes).mean(0), info)

    # ------------------------------------------------------------------ inference
    def detect(
        self, images: Sequence[torch.Tensor], sources: Sequence[str | None] | None = None
    ) -> list[RegionDetection]:
        """Place the regions in each image (``[1, H, W]`` in ``[0, 1]``)."""
        out = []
        for i, image in enumerate(images):
            source = None if sources is None else sources[i]
            check_image_tensor(image, str(source or f"images[{i}]"))
            thorax = find_thorax(image)
            score = 1.0
            if thorax is None:
                logger.warning("%s: no lung fields found; using the mean thorax position", source or f"image {i}")
                thorax, score = self.fallback_thorax, 0.5
            boxes = _from_frame(self.layout, thorax).clamp(0.0, 1.0)
            present = (self.presence >= 0.5) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            scores = self.presence * score
            out.append(
                RegionDetection(
                    boxes, scores, present, (int(image.size(-2)), int(image.size(-1))), source, "AtlasDetector"
                )
            )
        return out

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
