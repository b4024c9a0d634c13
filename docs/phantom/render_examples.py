"""Render the example phantom studies shown in the docs (``docs/phantom/*.png``).

Each picture is the radiograph with every region box (thin, grey), the boxes of the regions the
report names in colour, and the report beside it. Run from the repository root::

    python docs/phantom/render_examples.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cxrgraph.datasets.phantom import PhantomCohort
from cxrgraph.ontology import get_ontology

OUT = Path(__file__).resolve().parent
SIZE = 320
COLORS = {"present": (230, 60, 50), "uncertain": (240, 170, 30), "absent": (60, 160, 230)}


def _panel(study, title: str) -> Image.Image:
    onto = get_ontology()
    img = Image.fromarray(study.image).convert("RGB")
    draw = ImageDraw.Draw(img)
    for box in study.boxes:
        if np.isfinite(box).all():
            draw.rectangle([float(v) for v in box], outline=(90, 90, 90))
    named = {}
    for t in study.triplets:
        if t.existence != "absent" and named.get(t.region) != "present":
            named[t.region] = t.existence
    for region, existence in named.items():
        box = [float(v) for v in study.boxes[onto.region_index(region)]]
        draw.rectangle(box, outline=COLORS[existence], width=2)
        draw.text((box[0] + 2, box[1] + 1), region, fill=COLORS[existence])
    font = ImageFont.load_default()
    text_w = 560
    canvas = Image.new("RGB", (SIZE + text_w, max(SIZE, 430)), (255, 255, 255))
    canvas.paste(img, (0, 0))
    d = ImageDraw.Draw(canvas)
    y = 4
    d.text((SIZE + 8, y), title, fill=(0, 0, 0), font=font)
    y += 16
    body = study.report.split("FINDINGS:", 1)[-1]
    for para in [p.strip() for p in body.replace("IMPRESSION:", "\n\nIMPRESSION:").split("\n") if p.strip()]:
        for line in textwrap.wrap(para, 92):
            d.text((SIZE + 8, y), line, fill=(30, 30, 30), font=font)
            y += 12
        y += 4
    return canvas.crop((0, 0, canvas.width, max(SIZE, y + 4)))


def main() -> None:
    cohort = PhantomCohort(60, size=SIZE, seed=2024)
    chosen: list[tuple[str, object]] = []
    wanted = {
        "effusion_cardiomegaly": lambda s: (
            {"pleural effusion", "enlarged cardiac silhouette"}
            <= {t.finding for t in s.triplets if t.existence == "present"}
        ),
        "devices": lambda s: (
            sum(
                t.finding in ("endotracheal tube", "enteric tube", "picc", "cardiac pacer and wires")
                and t.existence == "present"
                for t in s.triplets
            )
            >= 2
        ),
        "pneumothorax": lambda s: any(t.finding == "pneumothorax" and t.existence == "present" for t in s.triplets),
    }
    follow_up = None
    for patient in cohort.patients():
        for study in patient.studies:
            for name, pred in list(wanted.items()):
                if pred(study):
                    chosen.append((name, study))
                    del wanted[name]
        if follow_up is None and any(
            s.changes and any(v in ("worsened", "improved") for v in s.changes.values()) for s in patient.studies
        ):
            k = next(
                i
                for i, s in enumerate(patient.studies)
                if any(v in ("worsened", "improved") for v in s.changes.values())
            )
            follow_up = (patient.studies[k - 1], patient.studies[k])
        if not wanted and follow_up is not None:
            break
    for name, study in chosen:
        _panel(study, f"phantom study {study.study_id} ({name}) - synthetic").quantize(colors=64).save(
            OUT / f"{name}.png", optimize=True
        )
    if follow_up is not None:
        a = _panel(follow_up[0], f"prior study {follow_up[0].study_id} - synthetic")
        b = _panel(follow_up[1], f"current study {follow_up[1].study_id} - synthetic")
        pair = Image.new("RGB", (a.width, a.height + b.height), (255, 255, 255))
        pair.paste(a, (0, 0))
        pair.paste(b, (0, a.height))
        pair.quantize(colors=64).save(OUT / "follow_up_pair.png", optimize=True)


if __name__ == "__main__":
    main()
