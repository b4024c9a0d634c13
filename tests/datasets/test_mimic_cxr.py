import gzip
import os

import pytest

from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.mimic_cxr import MIMICCXR, MIMICCXRReportGraphs, read_label_csv, study_datetime, study_folder

from .fixtures import CHEXPERT_LABELS, write_mimic_cxr


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


def _labels(values: dict[str, str], header=CHEXPERT_LABELS) -> bytes:
    row = ",".join(values.get(label, "") for label in CHEXPERT_LABELS)
    return gzip.compress(f"subject_id,study_id,{','.join(header)}\n1,2,{row}\n".encode())


def test_bad_label_values_name_file_and_study(tmp_path):
    path = tmp_path / "labels.csv.gz"
    path.write_bytes(_labels({"Edema": "yes"}))
    with pytest.raises(DatasetFormatError, match="study 2: Edema='yes' is not a number"):
        read_label_csv(path)
    for bad in ("7.0", "nan", "inf", "0.5"):
        path.write_bytes(_labels({"Edema": bad}))
        with pytest.raises(DatasetFormatError, match=rf"study 2: Edema='{bad}' is not 1, 0, -1 or blank"):
            read_label_csv(path)
    skipped = []
    assert read_label_csv(path, skipped=skipped) == {} and "Edema='0.5'" in skipped[0][1]
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


def test_misspelt_label_columns_are_refused_and_other_spellings_accepted(tmp_path):
    path = tmp_path / "labels.csv.gz"
    header = [h.replace("Pleural Effusion", "Pleural Efusion") for h in CHEXPERT_LABELS]
    path.write_bytes(_labels({"Pleural Effusion": "1.0"}, header))
    with pytest.raises(DatasetFormatError, match=r"'Pleural Effusion' \(is 'Pleural Efusion' a misspelling\?\)"):
        read_label_csv(path)
    header = [h.upper().replace(" ", "_") for h in CHEXPERT_LABELS]
    path.write_bytes(_labels({"Pleural Effusion": "1.0"}, header))
    assert read_label_csv(path)["2"]["Pleural Effusion"] == 1.0


def test_a_truncated_csv_gz_names_the_file(tmp_path):
    root = write_mimic_cxr(tmp_path / "mimic")
    meta = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    meta.write_bytes(meta.read_bytes()[:-20])
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv\.gz: truncated gzip file"):
        MIMICCXR(root)


def test_bad_rows_are_left_out_and_recorded(tmp_path):
    root = write_mimic_cxr(tmp_path / "mimic")
    meta = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    text = gzip.decompress(meta.read_bytes()).decode()
    text += "ragged-row,10000032\n"  # two fields where the header has twelve
    text += "bad-date,12000000,52000000,x,PA,1,1,2180-13-45,0,,,\n"
    text += ",12000001,52000001,x,PA,1,1,21800101,0,,,\n"  # no dicom id
    meta.write_bytes(gzip.compress(text.encode()))
    split = root / "mimic-cxr-2.0.0-split.csv.gz"
    text = gzip.decompress(split.read_bytes()).decode().replace(",train", ",TRAIN").replace(",test", ",holdout")
    split.write_bytes(gzip.compress(text.encode()))
    labels = root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    text = gzip.decompress(labels.read_bytes()).decode().replace("-1.0", "7.0")
    labels.write_bytes(gzip.compress(text.encode()))
    with pytest.warns(UserWarning, match=r"left out 5 row\(s\)"):
        index = MIMICCXR(root)
    assert len(index) == 4  # every good study is kept
    reasons = " | ".join(why for _where, why in index.skipped)
    assert "ragged row: line 6: 2 field(s) where the header has 12" in reasons
    assert "dicom bad-date: bad StudyDate" in reasons and "no dicom id" in reasons
    assert "unknown split 'holdout'" in reasons and "Pneumonia='7.0'" in reasons
    assert index.study("50414267").chexpert is None  # its label row was refused
    with pytest.warns(UserWarning):
        assert len(MIMICCXR(root, split="train")) == 2  # TRAIN in the file counts as train


def test_split_names_are_checked(tmp_path):
    root = write_mimic_cxr(tmp_path / "mimic")
    with pytest.raises(ValueError, match="unknown MIMIC-CXR split 'trian'"):
        MIMICCXR(root, split="trian")
    assert len(MIMICCXR(root, split="Train")) == 2


def test_an_edited_report_is_parsed_again_and_a_byte_order_mark_is_not_text(tmp_path):
    pytest.importorskip("cxrgraph.text")
    root = write_mimic_cxr(tmp_path / "mimic")
    report = root / "files" / "p10" / "p10000032" / "s50000001.txt"
    ds = MIMICCXRReportGraphs(root)
    assert "pleural effusion" not in ds[ds.ids.index("50000001")].positive_findings()
    report.write_bytes("\ufeffFINDINGS: Large left pleural effusion.\n".encode())
    st = report.stat()
    os.utime(report, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = MIMICCXRReportGraphs(root)
    graph = again[again.ids.index("50000001")]
    assert "pleural effusion" in graph.positive_findings() and graph.errors == []


def test_report_graphs_follow_the_parser_version(tmp_path, monkeypatch):
    # an edited parser rule (a new parser version) parses every report again; the same version reads the cache
    pytest.importorskip("cxrgraph.text")
    import cxrgraph.text
    import cxrgraph.text.version

    root = write_mimic_cxr(tmp_path / "mimic")
    MIMICCXRReportGraphs(root)
    parsed = []
    real = cxrgraph.text.parse_report

    def counting(text, *args, **kwargs):
        parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(cxrgraph.text, "parse_report", counting)
    MIMICCXRReportGraphs(root)
    assert parsed == []
    monkeypatch.setattr(cxrgraph.text.version, "parser_version", lambda backend="rules": f"{backend}-edited")
    again = MIMICCXRReportGraphs(root)
    assert len(parsed) == len(again) + len(again.failures) == 4
