"""``evaluate``: linear probe, zero-shot classification, retrieval and region grounding of a pretrained model."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrgraph.eval import GroundingResult, ProbeResult, ZeroShotResult
from cxrgraph.train.config import EVALUATION_TASKS, AlignDataConfig, EvaluationConfig, PretrainConfig, load_run_config

__all__ = ["EvaluationResult", "evaluate", "evaluate_checkpoint", "find_run_config"]

log = logging.getLogger(__name__)

_PHANTOM_NOTE = "phantom data: synthetic studies, not real radiographs"


@dataclass
class EvaluationResult:
    """Downstream scores of a pretrained model; a task that could not run says why in its ``*_error``.

    Attributes:
        num_test: Studies evaluated.
        num_train: Training studies embedded for the linear probe (``None`` without it).
        linear_probe: One :class:`~cxrgraph.eval.ProbeResult` per label fraction.
        zero_shot: Zero-shot AUCs.
        grounding: Region grounding of the present findings.
        retrieval: Image↔report recall, ``{"i2t_R@1": ..., "t2i_R@5": ...}``.
        retrieval_same_text: The same, counting reports of identical text as matches.
        checkpoint: The evaluated checkpoint (for runs from a checkpoint).
        split: The evaluated split.
        data_source: ``"phantom"`` or ``"mimic"``.
        output_path: Where the JSON was written, if anywhere.
    """

    num_test: int
    num_train: int | None = None
    linear_probe: list[ProbeResult] = field(default_factory=list)
    linear_probe_error: str | None = None
    zero_shot: ZeroShotResult | None = None
    zero_shot_error: str | None = None
    grounding: GroundingResult | None = None
    grounding_error: str | None = None
    retrieval: dict[str, float] | None = None
    retrieval_same_text: dict[str, float] | None = None
    checkpoint: str | None = None
    split: str | None = None
    data_source: str | None = None
    output_path: Path | None = None

    @property
    def recall_at_5(self) -> float | None:
        """Image→report recall@5 (``None`` without retrieval)."""
        return None if self.retrieval is None else self.retrieval.get("i2t_R@5")

    @property
    def note(self) -> str | None:
        """What the numbers are measured on, when a reader must know it (phantom = synthetic)."""
        return _PHANTOM_NOTE if self.data_source == "phantom" else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the layout of ``cxrgraph evaluate --output``)."""
        out: dict[str, Any] = {}
        for key, value in (("checkpoint", self.checkpoint), ("split", self.split), ("data", self.data_source)):
            if value is not None:
                out[key] = value
        out["num_test"] = self.num_test
        if self.num_train is not None:
            out["num_train"] = self.num_train
        if self.linear_probe_error is not None:
            out["linear_probe"] = {"error": self.linear_probe_error}
        elif self.linear_probe:
            out["linear_probe"] = {f"{r.fraction:g}": dataclasses.asdict(r) for r in self.linear_probe}
        if self.zero_shot_error is not None:
            out["zero_shot"] = {"error": self.zero_shot_error}
        elif self.zero_shot is not None:
            out["zero_shot"] = dataclasses.asdict(self.zero_shot)
        if self.grounding_error is not None:
            out["grounding"] = {"error": self.grounding_error}
        elif self.grounding is not None:
            g = self.grounding
            out["grounding"] = {
                "accuracy": g.accuracy,
                "auc": g.auc,
                "num_pairs": g.num_pairs,
                "chance_accuracy": g.chance_accuracy,
                "per_finding": {k: {"accuracy": a, "auc": u, "pairs": n} for k, (a, u, n) in g.per_finding.items()},
            }
        if self.retrieval is not None:
            out["retrieval"] = dict(self.retrieval)
        if self.retrieval_same_text is not None:
            out["retrieval_same_text"] = dict(self.retrieval_same_text)
        if self.note:
            out["note"] = self.note
        return out

    def summary_lines(self) -> list[str]:
        """A short human-readable summary, one line per task."""
        lines = [f"checkpoint {self.checkpoint}  split {self.split}  studies {self.num_test}"]
        if self.note:
            lines.append(f"  ({self.note})")
        if self.linear_probe_error is not None:
            lines.append(f"  linear probe  not run: {self.linear_probe_error}")
        for r in self.linear_probe:
            lines.append(
                f"  linear probe  {r.fraction:>6.0%} labels ({r.num_train:>5} studies): mean AUC {r.mean_auc:.3f}"
            )
        if self.zero_shot_error is not None:
            lines.append(f"  zero-shot     not run: {self.zero_shot_error}")
        elif self.zero_shot is not None:
            lines.append(
                f"  zero-shot     mean AUC {self.zero_shot.mean_auc:.3f} over {len(self.zero_shot.auc)} findings"
            )
        if self.grounding_error is not None:
            lines.append(f"  grounding     not run: {self.grounding_error}")
        elif self.grounding is not None:
            g = self.grounding
            lines.append(
                f"  grounding     accuracy {g.accuracy:.3f} (chance {g.chance_accuracy:.3f}), region AUC "
                f"{g.auc:.3f} over {g.num_pairs} present findings"
            )
        if self.retrieval is not None:
            lines.append("  retrieval     " + "  ".join(f"{k} {v:.3f}" for k, v in self.retrieval.items()))
        return lines


