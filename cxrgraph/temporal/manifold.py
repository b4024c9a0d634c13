"""``ManifoldAlignment``: region embeddings of two studies on a hyperbolic manifold, and their change."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.graph import anatomy_edge_index
from cxrgraph.nn import BoundedPoincareBall, HGCNConv
from cxrgraph.ontology import get_ontology

__all__ = ["ManifoldAlignment", "ManifoldOutput", "MANIFOLDS"]

#: supported geometries
MANIFOLDS = ("poincare", "euclidean")


@dataclass
class ManifoldOutput:
    """What :class:`ManifoldAlignment` computes for a batch of pairs.

    Attributes:
        prior: Prior region points ``[B, R, H]`` on the manifold.
        current: Current region points ``[B, R, H]``.
        displacement: ``log_{x_c}(x_p)`` moved to the origin's tangent space ``[B, R, H]``.
        distance: Geodesic distance ``[B, R]`` between the two points of each region.
        prior_norm: Distance of the prior point from the origin ``[B, R]``.
        current_norm: Same for the current point ``[B, R]``.
        features: Change features ``[B, R, F]`` for the progression head.
    """

    prior: Tensor
    current: Tensor
    displacement: Tensor
    distance: Tensor
    prior_norm: Tensor
    current_norm: Tensor
    features: Tensor


class ManifoldAlignment(nn.Module):
    r"""Map the region embeddings of a prior and a current study onto one manifold and read change.

    After the manifold alignment module of CheXLearner (temporal CXR progression with
    hyperbolic region alignment). Each study's region embeddings :math:`z_r` (one per
    anatomy node, ``[B, R, D]``) are projected, clipped in the tangent space and mapped onto a
    Poincaré ball of learnable, bounded curvature :math:`-c`
    (:class:`~cxrgraph.nn.BoundedPoincareBall`), optionally refined by HGCN layers over the
    anatomy graph (part_of and adjacent_to). The same region of the two studies is then compared
    through the geodesic displacement

    .. math::
        v_r = P_{x^c_r \to 0}\big(\log_{x^c_r}(x^p_r)\big), \qquad
        d_r = d_c(x^p_r, x^c_r), \qquad
        \mathbf{f}_r = [\,v_r,\ d_r,\ \|x^p_r\|_c,\ \|x^c_r\|_c,\ \|x^c_r\|_c - \|x^p_r\|_c,\ \log_0(x^c_r),\ \log_0(x^p_r)\,],

    with :math:`\|x\|_c = d_c(0, x)`. Moving :math:`v_r` to the origin's tangent space by
    parallel transport makes displacements at different places of the ball comparable.

    The alignment loss pulls matching regions that did not change together and pushes changed
    ones at least ``margin`` apart; a radial term asks worsening to move away from the origin
    and improvement towards it (abnormality grows with depth in the hierarchy the ball encodes):

    .. math::
        \mathcal{L} = \frac{1}{|M|}\sum_{r\in M}\Big[\mathbb{1}_{\text{same}}\, d_r^2
            + \mathbb{1}_{\text{changed}}\big(\max(0, m - d_r)^2
            + \lambda \max(0, m_\rho - s_r\,\Delta\|x\|_c)\big)\Big],

    :math:`s_r = +1` for worsened, :math:`-1` for improved.

    With ``manifold="euclidean"`` the same pipeline runs in flat space (identity maps, GCN
    layers instead of HGCN), which is the ablation that isolates the geometry.

    Numerics: tangent vectors are clipped to norm ``clip_radius / sqrt(c)`` before the
    exponential map (feature clipping, Guo et al., CVPR 2022), so points stay at most
    :math:`\tanh(\text{clip\_radius})` of the way to the boundary; every geoopt result is
    projected back inside the ball with its dtype-dependent margin.

    Args:
        in_channels: Region embedding size ``D``.
        hidden_channels: Manifold dimension ``H``.
        manifold: ``"poincare"`` or ``"euclidean"``.
        num_layers: Graph layers over the anatomy graph (0 = none).
        c: Initial curvature.
        c_min: Lowest curvature.
        c_max: Highest curvature.
        learn_curvature: Train the curvature.
        clip_radius: Tangent-norm clip in units of :math:`1/\sqrt{c}` (``None``: no clip).
        margin: Margin :math:`m` for changed regions.
        radial_margin: Margin :math:`m_\rho` of the radial term.
        radial_weight: :math:`\lambda` (0 disables the radial term).
        with_state: Append :math:`\log_0(x^c)` and :math:`\log_0(x^p)` (where the two points sit)
            to the features.
        input_scale: Typical tangent norm of a region before the clip. The projection is
            batch-normalised per channel (which keeps how far a region lies from the others,
            unlike a per-vector norm) and scaled by ``input_scale / sqrt(H)``, so points start
            inside the clip radius instead of all sitting on it.

    Shapes:
        - **input:** prior ``[B, R, D]``, current ``[B, R, D]``
        - **output:** :class:`ManifoldOutput`; ``features`` ``[B, R, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 32,
        manifold: str = "poincare",
        num_layers: int = 1,
        c: float = 1.0,
        c_min: float = 0.1,
        c_max: float = 10.0,
        learn_curvature: bool = True,
        clip_radius: float | None = 2.5,
        margin: float = 1.0,
        radial_margin: float = 0.1,
        radial_weight: float = 1.0,
        with_state: bool = True,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if manifold not in MANIFOLDS:
            raise ValueError(f"manifold: must be one of {MANIFOLDS}, got {manifold!r}")
        if num_layers < 0:
            raise ValueError(f"num_layers: must be >= 0, got {num_layers}")
        if clip_radius is not None and clip_radius <= 0:
            raise ValueError(f"clip_radius: must be > 0 or None, got {clip_radius}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.manifold = manifold
        self.num_layers = num_layers
        self.clip_radius = clip_radius
        self.margin = float(margin)
        self.radial_margin = float(radial_margin)
        self.radial_weight = float(radial_weight)
        self.with_state = with_state
        self.input_scale = float(input_scale)
        self.lin = nn.Linear(in_channels, hidden_channels)
        self.norm = nn.BatchNorm1d(hidden_channels, affine=False)
        if manifold == "poincare":
            self.ball = BoundedPoincareBall(c, c_min, c_max, learnable=learn_curvature)
            self.convs = nn.ModuleList(
                HGCNConv(hidden_channels, hidden_channels, self.ball, act=torch.relu if i < num_layers - 1 else None)
                for i in range(num_layers)
            )
        else:
            from torch_geometric.nn import GCNConv

            self.ball = None
            self.convs = nn.ModuleList(GCNConv(hidden_channels, hidden_channels) for _ in range(num_layers))
        self.register_buffer("edge_index", anatomy_edge_index(), persistent=False)
        self.num_regions = get_ontology().num_regions
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        self.norm.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()

    def __repr__(self) -> str:
        curv = f", c={float(self.curvature.detach()):.3g}" if self.ball is not None else ""
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, manifold={self.manifold!r}, "
            f"num_layers={self.num_layers}{curv})"
        )

    @property
    def out_channels(self) -> int:
        """Size ``F`` of the change features."""
        return self.hidden_channels * (3 if self.with_state else 1) + 4

    @property
    def curvature(self) -> Tensor:
        """Curvature magnitude ``c`` (0 for the Euclidean variant)."""
        return self.ball.c if self.ball is not None else torch.zeros(())

    # ------------------------------------------------------------------ geometry
    def _clip(self, u: Tensor) -> Tensor:
        if self.clip_radius is None:
            return u
        scale = self.clip_radius
        if self.ball is not None:
            scale = scale / self.ball.c.to(u.dtype).sqrt()
        norm = u.norm(dim=-1, keepdim=True).clamp_min(1e-15)
        return u * torch.clamp(scale / norm, max=1.0)

    def _batched_edges(self, num_b: int, device: torch.device) -> Tensor:
        ei = self.edge_index.to(device)
        offsets = torch.arange(num_b, device=device).repeat_interleave(ei.size(1)) * self.num_regions
        return ei.repeat(1, num_b) + offsets

    def embed(self, x: Tensor) -> Tensor:
        """Region embeddings ``[B, R, D]`` -> points ``[B, R, H]`` on the manifold."""
        if x.dim() != 3 or x.size(-1) != self.in_channels or x.size(1) != self.num_regions:
            raise ValueError(f"x: expected [B, {self.num_regions}, {self.in_channels}], got {list(x.shape)}")
        num_b = x.size(0)
        u = self.norm(self.lin(x).reshape(num_b * self.num_regions, -1))
        u = self._clip(u * (self.input_scale / self.hidden_channels**0.5))
        edges = self._batched_edges(num_b, x.device) if self.convs else None
        if self.ball is None:
            h = u
            for i, conv in enumerate(self.convs):
                h = conv(h, edges)
                if i < len(self.convs) - 1:
                    h = torch.relu(h)
                h = self._clip(h)
        else:
            h = self.ball.projx(self.ball.expmap0(u))
            for conv in self.convs:
                h = conv(h, edges)
                # keep the graph layers inside the same clipped region of the ball
                h = self.ball.projx(self.ball.expmap0(self._clip(self.ball.logmap0(h))))
        return h.view(num_b, self.num_regions, -1)

    def tangent(self, points: Tensor) -> Tensor:
        """Points on the manifold as tangent vectors at the origin (``log_0``; identity when flat)."""
        return points if self.ball is None else self.ball.logmap0(points)

    def change(self, prior: Tensor, current: Tensor) -> ManifoldOutput:
        """Change features between points already on the manifold."""
        if self.ball is None:
            disp = prior - current
            # a floor keeps the gradient of the norm finite where the two points coincide
            dist = (disp.pow(2).sum(-1) + 1e-12).sqrt()
            n_p, n_c = prior.norm(dim=-1), current.norm(dim=-1)
            state = torch.cat([current, prior], dim=-1)
        else:
            ball = self.ball
            disp = ball.transp0back(current, ball.logmap(current, prior))
            dist = ball.dist(current, prior)
            n_p, n_c = ball.dist0(prior), ball.dist0(current)
            state = torch.cat([ball.logmap0(current), ball.logmap0(prior)], dim=-1)
        parts = [disp, dist.unsqueeze(-1), n_p.unsqueeze(-1), n_c.unsqueeze(-1), (n_c - n_p).unsqueeze(-1)]
        if self.with_state:
            parts.append(state)
        return ManifoldOutput(prior, current, disp, dist, n_p, n_c, torch.cat(parts, dim=-1))

    def forward(self, prior: Tensor, current: Tensor) -> ManifoldOutput:
        if prior.shape != current.shape:
            raise ValueError(f"prior {list(prior.shape)} and current {list(current.shape)} must have one shape")
        num_b = prior.size(0)
        points = self.embed(torch.cat([prior, current], dim=0))
        return self.change(points[:num_b], points[num_b:])

    # ------------------------------------------------------------------ loss
    def alignment_loss(self, out: ManifoldOutput, change: Tensor, mask: Tensor | None = None) -> Tensor:
        """Contrastive margin loss over labelled regions (see the class docstring).

        Args:
            out: This module's output.
            change: ``[B, R]`` progression codes (0 improved, 1 no change, 2 worsened, -1 none).
            mask: ``[B, R]`` bool regions to use (default: labelled ones).
        """
        onto = get_ontology()
        same = onto.label_index("progression", "no change")
        worse = onto.label_index("progression", "worsened")
        better = onto.label_index("progression", "improved")
        valid = change >= 0 if mask is None else mask & (change >= 0)
        if not valid.any():
            return out.distance.sum() * 0.0
        d = out.distance
        unchanged = valid & (change == same)
        changed = valid & (change != same)
        loss = torch.where(unchanged, d.pow(2), d.new_zeros(()))
        loss = loss + torch.where(changed, F.relu(self.margin - d).pow(2), d.new_zeros(()))
        if self.radial_weight > 0:
            sign = (change == worse).to(d.dtype) - (change == better).to(d.dtype)
            radial = F.relu(self.radial_margin - sign * (out.current_norm - out.prior_norm))
            loss = loss + self.radial_weight * torch.where(changed, radial, d.new_zeros(()))
        return loss.sum() / valid.sum()
