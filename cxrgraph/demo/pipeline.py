"""The end-to-end demo: phantom cohort → report graphs → regions → image graphs → cascading
alignment pretraining → temporal progression → evaluation → ``report.md`` with figures.

Every stage uses the public API a user would call (the run functions of
:mod:`cxrgraph.train` and their typed results, never the command line); the demo only chooses
small settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cxrgraph.demo.report import DemoReport

if TYPE_CHECKING:
    from cxrgraph.train import ProgressionRunConfig

__all__ = ["DemoSettings", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    """Sizes of the demo; ``quick()`` gives the ≤ 2-minute version used by the tests."""

    patients: int = 60
    image_size: int = 128
    seed: int = 0
    pretrain_patients: int = 400
    pretrain_steps: int = 200
    progression_epochs: int = 12
    batch_size: int = 32
    device: str = "auto"
    progress: bool = True
    quick: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick_settings(cls, **kw: Any) -> DemoSettings:
        return cls(
            patients=14,
            image_size=96,
            pretrain_patients=16,
            pretrain_steps=3,
            progression_epochs=3,
            batch_size=8,
            quick=True,
            **kw,
        )


class _Stages:
    """Times each stage and shows one progress line per stage."""

    def __init__(self, total: int, progress: bool) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.times: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.done += 1
        if self.progress:
            print(f"[{self.done}/{self.total}] {name} ...", flush=True)
        t = time.perf_counter()
        yield
        self.times[name] = time.perf_counter() - t
        if self.progress:
            print(f"[{self.done}/{self.total}] {name}: {self.times[name]:.1f} s", flush=True)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_demo(out: str | Path, settings: DemoSettings | None = None) -> Path:
    """Run every stage on a fresh phantom cohort and write ``<out>/report.md``.

    Returns:
        The path of the report.
    """
    from cxrgraph.datasets.phantom import PhantomCohort
    from cxrgraph.graph import plot_graph
    from cxrgraph.image import AtlasDetector, ImageGraph, evaluate_detections, plot_detection_overlay, to_image_tensor
    from cxrgraph.text import parse_reports

    s = settings or DemoSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(s.seed)
    device = _device(s.device)
    report = DemoReport(out, title="cxrgraph demo" + (" (quick)" if s.quick else ""))
    stages = _Stages(7, s.progress)
    report.text(
        f"Settings: {s.patients} phantom patients, {s.image_size} px images, seed {s.seed}, device `{device}`, "
        f"pretraining on {s.pretrain_patients} phantom patients for {s.pretrain_steps} optimiser steps, "
        f"{s.progression_epochs} progression epochs."
    )

    # 1 -------------------------------------------------------------------------- cohort
    with stages.stage("phantom cohort"):
        cohort = PhantomCohort(s.patients, size=s.image_size, seed=s.seed)
        patients = list(cohort.patients())
        studies = [st for p in patients for st in p.studies]
        pairs = [pair for p in patients for pair in p.pairs()]
    report.section(
        "1. The phantom cohort",
        f"{len(patients)} synthetic patients, {len(studies)} studies, {len(pairs)} prior/current pairs. "
        "Each study has a drawn radiograph, the 29 region boxes of its geometry, its findings and a report "
        "written from them.",
    )
    report.metric("cohort", "patients / studies / pairs", f"{len(patients)} / {len(studies)} / {len(pairs)}")

    # 2 -------------------------------------------------------------------------- reports
    with stages.stage("parse reports"):
        graphs = parse_reports({str(st.study_id): st.report for st in studies}, progress=s.progress)
    recovered = total = 0
    for st, g in zip(studies, graphs):
        truth = {(t.region, t.finding, t.existence) for t in st.graph.triplets()}
        got = {(t.region, t.finding, t.existence) for t in g.triplets()}
        total += len(truth)
        recovered += len(truth & got)
    recall = recovered / max(total, 1)
    report.section(
        "2. Reports to graphs",
        f"The rules parser recovered {recovered} of {total} ground-truth ⟨region, finding, existence⟩ "
        f"triplets ({recall:.1%}) from the {len(studies)} phantom reports.",
    )
    report.metric("text", "ground-truth triplets recovered", f"{recall:.1%}")

    # 3 -------------------------------------------------------------------------- regions
    with stages.stage("detect regions"):
        atlas = AtlasDetector.load()
        images = [to_image_tensor(st.image, str(st.study_id)) for st in studies]
        detections = atlas.detect(images, sources=[str(st.study_id) for st in studies])
        true_boxes = torch.as_tensor(np.stack([st.boxes_normalized for st in studies]), dtype=torch.float32)
        det_report = evaluate_detections(detections, true_boxes)
    report.section(
        "3. Regions in the images",
        f"The training-free `AtlasDetector` (packaged layout) placed the 29 regions with mean IoU "
        f"{det_report.mean_iou:.3f} and mAP@0.5 {det_report.map50:.3f} against the drawn boxes.",
    )
    report.metric("image", "atlas mean IoU / mAP@0.5", f"{det_report.mean_iou:.3f} / {det_report.map50:.3f}")
    example = next((i for i, st in enumerate(studies) if len(st.graph.positive_findings()) >= 2), 0)
    ax = plot_detection_overlay(
        images[example],
        detections[example],
        true_boxes=true_boxes[example],
        title=f"study {studies[example].study_id}: atlas regions (solid) vs drawn boxes (dashed)",
    )
    report.figure(
        ax.figure,
        "study_regions.png",
        "A phantom study with the atlas detector's regions (solid) over the true boxes (dashed).",
        f"phantom study {studies[example].study_id} (synthetic); AtlasDetector with the packaged layout",
    )

    # 4 -------------------------------------------------------------------------- image graphs
    with stages.stage("build image graphs"):
        image_graphs = [
            ImageGraph.from_detection(d, study_id=str(st.study_id)).validate() for d, st in zip(detections, studies)
        ]
    report.section(
        "4. Isomorphic graphs",
        f"{len(image_graphs)} image graphs (regions with boxes and presence) beside {len(graphs)} report graphs; "
        "both have the same 29 anatomy nodes and the same finding nodes, so they can be aligned node by node.",
    )
    context = {
        "settings": s,
        "device": device,
        "cohort": cohort,
        "patients": patients,
        "studies": studies,
        "pairs": pairs,
        "report_graphs": graphs,
        "images": images,
        "detections": detections,
        "image_graphs": image_graphs,
        "example": example,
        "stages": stages,
        "report": report,
        "plot_graph": plot_graph,
    }
    _learning_stages(context)

    path = report.write()
    if s.progress:
        print()
        print("summary (phantom data, synthetic):")
        print(report.summary_text())
        print(f"report: {path}")
    return path


def _write_config(path: Path, config: Any) -> Path:
    """The run's config as YAML beside the report, for a reader to see (and rerun with the command line)."""
    import yaml

    from cxrgraph.utils.atomic import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path