def evaluate(
    model: Any,
    train: Iterable[Any] | None,
    test: Iterable[Any],
    tasks: Sequence[str] = EVALUATION_TASKS,
    fractions: Sequence[float] = (0.01, 0.1, 1.0),
    repeats: int = 3,
    batch_size: int = 32,
    progress: bool = False,
    min_positives: int = 2,
) -> EvaluationResult:
    """Run the downstream tasks on a model's embeddings of ``test`` (and ``train`` for the linear probe).

    Args:
        model: A :class:`~cxrgraph.models.GraphAlignModel`.
        train: Studies (:class:`~cxrgraph.models.AlignSample`) or batches that fit the linear
            probe; ``None`` without ``"linear-probe"``.
        test: Studies or batches evaluated.
        tasks: Any of ``"linear-probe"``, ``"zero-shot"``, ``"retrieval"``, ``"grounding"``.
        fractions: Linear-probe label fractions.
        repeats: Linear-probe subsets per fraction below 1.
        batch_size: Studies per embedding batch.
        progress: Show progress bars.
        min_positives: Least positives and negatives a finding needs to be scored.

    Raises:
        ValueError: An unknown task, or the linear probe without training studies.
    """
    from cxrgraph.eval import (
        duplicate_positives,
        extract_embeddings,
        linear_probe,
        region_grounding,
        retrieval_metrics,
        zero_shot,
    )
    from cxrgraph.ontology import get_ontology

    unknown = sorted(set(tasks) - set(EVALUATION_TASKS))
    if unknown:
        raise ValueError(f"tasks: unknown {unknown}; choose from {list(EVALUATION_TASKS)}")
    if "linear-probe" in tasks and train is None:
        raise ValueError("evaluate: the linear probe needs training studies (train=None)")
    names = [f.name for f in get_ontology().findings]
    te = extract_embeddings(model, test, batch_size, progress)
    result = EvaluationResult(num_test=len(te))
    if "linear-probe" in tasks:
        tr = extract_embeddings(model, train, batch_size, progress)
        result.num_train = len(tr)
        try:
            result.linear_probe = linear_probe(
                tr.image,
                tr.labels,
                te.image,
                te.labels,
                list(fractions),
                names=names,
                repeats=repeats,
                min_positives=min_positives,
            )
        except ValueError as err:  # too few labelled studies: say so, run the other tasks
            result.linear_probe_error = str(err)
    if "zero-shot" in tasks:
        try:
            result.zero_shot = zero_shot(te.image, te.labels, model.embed_texts, names, min_positives=min_positives)
        except ValueError as err:
            result.zero_shot_error = str(err)
    if "grounding" in tasks:
        if te.region_scores is None:
            result.grounding_error = "the studies carry no ground-truth finding regions"
        else:
            result.grounding = region_grounding(te.region_scores, te.label_regions, te.region_mask, names)
    if "retrieval" in tasks:
        result.retrieval = retrieval_metrics(te.image, te.report, (1, 5, 10))
        if any(te.report_texts):
            result.retrieval_same_text = retrieval_metrics(
                te.image, te.report, (1, 5, 10), duplicate_positives(te.report_texts)
            )
    return result


def find_run_config(checkpoint: str | Path) -> Path | None:
    """The resolved ``config.yaml`` a pretraining run wrote beside (or above) ``checkpoint``, if any."""
    from cxrgraph.train.pretraining import RESOLVED_CONFIG

    p = Path(checkpoint)
    folder = p if p.is_dir() else p.parent
    for candidate in (folder / RESOLVED_CONFIG, folder.parent / "checkpoints" / RESOLVED_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def evaluate_checkpoint(config: EvaluationConfig) -> EvaluationResult:
    """Load a pretrained checkpoint and its studies, and :func:`evaluate` it as ``config`` says.

    The linear probe fits on the ``"train"`` split and every task scores ``config.split``. With
    ``config.output`` the results are also written there as JSON (atomically).

    Raises:
        FileNotFoundError: No checkpoint, or no ``config.data`` and no run config beside it.
        CheckpointError: A damaged, truncated or refused checkpoint file (named).
    """
    import json

    import torch

    from cxrgraph.models import GraphAlignModel
    from cxrgraph.utils.atomic import atomic_write_text

    data: AlignDataConfig | None = config.data
    if data is None:
        found = find_run_config(config.checkpoint)
        if found is None:
            raise FileNotFoundError(
                f"no config.yaml beside {config.checkpoint}; give the studies to evaluate on "
                "(EvaluationConfig.data, or cxrgraph evaluate --config PRETRAIN.yaml)"
            )
        data = load_run_config(PretrainConfig, found).data
    model = GraphAlignModel.from_pretrained(config.checkpoint).to(torch.device(config.device))
    # bigger eval batches than training ones are fine: no gradients
    data = dataclasses.replace(data, image_size=None, batch_size=max(config.batch_size, 2))
    module = data.datamodule(model.config.image_size)
    module.prepare_data()
    module.setup("test")
    if config.split not in module.datasets or "train" not in module.datasets:
        module.datasets.clear()
        module.setup(None)
    train = module.loader("train") if "linear-probe" in config.tasks else None
    result = evaluate(
        model,
        train,
        module.loader(config.split),
        config.tasks,
        config.fractions,
        config.repeats,
        config.batch_size,
        config.progress,
        config.min_positives,
    )
    result.checkpoint, result.split, result.data_source = str(config.checkpoint), config.split, data.source
    if config.output is not None:
        result.output_path = Path(config.output)
        atomic_write_text(result.output_path, json.dumps(result.to_dict(), indent=2))
    return result
