"""Phantom anatomy: per-patient chest geometry, its pose on the film, and the 29 region boxes.

Every structure is defined in a *canonical* chest frame (``a`` to the image right, ``b`` down,
both in ``[0, 1]``, midline at ``a = 0.5``) and drawn on the pixel grid through a similarity
transform (scale, rotation, shift) that varies per study. Region masks are evaluated on the
same pixel grid the image is drawn on, so the region boxes are the drawn geometry, clipped to
the image by construction. Parent masks are unions of their children's masks (and children are
intersections with their parent's mask), so each box lies inside its ``part_of`` parent's box
exactly, with no tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from cxrgraph.ontology import get_ontology

__all__ = ["PatientAnatomy", "StudyPose", "ChestFields", "region_masks", "region_boxes", "boxes_from_masks"]

_F = np.float32


@dataclass(frozen=True)
class PatientAnatomy:
    """Body habitus of one phantom patient (canonical frame units), fixed across their studies.

    Attributes:
        half_width: Distance from the midline to the lateral lung edge (half the thoracic width).
        apex_y: Height of the lung apices.
        lung_height: Apex to costophrenic angle at full inspiration.
        dome_rise: How far the right hemidiaphragm dome rises above the costophrenic angles.
        left_dome_drop: How much lower the left dome sits than the right.
        medial_gap: Half-width of the mediastinal strip between the lungs.
        ctr: Cardiothoracic ratio of the healthy heart.
        heart_height: Vertical semi-axis of the heart.
        knob_radius: Radius of the aortic knob.
        rib_phase: Offset of the rib pattern.
        vessel_twist: Shape parameters of the pulmonary vessel pattern.
        sex: ``"M"`` or ``"F"``.
        age: Age in years.
    """

    half_width: float
    apex_y: float
    lung_height: float
    dome_rise: float
    left_dome_drop: float
    medial_gap: float
    ctr: float
    heart_height: float
    knob_radius: float
    rib_phase: float
    vessel_twist: float
    vessel_count: int
    sex: str
    age: int

    @classmethod
    def sample(cls, rng: np.random.Generator) -> PatientAnatomy:
        """Draw a plausible adult chest."""
        return cls(
            half_width=float(rng.uniform(0.33, 0.38)),
            apex_y=float(rng.uniform(0.12, 0.16)),
            lung_height=float(rng.uniform(0.54, 0.60)),
            dome_rise=float(rng.uniform(0.06, 0.085)),
            left_dome_drop=float(rng.uniform(0.01, 0.03)),
            medial_gap=float(rng.uniform(0.045, 0.06)),
            ctr=float(rng.uniform(0.38, 0.46)),
            heart_height=float(rng.uniform(0.11, 0.135)),
            knob_radius=float(rng.uniform(0.026, 0.034)),
            rib_phase=float(rng.uniform(0.0, 1.0)),
            vessel_twist=float(rng.uniform(1.5, 3.0)),
            vessel_count=int(rng.integers(13, 19)),
            sex=str(rng.choice(["M", "F"])),
            age=int(rng.integers(25, 90)),
        )


@dataclass(frozen=True)
class StudyPose:
    """How one study shows the patient: positioning, inspiration, exposure and noise.

    Attributes:
        shift: Canonical centre offset on the film ``(dx, dy)``.
        scale: Magnification of the canonical frame.
        rotation: In-plane rotation in radians.
        inspiration: Multiplier of the lung height (deeper breath -> longer lungs).
        gain, bias, gamma: Exposure curve applied to the attenuation image.
        noise: Standard deviation of the quantum noise.
    """

    shift: tuple[float, float]
    scale: float
    rotation: float
    inspiration: float
    gain: float
    bias: float
    gamma: float
    noise: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> StudyPose:
        return cls(
            shift=(float(rng.uniform(-0.025, 0.025)), float(rng.uniform(-0.02, 0.03))),
            scale=float(rng.uniform(0.93, 1.04)),
            rotation=float(rng.uniform(-0.05, 0.05)),
            inspiration=float(rng.uniform(0.92, 1.05)),
            gain=float(rng.uniform(0.95, 1.12)),
            bias=float(rng.uniform(-0.04, 0.03)),
            gamma=float(rng.uniform(0.85, 1.15)),
            noise=float(rng.uniform(0.008, 0.02)),
        )

    @classmethod
    def neutral(cls) -> StudyPose:
        """Centred, unrotated, average exposure: useful for tests and figures."""
        return cls((0.0, 0.0), 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0)


@lru_cache(maxsize=8)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in ``[0, 1]`` (cached per size; read-only)."""
    c = ((np.arange(size, dtype=_F) + 0.5) / size).astype(_F)
    x = np.broadcast_to(c[None, :], (size, size))
    y = np.broadcast_to(c[:, None], (size, size))
    return x, y


