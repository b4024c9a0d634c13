"""``cxrgraph demo --quick`` runs every stage and writes the report with every figure."""

import ast
import json
from pathlib import Path

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
        "grounding.png",
    }
    for name in figures:
        path = out / "figures" / name
        assert Image.open(path).size[0] > 200, name
        assert f"figures/{name}" in report  # shown and listed in the table of figures
    for stage in ("text", "image", "progression", "pretraining"):
        assert f"| {stage} |" in report
    for name in ("pretrained", "untrained"):  # one probe, one split, both encoders
        results = json.loads((out / f"evaluation_{name}.json").read_text())
        assert 0.0 <= results["retrieval"]["i2t_R@5"] <= 1.0
    # read from the typed results, not guessed keys; the summary row names both numbers
    row = next(line for line in report.splitlines() if "probe AUC at 10 % labels, pretrained / untrained" in line)
    pretrained, untrained = (float(v) for v in row.split("|")[3].split("/"))
    assert 0.0 <= pretrained <= 1.0 and 0.0 <= untrained <= 1.0
    assert "retrieval image→report R@5 (chance)" in report
    assert "per-region accuracy / macro-F1 (test pairs)" in report and "zero-shot mean AUC" in report
    metrics = json.loads((out / "progression" / "metrics.json").read_text())
    assert 0.0 <= metrics["summary"]["accuracy"] <= 1.0
    assert (out / "progression" / "model" / "model.pt").is_file()


def test_the_demo_calls_the_library_not_the_command_line():
    demo = Path(__file__).parents[2] / "cxrgraph" / "demo"
    for path in demo.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            assert not any(n == "cxrgraph.cli" or n.startswith("cxrgraph.cli.") for n in names), (path.name, names)
