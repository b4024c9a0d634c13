"""Linear probe: logistic regression on frozen image embeddings, with a fraction of the labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from cxrgraph.eval.metrics import roc_auc_per_column

__all__ = ["LogisticProbe", "ProbeResult", "linear_probe", "binary_labels"]

log = logging.getLogger(__name__)


def binary_labels(codes: Tensor, unmentioned_negative: bool = True) -> tuple[Tensor, Tensor]:
    """Existence codes ``[N, K]`` (1 present, 0 absent, 2 uncertain, -1 unmentioned) → targets and mask.

    Present is positive, absent negative, uncertain left out, unmentioned negative (a report
    or a phantom names what is there) unless ``unmentioned_negative=False``.
    """
    targets = (codes == 1).float()
    valid = (codes == 1) | (codes == 0)
    if unmentioned_negative:
        valid = valid | (codes < 0)
    return targets, valid


class LogisticProbe:
    """Independent L2-regularised logistic regressions, one per column, fitted full-batch with L-BFGS.

    Features are standardised with the training mean and standard deviation.

    Args:
        l2: Ridge penalty on the weights (per sample, as in ``C = 1 / (N * l2)``).
        max_iter: L-BFGS iterations.
    """

    def __init__(self, l2: float = 1e-3, max_iter: int = 200) -> None:
        if l2 < 0:
            raise ValueError(f"l2: must be >= 0, got {l2}")
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    def fit(self, x: Tensor, y: Tensor, valid: Tensor | None = None) -> LogisticProbe:
        """Fit on features ``[N, D]`` and binary targets ``[N, K]`` (``valid`` masks entries)."""
        x = x.double()
        y = y.double()
        if x.dim() != 2 or y.dim() != 2 or x.size(0) != y.size(0):
            raise ValueError(f"x / y: expected [N, D] and [N, K], got {list(x.shape)} and {list(y.shape)}")
        valid = torch.ones_like(y, dtype=torch.bool) if valid is None else valid.bool()
        self.mean = x.mean(0)
        self.std = x.std(0, unbiased=False).clamp(min=1e-6)
        z = (x - self.mean) / self.std
        w = torch.zeros(x.size(1), y.size(1), dtype=torch.float64, requires_grad=True)
        # start the bias at the training log-odds so a column without positives stays sensible
        rate = ((y * valid).sum(0) + 0.5) / (valid.sum(0) + 1.0)
        b = torch.log(rate / (1 - rate)).clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, line_search_fn="strong_wolfe")
        m = valid.double()
        n = m.sum(0).clamp(min=1.0)

        def closure() -> Tensor:
            opt.zero_grad()
            logits = z @ w + b
            loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * m).sum(0) / n
            loss = loss.sum() + 0.5 * self.l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.weight, self.bias = w.detach(), b.detach()
        return self

    def decision_function(self, x: Tensor) -> Tensor:
        """Logits ``[N, K]``."""
        if self.weight is None:
            raise RuntimeError("LogisticProbe: call fit() first")
        return ((x.double() - self.mean) / self.std) @ self.weight + self.bias


@dataclass
class ProbeResult:
    """Linear-probe AUCs at one label fraction.

    Attributes:
        fraction: Share of the training studies whose labels were used.
        num_train: Training studies used.
        mean_auc: Mean AUC over the evaluated findings (mean over repeats).
        auc: ``{finding: AUC}`` (mean over repeats).
        repeats: Subsets drawn.
    """

    fraction: float
    num_train: int
    mean_auc: float
    auc: dict[str, float] = field(default_factory=dict)
    repeats: int = 1


def linear_probe(
    train_x: Tensor,
    train_codes: Tensor,
    test_x: Tensor,
    test_codes: Tensor,
    fractions: Sequence[float] = (0.01, 0.1, 1.0),
    findings: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    repeats: int = 3,
    l2: float = 1e-3,
    seed: int = 0,
    min_positives: int = 2,
) -> list[ProbeResult]:
    """Train a linear probe on a fraction of the training labels and report test AUC per finding.

    Args:
        train_x: ``[N, D]`` frozen training embeddings.
        train_codes: ``[N, K]`` existence codes of the training studies.
        test_x: ``[M, D]`` test embeddings.
        test_codes: ``[M, K]`` test existence codes.
        fractions: Label fractions (e.g. 1 %, 10 %, 100 %); at least 2 studies are drawn.
        findings: Columns to evaluate (default: every column with ``min_positives`` positives
            and negatives in the test set).
        names: Column names for the result (default: the column index).
        repeats: Random subsets per fraction below 1 (their AUCs are averaged).
        l2: Ridge penalty.
        seed: Subset seed.
        min_positives: Least positives (and negatives) a test column needs.
    """
    y_tr, v_tr = binary_labels(train_codes)
    y_te, v_te = binary_labels(test_codes)
    if findings is None:
        pos = (y_te.bool() & v_te).sum(0)
        neg = (~y_te.bool() & v_te).sum(0)
        findings = [k for k in range(y_te.size(1)) if pos[k] >= min_positives and neg[k] >= min_positives]
    findings = list(findings)
    if not findings:
        raise ValueError("linear_probe: no finding has enough positives and negatives in the test set")
    cols = torch.tensor(findings)
    names = [str(k) for k in range(y_te.size(1))] if names is None else list(names)
    gen = torch.Generator().manual_seed(seed)
    results = []
    n = train_x.size(0)
    for frac in fractions:
        if not 0 < frac <= 1:
            raise ValueError(f"fractions: each must lie in (0, 1], got {frac}")
        size = max(2, round(frac * n))
        reps = 1 if size >= n else max(int(repeats), 1)
        aucs = []
        for _ in range(reps):
            idx = torch.randperm(n, generator=gen)[:size] if size < n else torch.arange(n)
            probe = LogisticProbe(l2=l2).fit(train_x[idx], y_tr[idx][:, cols], v_tr[idx][:, cols])
            scores = probe.decision_function(test_x)
            aucs.append(roc_auc_per_column(scores, y_te[:, cols], v_te[:, cols], min_positives))
        auc = torch.stack(aucs).nanmean(0)
        per = {names[k]: float(a) for k, a in zip(findings, auc.tolist())}
        results.append(ProbeResult(float(frac), size, float(auc.nanmean()), per, reps))
    return results
