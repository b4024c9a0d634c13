"""Poincaré-ball maps for a positive curvature magnitude ``c``, written out with explicit guards.

geoopt's stereographic maps serve every curvature sign, so each call evaluates both branches;
the graph encoders only ever use a ball (``c > 0``), and these few maps run on every node of
every graph at every step. Each function clamps what can blow up: norms are floored at 1e-15,
``artanh`` inputs are kept inside ±(1 - 1e-7), points are projected a dtype-dependent margin
inside the boundary (geoopt's margins: 4e-3 in float32, 1e-5 in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ball_eps",
    "expmap0",
    "logmap0",
    "project",
    "mobius_add",
    "clip_tangent",
    "expmap0_project",
    "logmap0_project",
]

_MIN_NORM = 1e-15


def ball_eps(dtype: torch.dtype) -> float:
    """How far inside the boundary points are kept (relative to the radius ``1/sqrt(c)``)."""
    return 4e-3 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-5


def _artanh(z: Tensor) -> Tensor:
    z = z.clamp(-1 + 1e-7, 1 - 1e-7)
    return 0.5 * (torch.log1p(z) - torch.log1p(-z))


def _norm(x: Tensor) -> Tensor:
    return x.norm(dim=-1, keepdim=True).clamp_min(_MIN_NORM)


def _tangent_norm(u: Tensor) -> Tensor:
    """The norm of a tangent vector of any size: scaled by its largest entry first, so a vector of
    norm 1e20 does not overflow float32 (whose squares stop at 3.4e38)."""
    scale = u.detach().abs().amax(dim=-1, keepdim=True).clamp_min(_MIN_NORM)
    return (scale * (u / scale).norm(dim=-1, keepdim=True)).clamp_min(_MIN_NORM)


def expmap0(u: Tensor, c: Tensor) -> Tensor:
    r""":math:`\exp_0^c(u) = \tanh(\sqrt c\,\|u\|)\, u / (\sqrt c\,\|u\|)`."""
    sc_n = c.sqrt() * _tangent_norm(u)
    return torch.tanh(sc_n) * (u / sc_n)


def logmap0(y: Tensor, c: Tensor) -> Tensor:
    r""":math:`\log_0^c(y) = \operatorname{artanh}(\sqrt c\,\|y\|)\, y / (\sqrt c\,\|y\|)`."""
    sc_n = c.sqrt() * _norm(y)
    return _artanh(sc_n) * y / sc_n


def project(x: Tensor, c: Tensor) -> Tensor:
    """Pull points whose norm exceeds ``(1 - eps) / sqrt(c)`` back onto that sphere."""
    max_norm = (1 - ball_eps(x.dtype)) / c.sqrt()
    n = _norm(x)
    return torch.where(n > max_norm, x / n * max_norm, x)


def mobius_add(x: Tensor, y: Tensor, c: Tensor) -> Tensor:
    r"""Möbius addition :math:`x \oplus_c y`."""
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True)
    xy = (x * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    return num / den.clamp_min(_MIN_NORM)


def clip_tangent(u: Tensor, c: Tensor) -> Tensor:
    r""":math:`\log_0^c(\mathrm{project}(\exp_0^c(u)))` computed in the tangent space: the norm is
    capped at :math:`\operatorname{artanh}(1-\epsilon)/\sqrt c`."""
    max_norm = _artanh(torch.tensor(1 - ball_eps(u.dtype), dtype=u.dtype, device=u.device)) / c.sqrt()
    n = _tangent_norm(u)
    return torch.where(n > max_norm, u / n * max_norm, u)


def expmap0_project(u: Tensor, c: Tensor) -> Tensor:
    """``project(expmap0(u))`` with one norm: the point's radius is capped at ``(1 - eps) / sqrt(c)``."""
    sc = c.sqrt()
    sc_n = sc * _tangent_norm(u)
    radius = torch.tanh(sc_n).clamp(max=1 - ball_eps(u.dtype))
    return u * (radius / sc_n)


def logmap0_project(x: Tensor, c: Tensor) -> Tensor:
    """``logmap0(project(x))`` with one norm: the radius is capped before ``artanh``."""
    sc_n = c.sqrt() * _norm(x)
    return x * (_artanh(sc_n.clamp(max=1 - ball_eps(x.dtype))) / sc_n)
