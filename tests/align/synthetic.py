"""Synthetic image / report embeddings with a known pairing."""

from __future__ import annotations

import torch

from cxrgraph.nn import GraphEmbeddings
from cxrgraph.ontology import get_ontology

# K is the ontology's number of findings: the losses' defaults size themselves by it
B, R, K, D, S, P = 8, 29, get_ontology().num_findings, 32, 4, 16


def permute(emb: GraphEmbeddings, perm: torch.Tensor) -> GraphEmbeddings:
    """The same embeddings with the studies reordered."""
    return GraphEmbeddings(**{k: (v[perm] if isinstance(v, torch.Tensor) else v) for k, v in emb.__dict__.items()})


def make_pair(
    seed: int = 0, noise: float = 0.05, batch: int = B
) -> tuple[GraphEmbeddings, GraphEmbeddings, torch.Tensor]:
    """Image embeddings, text embeddings equal to them up to noise, and the report's located_at table.

    Every study mentions a handful of findings at a handful of regions; several findings and
    regions recur across studies so that per-node contrastive stages have negatives.
    """
    g = torch.Generator().manual_seed(seed)
    located = torch.full((batch, K, R), -1, dtype=torch.long)
    for b in range(batch):
        ks = torch.randperm(6, generator=g)[:3]
        rs = torch.randperm(8, generator=g)[:3]
        located[b, ks, rs] = torch.randint(0, 2, (3,), generator=g)
    finding_mask = (located >= 0).any(-1)
    region_mask = (located >= 0).any(1)
    region_mask[:, 20:24] = True
    edge_logits = torch.where(located >= 0, 8.0, -8.0)
    image = GraphEmbeddings(
        anatomy=torch.randn(batch, R, D, generator=g),
        finding=torch.randn(batch, K, D, generator=g),
        summary=torch.randn(batch, D, generator=g),
        finding_logits=torch.randn(batch, K, generator=g),
        edge_logits=edge_logits,
        tokens=torch.randn(batch, P, D, generator=g),
    )

    def jitter(x: torch.Tensor) -> torch.Tensor:
        return x + noise * torch.randn(x.shape, generator=g)

    # each sentence talks about one or two regions; its embedding is the mean of theirs
    token_region = torch.zeros(batch, S, R, dtype=torch.bool)
    for b in range(batch):
        rs = region_mask[b].nonzero().flatten()
        for s in range(S):
            pick = rs[torch.randperm(len(rs), generator=g)[: 1 + s % 2]]
            token_region[b, s, pick] = True
    sent = torch.einsum("bsr,brd->bsd", token_region.float(), image.anatomy) / token_region.sum(-1, keepdim=True)
    text = GraphEmbeddings(
        anatomy=jitter(image.anatomy),
        finding=jitter(image.finding),
        summary=jitter(image.summary),
        anatomy_mask=region_mask,
        finding_mask=finding_mask,
        tokens=jitter(sent),
        token_mask=torch.ones(batch, S, dtype=torch.bool),
        token_region_mask=token_region,
    )
    return image, text, located


def derangement(n: int, seed: int = 1) -> torch.Tensor:
    """A permutation with no fixed point (every study gets another study's report)."""
    return torch.roll(torch.arange(n), 1 + seed % (n - 1))
