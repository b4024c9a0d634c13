"""``AlignSample`` / ``AlignBatch``: one study (image, region boxes, report graph) and a batch of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from cxrgraph.graph.schema import ANATOMY, FINDING, LOCATED_AT, SUGGESTIVE_OF

__all__ = ["AlignSample", "AlignBatch", "collate_align", "report_text_inputs", "located_at_codes"]


@lru_cache(maxsize=1)
def _finding_index() -> dict[str, int]:
    from cxrgraph.ontology import get_ontology

    return {f.name: f.index for f in get_ontology().findings}


@dataclass
class AlignSample:
    """One study for graph alignment.

    Attributes:
        study_id: Identifier of the study.
        image: ``float32 [1, H, W]`` in ``[0, 1]`` (the package's pixel convention).
        boxes: ``[R, 4]`` normalised xyxy region boxes (anything where absent).
        present: ``[R]`` bool, the region has a box.
        report: The report's graph (a :class:`~cxrgraph.text.ReportGraph`, or any
            :class:`~cxrgraph.graph.ClinicalGraph` with ``sentences``, ``sentence_spans``,
            ``mentions`` and ``region_sentences``).
        labels: Optional ``[K]`` long ground-truth existence codes for evaluation (-1 unknown,
            0 absent, 1 present, 2 uncertain); defaults to the report's parsed existence.
        report_text: The report text (used to tell duplicate reports apart in retrieval).
        label_regions: Optional ``[K, R]`` bool ground truth of where each finding is (for
            region grounding; the phantom knows it).
        text_features: Optional frozen-encoder features of the report
            (:class:`~cxrgraph.models.ReportTextFeatures`, see
            :func:`~cxrgraph.models.attach_text_features`); collated into the batch so the text
            transformer does not run during training.
    """

    study_id: str
    image: Tensor
    boxes: Tensor
    present: Tensor
    report: Any
    labels: Tensor | None = None
    report_text: str = ""
    label_regions: Tensor | None = None
    text_features: Any = None


@dataclass
class AlignBatch:
    """A collated batch of :class:`AlignSample` (see :func:`collate_align`).

    Shapes: ``B`` studies, ``R`` regions, ``K`` findings, ``S`` most sentences, ``M`` finding mentions.

    Attributes:
        study_ids: ``B`` ids.
        images: ``[B, 1, H, W]``.
        boxes: ``[B, R, 4]`` (absent boxes zeroed).
        present: ``[B, R]`` bool.
        sentences: Per study, its sentences.
        region_sentence_mask: ``[B, S, R]`` bool.
        mentions: ``[M, 5]`` long ``(study, sentence, char_start, char_end, finding)``.
        existence: ``[B, K]`` long report-level existence (-1 unmentioned).
        located_at: ``[B, K, R]`` long existence code of each report edge (-1 none).
        suggestive_of: ``[E, 3]`` long ``(study, finding, finding)`` edges of the reports.
        labels: ``[B, K]`` long evaluation labels.
        report_texts: ``B`` report texts.
        located_severity: ``[B, K, R]`` long severity code of each report edge (0 where none).
        located_change: ``[B, K, R]`` long change code of each report edge (0 where none).
        label_regions: ``[B, K, R]`` bool ground-truth regions of each finding, when every study has them.
        sentence_features: ``[N, H]`` frozen features of the batch's ``N`` sentences (study-major
            order), when every study has them.
        mention_features: ``[M, H]`` frozen features of the rows of ``mentions``, likewise.
    """

    study_ids: list[str]
    images: Tensor
    boxes: Tensor
    present: Tensor
    sentences: list[list[str]]
    region_sentence_mask: Tensor
    mentions: Tensor
    existence: Tensor
    located_at: Tensor
    suggestive_of: Tensor
    labels: Tensor
    report_texts: list[str]
    located_severity: Tensor | None = None
    located_change: Tensor | None = None
    label_regions: Tensor | None = None
    sentence_features: Tensor | None = None
    mention_features: Tensor | None = None

    @property
    def text_features(self) -> tuple[Tensor, Tensor] | None:
        """``(sentence_features, mention_features)`` when the batch carries them."""
        if self.sentence_features is None or self.mention_features is None:
            return None
        return self.sentence_features, self.mention_features

    def __len__(self) -> int:
        return len(self.study_ids)

    def to(self, *args: Any, **kwargs: Any) -> AlignBatch:
        """Move every tensor (like :meth:`torch.Tensor.to`; dtype casts apply to images only)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                if value.is_floating_point():
                    value = value.to(*args, **kwargs)
                else:
                    device = _device_of(args, kwargs)
                    value = value.to(device, non_blocking=kwargs.get("non_blocking", False)) if device else value
            out[f.name] = value
        return AlignBatch(**out)


