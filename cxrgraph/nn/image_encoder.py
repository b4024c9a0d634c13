"""``ImageGraphEncoder``: region features and an image-tag decoder give the image graph."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.nn.readout import AttentionReadout
from cxrgraph.ontology import get_ontology

__all__ = ["ImageGraphEncoder", "sincos_position_2d"]


def sincos_position_2d(height: int, width: int, channels: int, device=None, dtype=None) -> Tensor:
    """Fixed 2-D sine-cosine position codes ``[H * W, channels]`` (row-major patches)."""
    if channels % 4 != 0:
        raise ValueError(f"channels: must be divisible by 4 for 2-D sin-cos codes, got {channels}")
    quarter = channels // 4
    freq = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    ang_y = ys.reshape(-1, 1) * freq
    ang_x = xs.reshape(-1, 1) * freq
    pos = torch.cat([ang_y.sin(), ang_y.cos(), ang_x.sin(), ang_x.cos()], dim=1)
    return pos.to(dtype) if dtype is not None else pos


class ImageGraphEncoder(nn.Module):
    r"""Image graph from region features and a feature map.

    Anatomy nodes are the projected region features (roi-aligned from the backbone feature
    map). Finding nodes come from an image-tag decoder as in ASG: ``K`` learned finding
    queries attend over the feature map (transformer decoder layers); each finding node then
    attends over the anatomy nodes, and the attention logits score the located_at edges

    .. math::
        s_{k,r} = \frac{(W_q f_k)^\top (W_k a_r)}{\sqrt{D}}, \qquad
        f_k \leftarrow f_k + W_o \sum_r \operatorname{softmax}_r(s_{k,r})\, a_r .

    A per-finding linear head gives the finding-existence logits. The image's summary is the
    graph readout (:class:`~cxrgraph.nn.readout.AttentionReadout`) over its anatomy and finding
    nodes, so what the graph holds is what a downstream probe sees; :meth:`readout` applies it
    to nodes refined further (e.g. by a graph encoder).

    Args:
        region_channels: Channels ``C`` of the region features.
        feature_channels: Channels ``C'`` of the feature map / patch tokens.
        out_channels: Node feature size ``D`` (divisible by 4 and by ``heads``).
        num_regions: ``R`` (29).
        num_findings: ``K`` (default: the ontology's number of findings).
        heads: Attention heads of the decoder.
        num_layers: Decoder layers.
        dropout: Dropout in the decoder.

    Shapes:
        - **input:** region features ``[B, R, C]``, feature map ``[B, C', H, W]`` or patch
          tokens ``[B, P, C']``, optional region mask ``[B, R]``
        - **output:** :class:`GraphEmbeddings` with anatomy ``[B, R, D]``, finding ``[B, K, D]``,
          finding_logits ``[B, K]``, edge_logits ``[B, K, R]``, tokens (patches) ``[B, P, D]``,
          summary ``[B, D]`` (the graph readout).
    """

    def __init__(
        self,
        region_channels: int,
        feature_channels: int,
        out_channels: int = 256,
        num_regions: int = 29,
        num_findings: int | None = None,
        heads: int = 4,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if out_channels % 4 or out_channels % heads:
            raise ValueError(f"out_channels: {out_channels} must be divisible by 4 and by heads={heads}")
        self.region_channels = region_channels
        self.feature_channels = feature_channels
        self.out_channels = out_channels
        self.num_regions = num_regions
        num_findings = get_ontology().num_findings if num_findings is None else num_findings
        self.num_findings = num_findings
        self.heads = heads
        self.num_layers = num_layers
        self.region_proj = nn.Linear(region_channels, out_channels)
        self.region_norm = nn.LayerNorm(out_channels)
        self.region_identity = nn.Parameter(torch.empty(num_regions, out_channels))
        self.region_missing = nn.Parameter(torch.empty(num_regions, out_channels))
        self.patch_proj = nn.Linear(feature_channels, out_channels)
        self.finding_queries = nn.Parameter(torch.empty(num_findings, out_channels))
        layer = nn.TransformerDecoderLayer(
            out_channels, heads, 2 * out_channels, dropout=dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(out_channels))
        self.edge_query = nn.Linear(out_channels, out_channels)
        self.edge_key = nn.Linear(out_channels, out_channels)
        self.edge_out = nn.Linear(out_channels, out_channels)
        self.cls_weight = nn.Parameter(torch.empty(num_findings, out_channels))
        self.cls_bias = nn.Parameter(torch.empty(num_findings))
        self.summary_readout = AttentionReadout(out_channels, out_channels, heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (
            self.region_proj,
            self.patch_proj,
            self.edge_query,
            self.edge_key,
            self.edge_out,
            self.summary_readout,
        ):
            lin.reset_parameters()
        self.region_norm.reset_parameters()
        for p in (self.region_identity, self.region_missing, self.finding_queries):
            nn.init.normal_(p, std=0.02)
        for module in self.decoder.modules():
            if module is not self.decoder and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        nn.init.normal_(self.cls_weight, std=1.0 / math.sqrt(self.out_channels))
        nn.init.zeros_(self.cls_bias)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.region_channels}, {self.feature_channels}, {self.out_channels}, "
            f"num_findings={self.num_findings}, heads={self.heads}, num_layers={self.num_layers})"
        )

    def readout(self, anatomy: Tensor, finding: Tensor, region_mask: Tensor | None = None) -> Tensor:
        """Graph summary ``[B, D]`` of anatomy ``[B, R, D]`` and finding ``[B, K, D]`` nodes (absent regions left out)."""
        nodes = torch.cat([anatomy, finding], dim=1)
        mask = None
        if region_mask is not None:
            mask = torch.cat([region_mask.to(torch.bool), region_mask.new_ones(finding.shape[:2], dtype=torch.bool)], 1)
        return self.summary_readout(nodes, mask)

    def forward(
        self,
        region_features: Tensor,
        feature_map: Tensor,
        region_mask: Tensor | None = None,
        summary: bool = True,
    ) -> GraphEmbeddings:
        """Encode a batch of images (see the class docstring for shapes); ``summary=False`` skips the readout."""
        num_r, dim = self.num_regions, self.out_channels
        if (
            region_features.dim() != 3
            or region_features.size(1) != num_r
            or region_features.size(2) != self.region_channels
        ):
            raise ValueError(
                f"region_features: expected [B, {num_r}, {self.region_channels}], got {list(region_features.shape)}"
            )
        num_b = region_features.size(0)
        if feature_map.dim() == 4:
            if feature_map.size(1) != self.feature_channels:
                raise ValueError(
                    f"feature_map: expected {self.feature_channels} channels, got {list(feature_map.shape)}"
                )
            _, _, h, w = feature_map.shape
            patches = feature_map.flatten(2).transpose(1, 2)
            pos = sincos_position_2d(h, w, dim, feature_map.device, feature_map.dtype)
        elif feature_map.dim() == 3 and feature_map.size(2) == self.feature_channels:
            patches = feature_map
            pos = None
        else:
            raise ValueError(
                f"feature_map: expected [B, {self.feature_channels}, H, W] or [B, P, {self.feature_channels}], "
                f"got {list(feature_map.shape)}"
            )
        if patches.size(0) != num_b:
            raise ValueError(f"feature_map: batch {patches.size(0)} differs from region_features batch {num_b}")

        anatomy = self.region_norm(self.region_proj(region_features)) + self.region_identity
        if region_mask is not None:
            region_mask = region_mask.to(anatomy.device, torch.bool)
            anatomy = torch.where(region_mask.unsqueeze(-1), anatomy, self.region_missing.expand(num_b, -1, -1))
        tokens = self.patch_proj(patches)
        memory = tokens if pos is None else tokens + pos
        queries = self.finding_queries.expand(num_b, -1, -1)
        finding = self.decoder(queries, memory)

        edge_logits = torch.einsum("bkd,brd->bkr", self.edge_query(finding), self.edge_key(anatomy)) / math.sqrt(dim)
        attn_logits = edge_logits
        if region_mask is not None:
            attn_logits = edge_logits.masked_fill(~region_mask.unsqueeze(1), float("-inf"))
            # an image without any region keeps finite attention
            attn_logits = torch.where(region_mask.any(1).view(-1, 1, 1), attn_logits, edge_logits)
        finding = finding + self.edge_out(torch.softmax(attn_logits, dim=-1) @ anatomy)
        finding_logits = (finding * self.cls_weight).sum(-1) + self.cls_bias
        return GraphEmbeddings(
            anatomy=anatomy,
            finding=finding,
            summary=self.readout(anatomy, finding, region_mask) if summary else None,
            anatomy_mask=region_mask,
            finding_logits=finding_logits,
            edge_logits=edge_logits,
            tokens=tokens,
            token_mask=None,
        )
