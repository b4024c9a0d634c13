"""Run a progression model over pairs and score it; write the metrics and pictures of a run."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cxrgraph.temporal.batch import PairBatch
from cxrgraph.temporal.metrics import ProgressionMetrics, finding_metrics, finding_records, progression_metrics
from cxrgraph.temporal.model import ProgressionModel
from cxrgraph.temporal.plots import plot_confusion_matrix, plot_poincare_regions, plot_region_scores
from cxrgraph.utils.atomic import atomic_write_json

__all__ = ["ProgressionEvaluation", "evaluate_progression", "write_evaluation"]


@dataclass
class ProgressionEvaluation:
    """Scores of one evaluation and the tensors the pictures need.

    Attributes:
        metrics: Per-region scores (:func:`~cxrgraph.temporal.progression_metrics`).
        findings: Per-finding MS-CXR-T protocol scores (:func:`~cxrgraph.temporal.finding_metrics`).
        pred: ``[N, R]`` predicted codes.
        target: ``[N, R]`` labels (-1 unlabelled).
        prior_points: ``[N, R, H]`` prior points on the manifold (``None`` for the plain baseline).
        current_points: ``[N, R, H]``.
        curvature: Curvature magnitude of the ball (0 when Euclidean).
        num_pairs: Pairs scored.
    """

    metrics: ProgressionMetrics
    findings: dict[str, dict]
    pred: Tensor
    target: Tensor
    prior_points: Tensor | None
    current_points: Tensor | None
    curvature: float
    num_pairs: int

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a flat dict."""
        m = self.metrics
        mean = self.findings.get("mean", {})
        return {
            "pairs": self.num_pairs,
            "labelled_regions": m.num_labelled,
            "accuracy": m.accuracy,
            "macro_f1": m.macro_f1,
            "mean_region_accuracy": m.mean_region_accuracy,
            "mean_region_f1": m.mean_region_f1,
            "finding_accuracy": mean.get("accuracy", math.nan),
            "finding_macro_f1": mean.get("macro_f1", math.nan),
            "curvature": self.curvature,
        }


@torch.no_grad()
def evaluate_progression(
    model: ProgressionModel, batches: Iterable[PairBatch], device: torch.device | str = "cpu"
) -> ProgressionEvaluation:
    """Predict every region of every pair and score the labelled ones.

    Pairs without a prior image are scored only if their labels are against an empty chest;
    here they are left out, as their labels describe a prior the model never saw. The region
    comparator, if any, reads every region (``compare_all``), so the stored predictions of
    unlabelled regions are real ones too.
    """
    was = model.training
    model.eval()
    preds, targets, priors, currents, graphs = [], [], [], [], []
    for batch in batches:
        batch = batch.to(device)
        out, target = model.forward_batch(batch, compare_all=True)
        preds.append(out.logits.argmax(-1).cpu())
        targets.append(target.cpu())
        if out.manifold is not None:
            priors.append(out.manifold.prior.cpu())
            currents.append(out.manifold.current.cpu())
        graphs.extend(batch.current.cpu().to_data_list())
    model.train(was)
    if not preds:
        raise ValueError("evaluate_progression: no batches")
    pred, target = torch.cat(preds), torch.cat(targets)
    metrics = progression_metrics(pred, target)
    findings = finding_metrics(finding_records(pred, graphs))
    curv = float(model.alignment.curvature) if model.alignment is not None else 0.0
    return ProgressionEvaluation(
        metrics,
        findings,
        pred,
        target,
        torch.cat(priors) if priors else None,
        torch.cat(currents) if currents else None,
        curv,
        int(pred.size(0)),
    )


def write_evaluation(
    ev: ProgressionEvaluation, out_dir: str | Path, prefix: str = "", title: str = ""
) -> dict[str, Path]:
    """Write ``metrics.json``, ``confusion.png``, ``regions.png`` and (manifold models) ``poincare.png``.

    Returns the written paths by name.
    """
    out = Path(out_dir)
    paths = {"metrics": out / f"{prefix}metrics.json"}
    metrics = {"summary": ev.summary(), "regions": ev.metrics.to_dict(), "findings": ev.findings}
    atomic_write_json(paths["metrics"], metrics, default=float)
    paths["confusion"] = out / f"{prefix}confusion.png"
    plot_confusion_matrix(ev.metrics.confusion, paths["confusion"], title=title or None)
    paths["regions"] = out / f"{prefix}regions.png"
    m = ev.metrics
    plot_region_scores(m.region_accuracy, m.region_f1, m.region_support, paths["regions"])
    if ev.prior_points is not None and ev.curvature > 0:
        paths["poincare"] = out / f"{prefix}poincare.png"
        n = min(64, ev.prior_points.size(0))
        plot_poincare_regions(
            ev.prior_points[:n], ev.current_points[:n], ev.curvature, ev.target[:n], path=paths["poincare"]
        )
    return paths
