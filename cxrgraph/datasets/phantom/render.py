"""Vectorised drawing of phantom radiographs.

The image is built as an attenuation map (0 = air, ~0.5 = soft tissue, higher = bone and
metal) on the study's pixel grid: body, lungs with vessel markings, mediastinum, heart, aortic
knob, trachea and bronchi, spine, ribs, clavicles, hemidiaphragms and a gastric bubble; then the
lesions; then an exposure curve and quantum noise. Everything is numpy on whole arrays (no loop
over pixels); line devices are drawn inside their bounding window only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from cxrgraph.datasets.phantom.anatomy import ChestFields, _smooth
from cxrgraph.datasets.phantom.findings import Lesion

__all__ = ["render", "to_uint8", "ctr_for_level", "nodule_radius"]

_F = np.float32
_TISSUE = 0.5  # attenuation of soft tissue


@lru_cache(maxsize=8)
def _texture(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth noise textures of side ``2 * size`` (coarse, fine, medium grain), fixed per size.

    A constant seed makes the bank identical everywhere; studies crop it at random offsets.
    """
    rng = np.random.default_rng(20240601)
    n = 2 * size
    white = rng.standard_normal((3, n, n))
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    f2 = fx**2 + fy**2
    out = []
    for k, cutoff in enumerate((6.0 / size, 40.0 / size, 16.0 / size)):
        spec = np.fft.rfft2(white[k]) * np.exp(-f2 / (2 * cutoff**2))
        t = np.fft.irfft2(spec, s=(n, n))
        t = (t - t.mean()) / (t.std() + 1e-12)
        out.append(t.astype(_F))
    return out[0], out[1], out[2]


def _crop(tex: np.ndarray, size: int, rng_or_seed: np.random.Generator | int) -> np.ndarray:
    if isinstance(rng_or_seed, np.random.Generator):
        oy, ox = (int(v) for v in rng_or_seed.integers(0, size, 2))
    else:
        oy, ox = (rng_or_seed * 7919) % size, (rng_or_seed * 104729) % size
    return tex[oy : oy + size, ox : ox + size]


def ctr_for_level(level: int, jitter: float, base: float) -> float:
    """Cardiothoracic ratio drawn for a cardiomegaly level (0 -> the patient's own ``base``)."""
    if level <= 0:
        return base
    lo, hi = {1: (0.54, 0.58), 2: (0.59, 0.64), 3: (0.65, 0.72)}[min(level, 3)]
    return lo + (hi - lo) * jitter


