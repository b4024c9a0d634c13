"""Report-graph region pretraining: teach the region encoder what each region shows, one study at a time."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.graph import ANATOMY, LOCATED_AT, ClinicalGraph
from cxrgraph.image.io import to_image_tensor
from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.region_encoder import TemporalRegionEncoder

__all__ = [
    "region_targets",
    "RegionPretrainHead",
    "pretrain_region_encoder",
    "RegionPretrainResult",
    "reader_level_accuracy",
]

log = logging.getLogger(__name__)


def region_targets(graph: ClinicalGraph) -> tuple[Tensor, Tensor]:
    """What a study's graph says about each region.

    Returns:
        ``level`` long ``[29]``: 0 nothing shown, 1 mild / ungraded, 2 moderate, 3 severe (the
        highest over the region's present or uncertain findings); ``findings`` float ``[29, K]``
        multi-hot of the findings shown at each region.
    """
    onto = get_ontology()
    level = torch.zeros(onto.num_regions, dtype=torch.long)
    findings = torch.zeros(onto.num_regions, onto.num_findings)
    store = graph[LOCATED_AT]
    absent = onto.label_index("existence", "absent")
    for (f, r), ex, sev in zip(store.edge_index.t().tolist(), store.existence.tolist(), store.severity.tolist()):
        if ex == absent:
            continue
        findings[r, f] = 1.0
        level[r] = max(int(level[r]), max(int(sev), 1))  # severity codes: 0 unspecified, 1 mild .. 3 severe
    return level, findings


class RegionPretrainHead(nn.Module):
    """Linear read-outs of region embeddings: severity level (4 classes) and findings (multi-label)."""

    def __init__(self, in_channels: int, num_findings: int) -> None:
        super().__init__()
        self.level = nn.Linear(in_channels, 4)
        self.findings = nn.Linear(in_channels, num_findings)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.level(x), self.findings(x)


@dataclass
class RegionPretrainResult:
    """Losses per epoch, seconds spent, studies seen and the trained read-out head."""

    losses: list[float]
    seconds: float
    num_studies: int
    head: RegionPretrainHead | None = None


def pretrain_region_encoder(
    encoder: TemporalRegionEncoder,
    images: Sequence[Tensor],
    graphs: Sequence[ClinicalGraph],
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    negatives_per_positive: float | None = 3.0,
) -> RegionPretrainResult:
    r"""Pretrain a region encoder on single studies from their graphs (no pairs, no change labels).

    Each region embedding is read out linearly to the severity level and the findings its
    study's graph places there (:func:`region_targets`; cross-entropy + binary cross-entropy).
    The graph can come from the report (text pipeline) or from annotations; on the phantom it is
    the report's ground truth. The read-out head is thrown away afterwards; only ``encoder`` keeps
    what it learned.

    Args:
        encoder: The encoder to train in place.
        images: ``float [1, H, W]`` images (or uint8 arrays), one per study.
        graphs: The studies' graphs, with anatomy boxes.
        epochs: Passes over the studies.
        batch_size: Studies per step.
        lr: AdamW learning rate.
        seed: Shuffling seed.
        negatives_per_positive: With a per-region encoder (``"crops"`` backbone), each epoch
            trains on every region that shows something and this many times as many randomly
            drawn empty regions (``None``: all regions). Most regions of most studies are
            empty; drawing a share of them each epoch keeps the cost proportional to the
            findings. Batches then hold ``8 * batch_size`` regions and the learning rate decays
            on a cosine. Whole-image backbones
            always see every region of a study.
    """
    if len(images) != len(graphs):
        raise ValueError(f"images ({len(images)}) and graphs ({len(graphs)}) must pair up")
    if not images:
        raise ValueError("pretrain_region_encoder: no studies")
    device = encoder.proj.weight.device
    imgs = torch.stack([to_image_tensor(x, f"images[{i}]") for i, x in enumerate(images)])
    levels, finds, boxes, present = [], [], [], []
    for g in graphs:
        lv, fd = region_targets(g)
        levels.append(lv)
        finds.append(fd)
        boxes.append(torch.nan_to_num(g[ANATOMY].box.float()))
        present.append(g[ANATOMY].has_box.bool())
    levels_t, finds_t = torch.stack(levels), torch.stack(finds)
    boxes_t, present_t = torch.stack(boxes), torch.stack(present)
    if encoder.image_encoder.uses_crops and negatives_per_positive is not None:
        return _pretrain_sampled(
            encoder, imgs, boxes_t, present_t, levels_t, finds_t, epochs, batch_size, lr, seed, negatives_per_positive
        )
    # only findings the data shows are read out; the others would just learn "never"
    used = finds_t.sum((0, 1)) > 0
    head = RegionPretrainHead(encoder.out_channels, int(used.sum()) or 1).to(device)
    level_counts = torch.bincount(levels_t[present_t], minlength=4).float()
    level_w = (level_counts.sum() / (4 * level_counts.clamp_min(1))).clamp(max=20.0).to(device)
    start = time.perf_counter()
    n = imgs.size(0)

    def batches(gen: torch.Generator) -> Iterator[Tensor]:
        order = torch.randperm(n, generator=gen)
        return (order[i : i + batch_size] for i in range(0, n, batch_size))

    def loss_of(idx: Tensor) -> Tensor:
        lv_logits, f_logits = head(encoder.regions(imgs[idx], boxes_t[idx], present_t[idx]))
        m = present_t[idx].to(device)
        return _loss(lv_logits[m], f_logits[m], levels_t[idx].to(device)[m], finds_t[idx].to(device)[m], level_w, used)

    history = _fit(encoder, head, epochs, lr, seed, batches, loss_of)
    return RegionPretrainResult(history, time.perf_counter() - start, n, head)


def _fit(
    encoder: TemporalRegionEncoder,
    head: RegionPretrainHead,
    epochs: int,
    lr: float,
    seed: int,
    batches: Callable[[torch.Generator], Iterable[Tensor]],
    loss_of: Callable[[Tensor], Tensor],
    cosine_steps: int | None = None,
) -> list[float]:
    """AdamW on the encoder and the read-out head; mean loss per epoch.

    ``batches(generator)`` gives one epoch's batches (indices), ``loss_of`` a batch's loss; with
    ``cosine_steps`` the learning rate decays on a cosine over that many steps. The encoder's
    ``requires_grad`` flags and train mode are restored afterwards.
    """
    # a frozen backbone (freeze_backbone=True) is frozen for progression training, not here
    flags = [(p, p.requires_grad) for p in encoder.parameters()]
    encoder.requires_grad_(True)
    opt = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), lr=lr, weight_decay=1e-4)
    sched = None
    if cosine_steps is not None:
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k / cosine_steps, 1.0)))
        )
    gen = torch.Generator().manual_seed(seed)
    was_training = encoder.training
    encoder.train()
    history = []
    for epoch in range(epochs):
        total, steps = 0.0, 0
        for idx in batches(gen):
            loss = loss_of(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach())
            steps += 1
        history.append(total / max(steps, 1))
        log.info("region pretraining epoch %d/%d: loss %.4f", epoch + 1, epochs, history[-1])
    encoder.train(was_training)
    for p, flag in flags:
        p.requires_grad_(flag)
    return history


def _loss(
    level_logits: Tensor, finding_logits: Tensor, levels: Tensor, findings: Tensor, level_w: Tensor, used: Tensor
) -> Tensor:
    """Weighted level cross-entropy plus finding BCE over the findings the training graphs use."""
    loss = F.cross_entropy(level_logits, levels, weight=level_w)
    if used.any():
        loss = loss + F.binary_cross_entropy_with_logits(finding_logits, findings[..., used.to(findings.device)])
    return loss


def _pretrain_sampled(
    encoder: TemporalRegionEncoder,
    imgs: Tensor,
    boxes: Tensor,
    present: Tensor,
    levels: Tensor,
    finds: Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    ratio: float,
) -> RegionPretrainResult:
    """:func:`pretrain_region_encoder` on single regions of a per-region (crop) encoder."""
    device = encoder.proj.weight.device
    image_encoder = encoder.image_encoder
    start = time.perf_counter()
    crops, extras = [], []
    with torch.no_grad():  # the crops themselves have no parameters: cut them once
        for i in range(0, imgs.size(0), 64):
            c, e = image_encoder.region_inputs(imgs[i : i + 64], boxes[i : i + 64])
            crops.append(c.cpu())
            extras.append(e.cpu())
    crops_t, extras_t = torch.cat(crops), torch.cat(extras)
    study, region = present.nonzero(as_tuple=True)
    lv, fd = levels[study, region], finds[study, region]
    positive = (lv > 0) | (fd.sum(-1) > 0)
    pos_idx, neg_idx = positive.nonzero().squeeze(1), (~positive).nonzero().squeeze(1)
    num_neg = min(len(neg_idx), max(round(ratio * len(pos_idx)), 1))
    used = finds.sum((0, 1)) > 0
    head = RegionPretrainHead(encoder.out_channels, int(used.sum()) or 1).to(device)
    # level weights from what an epoch draws, not from all regions
    counts = torch.bincount(lv[pos_idx], minlength=4).float()
    counts[0] += num_neg
    level_w = (counts.sum() / (4 * counts.clamp_min(1))).clamp(max=20.0).to(device)
    step = max(8 * batch_size, 1)
    total_steps = max(epochs * -(-(len(pos_idx) + num_neg) // step), 1)

    def batches(gen: torch.Generator) -> Iterator[Tensor]:
        chosen = torch.cat([pos_idx, neg_idx[torch.randperm(len(neg_idx), generator=gen)[:num_neg]]])
        chosen = chosen[torch.randperm(len(chosen), generator=gen)]
        return (chosen[i : i + step] for i in range(0, len(chosen), step))

    def loss_of(j: Tensor) -> Tensor:
        b, r = study[j], region[j]
        feats = image_encoder.encode_inputs(crops_t[b, r].to(device), extras_t[b, r].to(device))
        lv_logits, f_logits = head(encoder.embed_selected(feats, r))
        return _loss(lv_logits, f_logits, lv[j].to(device), fd[j].to(device), level_w, used)

    history = _fit(encoder, head, epochs, lr, seed, batches, loss_of, cosine_steps=total_steps)
    return RegionPretrainResult(history, time.perf_counter() - start, imgs.size(0), head)


@torch.no_grad()
def reader_level_accuracy(
    encoder: TemporalRegionEncoder,
    head: RegionPretrainHead,
    images: Sequence[Tensor],
    graphs: Sequence[ClinicalGraph],
    batch_size: int = 64,
) -> dict[str, float]:
    """How well a pretrained encoder and its level read-out read each region's severity level.

    A change label is the sign of a level difference, so this single-study accuracy bounds how
    well pairs can be classified from the reader. Returns ``accuracy`` over all regions with a
    box, ``positive_accuracy`` over regions whose graph shows something (level > 0),
    ``balanced_accuracy`` (mean recall over levels 0-3) and ``regions``.
    """
    if len(images) != len(graphs) or not images:
        raise ValueError("reader_level_accuracy: need as many graphs as images (at least one)")
    was = encoder.training
    encoder.eval()
    head.eval()
    device = encoder.proj.weight.device
    preds, targets = [], []
    for i in range(0, len(images), batch_size):
        imgs = torch.stack([to_image_tensor(x, "images") for x in images[i : i + batch_size]])
        gs = graphs[i : i + batch_size]
        boxes = torch.stack([torch.nan_to_num(g[ANATOMY].box.float()) for g in gs])
        present = torch.stack([g[ANATOMY].has_box.bool() for g in gs])
        logits = head.level(encoder.regions(imgs.to(device), boxes.to(device), present.to(device)))
        preds.append(logits.argmax(-1).cpu()[present])
        targets.append(torch.stack([region_targets(g)[0] for g in gs])[present])
    encoder.train(was)
    pred, tgt = torch.cat(preds), torch.cat(targets)
    hit = (pred == tgt).float()
    recalls = [float(hit[tgt == k].mean()) for k in range(4) if (tgt == k).any()]
    return {
        "accuracy": float(hit.mean()),
        "positive_accuracy": float(hit[tgt > 0].mean()) if (tgt > 0).any() else float("nan"),
        "balanced_accuracy": sum(recalls) / len(recalls),
        "regions": float(tgt.numel()),
    }