def _progression_config(s: DemoSettings, out: Path, device: torch.device) -> ProgressionRunConfig:
    """The same sections as ``configs/progression_phantom_cpu.yaml``, sized for the demo."""
    from cxrgraph.temporal import ProgressionConfig
    from cxrgraph.train import ProgressionDataConfig, ProgressionRunConfig, ProgressionTrainConfig, RegionPretrainConfig

    return ProgressionRunConfig(
        seed=s.seed,
        output_dir=str(out / "progression"),
        data=ProgressionDataConfig(
            source="phantom",
            num_patients=max(s.patients * 3, 40),
            image_size=s.image_size,
            val_fraction=0.1,
            test_fraction=0.25,
            guidance=True,
            batch_size=32,
        ),
        model=ProgressionConfig(
            backbone="small",
            image_size=s.image_size,
            width=16,
            embed_channels=64,
            alignment="poincare",
            hidden_channels=32,
            num_layers=1,
            curvature=1.0,
            text_guidance=True,
            freeze_backbone=True,
            compare_channels=0,  # the whole-image model, without the region comparator
        ),
        pretrain=RegionPretrainConfig(epochs=3 if s.quick else 10, batch_size=32, lr=2e-3),
        train=ProgressionTrainConfig(
            epochs=s.progression_epochs, lr=3e-3, accelerator="gpu" if device.type == "cuda" else "cpu"
        ),
    )


