from __future__ import annotations

import io
import json
import sys

from cxrgraph.cli import main

REPORT = "FINDINGS: The left basilar opacity has increased since the prior study.\nIMPRESSION: No pneumothorax.\n"


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_mimic_tree_and_bad_files(tmp_path):
    study = tmp_path / "files" / "p10" / "p10000032"
    study.mkdir(parents=True)
    (study / "s50414267.txt").write_text(REPORT)
    (study / "s50414268.txt").write_bytes(b"\xff\xfe not utf-8 \xff")
    (study / "s50414269.txt").write_text("")
    out = tmp_path / "out" / "graphs.jsonl"
    assert main(["parse", str(tmp_path / "files"), "--out", str(out), "--no-progress"]) == 0
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"s50414267", "s50414268", "s50414269"}
    good = rows["s50414267"]
    assert good["subject_id"] == "p10000032" and good["errors"] == []
    assert {"region": "left lower lung zone", "finding": "lung opacity", "change": "worsened"}.items() <= next(
        t for t in good["triplets"] if t["finding"] == "lung opacity"
    ).items()
    assert len(good["sentences"]) == 2
    assert "UTF-8" in rows["s50414268"]["errors"][0]
    assert rows["s50414269"]["errors"] and rows["s50414269"]["triplets"] == []
    assert not list(out.parent.glob(".*tmp"))  # written atomically, no temp file left


def test_txt_folder_with_workers_and_stdin(tmp_path, monkeypatch):
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(5):
        (folder / f"r{i}.txt").write_text("Mild cardiomegaly. No effusion.")
    out = tmp_path / "a.jsonl"
    assert (
        main(["parse", str(folder), str(tmp_path / "missing"), "--out", str(out), "--workers", "2", "--no-progress"])
        == 0
    )
    rows = _rows(out)
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4", str(tmp_path / "missing")]
    assert rows[-1]["errors"] == ["no such file or folder"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(REPORT.encode())))
    out2 = tmp_path / "b.jsonl"
    assert main(["parse", "-", "--out", str(out2), "--no-progress"]) == 0
    (row,) = _rows(out2)
    assert row["id"] == "stdin" and row["triplets"]
