"""The demo's pretraining stages: pretrain, then show what it learned against the untrained encoder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cxrgraph.demo.report import DemoReport
from cxrgraph.models.config import LOSS_NAMES

if TYPE_CHECKING:
    from cxrgraph.train import EvaluationResult, PretrainConfig

__all__ = ["pretrain_config", "compare_with_untrained", "grounding_figure"]

#: Losses of the demo's pretraining, as in configs/pretrain_phantom_cpu.yaml: every one (global,
#: CGA cascade, ASG region-sentence / image-tag triplets / soft labels, PLACE).
DEMO_LOSSES = dict.fromkeys(LOSS_NAMES, 1.0)


def pretrain_config(
    out: Path, seed: int, patients: int, image_size: int, steps: int, batch_size: int, device: torch.device
) -> PretrainConfig:
    """The recipe of ``configs/pretrain_phantom_cpu.yaml`` at the demo's size."""
    from cxrgraph.train import AlignDataConfig, CheckpointConfig, PretrainConfig, PretrainModelConfig, TrainerConfig

    gpu = device.type == "cuda"
    return PretrainConfig(
        seed=seed,
        output_dir=str(out / "pretrain"),
        model=PretrainModelConfig(
            model_config={
                "backbone": "resnet18",
                "backbone_weights": None,
                "image_size": image_size,
                "text_model": None,
                "freeze_text": True,
                "max_length": 48,
                "channels": 64,
                "graph_encoder": None,
                "loss_weights": dict(DEMO_LOSSES),
            },
            lr=1e-3,
            weight_decay=0.05,
            warmup_steps=0.05,
            scheduler="cosine",
        ),
        data=AlignDataConfig(
            source="phantom",
            num_patients=patients,
            studies_per_patient=(1, 3),
            seed=seed,
            val_fraction=0.1,
            test_fraction=0.25,
            batch_size=batch_size,
            num_workers=0,
            cache_dir=str(out / "cache"),
            progress=False,
        ),
        trainer=TrainerConfig(
            max_steps=steps,
            accelerator="gpu" if gpu else "cpu",
            devices=1,
            precision="16-mixed" if gpu else "32-true",
            gradient_clip_val=1.0,
            log_every_n_steps=5,
        ),
        checkpoint=CheckpointConfig(monitor="val/loss", mode="min", save_top_k=1),
    )


def _evaluate(checkpoint: Path, config: PretrainConfig, out: Path, name: str, progress: bool) -> EvaluationResult:
    from cxrgraph.train import EvaluationConfig, evaluate_checkpoint

    return evaluate_checkpoint(
        EvaluationConfig(
            checkpoint=str(checkpoint),
            data=config.data,
            repeats=3,
            output=str(out / f"evaluation_{name}.json"),
            progress=progress,
        )
    )