def _smooth(t: np.ndarray) -> np.ndarray:
    """Smoothstep of ``t`` clipped to ``[0, 1]``: a cheap anti-aliased edge."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class ChestFields:
    """Canonical coordinates and the geometric fields of one study on a pixel grid.

    Holds the arrays every drawing and region step reads (canonical ``a``/``b``, distance to
    the midline ``s``, side, lung margin ...), computed once per study.

    Args:
        anatomy: The patient's habitus.
        pose: The study's pose.
        size: Image side in pixels.
        ctr: Cardiothoracic ratio to draw (cardiomegaly raises it above the patient's own).
    """

    def __init__(self, anatomy: PatientAnatomy, pose: StudyPose, size: int, ctr: float | None = None) -> None:
        self.anatomy = anatomy
        self.pose = pose
        self.size = int(size)
        x, y = _pixel_grid(self.size)
        cos, sin = math.cos(pose.rotation), math.sin(pose.rotation)
        px = (x - (0.5 + pose.shift[0])) / pose.scale
        py = (y - (0.5 + pose.shift[1])) / pose.scale
        # inverse rotation: image -> canonical
        self.a = (cos * px + sin * py + 0.5).astype(_F)
        self.b = (-sin * px + cos * py + 0.5).astype(_F)
        self.right = self.a < 0.5  # patient's right is on the image left
        self.s = np.abs(self.a - _F(0.5))
        #: canonical length of one pixel, for anti-aliased edges
        self.px = _F(1.0 / (self.size * pose.scale))

        an = anatomy
        self.W = an.half_width
        self.ya = an.apex_y
        self.H = an.lung_height * pose.inspiration
        self.ycp = self.ya + self.H
        self.dome_r = self.ycp - an.dome_rise
        self.dome_l = self.dome_r + an.left_dome_drop
        self.smed = an.medial_gap
        self.ctr = float(an.ctr if ctr is None else ctr)

        W, s, b = self.W, self.s, self.b
        dome = np.where(self.right, _F(self.dome_r), _F(self.dome_l))
        s_dome = 0.42 * W
        kd = (self.ycp - dome) / (W - s_dome) ** 2
        #: height of the hemidiaphragm under each pixel column
        self.diaphragm = (dome + kd * (s - s_dome) ** 2).astype(_F)
        s_apc = 0.42 * W
        apex_top = self.ya + 8.0 * (s - s_apc) ** 2
        b_wide = self.ya + 0.33 * self.H
        lateral = W - 3.2 * np.maximum(_F(0.0), _F(b_wide) - b) ** 2
        #: signed margin (canonical units) inside the lung outline; > 0 inside a lung
        #: depth inside the lung from the chest wall and apex only (where a pneumothorax collects)
        self.wall_margin = np.minimum(b - apex_top, lateral - s).astype(_F)
        self.lung_margin = np.minimum(self.wall_margin, np.minimum(self.diaphragm - b, s - _F(self.smed))).astype(_F)
        self.lung = self.lung_margin > 0

        # heart: an ellipse shifted to the patient's left, its base on the left dome
        self.hrx = self.ctr * W
        self.hry = an.heart_height * (1.0 + 0.6 * max(0.0, self.ctr - 0.5))
        self.hcx = 0.5 + 0.3 * self.hrx
        self.hcy = self.dome_l + 0.012 - 0.8 * self.hry
        # flatter below the centre so the heart sits on the diaphragm instead of floating above it
        dyh = (b - _F(self.hcy)) / _F(self.hry)
        dyh = np.where(dyh > 0, dyh * _F(0.55), dyh * _F(0.8))
        # the right heart border bulges less than the left ventricle: 0.8 vs 1.2 semi-axes,
        # which keep the widest row at 2 * hrx, i.e. the cardiothoracic ratio
        dxh = self.a - _F(self.hcx)
        dxh = dxh / np.where(dxh < 0, _F(0.8 * self.hrx), _F(1.2 * self.hrx))
        self.heart_r2 = (dxh**2 + dyh**2).astype(_F)
        self.heart = self.heart_r2 < 1.0

        # airway
        self.carina_y = self.ya + 0.30 * self.H
        self.trachea_top = 0.03
        self.trachea_w = 0.018
        self.trachea = (np.abs(self.a - _F(0.5)) < self.trachea_w) & (b > self.trachea_top) & (b < self.carina_y)
        # aortic knob to the patient's left of the trachea
        self.knob_c = (0.5 + 0.055 + an.knob_radius * 0.6, self.ya + 0.17 * self.H)
        self.knob = (self.a - _F(self.knob_c[0])) ** 2 + (b - _F(self.knob_c[1])) ** 2 < an.knob_radius**2
        # mediastinal strip from the thoracic inlet to the heart
        self.med_top = self.ya - 0.02
        self.med_half = self.smed + 0.004
        # it widens below the carina into the heart
        flare_top = 0.5 * (self.carina_y + self.hcy)
        flare = 0.15 * self.hrx / max(self.hcy - flare_top, 1e-3)
        self.med_width = (self.med_half + flare * np.clip(b - _F(flare_top), 0.0, None)).astype(_F)
        self.med_strip = (s < self.med_width) & (b > self.med_top) & (b < self.hcy)
        # body outline: neck, shoulders, chest wall
        neck = 0.10
        wall = W + 0.075
        t = np.clip((b - 0.02) / 0.10, 0.0, 1.0)
        body_half = neck + (wall + 0.06 - neck) * (t * t * (3 - 2 * t))
        body_half = np.where(b > 0.12, wall + 0.06 - 0.06 * np.clip((b - 0.12) / 0.5, 0, 1), body_half)
        self.body_margin = (body_half - s).astype(_F)
        self.body = self.body_margin > 0
        # hilum centres per side (canonical a, b)
        self.hilum_b = self.ya + 0.42 * self.H
        self.hilum_s = self.smed + 0.055

    # ------------------------------------------------------------------ helpers
    def soft(self, margin: np.ndarray, width_px: float = 1.2) -> np.ndarray:
        """Anti-aliased indicator of ``margin > 0`` (margin in canonical units): a linear ramp
        ``width_px`` pixels wide, which is all a soft edge needs and half the cost of smoothstep."""
        out = margin * _F(1.0 / (self.px * width_px))
        out += _F(0.5)
        return np.clip(out, 0.0, 1.0, out=out)

    @cached_property
    def clavicle_margin(self) -> np.ndarray:
        """Signed margin inside the clavicles (computed once per study)."""
        return _clavicle_margin(self)

    def zone_bounds(self, zone: str) -> tuple[float, float]:
        """Canonical ``(b_top, b_bottom)`` of a lung zone (upper / mid / lower / apical)."""
        ya, H = self.ya, self.H
        return {
            "upper": (ya - 0.05, ya + 0.34 * H),
            "mid": (ya + 0.34 * H, ya + 0.62 * H),
            "lower": (ya + 0.62 * H, ya + H + 0.1),
            "apical": (ya - 0.05, ya + 0.13 * H),
        }[zone]

    def zone_centre(self, side: str, zone: str, u: float = 0.5, v: float = 0.5) -> tuple[float, float]:
        """Canonical ``(a, b)`` of a point inside a lung zone; ``u`` lateral, ``v`` caudal in [0, 1]."""
        top, bottom = self.zone_bounds(zone)
        if zone == "lower":
            bottom = self.dome_r if side == "right" else self.dome_l
        top = max(top, self.ya + 0.08 * self.H)
        b = top + (0.3 + 0.4 * v) * (bottom - top)
        s = self.smed + (0.35 + 0.35 * u) * (self.W - self.smed)
        a = 0.5 - s if side == "right" else 0.5 + s
        return a, b

    def to_pixels(self, a: float | np.ndarray, b: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical -> pixel coordinates (column, row) as floats."""
        p = self.pose
        cos, sin = math.cos(p.rotation), math.sin(p.rotation)
        qa, qb = np.asarray(a, dtype=np.float64) - 0.5, np.asarray(b, dtype=np.float64) - 0.5
        x = (cos * qa - sin * qb) * p.scale + 0.5 + p.shift[0]
        y = (sin * qa + cos * qb) * p.scale + 0.5 + p.shift[1]
        return x * self.size, y * self.size

    def window(self, a0: float, a1: float, b0: float, b1: float) -> tuple[slice, slice]:
        """Pixel ``(rows, cols)`` slices covering the canonical box ``[a0, a1] x [b0, b1]``.

        Lets drawing code evaluate costly fields only where a structure can be.
        """
        xs, ys = self.to_pixels([a0, a1, a0, a1], [b0, b0, b1, b1])
        n = self.size
        x0, x1 = max(0, int(np.floor(xs.min())) - 2), min(n, int(np.ceil(xs.max())) + 2)
        y0, y1 = max(0, int(np.floor(ys.min())) - 2), min(n, int(np.ceil(ys.max())) + 2)
        return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))

    def with_ctr(self, ctr: float) -> ChestFields:
        """The same study with another cardiothoracic ratio (recomputes every field)."""
        return ChestFields(self.anatomy, self.pose, self.size, ctr=ctr)


