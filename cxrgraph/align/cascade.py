"""``CascadingAlignment``: anatomy → pathology → relation → graph alignment (CGA)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.align.grounding import located_at_routing_loss
from cxrgraph.align.infonce import LogitScale, info_nce, node_info_nce
from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.ontology import get_ontology

__all__ = ["CascadingAlignment", "CascadeOutput", "STAGES", "anatomy_adjacency"]

#: Stage names, in cascade order.
STAGES = ("anatomy", "pathology", "relation", "graph")


def anatomy_adjacency(num_regions: int = 29) -> Tensor:
    """Symmetric-normalised ``[R, R]`` adjacency of the ontology's part_of + adjacent_to edges with self loops."""
    from cxrgraph.graph import anatomy_edge_index
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    if onto.num_regions != num_regions:
        raise ValueError(f"num_regions: the ontology has {onto.num_regions} regions, got {num_regions}")
    adj = torch.eye(num_regions)
    ei = anatomy_edge_index(onto)
    adj[ei[0], ei[1]] = 1.0
    deg = adj.sum(1).rsqrt()
    return deg.unsqueeze(1) * adj * deg.unsqueeze(0)


@dataclass
class CascadeOutput:
    """Result of :class:`CascadingAlignment`.

    Attributes:
        loss: The weighted sum of the active stages.
        losses: Per-stage (unweighted) losses of the stages that ran.
        weights: The stage weights used.
        image: Image-side embeddings after the cascade's refinements.
        text: Text-side embeddings after the cascade's refinements.
    """

    loss: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    image: GraphEmbeddings | None = None
    text: GraphEmbeddings | None = None