def compare_with_untrained(
    report: DemoReport, trained_path: Path, config: PretrainConfig, progress: bool
) -> tuple[EvaluationResult, EvaluationResult]:
    """Evaluate the pretrained model and the same model untrained with one probe on one split.

    The untrained model is built from the same config and seed as the pretraining run and
    evaluated exactly as the pretrained one; the report gets both, the gain, and the summary row
    ``probe AUC at 10 % labels, pretrained / untrained``.
    """
    from cxrgraph.models import GraphAlignModel

    out = report.out
    torch.manual_seed(config.seed)
    untrained_path = GraphAlignModel(config.model.model_config).save_pretrained(out / "untrained")
    pretrained = _evaluate(trained_path, config, out, "pretrained", progress)
    untrained = _evaluate(untrained_path, config, out, "untrained", progress)

    rows: list[list[str]] = []

    def row(label: str, a: float | None, b: float | None) -> None:
        if a is None or b is None:
            return
        rows.append([label, f"{a:.3f}", f"{b:.3f}", f"{a - b:+.3f}"])

    by_fraction = {p.fraction: p for p in untrained.linear_probe}
    for probe in pretrained.linear_probe:
        base = by_fraction.get(probe.fraction)
        label = f"linear probe, {probe.fraction:.0%} of labels ({probe.num_train} studies), mean AUC"
        row(label, probe.mean_auc, base.mean_auc if base else None)
        if abs(probe.fraction - 0.1) < 1e-9 and base is not None:
            report.metric(
                "pretraining",
                "probe AUC at 10 % labels, pretrained / untrained",
                f"{probe.mean_auc:.3f} / {base.mean_auc:.3f}",
            )
    if pretrained.zero_shot is not None and untrained.zero_shot is not None:
        row("zero-shot mean AUC", pretrained.zero_shot.mean_auc, untrained.zero_shot.mean_auc)
    row("retrieval image→report R@5", pretrained.recall_at_5, untrained.recall_at_5)
    if pretrained.grounding is not None and untrained.grounding is not None:
        row("region grounding accuracy", pretrained.grounding.accuracy, untrained.grounding.accuracy)
        row("region grounding AUC over regions", pretrained.grounding.auc, untrained.grounding.auc)
        report.metric(
            "pretraining",
            "region grounding accuracy, pretrained / untrained (chance)",
            f"{pretrained.grounding.accuracy:.3f} / {untrained.grounding.accuracy:.3f} "
            f"({pretrained.grounding.chance_accuracy:.3f})",
        )
    if pretrained.recall_at_5 is not None:
        chance = 5 / max(pretrained.num_test, 5)
        report.metric(
            "pretraining", "retrieval image→report R@5 (chance)", f"{pretrained.recall_at_5:.3f} ({chance:.3f})"
        )
    report.section(
        "7. What pretraining learned: the pretrained encoder beside the untrained one",
        "Both are evaluated the same way on the same held-out phantom studies (`evaluation_pretrained.json`, "
        "`evaluation_untrained.json`; `cxrgraph evaluate --task all` runs the same): the image embedding is the "
        "image graph's readout; the linear probe is fitted on a fraction of the training studies' labels; "
        "grounding asks whether the region the image graph links a present finding to is one where the phantom "
        "drew it. Synthetic data.",
    )
    report.table(["measure", "pretrained", "untrained", "gain"], rows or [["(no scorable task)", "-", "-", "-"]])
    return pretrained, untrained


def grounding_figure(report: DemoReport, model: Any, config: PretrainConfig, device: torch.device) -> None:
    """Draw a held-out study with the regions its image graph links each present finding to."""
    from cxrgraph.eval import plot_grounding

    data = dataclasses.replace(config.data, progress=False)
    module = data.datamodule(model.config.image_size)
    module.setup("test")
    studies = list(getattr(module.datasets.get("test"), "samples", []))
    studies = [s for s in studies if s.label_regions is not None]
    if not studies:
        return
    # the held-out study with the most present findings (a busy picture shows most)
    study = max(studies, key=lambda s: int(s.label_regions.any(-1).sum()))
    present = study.label_regions.any(-1).nonzero().flatten().tolist()[:5]
    if not present:
        return
    with torch.no_grad():
        scores = model.locate_findings(
            study.image[None].to(device), study.boxes[None].to(device), study.present[None].to(device)
        )[0].cpu()
    boxes = torch.nan_to_num(study.boxes.float())
    fig = plot_grounding(study.image, boxes, scores, present, study.label_regions, title=f"study {study.study_id}")
    hits = sum(bool(study.label_regions[k, int(scores[k].argmax())]) for k in present)
    report.figure(
        fig,
        "grounding.png",
        "Where the pretrained image graph puts each finding of a held-out study: solid boxes are the regions it "
        "links each finding to (with the score), dashed boxes the regions where the phantom drew it.",
        f"phantom study {study.study_id} (synthetic, held out); {hits} of {len(present)} findings linked to a true region",
    )