def region_masks(f: ChestFields) -> dict[str, np.ndarray]:
    """Boolean masks of the 29 regions on the study's pixel grid (ontology names)."""
    a, b, s, right = f.a, f.b, f.s, f.right
    W, H, ya = f.W, f.H, f.ya
    masks: dict[str, np.ndarray] = {}
    for side, sel in (("right", right), ("left", ~right)):
        lung = f.lung & sel
        zones = {z: lung & (b >= f.zone_bounds(z)[0]) & (b < f.zone_bounds(z)[1]) for z in ("upper", "mid", "lower")}
        masks[f"{side} lung"] = lung
        masks[f"{side} upper lung zone"] = zones["upper"]
        masks[f"{side} mid lung zone"] = zones["mid"]
        masks[f"{side} lower lung zone"] = zones["lower"]
        masks[f"{side} apical zone"] = zones["upper"] & (b < f.zone_bounds("apical")[1])
        masks[f"{side} hilar structures"] = (
            lung & (s < f.smed + 0.34 * (W - f.smed)) & (b > ya + 0.30 * H) & (b < ya + 0.58 * H)
        )
        masks[f"{side} costophrenic angle"] = zones["lower"] & (s > W - 0.3 * (W - f.smed)) & (b > f.ycp - 0.14 * H)
        masks[f"{side} hemidiaphragm"] = (
            sel & (np.abs(b - f.diaphragm) < 0.012) & (s > f.smed) & (s < W + 0.004) & (b < f.ycp + 0.01)
        )
        masks[f"{side} clavicle"] = sel & (f.clavicle_margin > 0)
    trachea = f.trachea
    masks["trachea"] = trachea
    masks["carina"] = trachea & (b > f.carina_y - 0.035)
    masks["aortic arch"] = f.knob
    svc_top, svc_bottom = ya + 0.08 * H, ya + 0.42 * H
    masks["svc"] = (a > 0.5 - f.smed - 0.018) & (a < 0.5 - 0.012) & (b > svc_top) & (b < svc_bottom)
    upper_band = (s < f.med_half + 0.01) & (b > f.med_top) & (b < f.carina_y + 0.02)
    masks["upper mediastinum"] = upper_band | trachea | f.knob | masks["svc"]
    masks["cavoatrial junction"] = (
        (a > 0.5 - f.smed - 0.02) & (a < 0.5 - 0.01) & (b > svc_bottom - 0.02) & (b < svc_bottom + 0.04)
    )
    masks["cardiac silhouette"] = f.heart & (b < np.minimum(f.diaphragm, _F(f.dome_l + 0.02)) + 0.01)
    masks["right atrium"] = masks["cardiac silhouette"] & (a < f.hcx - 0.45 * f.hrx) & (b > f.hcy - 0.55 * f.hry)
    masks["mediastinum"] = (
        f.med_strip | masks["upper mediastinum"] | masks["cardiac silhouette"] | masks["cavoatrial junction"]
    )
    masks["spine"] = (s < 0.032) & (b > -0.05) & (b < 1.05)
    masks["abdomen"] = f.body & (b > f.diaphragm + 0.012) & (s < W + 0.02)
    return masks