def _device_of(args: Sequence[Any], kwargs: dict[str, Any]) -> torch.device | None:
    if "device" in kwargs:
        return torch.device(kwargs["device"])
    for a in args:
        if isinstance(a, (str, torch.device)):
            return torch.device(a)
        if isinstance(a, Tensor):
            return a.device
    return None


def report_text_inputs(reports: Sequence[Any], num_regions: int = 29) -> tuple[list[list[str]], Tensor, Tensor]:
    """Sentences, ``[B, S, R]`` region–sentence mask and ``[M, 5]`` finding mentions of parsed reports.

    Mention spans of a report graph are offsets into the report; they are made relative to
    their sentence, as :class:`~cxrgraph.nn.TextGraphEncoder` expects.
    """
    index = _finding_index()
    sentences = [list(getattr(g, "sentences", None) or []) for g in reports]
    num_s = max((len(s) for s in sentences), default=0)
    mask = torch.zeros(len(reports), num_s, num_regions, dtype=torch.bool)
    rows: list[tuple[int, int, int, int, int]] = []
    for b, g in enumerate(reports):
        n = len(sentences[b])
        if n == 0:
            continue
        rs = getattr(g, "region_sentences", None)
        if rs is not None and rs.numel():
            rs = torch.as_tensor(rs, dtype=torch.bool)
            if rs.shape != (n, num_regions):
                raise ValueError(
                    f"report {b}: region_sentences has shape {list(rs.shape)}, expected [{n}, {num_regions}]"
                )
            mask[b, :n] = rs
        spans = list(getattr(g, "sentence_spans", None) or [])
        for m in getattr(g, "mentions", None) or []:
            if getattr(m, "kind", None) != "finding" or not 0 <= m.sentence < n:
                continue
            offset = spans[m.sentence][0] if m.sentence < len(spans) else 0
            start, end = m.span[0] - offset, m.span[1] - offset
            if start < 0 or end > len(sentences[b][m.sentence]) or end <= start:
                continue  # a span that does not fall inside its sentence is no usable evidence
            rows.append((b, m.sentence, start, end, index[m.name]))
    mentions = torch.tensor(rows, dtype=torch.long).view(-1, 5)
    return sentences, mask, mentions


def located_at_codes(report: Any, num_findings: int, num_regions: int) -> tuple[Tensor, Tensor, Tensor]:
    """Dense ``[K, R]`` existence (-1 where no edge), severity and change codes of a graph's located_at edges."""
    located = torch.full((num_findings, num_regions), -1, dtype=torch.long)
    severity = torch.zeros(num_findings, num_regions, dtype=torch.long)
    change = torch.zeros(num_findings, num_regions, dtype=torch.long)
    store = report[LOCATED_AT]
    if store.edge_index.numel():
        src, dst = store.edge_index[0], store.edge_index[1]
        located[src, dst] = store.existence.long()
        if "severity" in store:
            severity[src, dst] = store.severity.long()
        if "change" in store:
            change[src, dst] = store.change.long()
    return located, severity, change


