"""OpenI (Indiana University chest X-ray collection) radiology reports."""

from __future__ import annotations

import json
import logging
import os
import tarfile
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cxrgraph.datasets.errors import DatasetFormatError
from cxrgraph.utils.atomic import atomic_write_json

__all__ = ["OpenIReports", "OpenIReport"]

log = logging.getLogger(__name__)

_TGZ = "NLMCXR_reports.tgz"
_SECTION_ORDER = ("comparison", "indication", "findings", "impression")


@dataclass(frozen=True)
class OpenIReport:
    """One OpenI report.

    Attributes:
        id: Report id, ``"CXR<n>"``.
        sections: ``AbstractText`` fields by lower-case label (comparison, indication,
            findings, impression); a missing field is ``None``.
        mesh: ``MeSH/major`` strings, e.g. ``"Opacity/lung/base/left/mild"``, ``"normal"``.
        mesh_automatic: ``MeSH/automatic`` strings.
        images: ``parentImage`` ids, e.g. ``"CXR1_1_IM-0001-3001"``.
    """

    id: str
    sections: dict[str, str | None]
    mesh: tuple[str, ...] = ()
    mesh_automatic: tuple[str, ...] = ()
    images: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """The report in MIMIC-CXR layout (``FINDINGS: ...`` paragraphs), ready for the parser."""
        parts = []
        for name in _SECTION_ORDER:
            body = self.sections.get(name)
            if body:
                parts.append(f"{name.upper()}: {body.strip()}")
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sections": dict(self.sections),
            "mesh": list(self.mesh),
            "mesh_automatic": list(self.mesh_automatic),
            "images": list(self.images),
        }