def _clavicle_margin(f: ChestFields) -> np.ndarray:
    """Signed margin inside the clavicles: an S-curved bar from the sternum to the shoulder."""
    s, b = f.s, f.b
    y0 = f.ya - 0.01
    centre = y0 + 0.03 - 0.22 * (s - 0.06) + 0.5 * (s - 0.06) ** 2
    inside = (s > 0.045) & (s < f.W + 0.07)
    return np.where(inside, 0.013 - np.abs(b - centre), -1.0).astype(_F)


def boxes_from_masks(masks: dict[str, np.ndarray]) -> np.ndarray:
    """``[29, 4]`` pixel boxes (x1, y1, x2, y2; x2/y2 exclusive) in ontology order; NaN where empty."""
    onto = get_ontology()
    out = np.full((onto.num_regions, 4), np.nan, dtype=np.float64)
    for r in onto.regions:
        m = masks[r.name]
        cols = np.flatnonzero(m.any(axis=0))
        if cols.size == 0:
            continue
        rows = np.flatnonzero(m.any(axis=1))
        out[r.index] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out


def region_boxes(f: ChestFields) -> np.ndarray:
    """The 29 region boxes of a study in pixels (see :func:`boxes_from_masks`)."""
    return boxes_from_masks(region_masks(f))
