import json
import os
import zipfile

import pytest
import torch

from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError, StaleCacheError
from cxrgraph.datasets.imagenome import (
    ChestImaGenome,
    iter_scene_graphs,
    parse_scene_graph,
    read_gold_attributes,
    read_gold_bboxes,
    read_gold_comparisons,
)
from cxrgraph.graph import LOCATED_AT
from cxrgraph.ontology import get_ontology

from .fixtures import scene_graph, write_chest_imagenome

ONTO = get_ontology()
R = ONTO.region_index


def test_scene_graph_quirks_are_tolerated():
    sg = parse_scene_graph(scene_graph("img", "p1", "s1", "2180-05-06 21:30:14", 2, "prev"))
    # boxes are normalised by the original image size
    assert torch.allclose(sg.boxes[R("right lung")], torch.tensor([40, 60, 200, 380]) / 448)
    # a negative coordinate is clipped into the image
    assert sg.boxes[R("trachea"), 0] == 0.0 and sg.present[R("trachea")]
    # a zero-area box means the region is absent
    assert not sg.present[R("carina")] and torch.isnan(sg.boxes[R("carina")]).all()
    # regions the silver pipeline emits beyond the 29 are kept aside
    assert sg.extra_regions == ["left cardiac silhouette"]
    assert sg.unknown_attributes == ["weird-entry"]
    assert sg.study_datetime.year == 2180 and sg.study_order == 2


def test_scene_graph_attributes_become_triplets_and_comparisons_labels():
    sg = parse_scene_graph(scene_graph("img", "p1", "s1", "2180-05-06 21:30:14", 2, "prev"))
    facts = {(t.region, t.finding): t for t in sg.triplets}
    opacity = facts[("left lower lung zone", "lung opacity")]
    assert (opacity.existence, opacity.severity, opacity.change) == ("present", "moderate", "worsened")
    assert facts[("left lower lung zone", "pneumonia")].existence == "absent"
    assert facts[("cardiac silhouette", "enlarged cardiac silhouette")].existence == "absent"
    prog = sg.progression()
    # multi-valued "improved" + "worsened" takes the most serious
    assert prog[R("left lower lung zone")] == ONTO.label_index("progression", "worsened")
    assert prog[R("cardiac silhouette")] == ONTO.label_index("progression", "no change")
    assert (prog == -1).sum() == 27
    assert sg.comparisons[0].previous_image_id == "prev"
    g = sg.to_graph().validate()
    assert g[LOCATED_AT].edge_index.size(1) == 3
    assert g["anatomy"].has_box.sum() == 5  # carina (zero area) and the extra region are not boxes


def test_scene_graph_without_required_keys_names_the_source():
    with pytest.raises(DatasetFormatError, match=r"x_SceneGraph\.json: scene graph has no 'objects'"):
        parse_scene_graph({"image_id": "x"}, source="x_SceneGraph.json")


@pytest.mark.parametrize("as_zip", [True, False])
def test_dataset_reads_zip_or_folder_and_respects_splits(tmp_path, as_zip):
    root = write_chest_imagenome(tmp_path / "imagenome", as_zip=as_zip)
    assert [i for i, _ in iter_scene_graphs(root)] == ["img-a1", "img-a2", "img-a3", "img-b1"]
    train = ChestImaGenome(root, split="train")
    # img-a1 is a gold image (images_to_avoid.csv, with a .dcm suffix) and stays out of training
    assert train.ids == ["img-a2", "img-a3"]
    g = train[0]
    assert g.image_id == "img-a2" and g.study_id == "50414267" and g.previous_image_id == "img-a1"
    assert g.progression.shape == (1, 29)
    g.validate()
    everything = ChestImaGenome(root, split=None)
    assert len(everything) == 4
    test = ChestImaGenome(root, split="test")
    assert test.ids == ["img-b1"]