def parse_openi_xml(data: bytes | str, source: str = "<xml>") -> OpenIReport:
    """Read one ``ecgen-radiology/<n>.xml`` document.

    Raises:
        ValueError: Not well-formed XML or no ``uId``.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise ValueError(f"{source}: not well-formed OpenI XML ({err})") from err
    uid = root.find("uId")
    if uid is None or not uid.get("id"):
        raise ValueError(f"{source}: no <uId id=...> element")
    sections: dict[str, str | None] = dict.fromkeys(_SECTION_ORDER)
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "").strip().lower()
        if label:
            text = (node.text or "").strip()
            sections[label] = text or None
    mesh = root.find("MeSH")
    major = tuple((m.text or "").strip() for m in mesh.findall("major")) if mesh is not None else ()
    auto = tuple((m.text or "").strip() for m in mesh.findall("automatic")) if mesh is not None else ()
    images = tuple(p.get("id", "") for p in root.findall("parentImage") if p.get("id"))
    return OpenIReport(uid.get("id"), sections, major, auto, images)


def _packaged_tgz() -> Path | None:
    try:
        path = Path(str(resources.files("torchxrayvision") / "data" / _TGZ))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


class OpenIReports:
    r"""The 3,955 OpenI chest X-ray reports with their MeSH indexing and image ids.

    Reads ``NLMCXR_reports.tgz`` as torchxrayvision ships it, any copy of that archive, or the
    extracted ``ecgen-radiology`` folder. Items are :class:`OpenIReport` records (after
    ``transform``), sorted by report number.

    Args:
        root: The ``.tgz``, a folder holding it, or a folder of the extracted XML files
            (``ecgen-radiology/*.xml`` or ``*.xml``). Default: the archive inside the installed
            ``torchxrayvision`` package.
        transform: Applied to each :class:`OpenIReport` on access.
        processed_dir: Folder for a JSON cache of the parsed reports (default: no cache).
        force_reload: Re-read the XML even if a cache exists.

    Raises:
        FileNotFoundError: Nothing readable at ``root`` (the message says where it looked and
            how to get the data).
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        transform: Callable[[OpenIReport], Any] | None = None,
        processed_dir: str | os.PathLike | None = None,
        force_reload: bool = False,
    ) -> None:
        self.source = self._locate(root)
        self.transform = transform
        self.processed_dir = Path(processed_dir) if processed_dir is not None else None
        cache = self.processed_dir / "openi_reports.json" if self.processed_dir else None
        self._reports: list[OpenIReport] = []
        if cache is not None and cache.is_file() and not force_reload:
            try:
                with cache.open(encoding="utf-8") as fh:
                    self._reports = [_from_dict(d) for d in json.load(fh)]
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
                warnings.warn(f"{cache} is damaged ({err}): reading the reports again", UserWarning, stacklevel=2)
                self._reports = []
        if not self._reports:
            self._reports = sorted(self._read(), key=_order)
            if cache is not None:
                atomic_write_json(cache, [r.to_dict() for r in self._reports], indent=None, sort_keys=False)
        self._index = {r.id: i for i, r in enumerate(self._reports)}

    @staticmethod
    def _locate(root: str | os.PathLike | None) -> Path:
        if root is None:
            path = _packaged_tgz()
            if path is None:
                raise FileNotFoundError(
                    f"OpenI reports not found: no torchxrayvision/data/{_TGZ} in the installed packages. "
                    "Install torchxrayvision (pip install torchxrayvision) or pass root= pointing to "
                    f"{_TGZ} or its extracted ecgen-radiology folder "
                    "(https://openi.nlm.nih.gov/faq#collection)."
                )
            return path
        path = Path(root)
        if path.is_dir() and (path / _TGZ).is_file():
            return path / _TGZ
        if path.is_file() or (path.is_dir() and (any(path.glob("*.xml")) or any(path.glob("*/*.xml")))):
            return path
        raise FileNotFoundError(
            f"OpenI reports not found at {path}: expected {_TGZ}, a folder holding it, or a folder of "
            "ecgen-radiology/*.xml files. torchxrayvision ships the archive in torchxrayvision/data/."
        )

    def _read(self) -> Iterator[OpenIReport]:
        path = self.source
        if path.is_file():
            try:
                tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with block below
            except tarfile.TarError as err:
                raise ValueError(f"{path}: not a readable tar archive ({err})") from err
            done, name = 0, "the start"
            with tar:
                try:
                    for member in tar:
                        name = member.name
                        if member.isfile() and member.name.endswith(".xml"):
                            fh = tar.extractfile(member)
                            if fh is None:
                                continue
                            data = fh.read()
                            done += 1
                            yield from _safe(data, f"{path}:{member.name}")
                except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
                    raise DatasetFormatError(
                        path, f"truncated or damaged archive after {done} report(s), near {name} ({err})"
                    ) from err
            return
        files = sorted(path.glob("*.xml")) or sorted(path.glob("*/*.xml"))
        for f in files:
            yield from _safe(f.read_bytes(), str(f))

    def __len__(self) -> int:
        return len(self._reports)

    def __getitem__(self, key: int | str) -> Any:
        """A report by position or by id (``"CXR1"``)."""
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"no OpenI report with id {key!r}")
            key = self._index[key]
        report = self._reports[key]
        return self.transform(report) if self.transform is not None else report

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    @property
    def ids(self) -> list[str]:
        """Report ids in dataset order."""
        return [r.id for r in self._reports]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)})"


def _safe(data: bytes, source: str) -> Iterator[OpenIReport]:
    try:
        yield parse_openi_xml(data, source)
    except ValueError as err:
        log.warning("skipped %s", err)


def _order(report: OpenIReport) -> tuple[int, str]:
    digits = report.id[3:] if report.id.startswith("CXR") else ""
    return (int(digits), report.id) if digits.isdigit() else (1 << 30, report.id)


def _from_dict(d: dict[str, Any]) -> OpenIReport:
    return OpenIReport(
        d["id"], dict(d["sections"]), tuple(d["mesh"]), tuple(d.get("mesh_automatic", ())), tuple(d["images"])
    )
