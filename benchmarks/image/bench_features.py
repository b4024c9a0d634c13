"""Region feature extraction throughput on CPU: images per second at 256 px.

Times :class:`~cxrgraph.image.RegionFeatureExtractor` (backbone + RoIAlign over the 29 boxes)
alone, and the whole image → graph path (:func:`~cxrgraph.image.extract_image_graphs` with the
atlas detector and the extractor) on phantom images. Random-init weights: throughput does not
depend on the weights' values. Appends a table to ``features.md`` beside this script.

    python benchmarks/image/bench_features.py --threads 2
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50", "densenet121", "vit_b_16"])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=HERE / "features.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from cxrgraph.datasets.phantom import PhantomCohort
    from cxrgraph.image.atlas import AtlasDetector
    from cxrgraph.image.features import RegionFeatureExtractor
    from cxrgraph.image.image_graph import extract_image_graphs
    from cxrgraph.image.io import to_image_tensor

    images = []
    for study in PhantomCohort(max(1, args.images // 2), size=args.size, seed=7).studies():
        images.append(to_image_tensor(study.image))
        if len(images) == args.images:
            break
    atlas = AtlasDetector.load()
    t0 = time.perf_counter()
    dets = atlas.detect(images)
    atlas_rate = len(images) / (time.perf_counter() - t0)
    boxes = torch.stack([d.boxes for d in dets])
    present = torch.stack([d.present for d in dets])

    rows = []
    for name in args.backbones:
        ext = RegionFeatureExtractor(name, image_size=args.size).eval()
        with torch.inference_mode():
            ext(images[: args.batch_size], boxes[: args.batch_size], present[: args.batch_size])  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(images), args.batch_size):
                sl = slice(i, i + args.batch_size)
                ext(images[sl], boxes[sl], present[sl])
            feat_s, feat_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            graphs = extract_image_graphs(images, atlas, ext, batch_size=args.batch_size)
            graph_s = time.perf_counter() - t0
        assert len(graphs) == len(images)
        rows.append((name, ext.out_channels, len(images) / feat_s, len(images) / feat_cpu, len(images) / graph_s))
        print(
            f"{name:<12} C={ext.out_channels:<5} features {rows[-1][2]:6.2f} img/s "
            f"({rows[-1][3]:6.2f} per CPU-second)   atlas+features+graph {rows[-1][4]:6.2f} img/s"
        )

    lines = [
        f"## Region feature throughput, {args.size} px, CPU ({args.threads} threads)",
        "",
        f"{len(images)} phantom images, batch {args.batch_size}, 29 regions per image, RoIAlign 3x3 then mean. "
        f"Machine: {platform.machine()}, torch {torch.__version__}; a shared 2-core CPU with other jobs "
        "running, so the wall-clock figures are lower bounds of an idle machine; images per CPU-second "
        "(one thread) is less sensitive to the other jobs.",
        "",
        f"The atlas alone (it finds each film's lung fields, then maps its layout onto them): {atlas_rate:.1f} img/s.",
        "",
        "| backbone | channels | features (img/s, wall) | features (img per CPU-second) | "
        "atlas + features + ImageGraph (img/s, wall) |",
        "|---|---|---|---|---|",
        *[f"| {n} | {c} | {a:.2f} | {b:.2f} | {g:.2f} |" for n, c, a, b, g in rows],
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
