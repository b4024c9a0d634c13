import pytest

from cxrgraph.datasets.chexpert import CheXpert
from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.ms_cxr_t import MSCXRT, finding_progression_to_regions
from cxrgraph.ontology import get_ontology

from .fixtures import write_chexpert, write_ms_cxr_t

ONTO = get_ontology()


def test_ms_cxr_t_pairs_and_sentences(tmp_path):
    ms = MSCXRT(write_ms_cxr_t(tmp_path / "ms"))
    assert len(ms.pairs) == 2 and len(ms.sentences) == 2
    first = ms.pairs[0]
    assert first.progression["consolidation"] == "improved"
    assert first.progression["pleural effusion"] is None
    second = ms.pairs[1]
    assert second.progression["pleural effusion"] == "worsened" and second.progression["pneumothorax"] == "no change"
    labels = second.region_labels()
    # effusion's default regions are the costophrenic angles, pneumothorax's the lungs
    assert labels[ONTO.region_index("left costophrenic angle")] == ONTO.label_index("progression", "worsened")
    assert labels[ONTO.region_index("left lung")] == ONTO.label_index("progression", "no change")
    assert ms.sentences[1].category == "contradiction"


def test_ms_cxr_t_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="MS-CXR-T"):
        MSCXRT(tmp_path)
    root = write_ms_cxr_t(tmp_path / "ms")
    p = root / "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
    p.write_text(p.read_text().replace("improving", "better"))
    with pytest.raises(DatasetFormatError, match="row 2: consolidation_progression='better'"):
        MSCXRT(root)


def test_finding_progression_conflicts_take_the_most_serious():
    labels = finding_progression_to_regions({"pneumothorax": "improved", "pneumonia": "worsened"})
    assert labels[ONTO.region_index("right lung")] == ONTO.label_index("progression", "worsened")


def test_chexpert_rows(tmp_path):
    root = write_chexpert(tmp_path / "CheXpert-v1.0-small")
    train = CheXpert(root, "train")
    assert len(train) == 2 and train.pathologies[0] == "Atelectasis"
    r = train[0]
    assert r.sex == "Female" and r.age == 68 and r.ap_pa == "AP"
    assert r.labels["Cardiomegaly"] == 1.0 and r.labels["Pleural Effusion"] == -1.0 and r.labels["Edema"] is None
    assert r.path.name == "view1_frontal.jpg"
    assert len(CheXpert(root, "train", frontal_only=True)) == 1
    assert CheXpert(root, "valid")[0].labels["Pneumothorax"] == 0.0
    with pytest.raises(ValueError, match="'train' or 'valid'"):
        CheXpert(root, "test")
    with pytest.raises(DatasetNotFoundError, match=r"train\.csv"):
        CheXpert(tmp_path / "missing")


def test_chexpert_rows_with_bad_values_are_left_out_and_recorded(tmp_path):
    root = write_chexpert(tmp_path / "CheXpert-v1.0-small")
    path = root / "train.csv"
    good = path.read_text().splitlines()
    row = good[1].split(",")
    bad = []
    for column, value in (("Age", "sixty"), ("Cardiomegaly", "7.0"), ("Edema", "nan"), ("Fracture", "inf")):
        r = list(row)
        r[good[0].split(",").index(column)] = value
        bad.append(",".join(r))
    bad.append("CheXpert-v1.0-small/train/patient9/study1/view1_frontal.jpg,Male,70")  # ragged
    path.write_text("\n".join(good + bad) + "\n")
    with pytest.warns(UserWarning, match=r"CheXpert train\.csv: left out 5 row\(s\)"):
        train = CheXpert(root, "train")
    assert len(train) == 2  # the good rows
    reasons = [why for _where, why in train.skipped]
    assert reasons[0].startswith("ragged row")
    assert reasons[1:] == [
        "Age='sixty' is not a number",
        "Cardiomegaly='7.0' is not 1, 0, -1 or blank",
        "Edema='nan' is not 1, 0, -1 or blank",
        "Fracture='inf' is not 1, 0, -1 or blank",
    ]


def test_ms_cxr_t_progression_columns_are_required(tmp_path):
    root = write_ms_cxr_t(tmp_path / "ms")
    p = root / "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
    p.write_text(p.read_text().replace("edema_progression", "edma_progression"))
    with pytest.raises(DatasetFormatError, match=r"'edema_progression' \(is 'edma_progression' a misspelling\?\)"):
        MSCXRT(root)
