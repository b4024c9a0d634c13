"""Synthetic radiographs with known region boxes, and a tiny MIMIC-CXR / Chest ImaGenome tree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cxrgraph.ontology import get_ontology

NUM_REGIONS = get_ontology().num_regions


def _layout() -> np.ndarray:
    """Region boxes in the frame of the lung-field box (0, 0, 1, 1); a fixed, plausible layout."""
    rng = np.random.default_rng(123)
    out = np.zeros((NUM_REGIONS, 4))
    for r in get_ontology().regions:
        cx, cy = r.plot_xy
        w, h = rng.uniform(0.12, 0.4), rng.uniform(0.1, 0.35)
        out[r.index] = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    return out


LAYOUT = _layout()


def synthetic_chest(
    rng: np.random.Generator, size: int = 128, return_thorax: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright body with two dark lung fields at a random place and scale, plus its boxes.

    Returns ``image [1, size, size]`` in [0, 1] and ``boxes [29, 4]`` normalised, placed from
    :data:`LAYOUT` in the lung-field frame (so an atlas can recover them).
    """
    w = rng.uniform(0.55, 0.7)
    h = rng.uniform(0.5, 0.65)
    x0 = rng.uniform(0.1, 0.9 - w)
    y0 = rng.uniform(0.12, 0.88 - h)
    thorax = np.array([x0, y0, x0 + w, y0 + h])
    img = np.full((size, size), 0.05, dtype=np.float32)
    img[int(0.03 * size) : int(0.97 * size), int(0.04 * size) : int(0.96 * size)] = 0.6  # body
    c = lambda v: round(v * size)  # noqa: E731
    gap = 0.16 * w
    img[c(y0) : c(y0 + h), c(x0) : c(x0 + (w - gap) / 2)] = 0.15  # right lung (image left)
    img[c(y0) : c(y0 + h), c(x0 + (w + gap) / 2) : c(x0 + w)] = 0.15  # left lung
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    if return_thorax:
        return torch.from_numpy(np.clip(img, 0, 1))[None], torch.from_numpy(thorax).float()
    boxes = LAYOUT * np.tile(thorax[2:] - thorax[:2], 2) + np.tile(thorax[:2], 2)
    return torch.from_numpy(np.clip(img, 0, 1))[None], torch.from_numpy(np.clip(boxes, 0, 1)).float()


def write_tree(root: Path, num_images: int = 6, size: int = 128, seed: int = 0) -> list[tuple[str, torch.Tensor]]:
    """Write a tiny tree: files/pXX/p<subject>/s<study>/<dicom_id>.jpg + scene graphs with boxes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    onto = get_ontology()
    out = []
    sg = root / "silver_dataset" / "scene_graph"
    sg.mkdir(parents=True, exist_ok=True)
    for i in range(num_images):
        img, boxes = synthetic_chest(rng, size)
        subject, study, dicom = f"{10000000 + i}", f"{50000000 + i}", f"dcm{i:04d}"
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{dicom}.jpg", quality=95)
        objects = []
        for r in onto.regions:
            b = boxes[r.index].tolist()
            px = [round(v * size) for v in b]
            objects.append(
                {
                    "object_id": f"{dicom}_{r.name}",
                    "bbox_name": r.name,
                    "x1": round(b[0] * 224),
                    "y1": round(b[1] * 224),
                    "x2": round(b[2] * 224),
                    "y2": round(b[3] * 224),
                    "original_x1": px[0],
                    "original_y1": px[1],
                    "original_x2": px[2],
                    "original_y2": px[3],
                    "original_width": px[2] - px[0],
                    "original_height": px[3] - px[1],
                }
            )
        objects.append({"bbox_name": "left cardiophrenic angle", "x1": 1, "y1": 1, "x2": 5, "y2": 5})
        doc = {"image_id": dicom, "patient_id": subject, "study_id": study, "objects": objects}
        (sg / f"{dicom}_SceneGraph.json").write_text(json.dumps(doc))
        out.append((dicom, boxes))
    return out
