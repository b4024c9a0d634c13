"""Temporal progression on held-out PHANTOM pairs (synthetic data): the full model and its ablations.

One run, one data split, one budget for every variant:

1. Render a phantom cohort (``--patients``, 128 px), split by patient into train / val / test.
   Guidance sentences are read from the current reports by the text pipeline.
2. Region pretraining (shared by the pretrained variants, timed on its own): the small CNN
   region encoder learns, from single training studies and their report graphs, the severity
   level and the findings at each region (:func:`cxrgraph.temporal.pretrain_region_encoder`).
   No pair and no change label is used. The pretrained reader's own level accuracy on the
   validation studies is printed (:func:`cxrgraph.temporal.reader_level_accuracy`).
3. The backbone is then frozen and its region features (and registered region crops) computed
   once per image; every variant trains the rest (region comparator, region projection,
   manifold alignment, head, guidance, level read-out) for ``--epochs`` epochs with the same
   batch size, optimiser and schedule. Every variant's change features include the level
   read-out of both studies (``level_features``) and, except ``no-compare``, the change vector
   of the region comparator, which reads each labelled region's crops of both studies side by
   side (:class:`cxrgraph.temporal.RegionComparator`):

   * ``full``: Poincaré alignment + text guidance + pretrained backbone;
   * ``euclidean``: the same in flat space;
   * ``no-text``: the full model without text guidance;
   * ``no-pretrain``: the full model on the randomly initialised (frozen) backbone, i.e. without
     step 2;
   * ``concat``: a plain baseline, an MLP on the concatenated prior and current region
     embeddings (pretrained backbone, no manifold, no alignment or guidance loss);
   * ``no-compare``: the full model without the region comparator.

Prints one table (test split) and writes pictures of the full model to ``--out``.

    python benchmarks/temporal/bench_progression.py --patients 3200 --crop-size 24 --pretrain-epochs 12 --epochs 15
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from cxrgraph.datasets.splits import split_indices
from cxrgraph.temporal import (
    ProgressionConfig,
    ProgressionModel,
    SentenceEmbedder,
    attach_region_features,
    collate_temporal,
    evaluate_progression,
    pretrain_region_encoder,
    reader_level_accuracy,
    write_evaluation,
)
from cxrgraph.train.progression import phantom_pair_samples

VARIANTS = {
    "full": {"alignment": "poincare", "text_guidance": True, "pretrained": True},
    "euclidean": {"alignment": "euclidean", "text_guidance": True, "pretrained": True},
    "no-text": {"alignment": "poincare", "text_guidance": False, "pretrained": True},
    "no-pretrain": {"alignment": "poincare", "text_guidance": True, "pretrained": False},
    "concat": {"alignment": "concat", "text_guidance": False, "pretrained": True},
    "no-compare": {"alignment": "poincare", "text_guidance": True, "pretrained": True, "compare": False},
}
#: an extra ablation, not in the default table: the full model without the level read-out in
#: its change features
EXTRA_VARIANTS = {
    "no-level-features": {"alignment": "poincare", "text_guidance": True, "pretrained": True, "level_features": False},
}


#: encoder parameters of the region comparator, which pretraining does not touch
_COMPARATOR = ("comparator.", "not_compared")


def _batches(samples, batch_size: int, generator: torch.Generator | None = None):
    order = torch.randperm(len(samples), generator=generator).tolist() if generator else range(len(samples))
    order = list(order)
    return [collate_temporal([samples[j] for j in order[i : i + batch_size]]) for i in range(0, len(order), batch_size)]


def train_variant(model, train, embedder, epochs, batch_size, lr, seed, prior_dropout=0.0):
    from geoopt.optim import RiemannianAdam

    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = RiemannianAdam(params, lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train) / batch_size)
    warm = max(steps // 20, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(steps - warm, 1)))
    )
    model.train()
    start = time.perf_counter()
    history = []
    for _ in range(epochs):
        total = 0.0
        batches = _batches(train, batch_size, gen)
        for batch in batches:
            out, target = model.forward_batch(batch, prior_dropout)
            emb = embedder(batch.guidance_text) if model.guidance is not None and batch.guidance_text else None
            levels = model.level_targets(batch) if model.level_head is not None else None
            losses = model.losses(out, target, emb, batch.guidance_index, levels)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
            sched.step()
            total += float(losses["loss"].detach())
        history.append(total / len(batches))
    return time.perf_counter() - start, history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=3200)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--pretrain-epochs", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--crop-size", type=int, default=24, help="region crop side of the crop encoder")
    ap.add_argument("--width", type=int, default=16, help="base width of the crop CNN")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("runs/bench_progression"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    from cxrgraph.datasets.phantom import PhantomCohort

    t0 = time.perf_counter()
    cohort = PhantomCohort(args.patients, size=args.image_size, seed=args.seed)
    split = split_indices(range(args.patients), (0.1, 0.2), args.seed)
    patients = {k: [cohort.patient(i) for i in v] for k, v in split.items()}
    samples = {k: phantom_pair_samples(v) for k, v in patients.items()}
    t_data = time.perf_counter() - t0
    counts = torch.zeros(3, dtype=torch.long)
    for s in samples["train"]:
        c = s.pair.change
        counts += torch.bincount(c[c >= 0], minlength=3)
    print(f"PHANTOM (synthetic) cohort: {args.patients} patients, pairs { ({k: len(v) for k, v in samples.items()}) }")
    print(f"training labels improved/no change/worsened: {counts.tolist()}; data + report parsing {t_data:.1f} s")

    embedder = SentenceEmbedder()
    # only training pairs are guided; evaluation never reads the sentences
    texts = sorted({t for s in samples["train"] for t in s.guidance.values()})
    t0 = time.perf_counter()
    embedder(texts)
    print(
        f"guidance: {len(texts)} distinct comparison texts embedded (MiniLM, frozen) in {time.perf_counter() - t0:.1f} s"
    )

    base_cfg = ProgressionConfig(
        image_size=args.image_size, crop_size=args.crop_size, width=args.width, freeze_backbone=True
    )
    torch.manual_seed(args.seed)
    random_model = ProgressionModel(replace(base_cfg))
    pre_model = copy.deepcopy(random_model)
    studies = [(s.image, s.graph) for p in patients["train"] for s in p.studies]
    pre = pretrain_region_encoder(
        pre_model.encoder,
        [i for i, _ in studies],
        [g for _, g in studies],
        epochs=args.pretrain_epochs,
        batch_size=32,
        seed=args.seed,
    )
    print(f"region pretraining: {pre.num_studies} studies x {args.pretrain_epochs} epochs in {pre.seconds:.1f} s")
    val_studies = [(s.image, s.graph) for p in patients["val"] for s in p.studies]
    reader = reader_level_accuracy(
        pre_model.encoder, pre.head, [i for i, _ in val_studies], [g for _, g in val_studies]
    )
    print(
        f"pretrained reader on {len(val_studies)} validation studies: level acc {reader['accuracy']:.3f}, "
        f"on regions showing something {reader['positive_accuracy']:.3f}, balanced {reader['balanced_accuracy']:.3f}"
    )
    t_features = time.perf_counter()
    t0 = time.perf_counter()
    feats = {
        True: {k: attach_region_features(pre_model, v) for k, v in samples.items()},
        False: {k: attach_region_features(random_model, v) for k, v in samples.items()},
    }
    print(f"frozen backbone features for all pairs (both backbones) in {time.perf_counter() - t_features:.1f} s")

    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.variants.split(","):
        spec = {**VARIANTS, **EXTRA_VARIANTS}[name]
        cfg = replace(
            base_cfg,
            alignment=spec["alignment"],
            text_guidance=spec["text_guidance"],
            level_features=spec.get("level_features", True),
            compare_channels=base_cfg.compare_channels if spec.get("compare", True) else 0,
        )
        torch.manual_seed(args.seed)
        model = ProgressionModel(cfg)
        source = pre_model if spec["pretrained"] else random_model
        # the whole pretrained reader (CNN, projection, region identities), as the command line keeps it
        # (the comparator is not part of it: it trains with each variant)
        weights = {k: v for k, v in source.encoder.state_dict().items() if not k.startswith(_COMPARATOR)}
        missing, unexpected = model.encoder.load_state_dict(weights, strict=False)
        assert not unexpected and all(k.startswith(_COMPARATOR) for k in missing), (missing, unexpected)
        model.head.set_class_counts(counts)
        data = feats[spec["pretrained"]]
        seconds, history = train_variant(
            model, data["train"], embedder, args.epochs, args.batch_size, args.lr, args.seed
        )
        val = evaluate_progression(model, _batches(data["val"], 64))
        test = evaluate_progression(model, _batches(data["test"], 64))
        row = {
            "variant": name,
            "train_s": seconds,
            "final_loss": history[-1],
            "val": val.summary(),
            "test": test.summary(),
        }
        rows.append(row)
        t = test.summary()
        print(
            f"{name:<12} test acc {t['accuracy']:.3f}  macro-F1 {t['macro_f1']:.3f}  "
            f"region acc {t['mean_region_accuracy']:.3f}  region F1 {t['mean_region_f1']:.3f}  "
            f"finding acc {t['finding_accuracy']:.3f}  (val acc {val.summary()['accuracy']:.3f}) "
            f"train {seconds:.0f} s  c={t['curvature']:.2f}",
            flush=True,
        )
        write_evaluation(test, args.out / name, title=f"{name} (PHANTOM test, synthetic)")

    print(
        "\n| variant | accuracy | macro-F1 | mean region acc | mean region F1 | finding acc (MS-CXR-T protocol) "
        "| val acc | val macro-F1 | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["test"]
        print(
            f"| {r['variant']} | {t['accuracy']:.3f} | {t['macro_f1']:.3f} | {t['mean_region_accuracy']:.3f} | "
            f"{t['mean_region_f1']:.3f} | {t['finding_accuracy']:.3f} | {r['val']['accuracy']:.3f} | "
            f"{r['val']['macro_f1']:.3f} | {r['train_s']:.0f} |"
        )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"\nwhole run: wall {wall:.0f} s, CPU {cpu:.0f} s ({torch.get_num_threads()} torch thread(s))")
    meta = {
        "wall_s": wall,
        "cpu_s": cpu,
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": platform.platform(),
        "threads": torch.get_num_threads(),
        "pretrain_s": pre.seconds,
        "reader_val": reader,
        "data_s": t_data,
        "pairs": {k: len(v) for k, v in samples.items()},
        "train_label_counts": counts.tolist(),
        "rows": rows,
    }
    (args.out / "results.json").write_text(json.dumps(meta, indent=1, default=float))


if __name__ == "__main__":
    main()