def test_cache_is_reused_refused_when_stale_and_rebuilt_on_request(tmp_path, monkeypatch):
    root = write_chest_imagenome(tmp_path / "imagenome")
    first = ChestImaGenome(root, split="train")
    graphs = [first[i] for i in range(len(first))]

    def fail(self, item):
        raise AssertionError("processed again although the cache is complete")

    monkeypatch.setattr(ChestImaGenome, "convert", fail)
    second = ChestImaGenome(root, split="train")
    assert all(a.equals(b) for a, b in zip(graphs, (second[i] for i in range(len(second)))))

    manifest = first.cache.manifest_path
    doc = json.loads(manifest.read_text())
    doc["ontology_version"] = "0.9+000000000000"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(StaleCacheError, match=r"built with ontology 0\.9\+000000000000.*force_reload=True"):
        ChestImaGenome(root, split="train")
    monkeypatch.undo()
    rebuilt = ChestImaGenome(root, split="train", force_reload=True)
    assert len(rebuilt) == 2


def test_processed_root_keeps_the_data_folder_untouched(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome")
    ds = ChestImaGenome(root, split="test", processed_root=tmp_path / "cache")
    assert len(ds) == 1
    assert not (root / "processed").exists()
    assert (tmp_path / "cache" / "imagenome-test" / "manifest.json").is_file()


def test_missing_files_say_where_they_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        ChestImaGenome(tmp_path / "nothing-here")
    msg = str(err.value)
    assert "scene_graph.zip" in msg and str(tmp_path / "nothing-here") in msg and "PhysioNet" in msg
    root = write_chest_imagenome(tmp_path / "imagenome")
    (root / "silver_dataset" / "splits" / "valid.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"'valid' split file"):
        ChestImaGenome(root, split="val")


def test_gold_files(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome")
    gold = root / "gold_dataset"
    boxes = read_gold_bboxes(gold / "gold_bbox_coordinate_annotations_1000images.csv")
    assert set(boxes) == {"img-a2"}  # the .dcm suffix is stripped
    assert torch.allclose(boxes["img-a2"][R("right lung")], torch.tensor([40, 60, 200, 380]) / 448)
    assert torch.isnan(boxes["img-a2"][R("carina")]).all()  # zero-area gold box = absent
    comps = read_gold_comparisons(gold / "gold_object_comparison_with_coordinates.txt")
    assert len(comps) == 1  # the extra region name is skipped
    assert comps[0].labels == ("worsened", "improved") and comps[0].previous_image_id == "img-a1"
    assert comps[0].finding == "lung opacity"
    attrs = read_gold_attributes(gold / "gold_object_attribute_with_coordinates.txt")
    assert [(t.region, t.finding, t.existence) for t in attrs["img-a2"]] == [
        ("left lower lung zone", "lung opacity", "present"),
        ("cardiac silhouette", "enlarged cardiac silhouette", "absent"),
    ]


def test_gold_file_with_unexpected_columns_is_rejected(tmp_path):
    path = tmp_path / "gold.txt"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(DatasetFormatError, match=r"missing column\(s\)"):
        read_gold_comparisons(path)


# ---------------------------------------------------------------- unreadable files are recorded, not fatal
_BAD_FILES = {
    "img-c1": b"",  # empty
    "img-c2": b'{"image_id": "img-c2", "objects": [{"bbox_name": "right lung", "x1"',  # truncated
    "img-c3": b'{"image_id": "img-c3 \xff\xfe", "objects": []}',  # not UTF-8
    "img-c4": b'{"image_id": "img-c4", "objects": [1]}',  # objects that are not objects
}


def _add_files(root, files, as_zip):
    silver = root / "silver_dataset"
    if as_zip:
        with zipfile.ZipFile(silver / "scene_graph.zip", "a") as zf:
            for image_id, data in files.items():
                zf.writestr(f"scene_graph/{image_id}_SceneGraph.json", data)
    else:
        for image_id, data in files.items():
            (silver / "scene_graph" / f"{image_id}_SceneGraph.json").write_bytes(data)


@pytest.mark.parametrize("as_zip", [True, False])
def test_unreadable_scene_graphs_are_recorded_and_the_rest_is_read(tmp_path, as_zip):
    root = write_chest_imagenome(tmp_path / "imagenome", as_zip=as_zip)
    _add_files(root, _BAD_FILES, as_zip)
    ds = ChestImaGenome(root, split=None)
    assert ds.ids == ["img-a1", "img-a2", "img-a3", "img-b1"]
    reasons = {f.id: f.reason for f in ds.failures}
    assert set(reasons) == set(_BAD_FILES)
    assert "img-c1_SceneGraph.json: empty scene graph file" in reasons["img-c1"]
    assert "img-c2_SceneGraph.json: not valid JSON, truncated?" in reasons["img-c2"]
    assert "img-c3_SceneGraph.json: not UTF-8 text" in reasons["img-c3"]
    assert "objects[0] must be an object, got int" in reasons["img-c4"]
    # the plain iterator: raises naming the file, or skips and records when asked to
    with pytest.raises(DatasetFormatError, match=r"img-c1_SceneGraph\.json: empty"):
        list(iter_scene_graphs(root))
    errors = []
    assert [i for i, _ in iter_scene_graphs(root, errors=errors)] == ["img-a1", "img-a2", "img-a3", "img-b1", "img-c4"]
    assert [i for i, _ in errors] == ["img-c1", "img-c2", "img-c3"]


def test_an_image_of_the_split_without_a_scene_graph_is_recorded(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome")
    with (root / "silver_dataset" / "splits" / "test.csv").open("a") as fh:
        fh.write("1,11000011,51000002,img-zz,files/p11/p11000011/s51000002/img-zz.dcm,PA\n")
    test = ChestImaGenome(root, split="test")
    assert test.ids == ["img-b1"]
    (failure,) = test.failures
    assert failure.id == "img-zz" and "no scene graph img-zz_SceneGraph.json" in failure.reason


def test_split_names_are_checked_and_any_case_is_accepted(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome")
    with pytest.raises(ValueError, match="unknown Chest ImaGenome split 'trian'"):
        ChestImaGenome(root, split="trian")
    assert ChestImaGenome(root, split="TEST").ids == ["img-b1"]


def test_an_edited_scene_graph_is_read_again(tmp_path):
    root = write_chest_imagenome(tmp_path / "imagenome", as_zip=False)
    before = ChestImaGenome(root, split="test")
    assert before[0].study_datetime.startswith("2190-01-01")
    path = root / "silver_dataset" / "scene_graph" / "img-b1_SceneGraph.json"
    doc = json.loads(path.read_text())
    doc["StudyDateTime"] = "2191-02-02 10:10:10"
    path.write_text(json.dumps(doc))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ChestImaGenome(root, split="test")[0].study_datetime.startswith("2191-02-02")


# ---------------------------------------------------------------- one box reader
def test_the_detector_and_the_data_set_read_the_same_boxes(tmp_path):
    """The 224-frame corners are the convention; pixel corners only fill in where those are missing."""
    from PIL import Image

    from cxrgraph.datasets.boxes import scene_graph_boxes
    from cxrgraph.image.data import read_imagenome_tree

    doc = scene_graph("img-a2", "10000032", "50414267", "2180-05-06 21:30:14", 2, "img-a1")
    # pixel corners of another frame (padded, say): the two fields disagree, as they can in real files
    for obj in doc["objects"]:
        obj["original_x1"] += 30
    only_pixels = dict(doc["objects"][1])
    for k in ("x1", "y1", "x2", "y2"):
        del only_pixels[k]
    doc["objects"][1] = only_pixels  # left lung: pixel corners only
    root = tmp_path / "tree"
    write_chest_imagenome(root, as_zip=False)
    (root / "silver_dataset" / "scene_graph" / "img-a2_SceneGraph.json").write_text(json.dumps(doc))
    folder = root / "files" / "p10" / "p10000032" / "s50414267"
    folder.mkdir(parents=True)
    Image.new("L", (448, 448)).save(folder / "img-a2.jpg")

    (image,) = [t for t in read_imagenome_tree(root) if t.dicom_id == "img-a2"]
    sg = parse_scene_graph(doc)
    right_lung = torch.tensor([40, 60, 200, 380]) / 448
    for boxes in (image.boxes, sg.boxes, scene_graph_boxes(doc, width=448, height=448)):
        assert torch.allclose(boxes[R("right lung")], right_lung)  # 224 frame, not the shifted pixels
    # without 224 corners: pixel corners over the image size when it is known ...
    assert torch.allclose(image.boxes[R("left lung")], torch.tensor([270, 60, 410, 390]) / 448)
    # ... and a recorded unreadable box when it is not
    assert torch.isnan(sg.boxes[R("left lung")]).all() and sg.unreadable_boxes == ["left lung"]
    same = torch.isfinite(image.boxes) & torch.isfinite(sg.boxes)
    assert torch.equal(image.boxes[same], sg.boxes[same])
