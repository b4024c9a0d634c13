"""Bad inputs and faults for the text parser, the data set readers and the graph cache.

Each case feeds one bad input (or fault) and classifies what cxrgraph does with it:

* ``clear error``: an exception whose message names the input and what is wrong;
* ``recorded skip``: the bad item is left out and recorded (``errors``, ``failures``,
  ``skipped``), every good item is kept;
* ``handled``: the input is read as meant (a byte order mark, a sub-heading...);
* ``FAIL``: anything else: silent loss, a traceback that names nothing, or a hang (each case
  runs under a time limit).

Synthetic inputs written to a temporary folder; nothing is downloaded.

    PYTHONPATH=. python benchmarks/data/bad_inputs.py [--timeout 20]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import os
import signal
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

CLEAR, SKIP, HANDLED, FAIL = "clear error", "recorded skip", "handled", "FAIL"
LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]  # fmt: skip
CASES: list[tuple[str, str, Callable[[Path], tuple[str, str]]]] = []


def case(group: str, name: str) -> Callable:
    def register(fn: Callable[[Path], tuple[str, str]]) -> Callable:
        CASES.append((group, name, fn))
        return fn

    return register


def raises(fn: Callable[[], object], *tokens: str) -> tuple[str, str]:
    """``clear error`` when ``fn`` raises with every token in its message, else ``FAIL``."""
    try:
        fn()
    except Exception as err:
        msg = f"{type(err).__name__}: {err}"
        ok = all(t in msg for t in tokens)
        return (CLEAR if ok else FAIL), msg[:110]
    return FAIL, "no error"


def cli(*argv: str) -> int:
    from cxrgraph.cli import main

    with contextlib.redirect_stderr(io.StringIO()):
        return main(["parse", *argv, "--no-progress"])


# ------------------------------------------------------------------------------------ text
REPORT = "FINDINGS: Small right pleural effusion.\nIMPRESSION: Mild cardiomegaly."


def _kept(graph, *sentences: str) -> bool:
    return all(any(s in t for t in graph.sentences) for s in sentences)


@case("text", "UTF-8 BOM before FINDINGS: (API)")
def _(tmp):
    from cxrgraph.text import parse_report

    g = parse_report("\ufeff" + REPORT)
    return (
        HANDLED if _kept(g, "Small right pleural effusion.") and not g.errors else FAIL
    ), f"{len(g.sentences)} sentences"


@case("text", "UTF-8 BOM before FINDINGS: (cxrgraph parse)")
def _(tmp):
    (tmp / "r.txt").write_bytes(("\ufeff" + REPORT).encode())
    cli(str(tmp / "r.txt"), "--out", str(tmp / "o.jsonl"))
    row = json.loads((tmp / "o.jsonl").read_text())
    return (HANDLED if "Small right pleural effusion." in row["sentences"] else FAIL), f"{row['sentences']}"


@case("text", "UTF-8 BOM before FINDINGS: (MIMIC report reader)")
def _(tmp):
    from cxrgraph.datasets.mimic_cxr import MIMICStudy

    path = tmp / "s1.txt"
    path.write_bytes(("\ufeff" + REPORT).encode())
    text = MIMICStudy("1", "1", None, None, [], [], [], path).read_report()
    return (HANDLED if text.startswith("FINDINGS") else FAIL), repr(text[:12])


for _sub in ["LUNGS:", "HEART:", "NOTE:", "PA AND LATERAL:", "E.g. LUNGS:."]:

    @case("text", f"sub-heading {_sub!r} inside FINDINGS")
    def _(tmp, sub=_sub):
        from cxrgraph.text import parse_report

        g = parse_report(f"FINDINGS: Normal heart. {sub} Small left effusion.\nIMPRESSION: Effusion.")
        ok = _kept(g, "Small left effusion.", "Effusion.") and g.errors == []
        return (HANDLED if ok else FAIL), f"{len(g.sentences)} sentences"


for _size in (3600, 13000, 100_000):

    @case("text", f"run-on sentence of {_size:,} characters")
    def _(tmp, size=_size):
        from cxrgraph.text import parse_report

        words = ["effusion", "left lower lobe atelectasis", "no pneumothorax", "possible pneumonia", "edema"]
        text = "FINDINGS: " + ", ".join(words[i % 5] for i in range(size // 18)) + "."
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            g = parse_report(text)
        secs = time.perf_counter() - t0
        kept = "".join(g.sentences).replace(" ", "") == text[10:].replace(" ", "")
        recorded = len(text) <= 2010 or any("sentence cap" in e for e in g.errors)
        return (SKIP if kept and recorded and secs < 5 else FAIL), f"{secs:.3f} s, cut recorded: {g.errors[:1]}"[:110]


@case("text", "parse_reports('a string')")
def _(tmp):
    from cxrgraph.text import parse_reports

    return raises(lambda: parse_reports("No effusion."), "got one str", "parse_report(text)")


@case("text", "parse_report(section=[...]) typo")
def _(tmp):
    from cxrgraph.text import parse_report

    return raises(lambda: parse_report(REPORT, section=["findings"]), "'section'", "did you mean 'sections'")


@case("text", "parse_report(sections='findings')")
def _(tmp):
    from cxrgraph.text import parse_report

    return raises(lambda: parse_report(REPORT, sections="findings"), "sections=['findings']")


@case("text", "parse_report(sections=['findngs'])")
def _(tmp):
    from cxrgraph.text import parse_report

    return raises(lambda: parse_report(REPORT, sections=["findngs"]), "'findngs'", "did you mean 'findings'")


@case("text", "parse_reports ids shorter than texts")
def _(tmp):
    from cxrgraph.text import parse_reports

    return raises(lambda: parse_reports(["a.", "b."], ids=["x"]), "2 texts but 1 ids")


@case("text", "cxrgraph parse --sections bogus")
def _(tmp):
    (tmp / "r.txt").write_text(REPORT)
    code = cli(str(tmp / "r.txt"), "--out", str(tmp / "o.jsonl"), "--sections", "bogus")
    return (CLEAR if code == 2 and not (tmp / "o.jsonl").exists() else FAIL), f"exit {code}"


@case("text", "cxrgraph parse --out <existing folder>")
def _(tmp):
    (tmp / "r.txt").write_text(REPORT)
    t0 = time.perf_counter()
    code = cli(str(tmp / "r.txt"), "--out", str(tmp))
    return (CLEAR if code == 2 else FAIL), f"exit {code} after {time.perf_counter() - t0:.2f} s"


@case("text", "cxrgraph parse on a folder with *.TXT files")
def _(tmp):
    (tmp / "in").mkdir()
    (tmp / "in" / "A.TXT").write_text(REPORT)
    (tmp / "in" / "b.txt").write_text(REPORT)
    cli(str(tmp / "in"), "--out", str(tmp / "o.jsonl"))
    ids = [json.loads(line)["id"] for line in (tmp / "o.jsonl").read_text().splitlines()]
    return (HANDLED if ids == ["A", "b"] else FAIL), f"rows {ids}"


@case("text", "cxrgraph parse interrupted (SIGTERM) then --resume")
def _(tmp):
    import subprocess
    import sys

    (tmp / "in").mkdir()
    for i in range(3000):
        (tmp / "in" / f"r{i:04d}.txt").write_text(REPORT + f" Report {i}.")
    run = "import sys; from cxrgraph.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-W", "ignore", "-c", run, "parse", str(tmp / "in"), "--out", str(tmp / "o.jsonl")]
    proc = subprocess.Popen([*cmd, "--no-progress"], stderr=subprocess.DEVNULL)
    while proc.poll() is None and not any(p.stat().st_size > 20_000 for p in tmp.iterdir() if p.is_file()):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait()
    partial = tmp / "o.jsonl.partial"
    kept = len(partial.read_text().splitlines()) if partial.exists() else 0
    tmps = [p.name for p in tmp.glob(".*tmp")]
    code2 = subprocess.run([*cmd, "--no-progress", "--resume"], stderr=subprocess.DEVNULL).returncode
    rows = len((tmp / "o.jsonl").read_text().splitlines()) if (tmp / "o.jsonl").exists() else 0
    ok = code == 143 and kept > 0 and not tmps and code2 == 0 and rows == 3000
    return (SKIP if ok else FAIL), f"exit {code}, {kept} rows kept, {len(tmps)} .tmp left, resumed: {rows} rows"


# ------------------------------------------------------------------------------- data sets
def _scene_graph(image_id: str, objects: object = None) -> dict:
    box = {"bbox_name": "right lung", "x1": 20, "y1": 30, "x2": 100, "y2": 190}
    box |= {"original_x1": 40, "original_y1": 60, "original_x2": 200, "original_y2": 380}
    return {"image_id": image_id, "objects": [box] if objects is None else objects, "attributes": []}


def _imagenome(tmp: Path, files: dict[str, bytes], split: list[str] | None = None) -> Path:
    silver = tmp / "ig" / "silver_dataset"
    (silver / "splits").mkdir(parents=True)
    with zipfile.ZipFile(silver / "scene_graph.zip", "w") as zf:
        for image_id, data in files.items():
            zf.writestr(f"scene_graph/{image_id}_SceneGraph.json", data)
    for name in ("train", "valid", "test"):
        ids = split if split is not None and name == "train" else list(files)
        rows = "".join(f"{i},1,2,{img},x,PA\n" for i, img in enumerate(ids))
        (silver / "splits" / f"{name}.csv").write_text(",subject_id,study_id,dicom_id,path,ViewPosition\n" + rows)
    return tmp / "ig"


_GOOD = {f"img{i}": json.dumps(_scene_graph(f"img{i}")).encode() for i in range(3)}

for _bad_name, _bad in [
    ("empty", b""),
    ("truncated", json.dumps(_scene_graph("bad"))[:40].encode()),
    ("non-UTF-8", b'{"image_id": "bad\xff", "objects": []}'),
    ("objects=[1]", json.dumps(_scene_graph("bad", [1])).encode()),
]:

    @case("data sets", f"{_bad_name} scene graph JSON in the zip")
    def _(tmp, bad=_bad):
        from cxrgraph.datasets import ChestImaGenome

        ds = ChestImaGenome(_imagenome(tmp, {**_GOOD, "bad": bad}), split=None, progress=False)
        ok = ds.ids == sorted(_GOOD) and [f.id for f in ds.failures] == ["bad"]
        return (SKIP if ok else FAIL), ds.failures[0].reason[:110] if ds.failures else "no failure recorded"


@case("data sets", "image listed in the split with no scene graph")
def _(tmp):
    from cxrgraph.datasets import ChestImaGenome

    ds = ChestImaGenome(_imagenome(tmp, _GOOD, split=[*_GOOD, "ghost"]), split="train")
    ok = ds.ids == sorted(_GOOD) and [f.id for f in ds.failures] == ["ghost"]
    return (SKIP if ok else FAIL), ds.failures[0].reason[:110] if ds.failures else "no failure recorded"


@case("data sets", "ChestImaGenome(split='trian')")
def _(tmp):
    from cxrgraph.datasets import ChestImaGenome

    return raises(lambda: ChestImaGenome(_imagenome(tmp, _GOOD), split="trian"), "'trian'", "'train'")


@case("data sets", "one box reader: detector and data set see the same boxes")
def _(tmp):
    from cxrgraph.datasets.imagenome import parse_scene_graph
    from cxrgraph.image.data import scene_graph_boxes

    doc = _scene_graph("x")
    doc["objects"][0]["original_x1"] = 90  # pixel corners that disagree with the 224 frame
    a, b = scene_graph_boxes(doc, 448, 448)[0], parse_scene_graph(doc).boxes[0]
    return (HANDLED if bool((a == b).all()) else FAIL), f"{a.tolist()} vs {b.tolist()}"


def _mimic(tmp: Path, meta_extra: str = "", split_value: str = "train", label_header: list[str] = LABELS) -> Path:
    root = tmp / "mimic"
    (root / "files" / "p10" / "p10000001").mkdir(parents=True)
    (root / "files" / "p10" / "p10000001" / "s50000001.txt").write_text(REPORT)
    meta = "dicom_id,subject_id,study_id,ViewPosition,StudyDate,StudyTime\nd1,10000001,50000001,PA,21800101,0\n"
    (root / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress((meta + meta_extra).encode()))
    split = f"dicom_id,study_id,subject_id,split\nd1,50000001,10000001,{split_value}\n"
    (root / "mimic-cxr-2.0.0-split.csv.gz").write_bytes(gzip.compress(split.encode()))
    labels = "subject_id,study_id," + ",".join(label_header) + "\n10000001,50000001" + ",1.0" * 14 + "\n"
    (root / "mimic-cxr-2.0.0-chexpert.csv.gz").write_bytes(gzip.compress(labels.encode()))
    return root


@case("data sets", "truncated .csv.gz")
def _(tmp):
    from cxrgraph.datasets import MIMICCXR

    root = _mimic(tmp)
    meta = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    meta.write_bytes(meta.read_bytes()[:-12])
    return raises(lambda: MIMICCXR(root), "metadata.csv.gz", "truncated gzip")


@case("data sets", "ragged metadata row")
def _(tmp):
    from cxrgraph.datasets import MIMICCXR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = MIMICCXR(_mimic(tmp, "d2,10000002\n"))
    ok = len(index) == 1 and any("ragged" in why for _w, why in index.skipped)
    return (SKIP if ok else FAIL), str(index.skipped[:1])[:110]


@case("data sets", "MIMICCXR(split='trian')")
def _(tmp):
    from cxrgraph.datasets import MIMICCXR

    return raises(lambda: MIMICCXR(_mimic(tmp), split="trian"), "'trian'")


@case("data sets", "split values in another case (TRAIN)")
def _(tmp):
    from cxrgraph.datasets import MIMICCXR

    n = len(MIMICCXR(_mimic(tmp, split_value="TRAIN"), split="train"))
    return (HANDLED if n == 1 else FAIL), f"{n} studies"


@case("data sets", "misspelt label column (Pleural Efusion)")
def _(tmp):
    from cxrgraph.datasets import MIMICCXR

    header = [h.replace("Effusion", "Efusion") for h in LABELS]
    return raises(lambda: MIMICCXR(_mimic(tmp, label_header=header)), "chexpert.csv.gz", "'Pleural Efusion'")


def _chexpert(tmp: Path, age: str = "60", value: str = "1.0") -> Path:
    root = tmp / "chexpert"
    root.mkdir()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *LABELS])
    w.writerow(["a/view1_frontal.jpg", "Female", "68", "Frontal", "AP"] + ["0.0"] * 14)
    w.writerow(["b/view1_frontal.jpg", "Male", age, "Frontal", "AP", value] + ["0.0"] * 13)
    (root / "train.csv").write_text(buf.getvalue())
    return root


for _field, _kw in [("Age=sixty", {"age": "sixty"}), ("label 7.0", {"value": "7.0"}), ("label nan", {"value": "nan"}),
                    ("label inf", {"value": "inf"})]:  # fmt: skip

    @case("data sets", f"CheXpert {_field}")
    def _(tmp, kw=_kw):
        from cxrgraph.datasets import CheXpert

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = CheXpert(_chexpert(tmp, **kw))
        ok = len(ds) == 1 and len(ds.skipped) == 1
        return (SKIP if ok else FAIL), str(ds.skipped[:1])[:110]


# ----------------------------------------------------------------------------------- caches
def _report_cache(tmp: Path, n: int = 6):
    from cxrgraph.datasets import GraphCache
    from cxrgraph.text import parse_report

    cache = GraphCache(tmp / "cache", shard_size=2)
    texts = [f"FINDINGS: Small right effusion number {i}." for i in range(n)]
    cache.build(texts, parse_report, ids=[f"r{i}" for i in range(n)])
    return cache, texts


@case("caches", "report graph read back: .to_json()")
def _(tmp):
    from cxrgraph.datasets import GraphCache
    from cxrgraph.text import parse_report

    _cache, texts = _report_cache(tmp)
    ok = GraphCache(tmp / "cache")[1].to_json() == parse_report(texts[1]).to_json()
    return (HANDLED if ok else FAIL), "to_json equal to a fresh parse" if ok else "differs"


@case("caches", "report edited after caching")
def _(tmp):
    from cxrgraph.datasets import MIMICCXRReportGraphs

    root = _mimic(tmp)
    ds = MIMICCXRReportGraphs(root)
    before = ds[0].positive_findings()
    report = root / "files" / "p10" / "p10000001" / "s50000001.txt"
    report.write_text("FINDINGS: Large left pneumothorax.")
    st = report.stat()
    os.utime(report, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = MIMICCXRReportGraphs(root)[0].positive_findings()
    return (HANDLED if "pneumothorax" in after and after != before else FAIL), f"{before} -> {after}"


def _corrupt(tmp: Path, damage: Callable[[Path], None], *tokens: str) -> tuple[str, str]:
    from cxrgraph.datasets import GraphCache

    _report_cache(tmp)
    damage(tmp / "cache")
    return raises(lambda: [g for g in GraphCache(tmp / "cache")], str(tmp / "cache"), *tokens)


@case("caches", "two shard files swapped")
def _(tmp):
    def swap(d):
        a, b = (d / "shard-00000.pt").read_bytes(), (d / "shard-00001.pt").read_bytes()
        (d / "shard-00000.pt").write_bytes(b)
        (d / "shard-00001.pt").write_bytes(a)

    return _corrupt(tmp, swap, "shard-0000")


@case("caches", "truncated shard")
def _(tmp):
    return _corrupt(
        tmp, lambda d: (d / "shard-00001.pt").write_bytes((d / "shard-00001.pt").read_bytes()[:99]), "shard"
    )


@case("caches", "zero-byte shard")
def _(tmp):
    return _corrupt(tmp, lambda d: (d / "shard-00002.pt").write_bytes(b""), "shard-00002.pt")


@case("caches", "corrupt manifest")
def _(tmp):
    return _corrupt(tmp, lambda d: (d / "manifest.json").write_text('{"shards": {'), "manifest.json")


@case("caches", "build killed mid-write (orphan .tmp), then rebuilt")
def _(tmp):
    from cxrgraph.datasets import GraphCache
    from cxrgraph.text import parse_report

    cache, texts = _report_cache(tmp)
    (tmp / "cache" / ".shard-00001.pt.x1y2z3.tmp").write_bytes(b"half")  # what a SIGKILL leaves
    cache.build(texts, parse_report, ids=[f"r{i}" for i in range(len(texts))])
    left = list((tmp / "cache").glob("*.tmp"))
    return (HANDLED if not left and len(GraphCache(tmp / "cache")) == 6 else FAIL), f"{len(left)} .tmp left"


class _Timeout(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=20, help="seconds per case before it counts as a hang")
    args = parser.parse_args(argv)

    def alarm(signum, frame):
        raise _Timeout

    signal.signal(signal.SIGALRM, alarm)
    outcomes: Counter = Counter()
    by_group: dict[str, Counter] = {}
    for group, name, fn in CASES:
        with tempfile.TemporaryDirectory() as d:
            signal.alarm(args.timeout)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    outcome, detail = fn(Path(d))
            except _Timeout:
                outcome, detail = FAIL, f"hang: no answer in {args.timeout} s"
            except Exception as err:
                outcome, detail = FAIL, f"unexpected {type(err).__name__}: {err}"[:110]
            finally:
                signal.alarm(0)
        outcomes[outcome] += 1
        by_group.setdefault(group, Counter())[outcome] += 1
        print(f"{group:10} {outcome:14} {name:55} {detail}", flush=True)
    print()
    for group, counts in by_group.items():
        print(
            f"{group:10} {sum(counts.values()):3d} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
    print(
        f"{'all':10} {sum(outcomes.values()):3d} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )
    return 1 if outcomes[FAIL] else 0


if __name__ == "__main__":
    raise SystemExit(main())
