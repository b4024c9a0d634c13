"""``LungFieldDetector``: the 29 regions placed around the lung fields a film shows, by rule.

No training and no fitted layout: :func:`~cxrgraph.image.lungs.find_lung_fields` reads the
two lung fields, the cardiac silhouette and the midline off the film, and :func:`place_regions`
places every region relative to them, following how Chest ImaGenome defines its boxes:

* **lung-side regions** in the frame of their own lung field, ``u`` from the lateral chest
  wall (0) to the mediastinal edge (1) and ``v`` from the apex (0) to the costophrenic angle
  (1): the lung zones are stacked thirds of the lung (slightly overlapping, as the zones'
  borders are drawn at ribs and the hilum rather than straight lines), the apical zone is the
  part above the clavicle, the hilum the medial middle of the lung reaching into the
  mediastinum, the costophrenic angle the lateral lower corner, the hemidiaphragm the dome
  under the lung;
* **mediastinal regions** about the midline, in units of the thoracic width (the span of
  both lung fields) and the mean lung height: the trachea runs down the midline to the carina
  at about a third of the lung height, the spine the full length of the thorax, the aortic
  arch sits at the left upper mediastinal border, the superior vena cava along the right
  upper border, down to the cavoatrial junction at the top of the right heart border;
* **heart**: the cardiac silhouette as found; the right atrium its right part; the upper
  mediastinum lies above it and the mediastinum spans both;
* the **clavicles** cross the apices from the sternal end near the midline outwards, and the
  **abdomen** lies under the diaphragm across both lungs.

Every region's score is the film's confidence times how directly the region is measured:
the lung fields themselves most, regions placed in proportion to them less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.lungs import LungFields, detect_from_lung_fields
from cxrgraph.ontology import get_ontology

__all__ = ["LungFieldDetector", "place_regions", "LUNG_FRAME_RULES", "RELIABILITY"]

#: Boxes ``(u0, v0, u1, v1)`` of the lung-side regions in their lung field's frame (u: 0 lateral
#: chest wall, 1 mediastinal edge; v: 0 apex, 1 costophrenic angle).
LUNG_FRAME_RULES: dict[str, tuple[float, float, float, float]] = {
    "lung": (0.0, 0.0, 1.0, 1.0),
    "upper lung zone": (0.0, 0.0, 1.0, 0.36),
    "mid lung zone": (0.0, 0.33, 1.0, 0.64),
    "lower lung zone": (0.0, 0.61, 1.0, 1.0),
    "hilar structures": (0.55, 0.30, 1.12, 0.58),
    "apical zone": (0.15, 0.0, 1.0, 0.17),
    "costophrenic angle": (0.0, 0.84, 0.30, 1.02),
    "hemidiaphragm": (0.0, 0.84, 1.0, 1.04),
}

#: How directly each region is measured (multiplies the film's confidence into its score).
RELIABILITY: dict[str, float] = {
    "right lung": 1.0,
    "left lung": 1.0,
    "cardiac silhouette": 0.9,
    "mediastinum": 0.85,
    "spine": 0.8,
    "abdomen": 0.8,
}
_ZONE_RELIABILITY = 0.8
_DEFAULT_RELIABILITY = 0.6


def _lung_box(lung: torch.Tensor, rule: tuple[float, float, float, float], side: str) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in lung)
    w, h = x1 - x0, y1 - y0
    u0, v0, u1, v1 = rule
    if side == "right":  # lateral is the image left
        return [x0 + u0 * w, y0 + v0 * h, x0 + u1 * w, y0 + v1 * h]
    return [x1 - u1 * w, y0 + v0 * h, x1 - u0 * w, y0 + v1 * h]


def place_regions(fields: LungFields) -> torch.Tensor:
    """``[29, 4]`` normalised xyxy boxes of the regions, placed from the film's lung fields."""
    onto = get_ontology()
    r, lt, heart, mid = fields.right, fields.left, fields.heart, fields.midline
    width = float(lt[2] - r[0])  # thoracic width
    top = float(r[1] + lt[1]) / 2
    bottom = float(r[3] + lt[3]) / 2
    height = bottom - top
    r_med, l_med = float(r[2]), float(lt[0])
    hx0, hy0, hx1, hy1 = (float(v) for v in heart)
    hw, hh = hx1 - hx0, hy1 - hy0
    boxes: dict[str, list[float]] = {}
    for side, lung in (("right", r), ("left", lt)):
        for part, rule in LUNG_FRAME_RULES.items():
            boxes[f"{side} {part}"] = _lung_box(lung, rule, side)
    # clavicles: from the sternal end beside the midline out past the chest wall, across the apex
    boxes["right clavicle"] = [
        float(r[0]) - 0.06 * width,
        float(r[1]) - 0.03 * height,
        mid - 0.02 * width,
        float(r[1]) + 0.14 * height,
    ]
    boxes["left clavicle"] = [
        mid + 0.02 * width,
        float(lt[1]) - 0.03 * height,
        float(lt[2]) + 0.06 * width,
        float(lt[1]) + 0.14 * height,
    ]
    carina = top + 0.32 * height
    boxes["trachea"] = [mid - 0.04 * width, top - 0.12 * height, mid + 0.04 * width, carina + 0.02 * height]
    boxes["carina"] = [mid - 0.06 * width, carina - 0.05 * height, mid + 0.06 * width, carina + 0.05 * height]
    boxes["spine"] = [mid - 0.055 * width, top - 0.12 * height, mid + 0.055 * width, bottom + 0.06 * height]
    boxes["aortic arch"] = [l_med - 0.09 * width, top + 0.12 * height, l_med + 0.03 * width, top + 0.28 * height]
    boxes["svc"] = [r_med - 0.05 * width, top + 0.08 * height, mid - 0.015 * width, top + 0.45 * height]
    boxes["upper mediastinum"] = [r_med - 0.03 * width, top - 0.08 * height, l_med + 0.03 * width, hy0]
    boxes["mediastinum"] = [min(r_med, hx0), top - 0.08 * height, max(l_med, hx1), hy1]
    boxes["cardiac silhouette"] = [hx0, hy0, hx1, hy1]
    boxes["cavoatrial junction"] = [hx0 - 0.02 * width, hy0 - 0.08 * height, hx0 + 0.2 * hw, hy0 + 0.06 * height]
    boxes["right atrium"] = [hx0, hy0 + 0.2 * hh, hx0 + 0.45 * hw, hy1]
    boxes["abdomen"] = [
        float(r[0]),
        min(float(r[3]), float(lt[3])) - 0.08 * height,
        float(lt[2]),
        bottom + 0.35 * height,
    ]
    out = torch.tensor([boxes[reg.name] for reg in onto.regions], dtype=torch.float32)
    return out.clamp(0.0, 1.0)