def nodule_radius(lesion: Lesion) -> float:
    """Canonical radius of a drawn nodule (fixed by the lesion's shape seed)."""
    return 0.013 + 0.015 * ((lesion.seed // 1000) % 1000) / 1000.0


def _stroke(img: np.ndarray, f: ChestFields, pts: Sequence[tuple[float, float]], width: float, amp: float) -> None:
    """Add a polyline of canonical ``width`` and height ``amp`` to ``img`` (in place)."""
    xs, ys = f.to_pixels([p[0] for p in pts], [p[1] for p in pts])
    half = max(width * f.size * f.pose.scale / 2.0, 0.6)
    n = f.size
    x0, x1 = int(max(0, math.floor(xs.min() - half - 2))), int(min(n, math.ceil(xs.max() + half + 2)))
    y0, y1 = int(max(0, math.floor(ys.min() - half - 2))), int(min(n, math.ceil(ys.max() + half + 2)))
    if x1 <= x0 or y1 <= y0:
        return
    gx = np.arange(x0, x1, dtype=_F)[None, :] + _F(0.5)
    gy = np.arange(y0, y1, dtype=_F)[:, None] + _F(0.5)
    dmin = np.full((y1 - y0, x1 - x0), np.inf, dtype=_F)
    for i in range(len(pts) - 1):
        ax, ay, bx, by = xs[i], ys[i], xs[i + 1], ys[i + 1]
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy
        t = np.clip(((gx - ax) * dx + (gy - ay) * dy) / ll, 0.0, 1.0) if ll > 0 else np.zeros_like(dmin)
        d = np.hypot(gx - (ax + t * dx), gy - (ay + t * dy)).astype(_F)
        np.minimum(dmin, d, out=dmin)
    img[y0:y1, x0:x1] += _F(amp) * _smooth(half - dmin + 0.5)


def _box(img: np.ndarray, f: ChestFields, centre: tuple[float, float], half: tuple[float, float], amp: float) -> None:
    """Add a filled, slightly rounded rectangle (a device generator) at canonical ``centre``."""
    margin = np.minimum(half[0] - np.abs(f.a - centre[0]), half[1] - np.abs(f.b - centre[1]))
    img += _F(amp) * f.soft(margin, 1.5)


def render(
    f: ChestFields,
    lesions: Sequence[Lesion],
    rng: np.random.Generator,
    jitter: dict[tuple, float] | None = None,
) -> np.ndarray:
    """Draw one study: a float32 ``[size, size]`` image in ``[0, 1]`` (white = dense).

    Args:
        f: The study geometry (cardiomegaly is already in ``f.ctr``).
        lesions: What to draw; lesions with level 0 are skipped.
        rng: Source of this study's noise and texture offsets (drawn in a fixed order, so a
            render of the same study without a lesion has the same noise).
        jitter: Per-lesion magnitude jitter in ``[0, 1]`` keyed by :attr:`Lesion.key`.
    """
    jitter = jitter or {}
    n = f.size
    coarse_tex, fine_tex, _ = _texture(n)
    coarse = _crop(coarse_tex, n, rng)
    fine = _crop(fine_tex, n, rng)
    noise = rng.standard_normal((n, n), dtype=_F)
    a, b, s = f.a, f.b, f.s
    an = f.anatomy

    body = f.soft(f.body_margin, 3.0)
    img = (_TISSUE + 0.05 * np.clip(b - 0.3, 0.0, 0.7)) * body
    heart = f.soft((1.0 - f.heart_r2) * _F(0.5 * min(f.hrx, f.hry)), 1.5) * f.soft(f.diaphragm + 0.01 - b, 3.0)
    lung = f.soft(f.lung_margin, 1.5)
    lung_vis = lung * (1.0 - 0.82 * heart)

    img -= _F(0.36) * lung_vis

    # pulmonary vessels fanning out from each hilum, fading to the periphery; evaluated only
    # over the lungs' window, the costliest fields of the picture
    w = f.window(0.5 - f.W - 0.01, 0.5 + f.W + 0.01, f.ya - 0.02, f.ycp + 0.01)
    sw, bw = s[w], b[w]
    dx = sw - _F(f.hilum_s)
    dy = bw - _F(f.hilum_b)
    r = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    # two interfering fans with a texture-driven wobble read as branching, tapering vessels
    ves = np.cos(an.vessel_count * theta + an.vessel_twist * np.sin(23.0 * r) + 2.2 * coarse[w])
    ves2 = np.cos((an.vessel_count * 1.7) * theta + 3.0 * np.sin(41.0 * r + 1.0) + 2.5 * fine[w])
    markings = (np.clip(ves - 0.6, 0.0, None) * 2.0 + np.clip(ves2 - 0.75, 0.0, None) * 1.6) * np.exp(-r / 0.13)
    markings += 0.5 * np.exp(-(r * r) / 0.0012)
    # beyond a pneumothorax's pleural line there is no lung, hence no markings
    for les in lesions:
        if les.present and les.finding == "pneumothorax":
            markings *= 1.0 - _pneumothorax_mask(f, les, jitter.get(les.key, 0.5))[w]
    img[w] += (_F(0.075) * markings + _F(0.012) * fine[w]) * lung_vis[w]

    # mediastinum above the heart, heart, aortic knob; small structures are evaluated inside
    # their own windows only
    # the mediastinum widens from the thoracic inlet down into the heart
    w = f.window(0.5 - f.med_half - 0.2, 0.5 + f.med_half + 0.2, f.med_top - 0.02, f.hcy + 0.02)
    sw, bw = s[w], b[w]
    strip = f.soft(f.med_width[w] - sw, 2.0) * f.soft(bw - _F(f.med_top), 4.0) * f.soft(_F(f.hcy) - bw, 4.0)
    img[w] += _F(0.07) * strip
    img += _F(0.10) * heart
    kr, (ka, kb) = an.knob_radius, f.knob_c
    w = f.window(ka - kr - 0.01, ka + kr + 0.01, kb - kr - 0.01, kb + kr + 0.01)
    knob = f.soft(_F(kr) - np.hypot(a[w] - _F(ka), b[w] - _F(kb)), 1.5)
    img[w] += _F(0.07) * knob * (1.0 - heart[w])

    # spine with vertebral bodies and disc spaces
    w = f.window(0.46, 0.54, -0.2, 1.2)
    spine = f.soft(_F(0.032) - s[w], 1.5)
    discs = 0.75 + 0.25 * np.cos(2 * math.pi * (b[w] - 0.02) / 0.048)
    img[w] += _F(0.11) * spine * discs

    # posterior ribs (arched bands) and fainter anterior ribs over the thorax
    w = f.window(0.5 - f.W - 0.04, 0.5 + f.W + 0.04, f.ya - 0.06, f.ycp + 0.04)
    sw, bw = s[w], b[w]
    thorax = f.soft(_F(f.W + 0.035) - sw, 3.0) * f.soft(bw - _F(f.ya - 0.05), 4.0)
    thorax *= f.soft(_F(f.ycp + 0.03) - bw, 4.0) * f.soft(sw - 0.03, 2.0)
    spacing = f.H / 9.0
    post = (bw - 1.4 * (sw - 0.13) ** 2 + 0.07 * sw) / spacing + an.rib_phase
    ant = (bw + 0.45 * sw) / (spacing * 1.25) + an.rib_phase * 0.7
    ribs = np.clip(np.cos(2 * math.pi * post) * 1.6 - 0.6, 0.0, 1.0)
    ribs_ant = np.clip(np.cos(2 * math.pi * ant) * 1.6 - 0.9, 0.0, 1.0)
    img[w] += (_F(0.075) * ribs + _F(0.03) * ribs_ant) * thorax

    # clavicles
    w = f.window(0.5 - f.W - 0.08, 0.5 + f.W + 0.08, f.ya - 0.12, f.ya + 0.08)
    img[w] += _F(0.17) * f.soft(f.clavicle_margin[w], 1.5)

    # trachea and main bronchi (air columns)
    w = f.window(0.5 - f.trachea_w - 0.01, 0.5 + f.trachea_w + 0.01, f.trachea_top - 0.01, f.carina_y + 0.01)
    aw, bw = a[w], b[w]
    tr = f.soft(_F(f.trachea_w) - np.abs(aw - 0.5), 1.5) * f.soft(bw - _F(f.trachea_top), 3.0)
    tr *= f.soft(_F(f.carina_y) - bw, 1.5)
    img[w] -= _F(0.15) * tr
    car = (0.5, f.carina_y - 0.01)
    _stroke(img, f, [car, (0.5 - 0.055, car[1] + 0.045)], 0.024, -0.11)
    _stroke(img, f, [car, (0.5 + 0.065, car[1] + 0.06)], 0.022, -0.11)

    # gastric bubble under the left hemidiaphragm
    ga, gbc = 0.5 + 0.62 * f.W, f.dome_l + 0.075
    w = f.window(ga - 0.06, ga + 0.06, gbc - 0.045, gbc + 0.045)
    gb = ((a[w] - _F(ga)) / 0.045) ** 2 + ((b[w] - _F(gbc)) / 0.028) ** 2
    below = f.soft(b[w] - f.diaphragm[w] - _F(0.012), 2.0)
    img[w] -= _F(0.13) * f.soft((1.0 - gb) * _F(0.02), 2.0) * below

    for les in lesions:
        if les.present:
            _draw_lesion(img, f, les, jitter.get(les.key, 0.5), lung, coarse, fine)

    # exposure and noise
    p = f.pose
    out = np.clip(img * _F(1.12 * p.gain) + _F(p.bias), 0.0, 1.0) ** _F(p.gamma)
    out += _F(p.noise) * noise * (0.4 + 0.6 * body)
    return np.clip(out, 0.0, 1.0).astype(_F)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in ``[0, 1]`` -> uint8."""
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _side_sel(f: ChestFields, side: str) -> np.ndarray:
    return f.right if side == "right" else ~f.right


def _zone_soft(f: ChestFields, zone: str, window: tuple[slice, slice] | None = None) -> np.ndarray:
    top, bottom = f.zone_bounds(zone)
    b = f.b if window is None else f.b[window]
    return f.soft(b - _F(top), 2.5) * f.soft(_F(bottom) - b, 2.5)


def _pneumothorax_mask(f: ChestFields, les: Lesion, jit: float) -> np.ndarray:
    depth = _ptx_depth(f, les.level, jit)
    inner = f.wall_margin
    sel = _side_sel(f, les.side or "right")
    upper = f.soft(_F(f.ya + 0.78 * f.H) - f.b, 8.0)
    return (sel * f.soft(f.lung_margin, 1.0) * f.soft(_F(depth) - inner, 1.0) * upper).astype(_F)


def _ptx_depth(f: ChestFields, level: int, jit: float) -> float:
    lo, hi = {1: (0.012, 0.022), 2: (0.03, 0.045), 3: (0.06, 0.085)}[min(level, 3)]
    return lo + (hi - lo) * jit


def _draw_lesion(
    img: np.ndarray, f: ChestFields, les: Lesion, jit: float, lung: np.ndarray, coarse: np.ndarray, fine: np.ndarray
) -> None:
    name, lvl = les.finding, max(1, min(les.level, 3))
    a, b = f.a, f.b
    sign = -1.0 if les.side == "right" else 1.0
    if name in ("lung opacity", "consolidation"):
        ca, cb = f.zone_centre(les.side, les.zone, les.u, les.v)
        radius = (0.045, 0.065, 0.09)[lvl - 1] * (0.9 + 0.2 * jit)
        # beyond 4.5 sigma the blob is below 1e-4: evaluate it in that window only
        reach = 4.5 * radius
        w = f.window(ca - reach, ca + reach, cb - reach / 1.3, cb + reach / 1.3)
        d2 = (a[w] - _F(ca)) ** 2 + ((b[w] - _F(cb)) * 1.3) ** 2
        blob = np.exp(-d2 / _F(2 * radius * radius))
        local = _crop(_texture(f.size)[2], f.size, les.seed)[w]
        if name == "lung opacity":
            patch = blob * np.clip(0.6 + 0.4 * local, 0.0, 1.0)
            amp = (0.10, 0.16, 0.22)[lvl - 1]
        else:
            patch = _smooth(blob * 1.8 - 0.25) * (0.9 + 0.1 * np.clip(local, -1, 1))
            amp = (0.15, 0.22, 0.29)[lvl - 1]
        zone = _zone_soft(f, les.zone, w) * _side_sel(f, les.side)[w]
        img[w] += _F(amp * (0.9 + 0.2 * jit)) * patch * lung[w] * zone
    elif name == "atelectasis":
        ca, cb = f.zone_centre(les.side, les.zone, les.u, les.v)
        ang = (les.seed % 1000) / 1000.0 * 0.5 - 0.25 + (0.15 * sign)
        thick = (0.006, 0.010, 0.015)[lvl - 1] * (0.9 + 0.2 * jit)
        length = 0.32 * (f.W - f.smed)
        da, db = a - _F(ca), b - _F(cb)
        perp = np.abs(da * math.sin(ang) - db * math.cos(ang))
        along = np.abs(da * math.cos(ang) + db * math.sin(ang))
        band = f.soft(_F(thick) - perp, 1.5) * f.soft(_F(length) - along, 6.0)
        img += _F((0.15, 0.2, 0.26)[lvl - 1]) * band * lung * _zone_soft(f, les.zone) * _side_sel(f, les.side)
    elif name == "mass/nodule (not otherwise specified)":
        ca, cb = f.zone_centre(les.side, les.zone, les.u, les.v)
        radius = nodule_radius(les)
        d = np.hypot(a - _F(ca), b - _F(cb))
        img += _F(0.22) * f.soft(_F(radius) - d, 2.0) * (0.85 + 0.15 * np.clip(fine, -1, 1))
    elif name == "pleural effusion":
        h = (0.05, 0.15, 0.30)[lvl - 1] * f.H * (0.9 + 0.2 * jit)
        q = np.clip((f.s - _F(f.smed)) / _F(f.W - f.smed), 0.0, 1.0)
        surface = _F(f.ycp - h) - _F(0.05) * q * q  # meniscus: fluid climbs the chest wall
        fluid = f.soft(b - surface, 5.0) * f.soft(_F(f.W + 0.004) - f.s, 1.5) * f.soft(f.s - _F(f.smed), 2.0)
        fluid *= f.soft(_F(f.ycp + 0.03) - b, 3.0) * _side_sel(f, les.side)
        alpha = _F((0.85, 0.92, 0.96)[lvl - 1]) * fluid
        img *= 1.0 - alpha
        img += alpha * _F(_TISSUE + 0.04)
    elif name == "pneumothorax":
        depth = _ptx_depth(f, lvl, jit)
        inner = f.wall_margin
        clear = _pneumothorax_mask(f, les, jit)
        img -= _F(0.05) * clear
        sel = _side_sel(f, les.side) * f.soft(f.lung_margin, 1.0) * f.soft(_F(f.ya + 0.78 * f.H) - b, 8.0)
        line = f.soft(_F(0.0022) - np.abs(inner - _F(depth)), 1.0) * sel
        img += _F(0.12) * line
    elif name == "pulmonary edema/hazy opacity":
        sigma = (0.07, 0.095, 0.12)[lvl - 1]
        amp = (0.07, 0.12, 0.18)[lvl - 1] * (0.9 + 0.2 * jit)
        r2 = (f.s - _F(f.hilum_s)) ** 2 + (b - _F(f.hilum_b)) ** 2
        haze = np.exp(-r2 / _F(2 * sigma * sigma)) * (0.85 + 0.15 * np.clip(coarse, -1, 1))
        img += _F(amp) * haze * lung
    elif name == "enlarged cardiac silhouette":
        pass  # drawn through the geometry: ChestFields was built with the enlarged ratio
    else:
        _draw_device(img, f, les)


def _draw_device(img: np.ndarray, f: ChestFields, les: Lesion) -> None:
    name, ya, H, W = les.finding, f.ya, f.H, f.W
    if name == "endotracheal tube":
        tip = f.carina_y - 0.035 - 0.025 * les.v
        _stroke(img, f, [(0.5, -0.02), (0.5, tip)], 0.013, 0.05)
        _stroke(img, f, [(0.5 - 0.004, -0.02), (0.5 - 0.004, tip)], 0.0035, 0.25)
    elif name == "enteric tube":
        pts = [(0.492, -0.02), (0.497, f.carina_y), (0.515, f.hcy), (0.53, f.dome_l + 0.01)]
        pts += [(0.5 + 0.38 * W, f.dome_l + 0.07), (0.5 + 0.46 * W, f.dome_l + 0.05)]
        _stroke(img, f, pts, 0.006, 0.22)
    elif name == "picc":
        pts = [(-0.02, ya + 0.10), (0.5 - W - 0.04, ya + 0.07), (0.5 - 0.2, ya + 0.02), (0.5 - 0.075, ya + 0.06)]
        pts += [(0.5 - 0.038, ya + 0.2 * H), (0.5 - 0.036, ya + 0.36 * H)]
        _stroke(img, f, pts, 0.004, 0.22)
    elif name == "ij line":
        pts = [(0.5 - 0.075, -0.02), (0.5 - 0.06, ya), (0.5 - 0.042, ya + 0.2 * H), (0.5 - 0.04, ya + 0.34 * H)]
        _stroke(img, f, pts, 0.006, 0.24)
    elif name == "chest tube":
        sg = -1.0 if les.side == "right" else 1.0
        pts = [(0.5 + sg * (W + 0.09), f.ycp - 0.10), (0.5 + sg * (W - 0.02), f.ycp - 0.13)]
        pts += [(0.5 + sg * 0.62 * W, ya + 0.45 * H), (0.5 + sg * 0.5 * W, ya + 0.18 * H)]
        _stroke(img, f, pts, 0.012, 0.10)
        _stroke(img, f, pts, 0.0035, 0.22)
    elif name == "cardiac pacer and wires":
        gen = (0.5 + 0.27, ya + 0.05)
        _box(img, f, gen, (0.035, 0.022), 0.75)
        pts = [(gen[0] - 0.03, gen[1] + 0.01), (0.5 + 0.12, ya + 0.02), (0.5 - 0.03, ya + 0.11)]
        pts += [(0.5 - 0.036, ya + 0.42 * H), (f.hcx - 0.55 * f.hrx, f.hcy)]
        _stroke(img, f, pts, 0.005, 0.35)
        _stroke(img, f, [pts[-1], (f.hcx + 0.4 * f.hrx, f.hcy + 0.5 * f.hry)], 0.005, 0.35)
    else:
        raise ValueError(f"render: no drawing for finding {name!r}")
