"""The lung fields and the 29 regions on a real chest film: RG1 of the ``pydicom-data`` package.

Reads ``RG1_UNCR.dcm`` (a 1955 x 1841, 15-bit, MONOCHROME1 PA chest CR, MIT licence), finds
its lung fields and places the 29 regions with :class:`~cxrgraph.image.LungFieldDetector`, and
scores the right lung, left lung and cardiac silhouette against boxes drawn by hand on the film
(``tests/image/rg1_reference.json``). The same film is also tried framed in a black border with
burned-in labels, tightly cropped, rotated and under other exposure curves. Writes
``real_film.md`` beside this script and ``docs/real_film_rg1.png`` (the overlay).

    python benchmarks/image/real_film.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECKED = ("right lung", "left lung", "cardiac silhouette")


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def variants(image: torch.Tensor, ref: dict[str, list[float]]) -> dict[str, tuple[torch.Tensor, dict]]:
    """The film as found, and reframed / re-exposed copies with their reference boxes moved along."""
    from PIL import Image, ImageDraw, ImageFont
    from scipy import ndimage

    from cxrgraph.image.io import resize_image, to_image_tensor

    small = resize_image(image, (782, 736))
    arr = small[0].numpy()
    h, w = arr.shape
    out = {"as read": (small, ref)}
    ph, pw, y0, x0 = int(h * 1.3), int(w * 1.25), int(h * 0.12), int(w * 0.1)
    pad = np.zeros((ph, pw), np.float32)
    pad[y0 : y0 + h, x0 : x0 + w] = arr
    pil = Image.fromarray((pad * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    draw.rectangle([20, 20, 170, 60], fill=255)
    draw.text((30, 30), "PORTABLE AP", fill=0)
    draw.text((pw - 120, ph - 50), "L  12:03", fill=255)
    draw.text((x0 + w - 110, y0 + 40), "L", fill=255, font=ImageFont.load_default(size=60))
    moved = {
        k: [(v[0] * w + x0) / pw, (v[1] * h + y0) / ph, (v[2] * w + x0) / pw, (v[3] * h + y0) / ph]
        for k, v in ref.items()
    }
    out["black border + burned-in labels"] = (to_image_tensor(np.asarray(pil), "bordered film"), moved)
    out["gamma 0.6"] = (small.pow(0.6), ref)
    out["gamma 1.8"] = (small.pow(1.8), ref)
    rot = np.clip(ndimage.rotate(arr, 5, reshape=False, order=1, cval=0.0), 0, 1).astype(np.float32)
    out["rotated 5 degrees"] = (torch.from_numpy(rot)[None], ref)
    cy0, cy1, cx0, cx1 = int(0.07 * h), int(0.85 * h), int(0.06 * w), int(0.94 * w)
    crop = arr[cy0:cy1, cx0:cx1]
    cut = {
        k: list(
            np.clip(
                [
                    (v[0] * w - cx0) / (cx1 - cx0),
                    (v[1] * h - cy0) / (cy1 - cy0),
                    (v[2] * w - cx0) / (cx1 - cx0),
                    (v[3] * h - cy0) / (cy1 - cy0),
                ],
                0,
                1,
            )
        )
        for k, v in ref.items()
    }
    out["tight crop (apices at the edge)"] = (torch.from_numpy(np.ascontiguousarray(crop))[None], cut)
    return out


def main() -> int:
    from pydicom.data import get_testdata_file

    from cxrgraph.image import LungFieldDetector, find_lung_fields, plot_detection_overlay, read_image
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    reference = json.loads((ROOT / "tests" / "image" / "rg1_reference.json").read_text())["boxes"]
    path = get_testdata_file("RG1_UNCR.dcm", download=False)
    if path is None:
        print("RG1_UNCR.dcm not found: pip install pydicom-data")
        return 1
    image = read_image(path)
    detector = LungFieldDetector()
    t0 = time.perf_counter()
    det = detector.detect(image, sources=["RG1_UNCR.dcm"])[0]
    seconds = time.perf_counter() - t0
    fields = find_lung_fields(image)

    lines = [
        "# Lung fields and regions on a real film (RG1 of pydicom-data)",
        "",
        "`RG1_UNCR.dcm`: a 1955 x 1841, 15-bit, MONOCHROME1 PA chest CR (pydicom-data, MIT). Reference boxes drawn "
        "by hand on the film (`tests/image/rg1_reference.json`); this one film was used to develop the lung-field "
        "search, so these figures are a development check, not a held-out score.",
        "",
        f"Machine: shared 2-core x86-64 CPU, no GPU. `LungFieldDetector.detect` on the full film: {seconds:.2f} s "
        "(the search itself runs on a 256-pixel copy).",
        "",
        "| film | confidence | " + " | ".join(f"{r} IoU" for r in CHECKED) + " |",
        "|---|---|" + "---|" * len(CHECKED),
    ]
    for name, (img, ref) in variants(image, reference).items():
        d = detector.detect(img)[0]
        if d.problem is not None:
            lines.append(f"| {name} | lung fields not found ({d.problem}) |" + " |" * len(CHECKED))
            continue
        ious = [iou(d.boxes[onto.region_index(r)].tolist(), ref[r]) for r in CHECKED]
        lines.append(f"| {name} | {d.confidence:.2f} | " + " | ".join(f"{v:.3f}" for v in ious) + " |")
    lines += ["", "Boxes found on the film as read (normalised xyxy):", ""]
    for r in CHECKED:
        b = [round(float(v), 3) for v in det.boxes[onto.region_index(r)]]
        lines.append(f"- {r}: {b} (reference {reference[r]})")
    (HERE / "real_film.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(22, 6.4))
    shown = image[0].numpy()
    axes[0].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("RG1_UNCR.dcm as read: VOI window, MONOCHROME1 inverted", fontsize=9)
    axes[0].set_axis_off()
    mask = fields.mask.numpy()
    axes[1].imshow(resize_for(image, mask.shape), cmap="gray", vmin=0, vmax=1)
    axes[1].imshow(np.ma.masked_equal(mask, 0), cmap="coolwarm", alpha=0.45, vmin=1, vmax=2)
    axes[1].set_title(f"lung fields found: right (blue), left (red); confidence {fields.confidence:.2f}", fontsize=9)
    axes[1].set_axis_off()
    true = torch.full((onto.num_regions, 4), float("nan"))
    for r in CHECKED:
        true[onto.region_index(r)] = torch.tensor(reference[r])
    plot_detection_overlay(
        image,
        det,
        true,
        ax=axes[2],
        regions=CHECKED,
        title="right lung, left lung, cardiac silhouette: found (solid) vs drawn by hand (dashed)",
    )
    plot_detection_overlay(image, det, ax=axes[3], title="all 29 regions placed by LungFieldDetector")
    fig.tight_layout()
    out = ROOT / "docs" / "real_film_rg1.png"
    fig.savefig(out, dpi=80)
    print(f"wrote {HERE / 'real_film.md'} and {out}")
    return 0


def resize_for(image: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    from cxrgraph.image.io import resize_image

    return resize_image(image, shape)[0].numpy()


if __name__ == "__main__":
    sys.exit(main())
