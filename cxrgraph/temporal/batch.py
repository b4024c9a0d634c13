"""Study pairs with images and comparison sentences, and their PyG batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch

from cxrgraph.graph import ANATOMY, LOCATED_AT, UNLABELLED, ClinicalGraph, StudyPair, collate_pairs
from cxrgraph.image.io import to_image_tensor
from cxrgraph.ontology import Ontology, get_ontology

__all__ = [
    "TemporalSample",
    "PairBatch",
    "collate_temporal",
    "comparison_sentences",
    "progression_against_empty",
    "region_levels",
]


def comparison_sentences(graph: ClinicalGraph, ontology: Ontology | None = None) -> dict[int, list[str]]:
    """Region index -> the report sentences that state a change about that region.

    Reads a :class:`~cxrgraph.text.ReportGraph` (the text pipeline's output): a sentence counts
    when one of its located_at facts carries a change cue (new, worsened, improved, no change,
    resolved). A graph without sentences gives an empty dict.
    """
    onto = ontology or get_ontology()
    store = graph._global_store
    sentences = store.get("sentences") or []
    out: dict[int, list[str]] = {}
    for t in store.get("report_triplets") or []:
        if t.change == "unspecified" or not 0 <= t.sentence < len(sentences):
            continue
        r = onto.region_index(t.region)
        text = sentences[t.sentence]
        if text not in out.setdefault(r, []):
            out[r].append(text)
    return out


def progression_against_empty(current: ClinicalGraph | Batch, ontology: Ontology | None = None) -> Tensor:
    """Per-region progression of a study read against an empty chest, ``[B, 29]``.

    A region where the study shows any finding (present or uncertain) has ``worsened`` (the
    finding is new), every other region ``no change``. This is the target of a study whose
    prior is replaced by the learned stand-in (prior dropout).
    """
    onto = ontology or get_ontology()
    num_r = onto.num_regions
    num_b = int(getattr(current, "num_graphs", 1) or 1)
    out = torch.full((num_b, num_r), onto.label_index("progression", "no change"), dtype=torch.long)
    store = current[LOCATED_AT]
    if store.edge_index.numel():
        shown = store.existence != onto.label_index("existence", "absent")
        region = store.edge_index[1][shown]
        out.view(-1)[region] = onto.label_index("progression", "worsened")  # batched region ids are b * 29 + r
    return out


def region_levels(graphs: ClinicalGraph | Batch, ontology: Ontology | None = None) -> Tensor:
    """Severity level each study's graph gives each region, ``[B, 29]`` long.

    0 nothing shown, 1 mild or ungraded, 2 moderate, 3 severe: the highest over the region's
    present or uncertain findings (as :func:`cxrgraph.temporal.region_targets`, for a batch).
    """
    onto = ontology or get_ontology()
    num_r = onto.num_regions
    num_b = int(getattr(graphs, "num_graphs", 1) or 1)
    out = torch.zeros(num_b * num_r, dtype=torch.long)
    store = graphs[LOCATED_AT]
    if store.edge_index.numel():
        shown = store.existence != onto.label_index("existence", "absent")
        level = store.severity[shown].clamp_min(1)  # severity codes: 0 unspecified, 1 mild .. 3 severe
        out = out.scatter_reduce(0, store.edge_index[1][shown].cpu(), level.cpu(), reduce="amax")
    return out.view(num_b, num_r)


@dataclass
class TemporalSample:
    """One study pair with what the image model and the text guidance read.

    Attributes:
        pair: The :class:`~cxrgraph.graph.StudyPair` (graphs and per-region labels).
        current_image: ``float [1, H, W]`` in ``[0, 1]``.
        prior_image: Same for the prior study; ``None`` when there is no prior image (the
            model's learned stand-in is used).
        guidance: Region index -> text of the current report's comparison sentences about it.
        current_features: Optional precomputed region features ``[R, C]`` of the current image
            (a frozen backbone's output, see :meth:`ProgressionModel.encode_studies`); when
            set, the model skips its image backbone.
        prior_features: Same for the prior image.
        current_crops: Optional precomputed registered region crops ``[R, C, S, S]`` of the
            current image, read by the model's region comparator
            (:meth:`ProgressionModel.encode_studies`).
        prior_crops: Same for the prior image.
    """

    pair: StudyPair
    current_image: Tensor
    prior_image: Tensor | None = None
    guidance: dict[int, str] = field(default_factory=dict)
    current_features: Tensor | None = None
    prior_features: Tensor | None = None
    current_crops: Tensor | None = None
    prior_crops: Tensor | None = None

    def __post_init__(self) -> None:
        self.current_image = to_image_tensor(self.current_image, "current_image")
        if self.prior_image is not None:
            self.prior_image = to_image_tensor(self.prior_image, "prior_image")
            if self.prior_image.shape != self.current_image.shape:
                raise ValueError(
                    f"prior_image: shape {list(self.prior_image.shape)} differs from current_image "
                    f"{list(self.current_image.shape)}; resize both to one size"
                )
        n = get_ontology().num_regions
        for name in ("current_features", "prior_features"):
            f = getattr(self, name)
            if f is not None and (f.dim() != 2 or f.size(0) != n):
                raise ValueError(f"{name}: expected [{n}, C] region features, got {list(f.shape)}")
        for name in ("current_crops", "prior_crops"):
            f = getattr(self, name)
            if f is not None and (f.dim() != 4 or f.size(0) != n):
                raise ValueError(f"{name}: expected [{n}, C, S, S] region crops, got {list(f.shape)}")
        pc, cc = self.prior_crops, self.current_crops
        if pc is not None and cc is not None and pc.shape != cc.shape:
            raise ValueError(f"prior_crops: shape {list(pc.shape)} differs from current_crops {list(cc.shape)}")
        if self.current_features is not None and self.prior_image is not None and self.prior_features is None:
            raise ValueError("prior_features: missing while current_features and a prior image are given")
        bad = [r for r in self.guidance if not 0 <= int(r) < n]
        if bad:
            raise ValueError(f"guidance: region index {bad[0]} out of range [0, {n})")

    @classmethod
    def from_report(
        cls,
        pair: StudyPair,
        current_image: Any,
        prior_image: Any = None,
        report: str | ClinicalGraph | None = None,
    ) -> TemporalSample:
        """Build a sample, reading the guidance from the current report.

        Args:
            pair: The study pair.
            current_image: Current radiograph (uint8 or float array / tensor).
            prior_image: Prior radiograph, or ``None``.
            report: The current report as text (parsed with :func:`cxrgraph.text.parse_report`)
                or as an already parsed report graph; ``None`` = no guidance.
        """
        guidance: dict[int, str] = {}
        if report is not None:
            if isinstance(report, str):
                from cxrgraph.text import parse_report

                report = parse_report(report)
            guidance = {r: " ".join(s) for r, s in comparison_sentences(report).items()}
        return cls(pair, current_image, prior_image, guidance)


def _boxes(batch: Batch, num_graphs: int, num_r: int) -> tuple[Tensor, Tensor]:
    store = batch[ANATOMY]
    if "box" not in store:
        raise ValueError("graphs carry no anatomy boxes ('box'); the image model needs one box per region")
    boxes = torch.nan_to_num(store.box.float()).view(num_graphs, num_r, 4)
    present = (
        store.has_box.view(num_graphs, num_r) if "has_box" in store else torch.ones(num_graphs, num_r, dtype=torch.bool)
    )
    return boxes, present.bool() & ((boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1]))


@dataclass
class PairBatch:
    """A batch of study pairs: PyG graph batches, labels, masks, images and guidance.

    Attributes:
        prior: Batched prior graphs.
        current: Batched current graphs.
        change: ``[B, R]`` long progression codes (-1 unlabelled).
        mask: ``[B, R]`` bool, the region has a label.
        current_image: ``[B, 1, H, W]`` or ``None`` for graph-only batches.
        prior_image: ``[B, 1, H, W]``; rows without a prior image are zero.
        has_prior: ``[B]`` bool, the pair has a prior image.
        current_boxes: ``[B, R, 4]`` normalised xyxy (from the current graphs).
        prior_boxes: ``[B, R, 4]`` (from the prior graphs).
        current_present: ``[B, R]`` bool region has a box.
        prior_present: ``[B, R]`` bool.
        guidance_text: The batch's distinct guidance texts.
        guidance_index: ``[B, R]`` long index into :attr:`guidance_text`, -1 without guidance.
        meta: Per-pair metadata.
        current_features: ``[B, R, C]`` precomputed region features, or ``None``.
        prior_features: ``[B, R, C]`` (zero rows without a prior), or ``None``.
        current_crops: ``[B, R, C, S, S]`` precomputed region crops (for the comparator), or ``None``.
        prior_crops: Same for the prior studies (zero rows without a prior), or ``None``.
    """

    prior: Batch
    current: Batch
    change: Tensor
    mask: Tensor
    current_image: Tensor | None
    prior_image: Tensor | None
    has_prior: Tensor
    current_boxes: Tensor
    prior_boxes: Tensor
    current_present: Tensor
    prior_present: Tensor
    guidance_text: list[str]
    guidance_index: Tensor
    meta: list[dict[str, Any]]
    current_features: Tensor | None = None
    prior_features: Tensor | None = None
    current_crops: Tensor | None = None
    prior_crops: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.change.size(0))

    def to(self, device: torch.device | str) -> PairBatch:
        """Move every tensor (and the graph batches) to ``device``."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to(device) if isinstance(v, (Tensor, Batch)) else v
        return PairBatch(**out)


def _stack_pair(samples: Sequence[TemporalSample], name: str, what: str) -> tuple[Tensor | None, Tensor | None]:
    """Stack the samples' ``current_<name>`` and ``prior_<name>`` (zeros where a pair has no prior)."""
    current = [getattr(s, f"current_{name}") for s in samples]
    if all(c is None for c in current):
        return None, None
    if any(c is None for c in current):
        raise ValueError(f"collate_temporal: some samples carry {what} and some do not")
    prior = [getattr(s, f"prior_{name}") for s in samples]
    return torch.stack(current), torch.stack([torch.zeros_like(c) if p is None else p for c, p in zip(current, prior)])


def collate_temporal(samples: Sequence[TemporalSample | StudyPair]) -> PairBatch:
    """Batch samples (or bare :class:`~cxrgraph.graph.StudyPair`\\ s, giving a graph-only batch).

    Builds on :func:`cxrgraph.graph.collate_pairs` for the graphs and labels.
    """
    if not samples:
        raise ValueError("collate_temporal needs at least one sample")
    onto = get_ontology()
    num_r = onto.num_regions
    pairs = [s.pair if isinstance(s, TemporalSample) else s for s in samples]
    for i, p in enumerate(pairs):
        if not isinstance(p, StudyPair):
            raise TypeError(f"samples[{i}]: expected TemporalSample or StudyPair, got {type(p).__name__}")
    prior, current, change = collate_pairs(pairs)
    num_b = len(pairs)
    current_boxes, current_present = _boxes(current, num_b, num_r)
    prior_boxes, prior_present = _boxes(prior, num_b, num_r)

    with_images = [isinstance(s, TemporalSample) for s in samples]
    current_image = prior_image = current_features = prior_features = current_crops = prior_crops = None
    has_prior = torch.zeros(num_b, dtype=torch.bool)
    guidance_text: list[str] = []
    guidance_index = torch.full((num_b, num_r), -1, dtype=torch.long)
    if any(with_images):
        if not all(with_images):
            raise TypeError("collate_temporal: mix of TemporalSample and bare StudyPair in one batch")
        shapes = {tuple(s.current_image.shape) for s in samples}
        if len(shapes) > 1:
            raise ValueError(f"collate_temporal: images of different sizes in one batch: {sorted(shapes)}")
        current_image = torch.stack([s.current_image for s in samples])
        prior_image = torch.stack(
            [s.prior_image if s.prior_image is not None else torch.zeros_like(s.current_image) for s in samples]
        )
        has_prior = torch.tensor([s.prior_image is not None for s in samples], dtype=torch.bool)
        seen: dict[str, int] = {}
        for b, s in enumerate(samples):
            for r, text in s.guidance.items():
                guidance_index[b, int(r)] = seen.setdefault(text, len(seen))
        guidance_text = list(seen)
        current_features, prior_features = _stack_pair(samples, "features", "precomputed features")
        current_crops, prior_crops = _stack_pair(samples, "crops", "region crops")
    meta = [dict(p.meta) if isinstance(p.meta, Mapping) else {} for p in pairs]
    return PairBatch(
        prior=prior,
        current=current,
        change=change,
        mask=change != UNLABELLED,
        current_image=current_image,
        prior_image=prior_image,
        has_prior=has_prior,
        current_boxes=current_boxes,
        prior_boxes=prior_boxes,
        current_present=current_present,
        prior_present=prior_present,
        guidance_text=guidance_text,
        guidance_index=guidance_index,
        meta=meta,
        current_features=current_features,
        prior_features=prior_features,
        current_crops=current_crops,
        prior_crops=prior_crops,
    )
