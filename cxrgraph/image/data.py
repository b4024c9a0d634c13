"""Box-annotated radiographs for detector training: an in-memory dataset and the tree reader.

:func:`read_imagenome_tree` reads a MIMIC-CXR-JPG / Chest ImaGenome layout (real, or the one
``cxrgraph phantom`` writes)::

    <root>/files/pXX/p<subject>/s<study>/<dicom_id>.jpg
    <root>/silver_dataset/scene_graph/<dicom_id>_SceneGraph.json   (or scene_graph.zip)
    <root>/silver_dataset/splits/{train,valid,test}.csv            (optional)

Boxes come from each scene graph's ``objects[]``, read by
:func:`cxrgraph.datasets.boxes.scene_graph_boxes` exactly as the data set readers read them: the
``x1..y2`` corners of the 224 x 224 frame (the pixel corners divided by the image's own size only
where those are missing). Boxes are clipped into the image; zero-area boxes mean the region is
absent; region names outside the 29 are ignored.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cxrgraph.datasets.boxes import scene_graph_boxes as read_boxes
from cxrgraph.image.io import SkippedImage, read_image, resize_image, to_image_tensor

__all__ = ["RegionBoxDataset", "TreeImage", "read_imagenome_tree", "scene_graph_boxes", "collate_boxes"]

logger = logging.getLogger(__name__)

_SCENE_SUFFIX = "_SceneGraph.json"


def scene_graph_boxes(doc: dict[str, Any], height: int | None = None, width: int | None = None) -> torch.Tensor:
    """``[29, 4]`` normalised boxes (NaN rows = absent) from a scene graph's ``objects[]``.

    The one box reader of cxrgraph (:func:`cxrgraph.datasets.boxes.scene_graph_boxes`), so the
    detector sees the boxes the alignment model does.

    Args:
        doc: The decoded scene graph JSON.
        height: Image height in pixels (used only for entries without 224-frame corners).
        width: Image width in pixels.
    """
    return read_boxes(doc, width=width, height=height)


@dataclass(frozen=True)
class TreeImage:
    """One image of a MIMIC-CXR / Chest ImaGenome tree and its region boxes (if annotated)."""

    dicom_id: str
    path: Path
    subject_id: str
    study_id: str
    boxes: torch.Tensor | None

    @property
    def present(self) -> torch.Tensor | None:
        return None if self.boxes is None else torch.isfinite(self.boxes).all(-1)


def _scene_graphs(root: Path) -> dict[str, dict[str, Any]] | None:
    silver = root / "silver_dataset"
    for folder in (silver / "scene_graph", root / "scene_graph"):
        if folder.is_dir():
            out = {}
            for p in sorted(folder.glob(f"*{_SCENE_SUFFIX}")):
                try:
                    out[p.name[: -len(_SCENE_SUFFIX)]] = json.loads(p.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as err:
                    logger.warning("%s: unreadable scene graph (%s), skipped", p, err)
            return out
    for zpath in (silver / "scene_graph.zip", root / "scene_graph.zip"):
        if zpath.is_file():
            out = {}
            with zipfile.ZipFile(zpath) as zf:
                for name in zf.namelist():
                    if name.endswith(_SCENE_SUFFIX):
                        try:
                            out[Path(name).name[: -len(_SCENE_SUFFIX)]] = json.loads(zf.read(name).decode("utf-8"))
                        except (UnicodeDecodeError, json.JSONDecodeError) as err:
                            logger.warning("%s:%s unreadable scene graph (%s), skipped", zpath, name, err)
            return out
    return None


def read_split_ids(root: str | Path) -> dict[str, set[str]]:
    """``{split: dicom ids}`` from ``silver_dataset/splits/*.csv`` (empty when there are none)."""
    folder = Path(root) / "silver_dataset" / "splits"
    out: dict[str, set[str]] = {}
    for split in ("train", "valid", "test"):
        path = folder / f"{split}.csv"
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                out[split] = {row["dicom_id"] for row in csv.DictReader(fh) if row.get("dicom_id")}
    return out


def read_imagenome_tree(
    root: str | Path, require_boxes: bool = False, skipped: list[SkippedImage] | None = None
) -> list[TreeImage]:
    """The images of a MIMIC-CXR-JPG tree with their Chest ImaGenome boxes.

    Args:
        root: Folder holding ``files/`` (and ``silver_dataset/`` for boxes).
        require_boxes: Leave out images without a scene graph (recorded in ``skipped``).
        skipped: Receives images left out, with the reason.

    Raises:
        FileNotFoundError: ``root/files`` does not exist or holds no ``.jpg`` / ``.png`` / ``.dcm``.
    """
    from PIL import Image

    root = Path(root)
    files = root / "files"
    if not files.is_dir():
        raise FileNotFoundError(f"{root}: no files/ folder (expected files/pXX/p<subject>/s<study>/<dicom_id>.jpg)")
    rank = {".jpg": 0, ".jpeg": 0, ".png": 1, ".dcm": 2}
    best: dict[Path, Path] = {}
    for p in files.glob("p*/p*/s*/*"):
        suffix = p.suffix.lower()
        if suffix in rank:
            # one file per dicom id: the JPEG of MIMIC-CXR-JPG before a PNG or DICOM beside it
            key = p.with_suffix("")
            if key not in best or rank[suffix] < rank[best[key].suffix.lower()]:
                best[key] = p
    paths = sorted(best.values())
    if not paths:
        raise FileNotFoundError(f"{files}: no images found under pXX/p<subject>/s<study>/")
    graphs = _scene_graphs(root)
    if require_boxes and graphs is None:
        raise FileNotFoundError(f"{root}: no silver_dataset/scene_graph/ folder or scene_graph.zip with boxes")
    out = []
    for path in paths:
        dicom_id = path.stem
        subject, study = path.parent.parent.name[1:], path.parent.name[1:]
        doc = None if graphs is None else graphs.get(dicom_id)
        boxes = None
        if doc is not None:
            height = width = None
            if path.suffix.lower() != ".dcm":
                try:
                    with Image.open(path) as im:
                        width, height = im.size
                except OSError:
                    pass  # the corrupt image is reported when it is read; use 224-space boxes here
            boxes = read_boxes(doc, f"{dicom_id}{_SCENE_SUFFIX}", width=width, height=height)
        elif require_boxes:
            if skipped is not None:
                skipped.append(SkippedImage(str(path), "no scene graph with boxes"))
            continue
        out.append(TreeImage(dicom_id, path, subject, study, boxes))
    return out


def collate_boxes(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> tuple[list, torch.Tensor, torch.Tensor]:
    """Collate ``(image, boxes, present)`` items: a list of images, stacked boxes and presence."""
    images = [b[0] for b in batch]
    return images, torch.stack([b[1] for b in batch]), torch.stack([b[2] for b in batch])


class RegionBoxDataset(Dataset):
    """Images with ``[29, 4]`` normalised region boxes, resized to a square side.

    Args:
        images: File paths, ``[1, H, W]`` tensors in ``[0, 1]`` or numpy arrays (see
            :func:`~cxrgraph.image.io.to_image_tensor`).
        boxes: ``[N, 29, 4]`` normalised xyxy boxes; NaN rows are absent regions.
        size: Side every image is resized to.
        augment: Random crops (keeping at least ``min_crop`` of each side; boxes follow and are
            clipped) and a random gamma, for training.
        min_crop: Smallest kept fraction of each side in an augmenting crop.
        seed: Seed of the augmentation's own generator (no global seeding).
        cache: Keep decoded, resized images in memory (``size**2 * 4`` bytes each).

    Items are ``(image [1, size, size], boxes [29, 4], present [29])``; use
    :func:`collate_boxes` as the loader's ``collate_fn``.
    """

    def __init__(
        self,
        images: Sequence[Any],
        boxes: torch.Tensor | np.ndarray,
        size: int = 256,
        augment: bool = False,
        min_crop: float = 0.85,
        seed: int = 0,
        cache: bool = True,
    ) -> None:
        boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32))
        if boxes.dim() != 3 or boxes.size(0) != len(images) or boxes.size(2) != 4:
            raise ValueError(f"boxes must have shape [{len(images)}, R, 4], got {list(boxes.shape)}")
        self.images = list(images)
        self.boxes = boxes
        self.size = int(size)
        self.augment = bool(augment)
        self.min_crop = float(min_crop)
        self._rng = np.random.default_rng(seed)
        self.cache = bool(cache)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.images)

    def _image(self, i: int) -> torch.Tensor:
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        item = self.images[i]
        if isinstance(item, (str, Path)):
            img = read_image(item, size=self.size)
        else:
            img = resize_image(to_image_tensor(item, f"images[{i}]"), self.size)
        if self.cache:
            self._cache[i] = img  # small at training sizes, and decoding would dominate the epoch
        return img

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        img = self._image(i)
        boxes = self.boxes[i].clone()
        if self.augment:
            img, boxes = self._augment(img, boxes)
        present = torch.isfinite(boxes).all(-1)
        return img, boxes, present

    def _augment(self, img: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self._rng
        fw, fh = rng.uniform(self.min_crop, 1.0, size=2)
        x0, y0 = rng.uniform(0, 1 - fw), rng.uniform(0, 1 - fh)
        s = self.size
        c0, r0 = round(x0 * s), round(y0 * s)
        c1, r1 = max(c0 + 8, round((x0 + fw) * s)), max(r0 + 8, round((y0 + fh) * s))
        img = resize_image(img[:, r0:r1, c0:c1], s)
        fx, fy = (c1 - c0) / s, (r1 - r0) / s
        shift = torch.tensor([c0 / s, r0 / s, c0 / s, r0 / s])
        scale = torch.tensor([fx, fy, fx, fy])
        out = ((boxes - shift) / scale).clamp(0.0, 1.0)
        gone = (out[:, 2] - out[:, 0] < 1.0 / s) | (out[:, 3] - out[:, 1] < 1.0 / s)
        out[gone] = math.nan
        gamma = float(np.exp(rng.uniform(-0.25, 0.25)))
        return img.clamp(0.0, 1.0).pow(gamma), out
