"""How well the pretrained region reader reads single-study severity (PHANTOM, synthetic data).

Pretrains a region encoder on the training studies exactly as ``bench_progression.py`` does and
reports, on validation studies only:

* the level read-out's accuracy per region (all regions, regions showing something, balanced);
* the change accuracy of the rule "sign of the difference of the predicted levels" on the
  validation pairs, i.e. what the reader alone gives a progression label.

Used to choose the reader's crop size, width and pretraining length without touching test.

    python benchmarks/temporal/reader_probe.py --patients 1600 --crop-size 24 --pretrain-epochs 24
"""

from __future__ import annotations

import argparse
import time

import torch

from cxrgraph.datasets.splits import split_indices
from cxrgraph.graph import ANATOMY
from cxrgraph.image import to_image_tensor
from cxrgraph.temporal import ProgressionConfig, ProgressionModel, pretrain_region_encoder, reader_level_accuracy


@torch.no_grad()
def _levels(encoder, head, studies, batch_size: int = 64) -> list[torch.Tensor]:
    encoder.eval()
    out = []
    for i in range(0, len(studies), batch_size):
        chunk = studies[i : i + batch_size]
        imgs = torch.stack([to_image_tensor(s.image) for s in chunk])
        boxes = torch.stack([torch.nan_to_num(s.graph[ANATOMY].box.float()) for s in chunk])
        present = torch.stack([s.graph[ANATOMY].has_box.bool() for s in chunk])
        out.extend(head.level(encoder.regions(imgs, boxes, present)).argmax(-1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1600)
    ap.add_argument("--crop-size", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--pretrain-epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from cxrgraph.datasets.phantom import PhantomCohort

    cohort = PhantomCohort(args.patients, size=128, seed=args.seed)
    split = split_indices(range(args.patients), (0.1, 0.2), args.seed)
    train = [cohort.patient(i) for i in split["train"]]
    val = [cohort.patient(i) for i in split["val"]]
    torch.manual_seed(args.seed)
    cfg = ProgressionConfig(crop_size=args.crop_size, width=args.width, freeze_backbone=True)
    model = ProgressionModel(cfg)
    studies = [s for p in train for s in p.studies]
    t0 = time.perf_counter()
    res = pretrain_region_encoder(
        model.encoder,
        [s.image for s in studies],
        [s.graph for s in studies],
        epochs=args.pretrain_epochs,
        lr=args.lr,
        seed=args.seed,
    )
    t_pre = time.perf_counter() - t0
    vstudies = [s for p in val for s in p.studies]
    acc = reader_level_accuracy(model.encoder, res.head, [s.image for s in vstudies], [s.graph for s in vstudies])
    hit = total = 0
    for p in val:
        lv = _levels(model.encoder, res.head, p.studies)
        for k, pair in enumerate(p.pairs()):
            pred = torch.sign(lv[k + 1] - lv[k]) + 1  # 0 improved, 1 no change, 2 worsened
            m = pair.change >= 0
            hit += int((pred[m] == pair.change[m]).sum())
            total += int(m.sum())
    print(
        f"crop {args.crop_size} width {args.width} epochs {args.pretrain_epochs}: pretraining {t_pre:.0f} s; "
        f"val level acc {acc['accuracy']:.3f}, positive {acc['positive_accuracy']:.3f}, "
        f"balanced {acc['balanced_accuracy']:.3f}; val change acc from level signs {hit / max(total, 1):.3f} "
        f"({total} regions)",
        flush=True,
    )


if __name__ == "__main__":
    main()
