from __future__ import annotations

import io
import json
import os
import signal
import sys

import pytest

from cxrgraph.cli import main

REPORT = "FINDINGS: The left basilar opacity has increased since the prior study.\nIMPRESSION: No pneumothorax.\n"


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("workers", ["1", "2"])  # with 2, the workers read the files
def test_mimic_tree_and_bad_files(tmp_path, workers):
    study = tmp_path / "files" / "p10" / "p10000032"
    study.mkdir(parents=True)
    (study / "s50414267.txt").write_text(REPORT)
    (study / "s50414268.txt").write_bytes(b"\xff\xfe not utf-8 \xff")
    (study / "s50414269.txt").write_text("")
    out = tmp_path / "out" / "graphs.jsonl"
    assert main(["parse", str(tmp_path / "files"), "--out", str(out), "--workers", workers, "--no-progress"]) == 0
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


def test_a_report_gone_before_it_is_read_gets_an_error_row(tmp_path):
    import cxrgraph.cli.parse as cli

    report = tmp_path / "files" / "p10" / "p10000032" / "s50414267.txt"
    report.parent.mkdir(parents=True)
    report.write_text(REPORT)
    (item,) = cli.iter_inputs([str(tmp_path / "files")])  # listed, not read yet
    report.unlink()
    row = cli._work((item, "rules", ["findings", "impression"]))
    assert row["id"] == "s50414267" and row["triplets"] == []
    assert row["errors"] == ["unreadable file (No such file or directory)"]


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


def test_byte_order_marks_upper_case_suffixes_and_skipped_files(tmp_path, caplog):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "A.TXT").write_bytes("\ufeffFINDINGS: Small right pleural effusion.\n".encode())
    (folder / "b.txt").write_text("Mild cardiomegaly.")
    (folder / "notes.rtf").write_text("{\\rtf1 not a report}")
    (folder / ".DS_Store").write_bytes(b"\0")
    out = tmp_path / "out.jsonl"
    with caplog.at_level("WARNING"):
        assert main(["parse", str(folder), "--out", str(out), "--no-progress"]) == 0
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"A", "b"}
    assert rows["A"]["sentences"] == ["Small right pleural effusion."] and rows["A"]["errors"] == []
    assert "skipped 1 file(s) that are not .txt reports, e.g. notes.rtf" in caplog.text


def test_bad_options_are_refused_before_any_parsing(tmp_path, monkeypatch, capsys):
    import cxrgraph.cli.parse as cli

    def never(job):
        raise AssertionError("parsed although the options are bad")

    monkeypatch.setattr(cli, "_work", never)
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "r.txt").write_text("No effusion.")
    assert main(["parse", str(folder), "--out", str(folder), "--no-progress"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["parse", str(folder), "--out", str(tmp_path / "o.jsonl"), "--sections", "bogus"]) == 2
    assert "unknown section 'bogus'" in capsys.readouterr().err


def _interrupting(monkeypatch, stop_at, how):
    import cxrgraph.cli.parse as cli

    real, calls = cli._work, []

    def work(job):
        calls.append(job[0][0])
        if len(calls) == stop_at:
            how()
        return real(job)

    monkeypatch.setattr(cli, "_work", work)
    return calls


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_keeps_its_finished_rows_and_resumes(tmp_path, monkeypatch, capsys, signal_name):
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(5):
        (folder / f"r{i}.txt").write_text(f"FINDINGS: Mild cardiomegaly. Report {i}.")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    if signal_name == "SIGINT":

        def stop():
            raise KeyboardInterrupt

    else:

        def stop():
            os.kill(os.getpid(), signal.SIGTERM)

    _interrupting(monkeypatch, 3, stop)
    code = main(["parse", str(folder), "--out", str(out), "--no-progress"])
    assert code == 128 + getattr(signal, signal_name)
    assert "--resume" in capsys.readouterr().err
    assert not out.exists() and [r["id"] for r in _rows(partial)] == ["r0", "r1"]
    assert not list(tmp_path.glob(".*tmp"))
    monkeypatch.undo()
    # a plain rerun would throw the finished rows away: it is refused
    assert main(["parse", str(folder), "--out", str(out), "--no-progress"]) == 2
    # a row cut short by a kill is dropped, the others are kept and not parsed again
    with partial.open("a") as fh:
        fh.write('{"id": "r2", "sour')
    calls = _interrupting(monkeypatch, 99, lambda: None)
    assert main(["parse", str(folder), "--out", str(out), "--no-progress", "--resume"]) == 0
    assert calls == ["r2", "r3", "r4"]
    assert [r["id"] for r in _rows(out)] == ["r0", "r1", "r2", "r3", "r4"]
    assert not partial.exists() and not list(tmp_path.glob(".*tmp"))


def test_resume_refuses_rows_of_another_parser_version(tmp_path, capsys):
    from cxrgraph.text.version import parser_version

    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(3):
        (folder / f"r{i}.txt").write_text("Small right pleural effusion.")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    assert main(["parse", str(folder), "--out", str(out), "--no-progress"]) == 0
    rows = _rows(out)
    assert {r["parser"] for r in rows} == {parser_version("rules")}
    # an interrupted run of an older parser: its rows must not be mixed with this one's
    old = dict(rows[0], parser="rules-000000000000")
    partial.write_text(json.dumps(old) + "\n")
    assert main(["parse", str(folder), "--out", str(out), "--no-progress", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "another parser version (rules-000000000000" in err and str(partial) in err
    assert partial.read_text() == json.dumps(old) + "\n"  # nothing lost
    # rows of this version resume
    partial.write_text(json.dumps(rows[0]) + "\n")
    assert main(["parse", str(folder), "--out", str(out), "--no-progress", "--resume"]) == 0
    assert [r["id"] for r in _rows(out)] == ["r0", "r1", "r2"]
