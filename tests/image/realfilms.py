"""Real chest films for the tests: RG1 of the ``pydicom-data`` package, and films framed in borders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

REFERENCE = json.loads((Path(__file__).with_name("rg1_reference.json")).read_text())["boxes"]


def dicom_testdata(name: str) -> str:
    """Path of a pydicom-data file; skips the test (with the reason) when it is not installed."""
    pytest.importorskip("pydicom", reason="reading DICOM needs pydicom (pip install 'cxrgraph[dicom]')")
    from pydicom.data import get_testdata_file

    try:
        path = get_testdata_file(name, download=False)
    except Exception:  # older pydicom raise when the external data package is missing
        path = None
    if path is None:
        pytest.skip(f"{name} needs the pydicom-data package (a dev extra): pip install pydicom-data")
    return str(path)


def iou(a, b) -> float:
    a, b = [float(v) for v in a], [float(v) for v in b]
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def framed(image: torch.Tensor, boxes: dict[str, list[float]], border: float = 0.12, seed: int = 0):
    """The film inside a black border with burned-in white labels; the boxes moved along."""
    from PIL import Image, ImageDraw

    arr = image[0].numpy()
    h, w = arr.shape
    ph, pw = int(h * (1 + 2 * border)), int(w * (1 + 1.5 * border))
    y0, x0 = int(h * border), int(w * 0.75 * border)
    pad = np.zeros((ph, pw), np.float32)
    pad[y0 : y0 + h, x0 : x0 + w] = arr
    pil = Image.fromarray((pad * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    draw.rectangle([2, 2, pw // 3, max(6, y0 // 2)], fill=255)  # a label box in the border
    draw.text((4, 2), "PORTABLE AP", fill=0)
    draw.text((pw - pw // 4, ph - max(8, y0 // 2)), "L 12:03", fill=255)
    draw.text((x0 + w - w // 6, y0 + h // 12), "R", fill=255)  # a side marker on the film
    moved = {
        k: [(v[0] * w + x0) / pw, (v[1] * h + y0) / ph, (v[2] * w + x0) / pw, (v[3] * h + y0) / ph]
        for k, v in boxes.items()
    }
    return torch.from_numpy(np.asarray(pil, np.float32) / 255)[None], moved