def _reliability() -> torch.Tensor:
    onto = get_ontology()
    values = []
    for reg in onto.regions:
        if reg.name in RELIABILITY:
            values.append(RELIABILITY[reg.name])
        elif "zone" in reg.name:
            values.append(_ZONE_RELIABILITY)
        else:
            values.append(_DEFAULT_RELIABILITY)
    return torch.tensor(values)


class LungFieldDetector:
    """Place the 29 regions around the lung fields each film shows; no training, no fitted data.

    A film whose lung fields cannot be found gets a detection with no region present, a
    confidence of 0 and the reason in ``problem`` (batch jobs skip and record it) rather than
    a guessed layout.

    Example:
        >>> det = LungFieldDetector()
        >>> out = det.detect(read_image("chest.dcm"))  # one image or a list
        >>> out[0].confidence, out[0].problem
    """

    name = "LungFieldDetector"

    def __repr__(self) -> str:
        return f"{self.name}(rules=Chest ImaGenome region definitions, fitted_on=none)"

    @property
    def meta(self) -> dict[str, Any]:
        """Provenance: nothing was fitted; the rules read each film."""
        return {"data": "none: rules placed around each film's lung fields", "synthetic": False}

    def detect(
        self,
        images: Sequence[torch.Tensor] | torch.Tensor,
        sources: Sequence[str | None] | None = None,
    ) -> list[RegionDetection]:
        """Find the lung fields and place the regions in each image (one ``[1, H, W]`` or a list)."""
        reliability = _reliability()

        def place(fields: LungFields) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            boxes = place_regions(fields)
            present = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            return boxes, reliability * fields.confidence, present

        return detect_from_lung_fields(images, sources, self.name, place)