def _training_curves(metrics_csv: Path) -> Any:
    import csv

    from matplotlib.figure import Figure

    steps: dict[str, list[tuple[float, float]]] = {}
    with metrics_csv.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                if not value or key in ("epoch", "step") or not (key.startswith("train/") or key == "val/loss"):
                    continue
                if "lr" in key:
                    continue
                steps.setdefault(key, []).append((float(row["step"]), float(value)))
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot(1, 1, 1)
    for key, points in sorted(steps.items()):
        if len(points) < 1:
            continue
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o" if key == "val/loss" or len(points) < 4 else None, label=key, lw=1.3)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    ax.set_title("Pretraining with cascading alignment (phantom, synthetic)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def _predicted_triplets(model: Any, image: torch.Tensor, detection: Any, top: int = 4) -> list[tuple]:
    """The image-tag decoder's ``top`` most probable findings, each at its best-scoring present
    region: ``present`` when the probability is at least 0.5, ``uncertain`` below."""
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    with torch.no_grad():
        emb = model.encode_image(
            image[None].to(model.device),
            detection.boxes[None].to(model.device),
            detection.present[None].to(model.device),
        )
    prob = torch.sigmoid(emb.finding_logits[0]).cpu()
    edges = emb.edge_logits[0].cpu().masked_fill(~detection.present[None], float("-inf"))
    out = []
    for k in prob.argsort(descending=True)[:top].tolist():
        existence = "present" if prob[k] >= 0.5 else "uncertain"
        out.append((onto.region(int(edges[k].argmax())).name, onto.finding(k).name, existence, float(prob[k])))
    return out


