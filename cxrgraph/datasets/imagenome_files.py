"""Chest ImaGenome files on disk: where the scene graphs are, reading one, the split lists.

Reading is tolerant of damage and says what is wrong: an empty, truncated or non-UTF-8 scene
graph raises :class:`~cxrgraph.datasets.errors.DatasetFormatError` naming the file (or is
recorded and skipped, see :func:`iter_scene_graphs`).
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from cxrgraph.datasets.errors import DatasetFormatError, DatasetNotFoundError
from cxrgraph.datasets.io_utils import read_csv_rows

__all__ = [
    "SCENE_SUFFIX",
    "SPLITS",
    "scene_graph_source",
    "scene_graph_index",
    "read_scene_graph",
    "iter_scene_graphs",
    "read_split",
    "read_images_to_avoid",
    "strip_dcm",
]

log = logging.getLogger(__name__)

HOW_TO_GET = (
    "Chest ImaGenome is credentialed data and cannot be downloaded by cxrgraph: request access on "
    "PhysioNet (chest-imagenome 1.0.0), then pass the folder that holds silver_dataset/ as root."
)
#: Suffix of a scene graph file name after the image id.
SCENE_SUFFIX = "_SceneGraph.json"


def scene_graph_source(root: Path) -> Path:
    silver = root / "silver_dataset"
    for candidate in (
        silver / "scene_graph.zip",
        silver / "scene_graph",
        root / "scene_graph.zip",
        root / "scene_graph",
    ):
        if candidate.exists():
            return candidate
    raise DatasetNotFoundError(
        "Chest ImaGenome",
        "the silver scene graphs (scene_graph.zip or an extracted scene_graph/ folder)",
        [silver / "scene_graph.zip", silver / "scene_graph", root / "scene_graph.zip", root / "scene_graph"],
        HOW_TO_GET,
    )


def scene_graph_index(root: str | Path) -> tuple[Path, dict[str, str]]:
    """Where the scene graphs are and ``image_id -> entry`` (a zip member name or a file path)."""
    source = scene_graph_source(Path(root))
    if source.suffix == ".zip":
        try:
            with zipfile.ZipFile(source) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DatasetFormatError(source, f"not a readable zip archive ({err})") from err
        index = {Path(n).name[: -len(SCENE_SUFFIX)]: n for n in names if n.endswith(SCENE_SUFFIX)}
    else:
        index = {p.name[: -len(SCENE_SUFFIX)]: str(p) for p in source.glob(f"*{SCENE_SUFFIX}")}
    return source, dict(sorted(index.items(), key=lambda kv: kv[0] + SCENE_SUFFIX))


def read_scene_graph(source: Path, entry: str, archive: zipfile.ZipFile | None = None) -> dict:
    """Decode one scene graph file (``entry`` from :func:`scene_graph_index`).

    Raises:
        DatasetFormatError: The file is empty, truncated, not UTF-8 or not JSON (names the file).
    """
    where = f"{source}:{entry}" if source.suffix == ".zip" else entry
    try:
        if source.suffix == ".zip":
            if archive is not None:
                data = archive.read(entry)
            else:
                with zipfile.ZipFile(source) as zf:
                    data = zf.read(entry)
        else:
            data = Path(entry).read_bytes()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as err:
        raise DatasetFormatError(where, f"unreadable scene graph ({err})") from err
    if not data.strip():
        raise DatasetFormatError(where, "empty scene graph file")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise DatasetFormatError(where, f"not UTF-8 text ({err.reason} at byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise DatasetFormatError(where, f"not valid JSON, truncated? ({err})") from err


def iter_scene_graphs(
    root: str | Path, image_ids: Sequence[str] | None = None, errors: list[tuple[str, str]] | None = None
) -> Iterator[tuple[str, dict]]:
    """Yield ``(image_id, decoded JSON)`` from the zip or the extracted folder.

    Args:
        root: Folder holding ``silver_dataset/``.
        image_ids: Only these images (default: all).
        errors: Receives ``(image_id, reason)`` of files that cannot be read, which are then
            skipped; without it such a file raises :class:`DatasetFormatError`.
    """
    source, index = scene_graph_index(root)
    wanted = None if image_ids is None else set(image_ids)
    archive = zipfile.ZipFile(source) if source.suffix == ".zip" else None
    try:
        for image_id, entry in index.items():
            if wanted is not None and image_id not in wanted:
                continue
            try:
                doc = read_scene_graph(source, entry, archive)
            except DatasetFormatError as err:
                if errors is None:
                    raise
                log.warning("skipped %s", err)
                errors.append((image_id, str(err)))
                continue
            yield image_id, doc
    finally:
        if archive is not None:
            archive.close()


SPLITS = {
    "train": "train",
    "valid": "valid",
    "val": "valid",
    "validate": "valid",
    "validation": "valid",
    "test": "test",
}


def read_split(root: str | Path, split: str) -> list[dict[str, str]]:
    """Rows of ``silver_dataset/splits/<split>.csv`` (subject_id, study_id, dicom_id, path, ViewPosition).

    Raises:
        ValueError: ``split`` is not train, valid (val, validate) or test.
        DatasetNotFoundError: The split file is missing.
    """
    key = str(split).strip().lower()
    if key not in SPLITS:
        raise ValueError(f"unknown Chest ImaGenome split {split!r}: choose 'train', 'valid' ('val') or 'test'")
    split = SPLITS[key]
    path = Path(root) / "silver_dataset" / "splits" / f"{split}.csv"
    if not path.is_file():
        raise DatasetNotFoundError("Chest ImaGenome", f"the {split!r} split file", [path], HOW_TO_GET)
    return read_csv_rows(path, required=("dicom_id",))


def read_images_to_avoid(root: str | Path) -> set[str]:
    path = Path(root) / "silver_dataset" / "splits" / "images_to_avoid.csv"
    if not path.is_file():
        return set()
    return {strip_dcm(r["dicom_id"]) for r in read_csv_rows(path, required=("dicom_id",))}


def strip_dcm(image_id: str) -> str:
    image_id = str(image_id).strip()
    return image_id[:-4] if image_id.lower().endswith(".dcm") else image_id
