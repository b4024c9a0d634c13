"""Region boxes of a Chest ImaGenome scene graph: the one reader every part of cxrgraph uses.

Each ``objects[]`` entry of a scene graph holds a box twice: ``x1, y1, x2, y2`` in the data
set's 224 x 224 frame (the image resized to 224 x 224) and ``original_x1 .. original_y2`` in the
original image's pixels. ``width``/``height`` and ``original_width``/``original_height`` are the
box's own sizes, not the image's, so the pixel corners cannot be normalised from the file alone.

The convention, for the detector, the alignment model and the data set readers alike: a box is
``x1..y2 / 224``, clipped into ``[0, 1]``. Only when those corners are missing or unreadable are
the pixel corners used, divided by the image size when the caller knows it (read from the image
file). A box that cannot be read either way, or has zero area after clipping, means the region
is absent (a NaN row); unreadable ones are reported so that they are not lost silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from cxrgraph.datasets.errors import DatasetFormatError
from cxrgraph.ontology import get_ontology, normalize_term

__all__ = ["FRAME", "imagenome_box", "scene_graph_boxes"]

#: Side of the square frame of the ``x1..y2`` corners.
FRAME = 224.0

_CORNERS = ("x1", "y1", "x2", "y2")
_PIXEL_CORNERS = ("original_x1", "original_y1", "original_x2", "original_y2")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def imagenome_box(
    obj: Mapping[str, Any], width: float | None = None, height: float | None = None
) -> torch.Tensor | None:
    """One ``objects[]`` entry (or gold CSV row) as a normalised xyxy box, clipped into the image.

    Args:
        obj: The entry, with ``x1..y2`` (224 frame) and/or ``original_x1..original_y2`` (pixels).
        width: Width of the image in pixels, for entries with pixel corners only.
        height: Height of the image in pixels.

    Returns:
        ``[4]`` float tensor, or ``None`` when no corners can be read. A zero-area box comes
        back as it is (``x2 <= x1`` or ``y2 <= y1``); callers treat it as an absent region.
    """
    corners = [_number(obj.get(k)) for k in _CORNERS]
    if not any(math.isnan(v) for v in corners):
        box = [v / FRAME for v in corners]
    else:
        pixels = [_number(obj.get(k)) for k in _PIXEL_CORNERS]
        if any(math.isnan(v) for v in pixels) or not width or not height or width <= 0 or height <= 0:
            return None
        box = [pixels[0] / width, pixels[1] / height, pixels[2] / width, pixels[3] / height]
    return torch.tensor(box, dtype=torch.float32).clamp(0.0, 1.0)


def scene_graph_boxes(
    doc: Mapping[str, Any],
    source: str = "<scene graph>",
    *,
    width: float | None = None,
    height: float | None = None,
    unreadable: list[str] | None = None,
    extra: list[str] | None = None,
) -> torch.Tensor:
    """``[29, 4]`` normalised boxes of a scene graph (NaN rows: absent regions).

    Args:
        doc: The decoded scene graph.
        source: Where it came from, for error messages.
        width: Image width in pixels (used only for entries without ``x1..y2``).
        height: Image height in pixels.
        unreadable: Receives the names of regions whose box could not be read.
        extra: Receives region names outside the fixed 29 (the silver pipeline emits a few).

    Raises:
        DatasetFormatError: ``objects`` is not a list of objects.
    """
    onto = get_ontology()
    boxes = torch.full((onto.num_regions, 4), math.nan)
    objects = doc.get("objects") or []
    if not isinstance(objects, list):
        raise DatasetFormatError(source, f"'objects' must be a list, got {type(objects).__name__}")
    for i, obj in enumerate(objects):
        if not isinstance(obj, Mapping):
            raise DatasetFormatError(source, f"objects[{i}] must be an object, got {type(obj).__name__} ({obj!r:.40})")
        name = normalize_term(str(obj.get("bbox_name", "")))
        if not onto.has_region(name) or onto.region(name).name != name:
            if extra is not None:
                extra.append(name)
            continue
        box = imagenome_box(obj, width, height)
        if box is None:
            if unreadable is not None:
                unreadable.append(name)
            continue
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # zero area (after clipping): the region is absent
        boxes[onto.region_index(name)] = box
    return boxes
