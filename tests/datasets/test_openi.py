"""OpenIReports on small archives written by the test in the real layout (plus the packaged one)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from cxrgraph.datasets import OpenIReports
from cxrgraph.datasets.openi import _packaged_tgz, parse_openi_xml

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <uId id="CXR{n}"/>
   <MedlineCitation><Article><Abstract>
      <AbstractText Label="COMPARISON">None.</AbstractText>
      <AbstractText Label="INDICATION">XXXX-year-old male, chest pain.</AbstractText>
      <AbstractText Label="FINDINGS">{findings}</AbstractText>
      <AbstractText Label="IMPRESSION">{impression}</AbstractText>
   </Abstract></Article></MedlineCitation>
   <MeSH>
      <major>{mesh}</major>
      <automatic>atelectases</automatic>
   </MeSH>
   <parentImage id="CXR{n}_IM-0003-1001"><figureId>F1</figureId></parentImage>
   <parentImage id="CXR{n}_IM-0003-2001"><figureId>F2</figureId></parentImage>
</eCitation>
"""


def _write_tgz(path, reports):
    with tarfile.open(path, "w:gz") as tar:
        for n, findings, impression, mesh in reports:
            data = XML.format(n=n, findings=findings, impression=impression, mesh=mesh).encode()
            info = tarfile.TarInfo(f"ecgen-radiology/{n}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        bad = b"<eCitation><broken>"
        info = tarfile.TarInfo("ecgen-radiology/999.xml")
        info.size = len(bad)
        tar.addfile(info, io.BytesIO(bad))


REPORTS = [
    (10, "No pleural effusion or pneumothorax.", "Normal chest.", "normal"),
    (2, "Left basilar atelectasis.", "Atelectasis.", "Pulmonary Atelectasis/base/left"),
]


def test_reads_tgz_sorted_with_fields(tmp_path, caplog):
    tgz = tmp_path / "NLMCXR_reports.tgz"
    _write_tgz(tgz, REPORTS)
    ds = OpenIReports(tgz)
    assert len(ds) == 2 and ds.ids == ["CXR2", "CXR10"]  # the broken file is skipped and logged
    assert "999.xml" in caplog.text
    r = ds["CXR2"]
    assert r.sections["findings"] == "Left basilar atelectasis."
    assert r.mesh == ("Pulmonary Atelectasis/base/left",) and r.mesh_automatic == ("atelectases",)
    assert r.images == ("CXR2_IM-0003-1001", "CXR2_IM-0003-2001")
    assert r.text.startswith("COMPARISON: None.") and "FINDINGS: Left basilar" in r.text
    # a folder holding the archive works too
    assert OpenIReports(tmp_path).ids == ds.ids


def test_extracted_folder_transform_and_cache(tmp_path):
    tgz = tmp_path / "a.tgz"
    _write_tgz(tgz, REPORTS)
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    cache = tmp_path / "processed"
    ds = OpenIReports(tmp_path / "x" / "ecgen-radiology", transform=lambda r: r.id.lower(), processed_dir=cache)
    assert list(ds) == ["cxr2", "cxr10"]
    assert json.loads((cache / "openi_reports.json").read_text())[0]["id"] == "CXR2"
    # the cache is used, and force_reload re-reads the XML
    (cache / "openi_reports.json").write_text(json.dumps([{**REPORTS_JSON, "id": "CXR7"}]))
    assert OpenIReports(tmp_path / "x", processed_dir=cache).ids == ["CXR7"]
    assert OpenIReports(tmp_path / "x", processed_dir=cache, force_reload=True).ids == ["CXR2", "CXR10"]


REPORTS_JSON = {"id": "", "sections": {"findings": "x"}, "mesh": [], "mesh_automatic": [], "images": []}


def test_not_found_error_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        OpenIReports(tmp_path / "nowhere")
    with pytest.raises(KeyError):
        OpenIReports(_write(tmp_path))["CXR404"]


def _write(tmp_path):
    tgz = tmp_path / "b.tgz"
    _write_tgz(tgz, REPORTS)
    return tgz


def test_bad_xml_is_a_value_error():
    with pytest.raises(ValueError, match="uId"):
        parse_openi_xml(b"<eCitation></eCitation>", "x.xml")


@pytest.mark.skipif(_packaged_tgz() is None, reason="torchxrayvision's NLMCXR_reports.tgz is not installed")
def test_packaged_archive():
    ds = OpenIReports()
    assert len(ds) == 3955
    r = ds["CXR1000"]  # OpenI dev split
    assert r.mesh[0] == "Opacity/lung/upper lobe/right"
    assert r.images[0] == "CXR1000_IM-0003-1001"


def test_a_truncated_archive_names_the_file_and_a_damaged_cache_is_read_again(tmp_path):
    from cxrgraph.datasets.errors import DatasetFormatError

    tgz = tmp_path / "big.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for n in range(1, 60):
            data = f"<eCitation><uId id='CXR{n}'/><Abstract>{'x' * 3000}</Abstract></eCitation>".encode()
            info = tarfile.TarInfo(f"ecgen-radiology/{n}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = tgz.read_bytes()
    tgz.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match=rf"{tgz}: truncated or damaged archive after \d+ report"):
        OpenIReports(tgz)
    ok = _write(tmp_path)
    first = OpenIReports(ok, processed_dir=tmp_path / "p")
    (tmp_path / "p" / "openi_reports.json").write_text('[{"id": "CXR1", "sect')
    with pytest.warns(UserWarning, match="openi_reports.json is damaged"):
        again = OpenIReports(ok, processed_dir=tmp_path / "p")
    assert again.ids == first.ids
