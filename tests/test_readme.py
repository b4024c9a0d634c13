"""The README's quick tour runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_tour_runs(tmp_path, monkeypatch):
    code = re.search(r"## A quick tour\n\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert code, "README.md has no quick-tour code block"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code.group(1), "README quick tour", "exec"), scope)
    assert (tmp_path / "report_graph.png").is_file()
    assert tuple(scope["image_graph"].anatomy.shape[:2]) == (2, 29)
    assert scope["batch"].num_graphs == 2


def test_readme_gives_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
