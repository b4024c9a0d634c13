"""On-disk layout (MIMIC-CXR-JPG + Chest ImaGenome) through the CLI, byte-identical per seed."""

import csv
import gzip
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrgraph.cli import main
from cxrgraph.datasets.phantom import PhantomCohort
from cxrgraph.datasets.phantom.writer import CHEXPERT_COLUMNS, METADATA_COLUMNS
from cxrgraph.ontology import get_ontology


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read_gz_csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "out"
    assert (
        main(["phantom", "--out", str(root), "--patients", "4", "--size", "128", "--seed", "3", "--no-progress"]) == 0
    )
    return root


def test_cli_is_deterministic(tree, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    assert (
        main(["phantom", "--out", str(again), "--patients", "4", "--size", "128", "--seed", "3", "--no-progress"]) == 0
    )
    assert _tree_digest(tree) == _tree_digest(again)
    assert (
        main(["phantom", "--out", str(other), "--patients", "4", "--size", "128", "--seed", "4", "--no-progress"]) == 0
    )
    assert _tree_digest(tree) != _tree_digest(other)
    assert not list(tree.rglob("*.tmp"))


def test_cli_refuses_non_empty_folder(tree):
    assert main(["phantom", "--out", str(tree), "--patients", "1", "--no-progress"]) == 2


def test_mimic_layout(tree):
    meta = _read_gz_csv(tree / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert list(meta[0]) == list(METADATA_COLUMNS)
    studies = PhantomCohort(4, size=128, seed=3)
    expected = list(studies.studies())
    assert len(meta) == len(expected)
    for row, study in zip(meta, expected):
        sub = row["subject_id"]
        img = tree / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{row['study_id']}" / f"{row['dicom_id']}.jpg"
        report = tree / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{row['study_id']}.txt"
        assert img.is_file() and report.is_file()
        assert report.read_text() == study.report
        with Image.open(img) as im:
            assert im.mode == "L" and im.size == (int(row["Columns"]), int(row["Rows"])) == (128, 128)
            # lossy, but the same picture
            assert np.abs(np.asarray(im, dtype=float) - study.image).mean() < 4
        assert re.fullmatch(r"\d{8}", row["StudyDate"]) and re.fullmatch(r"\d{6}\.\d{3}", row["StudyTime"])
        assert row["ViewPosition"] in ("PA", "AP")
    # StudyDate + StudyTime order each patient's studies like the series does
    by_subject: dict[str, list[str]] = {}
    for row in meta:
        by_subject.setdefault(row["subject_id"], []).append(row["StudyDate"] + row["StudyTime"])
    assert all(v == sorted(v) for v in by_subject.values())

    split = _read_gz_csv(tree / "mimic-cxr-2.0.0-split.csv.gz")
    assert list(split[0]) == ["dicom_id", "study_id", "subject_id", "split"]
    assert {r["split"] for r in split} <= {"train", "validate", "test"}
    chex = _read_gz_csv(tree / "mimic-cxr-2.0.0-chexpert.csv.gz")
    assert list(chex[0]) == ["subject_id", "study_id", *CHEXPERT_COLUMNS]
    values = {v for r in chex for k, v in r.items() if k in CHEXPERT_COLUMNS}
    assert values <= {"1.0", "0.0", "-1.0", ""} and "1.0" in values
    with gzip.open(tree / "mimic-cxr-2.0.0-chexpert.csv.gz") as fh:
        assert fh.read()  # a valid gzip stream


def test_imagenome_layout(tree):
    onto = get_ontology()
    expected = {s.dicom_id: s for s in PhantomCohort(4, size=128, seed=3).studies()}
    files = sorted((tree / "silver_dataset" / "scene_graph").glob("*_SceneGraph.json"))
    assert len(files) == len(expected)
    with_relations = 0
    for path in files:
        sg = json.loads(path.read_text())
        assert list(sg) == [
            "image_id", "viewpoint", "patient_id", "study_id", "gender", "age_decile", "reason_for_exam",
            "StudyOrder", "StudyDateTime", "objects", "attributes", "relationships",
        ]  # fmt: skip
        study = expected[sg["image_id"]]
        assert path.name == f"{study.dicom_id}_SceneGraph.json"
        assert {o["bbox_name"] for o in sg["objects"]} == set(onto.region_names)
        for o in sg["objects"]:
            assert o["object_id"] == f"{study.dicom_id}_{o['bbox_name']}"
            box = study.boxes[onto.region_index(o["bbox_name"])]
            assert [o["original_x1"], o["original_y1"], o["original_x2"], o["original_y2"]] == [int(v) for v in box]
            assert 0 <= o["x1"] <= o["x2"] <= 224 and 0 <= o["y1"] <= o["y2"] <= 224
            assert o["width"] == o["x2"] - o["x1"] and o["original_width"] == o["original_x2"] - o["original_x1"]
        for a in sg["attributes"]:
            n = len(a["phrases"])
            for key in (
                "attributes",
                "comparison_cues",
                "temporal_cues",
                "severity_cues",
                "texture_cues",
                "sections",
                "phrase_IDs",
            ):
                assert len(a[key]) == n, key
            for strings in a["attributes"]:
                for s in strings:
                    _category, context, _label = s.split("|")
                    assert context in ("yes", "no")
        for rel in sg["relationships"]:
            with_relations += 1
            assert rel["subject_id"] == f"{study.dicom_id}_{rel['bbox_name']}"
            assert rel["object_id"].endswith(f"_{rel['bbox_name']}")
            assert rel["relationship_names"]
            for name in rel["relationship_names"]:
                assert name in ("comparison|yes|improved", "comparison|yes|worsened", "comparison|yes|no change")
            code = int(study.progression[onto.region_index(rel["bbox_name"])])
            assert f"comparison|yes|{onto.label_name('progression', code)}" in rel["relationship_names"]
        assert (sg["StudyOrder"] > 1) == bool(sg["relationships"]) or not study.changes
    assert with_relations > 0
    split_rows = []
    for name in ("train", "valid", "test"):
        text = (tree / "silver_dataset" / "splits" / f"{name}.csv").read_text()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["", "subject_id", "study_id", "dicom_id", "path", "ViewPosition"]
        split_rows += rows[1:]
    assert {r[3] for r in split_rows} == set(expected)
    manifest = json.loads((tree / "phantom_manifest.json").read_text())
    assert manifest["studies"] == len(expected) and manifest["errors"] == []


def test_real_format_loaders_read_the_tree(tree):
    """The MIMIC-CXR and Chest ImaGenome readers take the phantom tree as it is."""
    mimic = pytest.importorskip("cxrgraph.datasets.mimic_cxr", reason="MIMIC-CXR reader not importable yet")
    imagenome = pytest.importorskip("cxrgraph.datasets.imagenome", reason="Chest ImaGenome reader not importable yet")
    import torch

    expected = {s.dicom_id: s for s in PhantomCohort(4, size=128, seed=3).studies()}
    index = mimic.MIMICCXR(tree)
    assert len(index) == len(expected)
    n = 0
    for image_id, doc in imagenome.iter_scene_graphs(tree):
        study = expected[image_id]
        graph = imagenome.parse_scene_graph(doc).to_graph()
        # boxes survive the 224-space round trip to within a pixel of the original grid
        assert torch.allclose(
            graph["anatomy"].box, torch.as_tensor(study.boxes / 128, dtype=torch.float32), atol=1 / 128
        )
        # the scene graph has no "uncertain" context (hedged mentions are "yes"), so compare present/absent
        truth = {(t.region, t.finding, t.existence != "absent") for t in study.triplets}
        got = {(t.region, t.finding, t.existence != "absent") for t in graph.triplets()}
        assert got == truth
        if study.progression is not None:
            assert torch.equal(imagenome.parse_scene_graph(doc).progression(), torch.as_tensor(study.progression))
        n += 1
    assert n == len(expected)
