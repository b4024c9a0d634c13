"""Training throughput of GraphAlignModel (studies/s) on synthetic inputs of a given size.

Measures optimiser steps on random images with phantom reports, so no data set is needed: the
figure is the model's cost (forward, backward, AdamW step), not data loading. On a GPU it uses
autocast (``--precision bf16`` or ``16``) and samples GPU utilisation with ``nvidia-smi`` when
available.

    python benchmarks/align/bench_throughput.py --device cuda --batch-size 64 --image-size 224 \
        --backbone resnet50 --precision bf16 --all-losses --graph-encoder hyperbolic
    python benchmarks/align/bench_throughput.py --quick      # CPU smoke run
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time

import torch

ALL = {
    "global": 1.0,
    "cascade": 1.0,
    "region_sentence": 0.5,
    "image_tag": 0.5,
    "soft_label": 0.5,
    "pathology": 0.5,
    "patch_correlation": 0.1,
}


def _gpu_util(stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            res = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            out.append(float(res.stdout.split()[0]))
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return
        stop.wait(0.5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--precision", choices=["32", "16", "bf16"], default="bf16")
    p.add_argument("--graph-encoder", choices=["none", "euclidean", "hyperbolic"], default="hyperbolic")
    p.add_argument("--all-losses", action="store_true", help="every loss (default: global InfoNCE only)")
    p.add_argument("--freeze-text", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny CPU run")
    args = p.parse_args()
    if args.quick:
        args.device, args.backbone, args.image_size, args.batch_size = "cpu", "resnet18", 64, 4
        args.channels, args.steps, args.warmup, args.precision = 32, 2, 1, "32"

    from cxrgraph.datasets import phantom_samples
    from cxrgraph.models import GraphAlignConfig, GraphAlignModel, collate_align

    device = torch.device(args.device)
    samples = phantom_samples(max(args.batch_size // 2, 2), 64, 0, (2, 2))[: args.batch_size]
    while len(samples) < args.batch_size:
        samples = samples + samples
    samples = samples[: args.batch_size]
    batch = collate_align(samples)
    # the reports are real phantom reports; the images are random pixels of the requested size
    batch.images = torch.rand(args.batch_size, 1, args.image_size, args.image_size)
    batch = batch.to(device)
    config = GraphAlignConfig(
        backbone=args.backbone,
        image_size=args.image_size,
        channels=args.channels,
        freeze_text=args.freeze_text,
        graph_encoder=None if args.graph_encoder == "none" else args.graph_encoder,
        loss_weights=ALL if args.all_losses else {"global": 1.0},
    )
    model = GraphAlignModel(config).to(device)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    dtype = {"32": None, "16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "16")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(batch).loss
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    util: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_gpu_util, args=(stop, util), daemon=True)
    if device.type == "cuda":
        watcher.start()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    stop.set()
    rate = args.steps * args.batch_size / elapsed
    print(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), backbone "
        f"{args.backbone}, {args.image_size}px, batch {args.batch_size}, precision {args.precision}, graph encoder "
        f"{args.graph_encoder}, losses {list(config.active_losses)}, text {'frozen' if args.freeze_text else 'trained'}"
    )
    print(f"throughput: {rate:.1f} studies/s ({elapsed / args.steps * 1000:.0f} ms/step over {args.steps} steps)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        if util:
            print(f"GPU utilisation: mean {sum(util) / len(util):.0f} % over {len(util)} samples")


if __name__ == "__main__":
    main()
