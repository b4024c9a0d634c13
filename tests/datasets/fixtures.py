"""Writers of tiny data sets in the official layouts (MIMIC-CXR-JPG, Chest ImaGenome, MS-CXR-T,
CheXpert), with the known quirks of the real files, for the loader tests."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CHEXPERT_LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]  # fmt: skip

# subject 10000032 has three studies (written out of date order on purpose), subject 11000011 one
MIMIC_STUDIES = [
    # subject, study, dicom, view, date, time, split, report
    ("10000032", "50414267", "02aa804e-bde0afdd", "PA", "21800506", "213014.531", "train",
     "FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n INDICATION:  Cough.\n\n FINDINGS:\n \n There is a new "
     "left basilar opacity.  No pleural effusion or pneumothorax.\n\n IMPRESSION:\n \n Left basilar opacity "
     "concerning for pneumonia.\n"),
    ("10000032", "53189527", "2a2277a9-b0ded155", "AP", "21800626", "165500", "train",
     "FINAL REPORT\n COMPARISON:  ___\n\n FINDINGS:\n \n The left basilar opacity has decreased.  Heart size "
     "is normal.\n\n IMPRESSION:\n \n Improving left basilar opacity.\n"),
    ("10000032", "50000001", "68b5c4b1-227d0485", "PA", "21800101", "090000", "validate",
     "FINAL REPORT\n FINDINGS:\n \n Lungs are clear.  No effusion.\n"),
    ("11000011", "51000001", "deadbeef-00000001", "LATERAL", "21900101", "101010", "test",
     "FINAL REPORT\n IMPRESSION:\n \n Moderate cardiomegaly.\n"),
]  # fmt: skip


def _write_csv_gz(path: Path, header: list[str], rows: list[list[object]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))


def write_mimic_cxr(root: Path, with_split: bool = True) -> Path:
    """A MIMIC-CXR-JPG tree with reports, JPGs and the four CSVs."""
    root.mkdir(parents=True, exist_ok=True)
    meta_rows, split_rows, label_rows = [], [], []
    for subject, study, dicom, view, date, time, split, report in MIMIC_STUDIES:
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
        (folder / f"s{study}").mkdir(parents=True, exist_ok=True)
        (folder / f"s{study}.txt").write_text(report)
        Image.fromarray(np.full((32, 40), 120, dtype=np.uint8)).save(folder / f"s{study}" / f"{dicom}.jpg")
        meta_rows.append([dicom, subject, study, "CHEST (PA AND LAT)", view, 32, 40, date, time, "", "", ""])
        split_rows.append([dicom, study, subject, split])
        labels = [""] * len(CHEXPERT_LABELS)
        labels[CHEXPERT_LABELS.index("Lung Opacity")] = "1.0" if study == "50414267" else ""
        labels[CHEXPERT_LABELS.index("Pneumonia")] = "-1.0" if study == "50414267" else ""
        labels[CHEXPERT_LABELS.index("No Finding")] = "1.0" if study == "50000001" else ""
        labels[CHEXPERT_LABELS.index("Cardiomegaly")] = "1.0" if study == "51000001" else ""
        label_rows.append([subject, study, *labels])
    _write_csv_gz(
        root / "mimic-cxr-2.0.0-metadata.csv.gz",
        ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
         "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
         "PatientOrientationCodeSequence_CodeMeaning"],
        meta_rows,
    )  # fmt: skip
    if with_split:
        _write_csv_gz(
            root / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split_rows
        )
    _write_csv_gz(root / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id", *CHEXPERT_LABELS], label_rows)
    # the NegBio file is plain .csv here: both forms are accepted
    (root / "mimic-cxr-2.0.0-negbio.csv").write_text(
        gzip.decompress((root / "mimic-cxr-2.0.0-chexpert.csv.gz").read_bytes()).decode()
    )
    return root


def _obj(image_id: str, name: str, box: tuple[float, float, float, float], size: int = 448) -> dict:
    x1, y1, x2, y2 = box
    s = 224 / size
    return {
        "object_id": f"{image_id}_{name}",
        "bbox_name": name,
        "x1": x1 * s, "y1": y1 * s, "x2": x2 * s, "y2": y2 * s,
        "width": (x2 - x1) * s, "height": (y2 - y1) * s,
        "original_x1": x1, "original_y1": y1, "original_x2": x2, "original_y2": y2,
        "original_width": x2 - x1, "original_height": y2 - y1,  # box sizes, as in the real files
    }  # fmt: skip


def scene_graph(image_id: str, patient: str, study: str, when: str, order: int, previous: str | None) -> dict:
    """One scene graph: boxes with quirks, attributes, and comparisons when there is a prior."""
    objects = [
        _obj(image_id, "right lung", (40, 60, 200, 380)),
        _obj(image_id, "left lung", (240, 60, 410, 390)),
        _obj(image_id, "left lower lung zone", (240, 260, 410, 390)),
        _obj(image_id, "cardiac silhouette", (150, 220, 330, 380)),
        _obj(image_id, "trachea", (-12, 10, 240, 120)),  # negative x1: clipped
        _obj(image_id, "carina", (220, 130, 220, 150)),  # zero width: absent
        _obj(image_id, "left cardiac silhouette", (230, 220, 330, 380)),  # extra region name
    ]
    attributes = [
        {
            "bbox_name": "left lower lung zone",
            "phrases": ["There is a moderate left basilar opacity."],
            "attributes": [["anatomicalfinding|yes|lung opacity", "nlp|yes|abnormal", "disease|no|pneumonia"]],
            "comparison_cues": [[]],
            "temporal_cues": [["worsened"] if previous else []],
            "severity_cues": [["moderate"]],
            "texture_cues": [[]],
            "sections": ["finding"],
            "phrase_IDs": ["1"],
        },
        {
            "bbox_name": "cardiac silhouette",
            "phrases": ["Heart size is normal."],
            "attributes": [["anatomicalfinding|no|enlarged cardiac silhouette", "nlp|yes|normal", "weird-entry"]],
            "comparison_cues": [[]],
            "temporal_cues": [[]],
            "severity_cues": [[]],
            "texture_cues": [[]],
            "sections": ["finding"],
            "phrase_IDs": ["2"],
        },
        {"bbox_name": "left cardiac silhouette", "phrases": [], "attributes": []},
    ]
    relationships = []
    if previous:
        relationships = [
            {
                "subject_id": f"{image_id}_left lower lung zone",
                "object_id": f"{previous}_left lower lung zone",
                "bbox_name": "left lower lung zone",
                "relationship_names": ["comparison|yes|improved", "comparison|yes|worsened"],  # multi-valued
                "phrase": "The left basilar opacity has worsened.",
                "attributes": [],
            },
            {
                "subject_id": f"{image_id}_cardiac silhouette",
                "object_id": f"{previous}_cardiac silhouette",
                "bbox_name": "cardiac silhouette",
                "relationship_names": ["comparison|yes|no change"],
                "phrase": "Heart size is unchanged.",
                "attributes": [],
            },
        ]
    return {
        "image_id": image_id,
        "viewpoint": "PA",
        "patient_id": patient,
        "study_id": study,
        "gender": "F",
        "age_decile": "60-70",
        "reason_for_exam": "cough",
        "StudyOrder": order,
        "StudyDateTime": when,
        "objects": objects,
        "attributes": attributes,
        "relationships": relationships,
    }


IMAGENOME_IMAGES = [
    # image, patient, study, datetime, order, previous image, split
    ("img-a1", "10000032", "50000001", "2180-01-01 09:00:00", 1, None, "train"),
    ("img-a2", "10000032", "50414267", "2180-05-06 21:30:14", 2, "img-a1", "train"),
    ("img-a3", "10000032", "53189527", "2180-06-26 16:55:00", 3, "img-a2", "train"),
    ("img-b1", "11000011", "51000001", "2190-01-01 10:10:10", 1, None, "test"),
]


def write_chest_imagenome(root: Path, as_zip: bool = True) -> Path:
    """Silver scene graphs (zipped or extracted), splits, images_to_avoid and gold files."""
    silver = root / "silver_dataset"
    (silver / "splits").mkdir(parents=True, exist_ok=True)
    docs = {
        img: scene_graph(img, pat, st, when, order, prev) for img, pat, st, when, order, prev, _ in IMAGENOME_IMAGES
    }
    if as_zip:
        with zipfile.ZipFile(silver / "scene_graph.zip", "w") as zf:
            for img, doc in docs.items():
                zf.writestr(f"scene_graph/{img}_SceneGraph.json", json.dumps(doc))
            zf.writestr("scene_graph/README.txt", "not a scene graph")
    else:
        (silver / "scene_graph").mkdir(parents=True, exist_ok=True)
        for img, doc in docs.items():
            (silver / "scene_graph" / f"{img}_SceneGraph.json").write_text(json.dumps(doc))
    for split in ("train", "valid", "test"):
        rows = [r for r in IMAGENOME_IMAGES if r[6] == split]
        with (silver / "splits" / f"{split}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["", "subject_id", "study_id", "dicom_id", "path", "ViewPosition"])
            for i, (img, pat, st, *_rest) in enumerate(rows):
                w.writerow([i, pat, st, img, f"files/p{pat[:2]}/p{pat}/s{st}/{img}.dcm", "PA"])
    with (silver / "splits" / "images_to_avoid.csv").open("w", newline="") as fh:
        fh.write("dicom_id\nimg-a1.dcm\n")
    gold = root / "gold_dataset"
    gold.mkdir(parents=True, exist_ok=True)
    with (gold / "gold_bbox_coordinate_annotations_1000images.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", "x1", "y1", "x2", "y2", "width", "height", "bbox_name", "annot_id", "original_x1",
                    "original_x2", "original_y1", "original_y2", "original_width", "original_height", "annotator",
                    "coord224", "coord_original"])  # fmt: skip
        w.writerow(["img-a2.dcm", 20, 30, 100, 190, 80, 160, "right lung", 1, 40, 200, 60, 380, 160, 320, "a", "", ""])
        w.writerow(["img-a2.dcm", 0, 0, 0, 0, 0, 0, "carina", 2, 0, 0, 0, 0, 0, 0, "a", "", ""])
    with (gold / "gold_object_comparison_with_coordinates.txt").open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["patient_id", "current_image_id", "previous_image_id", "bbox", "label_name", "comparison",
                    "relationship_id", "attribute", "sentence", "subject_id", "object_id", "current_bbox",
                    "previous_bbox"])  # fmt: skip
        w.writerow(["10000032", "img-a2.dcm", "img-a1.dcm", "left lower lung zone", "lung opacity",
                    "worsened;;improved", "r1", "", "Opacity has worsened.", "", "", "[1, 2, 3, 4]", "[1, 2, 3, 4]"])  # fmt: skip
        w.writerow(["10000032", "img-a2.dcm", "img-a1.dcm", "left cardiac silhouette", "", "no change", "r2", "",
                    "", "", "", "", ""])  # fmt: skip
    with (gold / "gold_object_attribute_with_coordinates.txt").open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(
            ["image_id", "bbox", "label_name", "categoryID", "context", "attribute", "row_id", "sentence", "section"]
        )
        w.writerow(["img-a2.dcm", "left lower lung zone", "lung opacity", "anatomicalfinding", "yes", "", "1", "", ""])
        w.writerow(
            [
                "img-a2.dcm",
                "cardiac silhouette",
                "enlarged cardiac silhouette",
                "anatomicalfinding",
                "no",
                "",
                "2",
                "",
                "",
            ]
        )
    return root


def write_ms_cxr_t(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "MS_CXR_T_temporal_image_classification_v1.0.0.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id",
                    "consolidation_progression", "edema_progression", "pleural_effusion_progression",
                    "pneumonia_progression", "pneumothorax_progression"])  # fmt: skip
        w.writerow(["10000032", "53189527", "img-a3", "50414267", "img-a2", "improving", "", "", "", ""])
        w.writerow(["10000032", "50414267", "img-a2", "50000001", "img-a1", "", "", "worsening", "", "stable"])
    with (root / "MS_CXR_T_temporal_sentence_similarity_v1.0.0.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence_1", "sentence_2", "category"])
        w.writerow(["Effusion has increased.", "Effusion is larger.", "paraphrase"])
        w.writerow(["Effusion has increased.", "Effusion has decreased.", "contradiction"])
    return root


def write_chexpert(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS]
    frontal = ["", "1.0", "", "", "", "", "", "", "", "-1.0", "", "", "0.0", "1.0"]
    lateral = [""] * 8 + ["1.0"] + [""] * 5
    splits = {
        "train": [
            [
                "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg",
                "Female",
                "68",
                "Frontal",
                "AP",
                *frontal,
            ],
            [
                "CheXpert-v1.0-small/train/patient00001/study1/view2_lateral.jpg",
                "Female",
                "68",
                "Lateral",
                "",
                *lateral,
            ],
        ],
        "valid": [
            ["CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "Male", "73", "Frontal", "AP"]
            + ["0.0"] * 14,
        ],
    }
    for split, rows in splits.items():
        with (root / f"{split}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    return root