def _learning_stages(ctx: dict[str, Any]) -> None:
    import shutil

    from matplotlib.figure import Figure

    from cxrgraph.demo.pretraining import compare_with_untrained, grounding_figure
    from cxrgraph.demo.pretraining import pretrain_config as demo_pretrain_config
    from cxrgraph.image import ImageGraph
    from cxrgraph.models import GraphAlignModel
    from cxrgraph.train import pretrain, train_progression

    s: DemoSettings = ctx["settings"]
    report: DemoReport = ctx["report"]
    stages: _Stages = ctx["stages"]
    out = report.out
    device = ctx["device"]

    # 5 -------------------------------------------------------------------------- pretraining
    pretrain_config = demo_pretrain_config(
        out, s.seed, s.pretrain_patients, s.image_size, s.pretrain_steps, s.batch_size, device
    )
    with stages.stage("pretrain (graph alignment)"):
        _write_config(out / "configs" / "pretrain.yaml", pretrain_config)
        trained = pretrain(pretrain_config, progress=s.progress)
    report.section(
        "5. Graph-aligned pretraining",
        "`cxrgraph.train.pretrain` with the config in `configs/pretrain.yaml` (`cxrgraph pretrain --config` runs the "
        "same; the recipe of `configs/pretrain_phantom_cpu.yaml` on a smaller cohort): a ResNet-18 image encoder "
        "with the image-tag decoder, the offline all-MiniLM-L6-v2 text encoder (frozen; each report's features "
        "computed once), and every loss: global InfoNCE, cascading alignment (anatomy → pathology → relation → "
        "graph), region–sentence, image-tag (triplets), soft-label, pathology alignment and patch correlation.",
    )
    if trained.val_loss is not None:
        report.metric("pretraining", "final validation loss", f"{trained.val_loss:.3f}")
    if trained.metrics_csv is not None:
        report.figure(
            _training_curves(trained.metrics_csv),
            "training_curves.png",
            "Pretraining losses per optimiser step (training) and per epoch (validation).",
            f"`{trained.metrics_csv.relative_to(out)}` written by the CSV logger of the run (phantom, synthetic)",
        )
    if trained.model_path is None:
        raise RuntimeError(f"pretraining wrote no model under {trained.output_dir}")
    model = GraphAlignModel.from_pretrained(trained.model_path).to(device).eval()

    # graph figure: the example study's report graph beside its image graph
    i = ctx["example"]
    study, detection = ctx["studies"][i], ctx["detections"][i]
    image = ctx["images"][i]
    if image.shape[-1] != model.config.image_size:
        image = torch.nn.functional.interpolate(image[None], size=model.config.image_size, mode="bilinear")[0]
    predicted = _predicted_triplets(model, image, detection)
    image_graph = ImageGraph.from_detection(
        detection, triplets=[p[:3] for p in predicted], study_id=str(study.study_id)
    )
    fig = Figure(figsize=(15, 8))
    plot = ctx["plot_graph"]
    plot(ctx["report_graphs"][i], ax=fig.add_subplot(1, 2, 1), title="report graph (parsed report)")
    plot(image_graph, ax=fig.add_subplot(1, 2, 2), title="image graph (atlas regions + image-tag decoder)")
    report.figure(
        fig,
        "report_vs_image_graph.png",
        "The example study's report graph (left) and image graph (right) over the same nodes.",
        f"phantom study {study.study_id} (synthetic): report parsed by the rules backend; image graph from the "
        "AtlasDetector and the pretrained image-tag decoder (its four most probable findings: solid when the "
        "probability is at least 0.5, dashed below)",
    )
    truth = set(study.graph.positive_findings())
    report.text(
        f"Ground-truth positive findings of this study: {', '.join(sorted(truth)) or 'none'}. "
        "The image-tag decoder's most probable findings: "
        + ", ".join(f"{f} ({p:.2f})" for _, f, _, p in predicted)
        + "."
    )

    # 6 -------------------------------------------------------------------------- progression
    progression_config = _progression_config(s, out, device)
    with stages.stage("train temporal progression"):
        _write_config(out / "configs" / "progression.yaml", progression_config)
        progression = train_progression(progression_config, progress=s.progress)
    if progression.accuracy is None or progression.macro_f1 is None:
        raise RuntimeError("progression training scored no test pairs (data.test_fraction is 0)")
    report.section(
        "6. Temporal progression on held-out pairs",
        "`cxrgraph.train.train_progression` with `configs/progression.yaml`: region embeddings of the prior and the "
        "current study on a Poincaré ball, change features from the geodesic displacement, comparison sentences "
        "of the current report as text guidance, a per-region improved / no change / worsened head.",
    )
    summary = progression.summary()
    report.table(["measure", "value"], [[k, f"{v:.3f}" if isinstance(v, float) else v] for k, v in summary.items()])
    report.metric(
        "progression",
        "per-region accuracy / macro-F1 (test pairs)",
        f"{progression.accuracy:.3f} / {progression.macro_f1:.3f}",
    )
    for name, caption in (
        ("confusion", "Progression confusion matrix on the held-out pairs."),
        ("regions", "Per-region progression accuracy (and F1) on the held-out pairs."),
        ("poincare", "Region embeddings of prior and current studies in the Poincaré disk."),
    ):
        src = progression.figures.get(name)
        if src is not None and src.is_file():
            dst = out / "figures" / f"progression_{src.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            report.figures.append(
                type(report.figures[0])(dst, caption, f"`progression/{src.name}` (phantom test pairs)")
            )
            report.blocks.append(f"![{caption}](figures/{dst.name})\n\n*Figure {len(report.figures)}. {caption}*\n")

    # 7 -------------------------------------------------------------------------- evaluation
    with stages.stage("evaluate: pretrained beside untrained"):
        compare_with_untrained(report, trained.model_path, pretrain_config, s.progress)
        grounding_figure(report, model, pretrain_config, device)
    report.metric("demo", "stage times (s)", ", ".join(f"{k} {v:.0f}" for k, v in stages.times.items()))
