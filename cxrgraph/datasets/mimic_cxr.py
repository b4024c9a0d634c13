"""MIMIC-CXR reports and MIMIC-CXR-JPG images, metadata, splits and label files.

Layout::

    <root>/files/p10/p10000032/s50414267.txt              report (MIMIC-CXR)
    <root>/files/p10/p10000032/s50414267/<dicom_id>.jpg   image (MIMIC-CXR-JPG)
    <root>/mimic-cxr-2.0.0-metadata.csv.gz                dicom_id, subject_id, study_id, ViewPosition,
                                                          Rows, Columns, StudyDate, StudyTime, ...
    <root>/mimic-cxr-2.0.0-split.csv.gz                   dicom_id, study_id, subject_id, split
    <root>/mimic-cxr-2.0.0-chexpert.csv.gz                subject_id, study_id, 14 labels
    <root>/mimic-cxr-2.0.0-negbio.csv.gz                  (same columns)

Reports may live in another folder than the images (``reports_root``). Uncompressed ``.csv``
files are accepted too. A row that cannot be read (ragged, a bad date, a label outside 1, 0, -1
and blank) is left out and recorded in :attr:`MIMICCXR.skipped`, with a warning; a damaged file
(truncated gzip, not UTF-8, a missing or misspelt column) is a clear error naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cxrgraph.datasets.base import CachedGraphDataset
from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.io_utils import find_file, label_value, read_csv_rows, warn_skipped
from cxrgraph.ontology import get_ontology

__all__ = ["MIMICCXR", "MIMICStudy", "MIMICCXRReportGraphs", "study_datetime", "read_label_csv", "study_folder"]

log = logging.getLogger(__name__)

_HOW_TO_GET = (
    "MIMIC-CXR(-JPG) is credentialed data and cannot be downloaded by cxrgraph: request access on "
    "PhysioNet (mimic-cxr 2.0.0 for reports, mimic-cxr-jpg 2.0.0 for images and CSVs), then pass the "
    "folder that holds files/ and the mimic-cxr-2.0.0-*.csv.gz files as root."
)
_SPLIT_NAMES = {
    "train": "train",
    "validate": "validate",
    "val": "validate",
    "valid": "validate",
    "validation": "validate",
    "test": "test",
}


def _split_name(value: str) -> str | None:
    """Canonical split name (train, validate, test) of a split value, any case."""
    return _SPLIT_NAMES.get(str(value).strip().lower())


def study_datetime(date: str, time: str | None = None) -> datetime:
    """``StudyDate`` (YYYYMMDD) and ``StudyTime`` (HHMMSS[.fff]) as a datetime."""
    date = str(date).strip().split(".")[0]
    t = str(time or "0").strip()
    whole, _, frac = t.partition(".")
    whole = whole.zfill(6)
    micro = int((frac + "000000")[:6]) if frac else 0
    try:
        return datetime.strptime(date + whole, "%Y%m%d%H%M%S").replace(microsecond=micro)
    except ValueError as err:
        raise ValueError(f"bad StudyDate/StudyTime {date!r}/{time!r}: {err}") from err


def study_folder(subject_id: str | int, study_id: str | int) -> Path:
    """``files/pXX/pSUBJECT/sSTUDY`` relative path of a study."""
    subject, study = str(subject_id).lstrip("p"), str(study_id).lstrip("s")
    return Path("files") / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"


def read_label_csv(
    path: str | Path, skipped: list[tuple[str, str]] | None = None
) -> dict[str, dict[str, float | None]]:
    """CheXpert/NegBio label CSV: ``study_id -> {label: 1.0 | 0.0 | -1.0 | None}``.

    Args:
        path: The label file; all 14 label columns must be there (any case).
        skipped: Receives ``(where, why)`` of rows with a bad value, which are left out;
            without it a bad value raises.

    Raises:
        DatasetFormatError: A label column is missing or misspelt (the message suggests the
            column that looks like it), or a value is not 1, 0, -1 or blank (``skipped`` not given).
    """
    onto = get_ontology()
    labels = onto.vocabulary("chexpert14")
    rows = read_csv_rows(path, required=("subject_id", "study_id", *labels), skipped=skipped)
    out: dict[str, dict[str, float | None]] = {}
    for i, row in enumerate(rows):
        try:
            values = {label: label_value(row[label], label) for label in labels}
        except ValueError as err:
            problem = f"study {row['study_id']}: {err}"
            if skipped is None:
                raise DatasetFormatError(path, problem) from err
            skipped.append((f"{path} row {i + 2}", problem))
            continue
        out[str(row["study_id"]).lstrip("s")] = values
    return out


@dataclass
class MIMICStudy:
    """One MIMIC-CXR study: ids, date, split, images, report and labels."""

    subject_id: str
    study_id: str
    datetime: datetime
    split: str | None
    dicom_ids: list[str]
    view_positions: list[str]
    image_paths: list[Path]
    report_path: Path
    chexpert: dict[str, float | None] | None = None
    negbio: dict[str, float | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def read_report(self) -> str:
        """The report text (raises a clear error when the file is missing or unreadable)."""
        try:
            return self.report_path.read_text(encoding="utf-8-sig")  # a byte order mark is not text
        except FileNotFoundError as err:
            raise FileNotFoundError(f"report of study s{self.study_id} not found at {self.report_path}") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"report {self.report_path} is not UTF-8 text: {err}") from err

    def frontal_image(self) -> Path | None:
        """The first PA, then AP image of the study (``None`` when it has no frontal view)."""
        for wanted in ("PA", "AP"):
            for view, path in zip(self.view_positions, self.image_paths):
                if view.upper() == wanted:
                    return path
        return None


class MIMICCXR:
    """Index of MIMIC-CXR(-JPG) studies read from the metadata, split and label CSVs.

    Args:
        root: Folder with ``files/`` and the ``mimic-cxr-2.0.0-*.csv.gz`` files.
        split: ``"train"``, ``"validate"`` (``"val"``), ``"test"`` or ``None`` for all.
        reports_root: Folder whose ``files/`` holds the ``sSTUDY.txt`` reports (default: root).
        views: Keep only images with these ViewPositions (``None`` keeps all).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        reports_root: str | Path | None = None,
        views: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.reports_root = Path(reports_root).expanduser() if reports_root is not None else self.root
        self.split = None
        if split is not None:
            self.split = _split_name(split)
            if self.split is None:
                raise ValueError(f"unknown MIMIC-CXR split {split!r}: choose 'train', 'validate' ('val') or 'test'")
        #: Rows left out, as ``(where, why)``: ragged rows, bad dates, bad label values.
        self.skipped: list[tuple[str, str]] = []
        meta_path = find_file(self.root, "mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-metadata.csv")
        if meta_path is None:
            raise DatasetNotFoundError(
                "MIMIC-CXR-JPG",
                "the metadata file mimic-cxr-2.0.0-metadata.csv.gz",
                [self.root / "mimic-cxr-2.0.0-metadata.csv.gz", self.root / "mimic-cxr-2.0.0-metadata.csv"],
                _HOW_TO_GET,
            )
        rows = read_csv_rows(
            meta_path, required=("dicom_id", "subject_id", "study_id", "StudyDate", "StudyTime"), skipped=self.skipped
        )
        split_of: dict[str, str] = {}
        split_path = find_file(self.root, "mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
        if split_path is not None:
            for row in read_csv_rows(split_path, required=("dicom_id", "split"), skipped=self.skipped):
                name = _split_name(row["split"])
                if name is None:
                    self.skipped.append((str(split_path), f"dicom {row['dicom_id']}: unknown split {row['split']!r}"))
                    continue
                split_of[row["dicom_id"]] = name
        elif self.split is not None:
            raise DatasetNotFoundError(
                "MIMIC-CXR-JPG", "the split file mimic-cxr-2.0.0-split.csv.gz", [self.root], _HOW_TO_GET
            )
        labels = {}
        for name in ("chexpert", "negbio"):
            p = find_file(self.root, f"mimic-cxr-2.0.0-{name}.csv.gz", f"mimic-cxr-2.0.0-{name}.csv")
            labels[name] = read_label_csv(p, skipped=self.skipped) if p is not None else None

        studies: dict[str, MIMICStudy] = {}
        wanted_views = {v.upper() for v in views} if views is not None else None
        for row in rows:
            dicom = row["dicom_id"].strip()
            subject, study = row["subject_id"].strip().lstrip("p"), row["study_id"].strip().lstrip("s")
            if not (dicom and subject.isdigit() and study.isdigit()):
                self.skipped.append((str(meta_path), f"row with dicom {dicom!r}: no dicom id, or ids not numbers"))
                continue
            split_name = split_of.get(dicom)
            if self.split is not None and split_name != self.split:
                continue
            view = (row.get("ViewPosition") or "").strip()
            if wanted_views is not None and view.upper() not in wanted_views:
                continue
            folder = study_folder(subject, study)
            s = studies.get(study)
            if s is None:
                try:
                    when = study_datetime(row["StudyDate"], row["StudyTime"])
                except ValueError as err:
                    self.skipped.append((str(meta_path), f"dicom {dicom}: {err}"))
                    continue
                s = studies[study] = MIMICStudy(
                    subject_id=subject,
                    study_id=study,
                    datetime=when,
                    split=split_name,
                    dicom_ids=[],
                    view_positions=[],
                    image_paths=[],
                    report_path=self.reports_root / f"{folder}.txt",
                    chexpert=(labels["chexpert"] or {}).get(study) if labels["chexpert"] is not None else None,
                    negbio=(labels["negbio"] or {}).get(study) if labels["negbio"] is not None else None,
                )
            s.dicom_ids.append(dicom)
            s.view_positions.append(view)
            s.image_paths.append(self.root / folder / f"{dicom}.jpg")
        self.studies = sorted(studies.values(), key=lambda s: (s.subject_id, s.datetime, s.study_id))
        self._by_id = {s.study_id: s for s in self.studies}
        warn_skipped(f"MIMIC-CXR index of {self.root}", self.skipped)

    def __len__(self) -> int:
        return len(self.studies)

    def __getitem__(self, idx: int) -> MIMICStudy:
        return self.studies[idx]

    def study(self, study_id: str | int) -> MIMICStudy:
        key = str(study_id).lstrip("s")
        if key not in self._by_id:
            raise KeyError(f"study s{key} is not in this MIMIC-CXR index ({len(self)} studies, split={self.split})")
        return self._by_id[key]

    def by_subject(self) -> dict[str, list[MIMICStudy]]:
        """Each subject's studies in time order (prior first)."""
        out: dict[str, list[MIMICStudy]] = {}
        for s in self.studies:
            out.setdefault(s.subject_id, []).append(s)
        return out

    def __repr__(self) -> str:
        return f"MIMICCXR({len(self)} studies, split={self.split!r}, root={str(self.root)!r})"


class MIMICCXRReportGraphs(CachedGraphDataset):
    """MIMIC-CXR reports parsed once into report graphs (through :mod:`cxrgraph.text`).

    Each graph carries ``study_id``, ``subject_id`` and ``study_datetime`` (ISO string). Reports
    that cannot be read or parsed are recorded in :attr:`failures`, not dropped silently.

    Args:
        root: Folder of MIMIC-CXR-JPG (metadata CSVs and ``files/``).
        split: Split to read (``None`` for all).
        reports_root: Folder whose ``files/`` holds the reports (default: root).
        backend: Text backend (``"rules"`` or ``"stanza"``).
        **kwargs: See :class:`~cxrgraph.datasets.base.CachedGraphDataset`.
    """

    cache_name = "mimic-reports"

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        reports_root: str | Path | None = None,
        backend: str = "rules",
        **kwargs: Any,
    ) -> None:
        self.index = MIMICCXR(root, split=split, reports_root=reports_root)
        self.backend = backend
        super().__init__(root, split=self.index.split, **kwargs)

    def check_raw(self, root: Path) -> None:
        files = self.index.reports_root / "files"
        if not files.is_dir():
            raise DatasetNotFoundError("MIMIC-CXR", "the reports folder files/", [files], _HOW_TO_GET)

    def items(self) -> tuple[list[MIMICStudy], list[str]]:
        return list(self.index.studies), [s.study_id for s in self.index.studies]

    def fingerprints(self, items: Sequence[MIMICStudy]) -> list[str]:
        """The parser's version and each report file's size and modification time: an edited
        report, or a parser whose rules, cue tables or ontology changed
        (:func:`~cxrgraph.text.version.parser_version`), is parsed again on the next load
        instead of being served from the cache."""
        from cxrgraph.text.version import parser_version

        version = parser_version(self.backend)
        out = []
        for study in items:
            try:
                st = study.report_path.stat()
                out.append(f"{version}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                out.append(f"{version}:missing")
        return out

    def convert(self, study: MIMICStudy) -> Any:
        from cxrgraph.text import parse_report

        graph = parse_report(study.read_report(), backend=self.backend)
        graph.study_id = study.study_id
        graph.subject_id = study.subject_id
        graph.study_datetime = study.datetime.isoformat()
        return graph
