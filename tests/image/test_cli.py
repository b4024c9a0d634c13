import json

import pytest

from cxrgraph.cli import main

from .synthetic import write_tree


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    truth = write_tree(root, num_images=5, size=96)
    bad = root / "files" / "p19" / "p19999999" / "s59999999"
    bad.mkdir(parents=True)
    (bad / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root, truth


def test_detect_train_then_predict(tree, tmp_path):
    root, truth = tree
    out = tmp_path / "run"
    code = main(
        ["detect", "train", "--root", str(root), "--out", str(out), "--size", "64", "--max-steps", "2",
         "--batch-size", "2", "--val-fraction", "0.3", "--no-progress", "--threads", "1"]
    )  # fmt: skip
    assert code == 0
    assert (out / "detector.pt").is_file()
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["train_images"] + summary["val_images"] == 5
    # the broken image has no scene graph: it is left out and recorded
    assert any("broken.jpg" in s["path"] for s in json.loads((out / "skipped.json").read_text()))

    pred = tmp_path / "pred"
    code = main(["detect", "predict", "--root", str(root), "--out", str(pred), "--model", str(out / "detector.pt"),
                 "--no-progress", "--threshold", "0.0"])  # fmt: skip
    assert code == 0
    for dicom, _ in truth:
        data = json.loads((pred / f"{dicom}.json").read_text())
        assert len(data["regions"]) == 29 and data["height"] == 96
    skipped = json.loads((pred / "skipped.json").read_text())
    assert [s["path"].rsplit("/", 1)[-1] for s in skipped] == ["broken.jpg"]
    assert "mean_iou" in json.loads((pred / "evaluation.json").read_text())


def test_detect_predict_with_the_atlas_on_a_folder(tree, tmp_path, capsys):
    root, truth = tree
    pred = tmp_path / "atlas"
    assert main(["detect", "predict", "--root", str(root), "--out", str(pred), "--atlas", "--no-progress"]) == 0
    report = json.loads((pred / "evaluation.json").read_text())
    assert report["num_images"] == 5 and 0 <= report["mean_iou"] <= 1
    out = capsys.readouterr()
    assert "mean IoU" in out.out and "phantom" not in out.err  # the rules were fitted on nothing
    data = json.loads((pred / f"{truth[0][0]}.json").read_text())
    assert data["detector"] == "LungFieldDetector" and 0 < data["confidence"] <= 1
    folder = root / "files" / "p10" / "p10000000" / "s50000000"
    assert (
        main(["detect", "predict", "--root", str(folder), "--out", str(tmp_path / "f"), "--atlas", "--no-progress"])
        == 0
    )
    assert (tmp_path / "f" / f"{truth[0][0]}.json").is_file()


def test_predict_overlay_skips_films_without_lungs_and_warns_about_the_phantom(tree, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    root, truth = tree
    folder = tmp_path / "films"
    folder.mkdir()
    src = next((root / "files").rglob(f"{truth[0][0]}.jpg"))
    (folder / "chest.jpg").write_bytes(src.read_bytes())
    ramp = np.tile(np.linspace(0, 255, 96).astype(np.uint8), (96, 1))
    Image.fromarray(ramp).save(folder / "ramp.png")
    out = tmp_path / "pred"
    code = main(["detect", "predict", "--root", str(folder), "--out", str(out), "--atlas", "phantom",
                 "--overlay", "--no-progress"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("fitted on the synthetic phantom") == 1
    assert (out / "chest.json").is_file() and (out / "chest.png").stat().st_size > 0
    assert not (out / "ramp.json").exists()
    skipped = json.loads((out / "skipped.json").read_text())
    assert [s["path"].rsplit("/", 1)[-1] for s in skipped] == ["ramp.png"]
    assert "lung fields not found" in skipped[0]["problem"]
    # inside a phantom tree the phantom layout is where it belongs: no warning
    (folder / "phantom_manifest.json").write_text("{}")
    assert main(["detect", "predict", "--root", str(folder), "--out", str(out), "--atlas", "phantom",
                 "--no-progress"]) == 0  # fmt: skip
    assert "phantom" not in capsys.readouterr().err