class CascadingAlignment(AlignmentLoss):
    r"""Cascading graph alignment of isomorphic image and report graphs.

    After CGA ("Advancing radiograph representation learning via cascading graph alignment for
    vision-language clinical concepts"): four contrastive stages, each fed by the embeddings the
    stage before refined. With :math:`a` anatomy, :math:`f` finding nodes, :math:`\hat A` the
    normalised ontology adjacency and :math:`\Pi` the located_at attention of a side (the
    report's edges, or the image decoder's edge scores through a softmax over regions), shared
    across both sides:

    1. **anatomy**: :math:`a' = \mathrm{LN}(a + W_a \hat A a)`, per-region InfoNCE across the
       batch over regions the report describes;
    2. **pathology**: :math:`f' = \mathrm{LN}(f + W_f\, \Pi\, a')`, per-finding InfoNCE over
       mentioned findings;
    3. **relation**: an edge :math:`e_{kr} = \mathrm{MLP}([f'_k \odot a'_r;\ f'_k;\ a'_r])` for
       every located_at edge of the report; InfoNCE over all edges of the batch, with copies of
       the same ⟨k, r, existence⟩ edge in other studies removed from the negatives; plus, when
       the image side scores its own located_at edges, the cross-entropy of those scores
       against the report's edges (:func:`~cxrgraph.align.located_at_routing_loss`), so the
       image graph links each finding to the region the report puts it in;
    4. **graph**: attention pooling of :math:`[a'; f']` plus the input summary, InfoNCE
       across the batch.

    :math:`\mathcal{L} = \sum_s w_s(\text{epoch})\, \mathcal{L}_s`. With a ``curriculum``
    (the epoch each stage starts), a stage's weight ramps linearly from 0 to :math:`w_s` over
    ``warmup_epochs``; stages with weight 0 are skipped (their refinement still runs when a
    later stage needs it).

    Args:
        channels: Embedding size ``D`` of both sides.
        num_regions: ``R``.
        num_findings: ``K`` (default: the ontology's number of findings).
        stage_weights: :math:`w_s` for anatomy, pathology, relation, graph.
        curriculum: Optional start epoch of each stage, e.g. ``(0, 1, 2, 3)``.
        warmup_epochs: Ramp length of the curriculum.
        init_temperature: Initial temperature (one learnable temperature per stage).
        adjacency: ``[R, R]`` normalised anatomy adjacency (default: :func:`anatomy_adjacency`).

    Shapes:
        - **input:** image and text :class:`~cxrgraph.nn.GraphEmbeddings` (``[B, R, D]``,
          ``[B, K, D]``, ``[B, D]`` summary), ``located_at`` ``[B, K, R]`` long existence code of
          the report's edges (-1 none)
        - **output:** :class:`CascadeOutput`
    """

    def __init__(
        self,
        channels: int,
        num_regions: int = 29,
        num_findings: int | None = None,
        stage_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        curriculum: Sequence[int] | None = None,
        warmup_epochs: int = 1,
        init_temperature: float = 0.07,
        adjacency: Tensor | None = None,
    ) -> None:
        super().__init__()
        if len(stage_weights) != 4 or any(w < 0 for w in stage_weights):
            raise ValueError(f"stage_weights: expected 4 non-negative weights, got {tuple(stage_weights)}")
        if curriculum is not None and (len(curriculum) != 4 or list(curriculum) != sorted(curriculum)):
            raise ValueError(f"curriculum: expected 4 non-decreasing start epochs, got {tuple(curriculum)}")
        self.channels = channels
        self.num_regions = num_regions
        num_findings = get_ontology().num_findings if num_findings is None else num_findings
        self.num_findings = num_findings
        self.stage_weights = tuple(float(w) for w in stage_weights)
        self.curriculum = tuple(curriculum) if curriculum is not None else None
        self.warmup_epochs = max(int(warmup_epochs), 1)
        self.epoch = 0
        adj = adjacency if adjacency is not None else anatomy_adjacency(num_regions)
        if adj.shape != (num_regions, num_regions):
            raise ValueError(f"adjacency: expected [{num_regions}, {num_regions}], got {list(adj.shape)}")
        self.register_buffer("adjacency", adj.float(), persistent=False)
        self.anatomy_lin = nn.Linear(channels, channels)
        self.anatomy_norm = nn.LayerNorm(channels)
        self.finding_lin = nn.Linear(channels, channels)
        self.finding_norm = nn.LayerNorm(channels)
        self.edge_mlp = nn.Sequential(nn.Linear(3 * channels, channels), nn.GELU(), nn.Linear(channels, channels))
        self.pool_query = nn.Parameter(torch.empty(channels))
        self.pool_key = nn.Linear(channels, channels)
        self.graph_norm = nn.LayerNorm(channels)
        self.scales = nn.ModuleList(LogitScale(init_temperature) for _ in STAGES)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (
            self.anatomy_lin,
            self.finding_lin,
            self.pool_key,
            self.anatomy_norm,
            self.finding_norm,
            self.graph_norm,
        ):
            m.reset_parameters()
        for m in self.edge_mlp:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        nn.init.normal_(self.pool_query, std=1.0 / math.sqrt(self.channels))
        for s in self.scales:
            s.reset_parameters()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, stage_weights={self.stage_weights}, curriculum={self.curriculum})"

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch the curriculum reads when ``forward`` gets none."""
        self.epoch = int(epoch)

    def weights_at(self, epoch: int | None = None) -> dict[str, float]:
        """Stage weights at ``epoch`` (the curriculum's ramps applied)."""
        epoch = self.epoch if epoch is None else epoch
        out = {}
        for i, name in enumerate(STAGES):
            w = self.stage_weights[i]
            if self.curriculum is not None:
                w *= min(max((epoch - self.curriculum[i] + 1) / self.warmup_epochs, 0.0), 1.0)
            out[name] = w
        return out

    # ------------------------------------------------------------------ refinements
    def refine_anatomy(self, anatomy: Tensor) -> Tensor:
        return self.anatomy_norm(
            anatomy + self.anatomy_lin(torch.einsum("rs,bsd->brd", self.adjacency.to(anatomy.dtype), anatomy))
        )

    def refine_finding(self, finding: Tensor, anatomy: Tensor, routing: Tensor) -> Tensor:
        return self.finding_norm(finding + self.finding_lin(routing @ anatomy))

    def edges(self, finding: Tensor, anatomy: Tensor, index: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        b, k, r = index
        f, a = finding[b, k], anatomy[b, r]
        return self.edge_mlp(torch.cat([f * a, f, a], dim=-1))

    def summary(self, emb: GraphEmbeddings, anatomy: Tensor, finding: Tensor) -> Tensor:
        nodes = torch.cat([anatomy, finding], dim=1)
        # (W n + b) . q == n . (W^T q) + b . q: one matrix-vector product instead of a linear map over all nodes
        key = self.pool_key.weight.t() @ self.pool_query
        score = (nodes @ key + self.pool_key.bias @ self.pool_query) / math.sqrt(self.channels)
        pooled = (torch.softmax(score, dim=1).unsqueeze(-1) * nodes).sum(1)
        if emb.summary is not None:
            pooled = pooled + emb.summary
        return self.graph_norm(pooled)

    # ------------------------------------------------------------------ forward
    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image, text, targets.located_at, epoch=epoch).loss

    def forward(
        self,
        image: GraphEmbeddings,
        text: GraphEmbeddings,
        located_at: Tensor,
        epoch: int | None = None,
    ) -> CascadeOutput:
        num_b, num_r, num_k = image.anatomy.size(0), self.num_regions, self.num_findings
        for side, emb in (("image", image), ("text", text)):
            if emb.anatomy.shape[:2] != (num_b, num_r) or emb.finding.shape[:2] != (num_b, num_k):
                raise ValueError(
                    f"{side}: expected anatomy [{num_b}, {num_r}, D] and finding [{num_b}, {num_k}, D], got "
                    f"{list(emb.anatomy.shape)} and {list(emb.finding.shape)}"
                )
        if located_at.shape != (num_b, num_k, num_r):
            raise ValueError(f"located_at: expected [{num_b}, {num_k}, {num_r}], got {list(located_at.shape)}")
        weights = self.weights_at(epoch)
        last = max((i for i, s in enumerate(STAGES) if weights[s] > 0), default=-1)
        losses: dict[str, Tensor] = {}
        img_a, txt_a, img_f, txt_f = image.anatomy, text.anatomy, image.finding, text.finding
        img_s = txt_s = None
        if last >= 0:
            img_a, txt_a = self.refine_anatomy(img_a), self.refine_anatomy(txt_a)
            if weights["anatomy"] > 0:
                mask = _and(text.anatomy_mask, image.anatomy_mask)
                losses["anatomy"] = node_info_nce(img_a, txt_a, mask, self.scales[0]())
        edge_mask = located_at >= 0
        if last >= 1:
            text_route = edge_mask.to(txt_a.dtype)
            text_route = text_route / text_route.sum(-1, keepdim=True).clamp(min=1.0)
            if image.edge_logits is not None:
                image_route = torch.softmax(image.edge_logits, dim=-1)
            else:
                image_route = text_route
            img_f = self.refine_finding(img_f, img_a, image_route)
            txt_f = self.refine_finding(txt_f, txt_a, text_route)
            if weights["pathology"] > 0:
                losses["pathology"] = node_info_nce(img_f, txt_f, text.finding_mask, self.scales[1]())
        if last >= 2 and weights["relation"] > 0:
            index = edge_mask.nonzero(as_tuple=True)
            if index[0].numel() >= 2:
                img_e = self.edges(img_f, img_a, index)
                txt_e = self.edges(txt_f, txt_a, index)
                b, k, r = index
                key = (k * num_r + r) * 8 + located_at[index]
                same = (key.unsqueeze(0) == key.unsqueeze(1)) & (b.unsqueeze(0) != b.unsqueeze(1))
                losses["relation"] = _masked_info_nce(img_e, txt_e, same, self.scales[2]())
            else:
                losses["relation"] = img_f.sum() * 0.0
            if image.edge_logits is not None:
                routing = located_at_routing_loss(image.edge_logits, located_at, image.anatomy_mask)
                losses["relation"] = losses["relation"] + routing
        if last >= 3 and weights["graph"] > 0:
            img_s = self.summary(image, img_a, img_f)
            txt_s = self.summary(text, txt_a, txt_f)
            losses["graph"] = info_nce(img_s, txt_s, self.scales[3]())
        total = sum((weights[s] * v for s, v in losses.items()), start=image.anatomy.new_zeros(()))
        return CascadeOutput(
            loss=total,
            losses=losses,
            weights=weights,
            image=image.replace(anatomy=img_a, finding=img_f, summary=img_s if img_s is not None else image.summary),
            text=text.replace(anatomy=txt_a, finding=txt_f, summary=txt_s if txt_s is not None else text.summary),
        )


def _and(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _masked_info_nce(a: Tensor, b: Tensor, drop: Tensor, scale: Tensor) -> Tensor:
    """Symmetric InfoNCE with the ``drop`` pairs (false negatives) taken out of the denominators."""
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    logits = (scale * a @ b.t()).masked_fill(drop, float("-inf"))
    labels = torch.arange(a.size(0), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
