"""Find the two lung fields and the cardiac silhouette on a frontal chest radiograph, no training.

:func:`find_lung_fields` reads the film with classical image processing (numpy / scipy):

1. **Film.** Flat padding (black or white borders, the blank margins of a scanned film) is
   cropped, together with anything that sits in it, such as a burned-in label; small saturated
   marks on the film itself (side markers, text) are painted over with their surroundings.
2. **Lung fields.** The lungs are the two large dark areas left and right of a brighter
   mediastinum. The film is thresholded at a ladder of intensity percentiles; dark areas that
   touch the film's edge (air outside the body) are left out, and at each level the pair of
   areas that could be two lungs (side by side, overlapping in height, of similar size, a
   lung's proportions) is scored by the mean intensity step along its outline. The level with
   the sharpest outline wins: that is where the threshold follows the lung borders (ribs,
   mediastinum, diaphragm) rather than cutting through the lungs or spilling out of them.
3. **Borders.** The diaphragm and the lateral chest wall are the strongest dark-to-bright steps
   below and outside each lung; the box is extended to them (a lower lobe under an opacity or
   a costophrenic angle falls below the threshold but still ends at the diaphragm).
4. **Heart.** The medial edges of the two lung fields in their lower half are the right and
   left heart borders; the cardiac silhouette spans them, from mid-lung height down to the
   diaphragm.

Everything runs on a copy of the image whose longer side is :data:`WORK_SIDE` pixels, so the
cost is the same for any film (about 0.1 s on a CPU). All boxes are normalised xyxy of the
input image; the patient's right lung is on the image's left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cxrgraph.image.detection import RegionDetection, check_sources
from cxrgraph.image.io import ImageInputError, check_image_batch, check_image_tensor, resize_image

__all__ = ["LungFields", "LungFieldsNotFound", "find_lung_fields", "detect_from_lung_fields", "film_box", "WORK_SIDE"]

logger = logging.getLogger(__name__)

#: Longer side (pixels) of the working copy the lung fields are searched on.
WORK_SIDE = 256
# percentile ladder of the dark-area thresholds
_LEVELS = tuple(range(10, 62, 3))
# a dark area smaller than this share of the film is no lung
_MIN_AREA = 0.015
_MAX_AREA = 0.35


class LungFieldsNotFound(ImageInputError):
    """No pair of lung fields could be found: the image is probably not a frontal chest film."""


@dataclass(frozen=True)
class LungFields:
    """The lung fields of one frontal chest film (normalised xyxy boxes of the input image).

    Attributes:
        right: ``[4]`` box of the right lung field (patient's right, image left).
        left: ``[4]`` box of the left lung field.
        heart: ``[4]`` box of the cardiac silhouette.
        midline: Column of the mediastinal midline (normalised).
        film: ``[4]`` box of the film once borders and what sits in them are cropped.
        confidence: How clearly the film shows two lung fields, in ``[0, 1]``.
        mask: ``uint8 [h, w]`` label map on the working copy (1 right lung, 2 left lung).
    """

    right: torch.Tensor
    left: torch.Tensor
    heart: torch.Tensor
    midline: float
    film: torch.Tensor
    confidence: float
    mask: torch.Tensor

    @property
    def thorax(self) -> torch.Tensor:
        """The union box of the two lung fields."""
        return torch.cat([torch.minimum(self.right[:2], self.left[:2]), torch.maximum(self.right[2:], self.left[2:])])

    def to_dict(self) -> dict[str, Any]:
        return {
            "right_lung": [round(float(v), 6) for v in self.right],
            "left_lung": [round(float(v), 6) for v in self.left],
            "cardiac_silhouette": [round(float(v), 6) for v in self.heart],
            "midline": round(self.midline, 6),
            "film": [round(float(v), 6) for v in self.film],
            "confidence": round(self.confidence, 4),
        }


# ---------------------------------------------------------------------------- film
def film_box(x: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixel box of the film inside flat black or white padding.

    A pixel is padding when its 5 x 5 neighbourhood is flat and near black or white; rows and
    columns that are mostly padding are cropped, so a label printed in the padding goes too.
    """
    from scipy import ndimage

    h, w = x.shape
    mean = ndimage.uniform_filter(x, 5)
    var = ndimage.uniform_filter(x * x, 5) - mean**2
    pad = (var < 0.004**2) & ((x < 0.04) | (x > 0.96))
    rows = np.flatnonzero((~pad).mean(axis=1) > 0.5)
    cols = np.flatnonzero((~pad).mean(axis=0) > 0.5)
    if rows.size < 0.3 * h or cols.size < 0.3 * w:
        return 0, 0, w, h
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _paint_over_marks(x: np.ndarray) -> np.ndarray:
    """Replace small saturated marks (side markers, burned-in text) by their surroundings."""
    from scipy import ndimage

    marks = x >= 0.985 * float(x.max())
    if not marks.any() or marks.mean() > 0.05:
        return x  # a large saturated area is anatomy (or exposure), not a label
    labels, n = ndimage.label(ndimage.binary_dilation(marks, iterations=1))
    sizes = ndimage.sum(np.ones_like(x), labels, np.arange(1, n + 1))
    small = np.zeros(n + 1, dtype=bool)
    small[1:] = sizes <= 0.004 * x.size
    paint = small[labels]
    if not paint.any():
        return x
    out = x.copy()
    out[paint] = ndimage.median_filter(x, size=9)[paint]
    return out


# ---------------------------------------------------------------------------- candidates
@dataclass
class _Area:
    mask: np.ndarray
    box: tuple[float, float, float, float]  # normalised to the film crop
    area: float


def _areas(x: np.ndarray, level: float, strict: bool) -> list[_Area]:
    from scipy import ndimage

    h, w = x.shape
    dark = ndimage.binary_opening(x < level, iterations=2)
    labels, n = ndimage.label(dark)
    if n == 0:
        return []
    sizes = ndimage.sum(dark, labels, np.arange(1, n + 1))
    out = []
    for i in np.flatnonzero(sizes >= _MIN_AREA * h * w):
        comp = labels == i + 1
        rows = np.flatnonzero(comp.any(axis=1))
        cols = np.flatnonzero(comp.any(axis=0))
        # share of each film edge the area runs along: outside air hugs the edge
        contact = (
            comp[0].sum() / cols.size,
            comp[-1].sum() / cols.size,
            comp[:, 0].sum() / rows.size,
            comp[:, -1].sum() / rows.size,
        )
        touching = sum(c > 0 for c in contact)
        if (strict and touching) or touching >= 2 or max(contact) > 0.5:
            continue
        box = (cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h)
        area = float(sizes[i]) / (h * w)
        fill = area / ((box[2] - box[0]) * (box[3] - box[1]))
        if fill < 0.25 or area > _MAX_AREA:
            continue
        out.append(_Area(comp, box, area))
    return out


def _pair_ok(r: _Area, lt: _Area, aspect: float) -> bool:
    """Could ``r`` (image left) and ``lt`` (image right) be the two lung fields?"""
    rb, lb = r.box, lt.box
    if rb[2] > lb[0] + 0.01:
        return False  # side by side, the right lung on the image left
    hr, hl = rb[3] - rb[1], lb[3] - lb[1]
    wr, wl = rb[2] - rb[0], lb[2] - lb[0]
    overlap = min(rb[3], lb[3]) - max(rb[1], lb[1])
    if overlap < 0.5 * min(hr, hl) or min(hr, hl) < 0.2:
        return False
    if max(wr, wl) > 0.55 or min(wr, wl) < 0.06 or lb[0] - rb[2] > 0.4:
        return False
    # a lung field is taller than wide, and not a sliver (pixel units: aspect = h / w of the film)
    for hh, ww in ((hr, wr), (hl, wl)):
        ratio = hh * aspect / ww
        if not 0.8 <= ratio <= 4.5:
            return False
    if min(r.area, lt.area) / max(r.area, lt.area) < 0.3:
        return False
    return 0.25 < (rb[2] + lb[0]) / 2 < 0.75


def _best_pair(x: np.ndarray) -> tuple[_Area, _Area, float, bool] | None:
    """The most sharply outlined plausible pair over the threshold ladder."""
    from scipy import ndimage

    grad = ndimage.gaussian_gradient_magnitude(x, 1.0)
    aspect = x.shape[0] / x.shape[1]
    for strict in (True, False):  # areas touching the film edge only when nothing else fits
        best: tuple[float, _Area, _Area] | None = None
        for q in _LEVELS:
            areas = _areas(x, float(np.percentile(x, q)), strict)
            for r in areas:
                for lt in areas:
                    if r is lt or not _pair_ok(r, lt, aspect):
                        continue
                    both = r.mask | lt.mask
                    outline = both ^ ndimage.binary_erosion(both)
                    score = float(grad[outline].mean())
                    if best is None or score > best[0]:
                        best = (score, r, lt)
        if best is not None:
            return best[1], best[2], best[0], strict
    return None


def _step_beyond(x: np.ndarray, mask: np.ndarray, side: str, direction: str) -> int:
    """Pixel row (``"down"``) or column (``"out"``) of the strongest dark-to-bright step beyond a lung area.

    Each column (for the diaphragm) or row (for the chest wall) of the lung's outer part is
    searched from the area's middle to a little past its edge; the 80th percentile of the
    strong steps is taken, so the costophrenic angle (the lowest, most lateral point) counts.
    """
    from scipy import ndimage

    h, w = x.shape
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ch, cw = r1 - r0, c1 - c0
    if direction == "down":
        outer = max(1, int(0.7 * cw))
        lines = range(c0, c0 + outer) if side == "right" else range(c1 - outer, c1)
        start, stop = r0 + ch // 2, min(h - 1, r1 + int(0.4 * ch))
        prof = ndimage.gaussian_filter1d(x, 2.0, axis=0)[start : stop + 1].T
        prof = prof[list(lines)]
    else:
        lines = range(r0 + int(0.3 * ch), r1)
        if side == "right":  # outwards = towards column 0
            start, stop = max(0, c0 - int(0.3 * cw)), c0 + cw // 2
            prof = ndimage.gaussian_filter1d(x, 2.0, axis=1)[list(lines), start : stop + 1][:, ::-1]
        else:
            start, stop = c1 - cw // 2, min(w - 1, c1 + int(0.3 * cw))
            prof = ndimage.gaussian_filter1d(x, 2.0, axis=1)[list(lines), start : stop + 1]
    if prof.shape[1] < 3 or prof.shape[0] == 0:
        return r1 if direction == "down" else (c0 if side == "right" else c1)
    steps = np.diff(prof, axis=1)
    where = steps.argmax(axis=1) + 1
    strength = steps.max(axis=1)
    offset = float(np.percentile(where[strength > 0.4 * strength.max()], 80))
    if direction == "down":
        return max(r1, round(start + offset))
    if side == "right":
        return min(c0, round(stop - offset))
    return max(c1, round(start + offset))


def _heart(right: np.ndarray, left: np.ndarray, rbox: list[int], lbox: list[int]) -> tuple[list[float], float]:
    """Cardiac silhouette box (pixels) from the lungs' medial edges, and the midline column.

    The left heart border is the left lung's medial edge in the lower lung (its lateral-most
    stretch, 85th percentile); the right border the right lung's medial edge over the upper
    half of the heart, kept where a heart can be: the heart lies mostly left of the midline,
    so its right border sits between 0.2 and 0.6 times the left border's distance from it.
    """
    top = round((rbox[1] + lbox[1]) / 2 + 0.5 * ((rbox[3] - rbox[1]) + (lbox[3] - lbox[1])) / 2)
    bottom = max(top + 2, round((rbox[3] + lbox[3]) / 2))
    # the upper mediastinum (trachea, spine) lies midway between the upper lungs' medial edges
    lung_top = max(rbox[1], lbox[1])
    upper = range(lung_top, max(lung_top + 1, top - int(0.15 * (bottom - lung_top))))
    mids = [
        (np.flatnonzero(right[y])[-1] + 1 + np.flatnonzero(left[y])[0]) / 2
        for y in upper
        if right[y].any() and left[y].any()
    ]
    midline = float(np.median(mids)) if mids else (rbox[2] + lbox[0]) / 2
    l_med = [int(np.flatnonzero(left[y])[0]) for y in range(top, bottom) if left[y].any()]
    half = top + (bottom - top) // 2
    r_med = [int(np.flatnonzero(right[y])[-1]) + 1 for y in range(top, half) if right[y].any()]
    x1 = float(np.percentile(l_med, 85)) if l_med else lbox[0] + 0.3 * (lbox[2] - lbox[0])
    reach = max(x1 - midline, 1.0)
    x0 = float(np.median(r_med)) if r_med else midline - 0.5 * reach
    x0 = float(np.clip(x0, midline - 0.6 * reach, midline - 0.2 * reach))
    return [x0, float(top), x1, float(bottom)], midline


# ---------------------------------------------------------------------------- main
def find_lung_fields(image: torch.Tensor, name: str = "image") -> LungFields:
    """Find the lung fields, the cardiac silhouette and the midline of a frontal chest film.

    Args:
        image: ``float32 [1, H, W]`` in ``[0, 1]``, air dark (see :mod:`cxrgraph.image.io`).
        name: How errors name the image (e.g. its file).

    Returns:
        The :class:`LungFields`, boxes normalised to the input image.

    Raises:
        LungFieldsNotFound: No pair of lung fields can be found (not a frontal chest film, a
            blank or unusual exposure): the caller should skip and record the image, not box it.
    """
    from scipy import ndimage

    check_image_tensor(image, name)
    height, width = int(image.shape[-2]), int(image.shape[-1])
    scale = WORK_SIDE / max(height, width)
    fh, fw = max(16, round(height * scale)), max(16, round(width * scale))
    full = resize_image(image, (fh, fw))[0].numpy().astype(np.float64)
    fx0, fy0, fx1, fy1 = film_box(full)
    x = _paint_over_marks(full[fy0:fy1, fx0:fx1])
    lo, hi = np.percentile(x, [1, 99])
    if hi - lo < 1e-3:
        raise LungFieldsNotFound(name, "lung fields not found: the film has no contrast")
    x = ndimage.gaussian_filter(np.clip((x - lo) / (hi - lo), 0.0, 1.0), 1.0)
    h, w = x.shape
    found = _best_pair(x)
    if found is None:
        raise LungFieldsNotFound(
            name, "lung fields not found: no two dark areas left and right of a brighter mediastinum"
        )
    right, left, sharpness, strict = found
    boxes = []
    for area, side in ((right, "right"), (left, "left")):
        rows = np.flatnonzero(area.mask.any(axis=1))
        cols = np.flatnonzero(area.mask.any(axis=0))
        box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
        box[3] = _step_beyond(x, area.mask, side, "down")
        if side == "right":
            box[0] = _step_beyond(x, area.mask, side, "out")
        else:
            box[2] = _step_beyond(x, area.mask, side, "out")
        boxes.append(box)
    heart, midline = _heart(right.mask, left.mask, boxes[0], boxes[1])

    # confidence: the mediastinum must be clearly brighter than the lungs, the two fields alike
    rows = slice(max(boxes[0][1], boxes[1][1]), min(boxes[0][3], boxes[1][3]))
    between = x[rows, boxes[0][2] : max(boxes[0][2] + 1, boxes[1][0])]
    lungs = x[right.mask | left.mask]
    margin = float(np.median(between) - np.median(lungs)) if between.size else 0.0
    if margin < 0.05:
        raise LungFieldsNotFound(name, "lung fields not found: no mediastinum brighter than the dark areas")
    hr, hl = boxes[0][3] - boxes[0][1], boxes[1][3] - boxes[1][1]
    alike = min(hr, hl) / max(hr, hl) * (min(right.area, left.area) / max(right.area, left.area)) ** 0.5
    confidence = min(1.0, margin / 0.25) * (0.5 + 0.5 * alike) * min(1.0, sharpness / 0.03) * (1.0 if strict else 0.8)

    def unit(b: list[float] | list[int]) -> torch.Tensor:
        px = torch.tensor([b[0] + fx0, b[1] + fy0, b[2] + fx0, b[3] + fy0], dtype=torch.float32)
        return (px / torch.tensor([fw, fh, fw, fh], dtype=torch.float32)).clamp(0.0, 1.0)

    label = np.zeros((fh, fw), dtype=np.uint8)
    label[fy0:fy1, fx0:fx1][ndimage.binary_fill_holes(right.mask)] = 1
    label[fy0:fy1, fx0:fx1][ndimage.binary_fill_holes(left.mask)] = 2
    return LungFields(
        right=unit(boxes[0]),
        left=unit(boxes[1]),
        heart=unit(heart),
        midline=float((midline + fx0) / fw),
        film=unit([0, 0, w, h]),
        confidence=round(float(np.clip(confidence, 0.0, 1.0)), 4),
        mask=torch.from_numpy(label),
    )


def detect_from_lung_fields(
    images: Sequence[torch.Tensor] | torch.Tensor,
    sources: Sequence[str | None] | None,
    detector: str,
    place: Callable[[LungFields], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> list[RegionDetection]:
    """Run a detector that places regions from each film's lung fields.

    Args:
        images: One ``[1, H, W]`` image or a list.
        sources: Names of the images (one each) or ``None``.
        detector: The detector's name, stored in each detection.
        place: ``fields -> (boxes [29, 4], scores [29], present [29])``.

    Returns:
        One detection per image; a film without lung fields gets an empty one whose
        ``problem`` says why.
    """
    checked = check_image_batch(images)
    names = check_sources(sources, len(checked))
    out = []
    for i, image in enumerate(checked):
        source = names[i]
        size = (int(image.size(-2)), int(image.size(-1)))
        try:
            fields = find_lung_fields(image, str(source or f"images[{i}]"))
        except LungFieldsNotFound as err:
            logger.warning("%s", err)
            out.append(RegionDetection.empty(size, source, detector, problem=err.problem))
            continue
        boxes, scores, present = place(fields)
        out.append(RegionDetection(boxes, scores, present, size, source, detector, fields.confidence))
    return out
