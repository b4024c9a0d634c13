"""``cxrgraph demo --quick`` runs every stage and writes the report with every figure."""

import json

import pytest
from PIL import Image

from cxrgraph.cli import main


@pytest.mark.slow
def test_quick_demo_writes_the_report_with_every_figure(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "phantom" in report and "synthetic" in report
    figures = {
        "study_regions.png",
        "training_curves.png",
        "report_vs_image_graph.png",
        "progression_confusion.png",
        "progression_regions.png",
    }
    for name in figures:
        path = out / "figures" / name
        assert Image.open(path).size[0] > 200, name
        assert f"figures/{name}" in report  # shown and listed in the table of figures
    for stage in ("text", "image", "progression", "pretraining"):
        assert f"| {stage} |" in report
    results = json.loads((out / "evaluation.json").read_text())
    assert "retrieval" in results
    metrics = json.loads((out / "progression" / "metrics.json").read_text())
    assert 0.0 <= metrics["summary"]["accuracy"] <= 1.0
