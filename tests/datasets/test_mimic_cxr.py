import gzip

import pytest

from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.mimic_cxr import MIMICCXR, MIMICCXRReportGraphs, read_label_csv, study_datetime, study_folder

from .fixtures import write_mimic_cxr


def test_index_orders_each_patients_studies_by_date_and_time(tmp_path):
    root = write_mimic_cxr(tmp_path / "mimic")
    index = MIMICCXR(root)
    assert len(index) == 4
    series = index.by_subject()["10000032"]
    assert [s.study_id for s in series] == ["50000001", "50414267", "53189527"]
    s = index.study("s50414267")
    assert s.datetime.isoformat() == "2180-05-06T21:30:14.531000"
    assert s.split == "train" and s.view_positions == ["PA"]
    assert s.image_paths[0].is_file() and s.frontal_image() == s.image_paths[0]
    assert "left basilar opacity" in s.read_report()
    assert s.chexpert["Lung Opacity"] == 1.0 and s.chexpert["Pneumonia"] == -1.0 and s.chexpert["Edema"] is None
    assert s.negbio == s.chexpert  # read from the uncompressed .csv
    assert index.study("51000001").frontal_image() is None  # lateral only


def test_split_and_view_filters(tmp_path):
    root = write_mimic_cxr(tmp_path / "mimic")
    assert [s.study_id for s in MIMICCXR(root, split="val")] == ["50000001"]
    assert len(MIMICCXR(root, split="train")) == 2
    assert len(MIMICCXR(root, views=["PA", "AP"])) == 3
    with pytest.raises(KeyError, match="s99 is not in this MIMIC-CXR index"):
        MIMICCXR(root).study("99")


def test_missing_files_are_explained(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        MIMICCXR(tmp_path)
    assert "mimic-cxr-2.0.0-metadata.csv.gz" in str(err.value) and "PhysioNet" in str(err.value)
    root = write_mimic_cxr(tmp_path / "nosplit", with_split=False)
    assert len(MIMICCXR(root)) == 4
    with pytest.raises(DatasetNotFoundError, match="split file"):
        MIMICCXR(root, split="train")
    study = MIMICCXR(root).study("50414267")
    study.report_path.unlink()
    with pytest.raises(FileNotFoundError, match="report of study s50414267 not found"):
        study.read_report()


def test_bad_label_values_name_file_and_study(tmp_path):
    path = tmp_path / "labels.csv.gz"
    path.write_bytes(gzip.compress(b"subject_id,study_id,Edema\n1,2,yes\n"))
    with pytest.raises(DatasetFormatError, match="study 2: Edema='yes' is not a number"):
        read_label_csv(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(DatasetFormatError, match="not a valid gzip"):
        read_label_csv(path)


def test_helpers():
    assert str(study_folder("10000032", "50414267")) == "files/p10/p10000032/s50414267"
    assert study_datetime("21800506", "213014.531").microsecond == 531000
    assert study_datetime("21800506", "5").hour == 0
    with pytest.raises(ValueError, match="bad StudyDate"):
        study_datetime("2180-05-06", "0")


def test_report_graphs_are_parsed_once_and_bad_reports_recorded(tmp_path):
    pytest.importorskip("cxrgraph.text")
    root = write_mimic_cxr(tmp_path / "mimic")
    (root / "files" / "p11" / "p11000011" / "s51000001.txt").write_bytes(b"\xff\xfe bad bytes")
    ds = MIMICCXRReportGraphs(root)
    assert len(ds) == 3
    assert [f.id for f in ds.failures] == ["51000001"] and "UTF-8" in ds.failures[0].reason
    g = ds[ds.ids.index("50414267")]
    assert g.subject_id == "10000032" and g.study_datetime.startswith("2180-05-06")
    assert "lung opacity" in g.positive_findings()