def _report_targets(report: Any, num_findings: int, num_regions: int) -> tuple[Tensor, tuple[Tensor, ...], Tensor]:
    existence = report[FINDING].existence.long().view(-1)
    if existence.numel() != num_findings:
        raise ValueError(f"report graph: {existence.numel()} finding nodes, expected {num_findings}")
    sugg = report[SUGGESTIVE_OF].edge_index if SUGGESTIVE_OF in report.edge_types else torch.empty(2, 0)
    return existence, located_at_codes(report, num_findings, num_regions), sugg.long().t()


def collate_align(samples: Sequence[AlignSample]) -> AlignBatch:
    """Collate studies into an :class:`AlignBatch` (images must share one size)."""
    if not samples:
        raise ValueError("collate_align: got an empty list of samples")
    sizes = {tuple(s.image.shape) for s in samples}
    if len(sizes) != 1:
        raise ValueError(f"collate_align: images of one batch must share a size, got {sorted(sizes)}")
    num_r = samples[0].boxes.size(0)
    num_k = samples[0].report[FINDING].num_nodes
    if samples[0].report[ANATOMY].num_nodes != num_r:
        raise ValueError(f"collate_align: {num_r} boxes but {samples[0].report[ANATOMY].num_nodes} anatomy nodes")
    images = torch.stack([s.image.float() for s in samples])
    present = torch.stack([torch.as_tensor(s.present, dtype=torch.bool) for s in samples])
    boxes = torch.stack([torch.as_tensor(s.boxes, dtype=torch.float32) for s in samples])
    boxes = torch.where(present.unsqueeze(-1) & torch.isfinite(boxes), boxes, torch.zeros_like(boxes))
    existence, located, severity, change, sugg = [], [], [], [], []
    for b, s in enumerate(samples):
        e, (loc, sev, ch), sg = _report_targets(s.report, num_k, num_r)
        existence.append(e)
        located.append(loc)
        severity.append(sev)
        change.append(ch)
        if sg.numel():
            sugg.append(torch.cat([torch.full((sg.size(0), 1), b, dtype=torch.long), sg], dim=1))
    existence_t = torch.stack(existence)
    labels = torch.stack([s.labels.long() if s.labels is not None else existence_t[b] for b, s in enumerate(samples)])
    sentences, mask, mentions = report_text_inputs([s.report for s in samples], num_r)
    label_regions = None
    if all(s.label_regions is not None for s in samples):
        label_regions = torch.stack([torch.as_tensor(s.label_regions, dtype=torch.bool) for s in samples])
    sentence_features = mention_features = None
    if all(s.text_features is not None for s in samples):
        sentence_features, mention_features = _collate_text_features(samples, sentences, mentions)
    return AlignBatch(
        study_ids=[str(s.study_id) for s in samples],
        images=images,
        boxes=boxes,
        present=present,
        sentences=sentences,
        region_sentence_mask=mask,
        mentions=mentions,
        existence=existence_t,
        located_at=torch.stack(located),
        suggestive_of=torch.cat(sugg) if sugg else torch.empty(0, 3, dtype=torch.long),
        labels=labels,
        report_texts=[s.report_text for s in samples],
        located_severity=torch.stack(severity),
        located_change=torch.stack(change),
        label_regions=label_regions,
        sentence_features=sentence_features,
        mention_features=mention_features,
    )


def _collate_text_features(
    samples: Sequence[AlignSample], sentences: list[list[str]], mentions: Tensor
) -> tuple[Tensor, Tensor]:
    """Concatenate the studies' stored text features, checking each against its report."""
    m_count = (
        torch.bincount(mentions[:, 0], minlength=len(samples)).tolist() if mentions.numel() else [0] * len(samples)
    )
    for b, s in enumerate(samples):
        f = s.text_features
        if f.sentences.size(0) != len(sentences[b]) or f.mentions.size(0) != m_count[b]:
            raise ValueError(
                f"study {s.study_id}: stored text features have {f.sentences.size(0)} sentences and "
                f"{f.mentions.size(0)} mentions, its report {len(sentences[b])} and {m_count[b]} "
                "(features of another parse: rebuild them with attach_text_features)"
            )
    return (
        torch.cat([s.text_features.sentences for s in samples]),
        torch.cat([s.text_features.mentions for s in samples]),
    )
