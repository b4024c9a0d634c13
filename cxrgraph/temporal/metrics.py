"""Progression metrics: per-region accuracy and F1 (CheXLearner) and per-finding MS-CXR-T scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from cxrgraph.graph import LOCATED_AT
from cxrgraph.ontology import get_ontology

__all__ = [
    "ProgressionMetrics",
    "progression_metrics",
    "aggregate_regions",
    "FindingRecord",
    "finding_records",
    "finding_metrics",
    "MSCXRT_LABELS",
]

#: ontology progression label -> MS-CXR-T label
MSCXRT_LABELS = {"improved": "improving", "no change": "stable", "worsened": "worsening"}


def _macro_f1(cm: Tensor) -> float:
    """Macro F1 of a confusion matrix (rows truth, columns prediction) over classes seen in either."""
    tp = cm.diag().double()
    support = cm.sum(1).double()
    predicted = cm.sum(0).double()
    seen = (support + predicted) > 0
    if not seen.any():
        return math.nan
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return float(f1[seen].mean())


def _confusion(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    idx = target * num_classes + pred
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass
class ProgressionMetrics:
    """Progression scores on labelled regions.

    Attributes:
        accuracy: Over all labelled regions.
        macro_f1: Mean F1 of the three classes over all labelled regions.
        mean_region_accuracy: Mean of :attr:`region_accuracy` over regions with labels.
        mean_region_f1: Mean of :attr:`region_f1` over regions with labels.
        region_accuracy: Per region (ontology order), ``None`` where a region has no label.
        region_f1: Per-region macro F1, ``None`` where a region has no label.
        region_support: Labelled samples per region.
        class_f1: F1 per class name.
        confusion: ``[3][3]`` counts, rows truth, columns prediction.
        num_labelled: Labelled regions scored.
    """

    accuracy: float
    macro_f1: float
    mean_region_accuracy: float
    mean_region_f1: float
    region_accuracy: list[float | None]
    region_f1: list[float | None]
    region_support: list[int]
    class_f1: dict[str, float]
    confusion: list[list[int]]
    num_labelled: int

    def to_dict(self) -> dict:
        return asdict(self)


def progression_metrics(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> ProgressionMetrics:
    """Score per-region predictions ``[N, R]`` against targets ``[N, R]`` (-1 = unlabelled).

    Per-region accuracy and F1 and their averages, as CheXLearner reports them, plus pooled
    accuracy, macro F1 and the confusion matrix.

    Raises:
        ValueError: Shapes differ, or a prediction is not a class index.
    """
    onto = get_ontology()
    names = list(onto.labels["progression"])
    k = len(names)
    pred = torch.as_tensor(pred).long().cpu()
    target = torch.as_tensor(target).long().cpu()
    if pred.shape != target.shape or pred.dim() != 2:
        raise ValueError(f"pred {list(pred.shape)} and target {list(target.shape)}: expected one [N, R] shape")
    valid = target >= 0
    if mask is not None:
        valid &= torch.as_tensor(mask).bool().cpu()
    if ((pred < 0) | (pred >= k))[valid].any():
        raise ValueError(f"pred: class indices must lie in [0, {k})")
    num_r = pred.size(1)
    cm = _confusion(pred[valid], target[valid], k)
    total = int(valid.sum())
    acc = float(cm.diag().sum()) / total if total else math.nan
    tp, sup, prd = cm.diag().double(), cm.sum(1).double(), cm.sum(0).double()
    class_f1 = {n: float(2 * tp[i] / max(sup[i] + prd[i], 1)) for i, n in enumerate(names)}
    r_acc: list[float | None] = []
    r_f1: list[float | None] = []
    r_sup: list[int] = []
    for r in range(num_r):
        v = valid[:, r]
        n = int(v.sum())
        r_sup.append(n)
        if n == 0:
            r_acc.append(None)
            r_f1.append(None)
            continue
        c = _confusion(pred[v, r], target[v, r], k)
        r_acc.append(float(c.diag().sum()) / n)
        r_f1.append(_macro_f1(c))
    seen_acc = [a for a in r_acc if a is not None]
    seen_f1 = [f for f in r_f1 if f is not None]
    return ProgressionMetrics(
        accuracy=acc,
        macro_f1=_macro_f1(cm),
        mean_region_accuracy=sum(seen_acc) / len(seen_acc) if seen_acc else math.nan,
        mean_region_f1=sum(seen_f1) / len(seen_f1) if seen_f1 else math.nan,
        region_accuracy=r_acc,
        region_f1=r_f1,
        region_support=r_sup,
        class_f1=class_f1,
        confusion=cm.tolist(),
        num_labelled=total,
    )


def aggregate_regions(region_codes: Sequence[int]) -> int:
    """One progression code from several regions: worsened > improved > no change (-1 if none).

    The same precedence as :func:`cxrgraph.graph.progression_from_changes` and MS-CXR-T's
    spreading of finding labels over regions, so region predictions read back as a finding label.
    """
    onto = get_ontology()
    rank = {
        onto.label_index("progression", "worsened"): 3,
        onto.label_index("progression", "improved"): 2,
        onto.label_index("progression", "no change"): 1,
    }
    best, out = 0, -1
    for c in region_codes:
        if rank.get(int(c), 0) > best:
            best, out = rank[int(c)], int(c)
    return out


@dataclass(frozen=True)
class FindingRecord:
    """One finding of one pair: its true and predicted progression (ontology codes)."""

    finding: str
    target: int
    pred: int


def finding_records(
    pred: Tensor, current_graphs: Sequence, findings: Sequence[str] | None = None
) -> list[FindingRecord]:
    """Finding-level progression of each pair from region predictions (MS-CXR-T protocol).

    For every finding of ``findings`` (default: the five MS-CXR-T findings) that the current
    graph's located_at edges give a change cue, the truth is that cue (worst over its edges) and
    the prediction is :func:`aggregate_regions` over the regions those edges sit at.

    Args:
        pred: ``[N, R]`` predicted region codes.
        current_graphs: The ``N`` current-study graphs (with located_at change codes).
        findings: Ontology finding names.
    """
    onto = get_ontology()
    if findings is None:
        from cxrgraph.datasets.ms_cxr_t import MSCXRT_FINDINGS

        findings = list(MSCXRT_FINDINGS.values())
    wanted = {onto.finding_index(f): onto.finding(f).name for f in findings}
    if len(current_graphs) != pred.size(0):
        raise ValueError(f"current_graphs: {len(current_graphs)} graphs for {pred.size(0)} prediction rows")
    out: list[FindingRecord] = []
    for i, g in enumerate(current_graphs):
        store = g[LOCATED_AT]
        per: dict[int, tuple[list[int], list[int]]] = {}
        for (f, r), ch in zip(store.edge_index.t().tolist(), store.change.tolist()):
            if f not in wanted:
                continue
            code = onto.progression_of_change(ch)
            if code < 0:
                continue
            codes, regions = per.setdefault(f, ([], []))
            codes.append(code)
            regions.append(r)
        for f, (codes, regions) in per.items():
            out.append(FindingRecord(wanted[f], aggregate_regions(codes), aggregate_regions(pred[i, regions].tolist())))
    return out


def finding_metrics(records: Sequence[FindingRecord]) -> dict[str, dict]:
    """Per-finding accuracy and macro F1 over MS-CXR-T's improving / stable / worsening.

    Returns ``{finding: {"accuracy", "macro_f1", "support", "confusion"}}`` plus ``"mean"``
    (the average over findings with support, as MS-CXR-T results are summarised).
    A region prediction of no label at all (``-1``) counts as wrong.
    """
    onto = get_ontology()
    k = len(onto.labels["progression"])
    by: dict[str, list[FindingRecord]] = {}
    for rec in records:
        by.setdefault(rec.finding, []).append(rec)
    out: dict[str, dict] = {}
    for f, recs in sorted(by.items()):
        t = torch.tensor([r.target for r in recs])
        p = torch.tensor([r.pred for r in recs])
        ok = p >= 0
        cm = _confusion(p[ok], t[ok], k)
        out[f] = {
            "accuracy": float((p == t).double().mean()),
            "macro_f1": _macro_f1(cm),
            "support": len(recs),
            "labels": [MSCXRT_LABELS[n] for n in onto.labels["progression"]],
            "confusion": cm.tolist(),
        }
    if out:
        f1s = [v["macro_f1"] for v in out.values() if not math.isnan(v["macro_f1"])]
        out["mean"] = {
            "accuracy": sum(v["accuracy"] for v in out.values()) / len(out),
            "macro_f1": sum(f1s) / len(f1s) if f1s else math.nan,
        }
    return out
