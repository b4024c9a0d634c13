"""What one GraphAlignModel training step costs against the plain backbone's step (CPU by default).

Every variant is timed on the same batch of phantom studies (synthetic), one optimiser step at a
time and interleaved (plain, global, all-hyperbolic, ...; then again), so a machine whose speed
drifts slows every variant alike. A step is forward, backward and the optimiser update; the data
are collated once beforehand (loading is not the model's cost). The text transformer is frozen
and each report's features are read from the batch (``attach_text_features``) except in the
``text-trained`` variant, where the transformer runs and trains every step.

Memory: each variant also runs a few steps in a fresh process, which prints what it holds after
its first step (model, optimiser state, batch) and the peak resident memory above that while a
step runs (activations), sampled every 2 ms.

    python benchmarks/align/bench_step_cost.py                 # batch 32, 128 px, ResNet-18
    python benchmarks/align/bench_step_cost.py --steps 20 --no-memory

The last line reads ``step_cost global=<ratio> all=<ratio>`` (all = every loss + the hyperbolic
graph encoder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import torch

from cxrgraph.models.config import LOSS_NAMES

ALL = dict.fromkeys(LOSS_NAMES, 1.0)

#: variant -> GraphAlignConfig changes (None: the plain backbone)
VARIANTS: dict[str, dict | None] = {
    "plain": None,
    "global": {"loss_weights": {"global": 1.0}},
    "all-hyperbolic": {"loss_weights": ALL, "graph_encoder": "hyperbolic"},
    "all-euclidean": {"loss_weights": ALL, "graph_encoder": "euclidean"},
    "global-text-trained": {"loss_weights": {"global": 1.0}, "freeze_text": False},
}


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(name: str, args: argparse.Namespace):
    """``(step, parameters)`` of a variant: ``step()`` runs one optimiser step on a fixed batch."""
    from cxrgraph.datasets import phantom_samples
    from cxrgraph.models import GraphAlignConfig, GraphAlignModel, attach_text_features, collate_align

    torch.manual_seed(0)
    samples = phantom_samples(args.batch_size // 2, args.image_size, 0, (2, 2))[: args.batch_size]
    changes = VARIANTS[name]
    if changes is None:
        import torchvision

        net = torchvision.models.resnet18(weights=None)
        net.fc = torch.nn.Linear(net.fc.in_features, args.channels)
        images = torch.stack([s.image for s in samples]).expand(-1, 3, -1, -1).contiguous()
        target = torch.randn(len(samples), args.channels)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        net.train()

        def plain_step() -> None:
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(net(images), target)
            loss.backward()
            opt.step()

        return plain_step, sum(p.numel() for p in net.parameters())

    values = {"backbone": "resnet18", "image_size": args.image_size, "channels": args.channels, "freeze_text": True}
    config = GraphAlignConfig(**{**values, "max_length": 48, **changes})
    model = GraphAlignModel(config).train()
    if config.freeze_text:
        attach_text_features(samples, model.text_encoder)
    batch = collate_align(samples)
    from cxrgraph.train import GraphAlignPretrainer

    module = GraphAlignPretrainer(config.to_dict(), lr=1e-4)
    module.model = model
    opt = module.configure_optimizers()["optimizer"]

    def model_step() -> None:
        opt.zero_grad(set_to_none=True)
        model(batch).loss.backward()
        opt.step()

    return model_step, sum(p.numel() for p in model.parameters() if p.requires_grad)


def memory_child(name: str, args: argparse.Namespace) -> None:
    """Peak resident memory while steps run, above what the built model and batch hold."""
    step, _ = build(name, args)
    step()  # the first step allocates the optimiser state and the gradients
    base = _rss_mib()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mib())
            stop.wait(0.002)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    for _ in range(3):
        step()
    stop.set()
    watcher.join()
    print(json.dumps({"variant": name, "held_mib": base, "step_mib": peak[0] - base}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--channels", type=int, default=64, help="node embedding size (the CPU recipe's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS))
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args)
        return
    names = ["plain", *[n for n in args.variants if n != "plain"]]
    steps = {}
    for n in names:
        t = time.perf_counter()
        steps[n], params = build(n, args)
        print(f"built {n:20s} {params / 1e6:6.2f} M trainable parameters ({time.perf_counter() - t:.0f} s)", flush=True)
    for _ in range(args.warmup):
        for n in names:
            steps[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.steps):
        for n in names:
            t = time.perf_counter()
            steps[n]()
            times[n].append(time.perf_counter() - t)
    memory = {}
    if not args.no_memory:
        for n in names:
            cmd = [sys.executable, __file__, "--memory-child", n, "--batch-size", str(args.batch_size)]
            cmd += ["--image-size", str(args.image_size), "--channels", str(args.channels)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            memory[n] = json.loads(out)
    print()
    print(
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; batch {args.batch_size}, {args.image_size} px, ResNet-18, "
        f"channels {args.channels}, float32; {args.steps} interleaved steps per variant (median)"
    )
    base = statistics.median(times["plain"])
    print(
        "| step | s / step | × plain backbone | resident after the first step (MiB) | peak above it during a step (MiB) |"
    )
    print("|---|---|---|---|---|")
    ratios = {}
    for n in names:
        med = statistics.median(times[n])
        ratios[n] = med / base
        held = f"{memory[n]['held_mib']:.0f}" if n in memory else "-"
        mem = f"{memory[n]['step_mib']:.0f}" if n in memory else "-"
        print(f"| {n} | {med:.3f} | {ratios[n]:.2f} | {held} | {mem} |")
    print(
        f"step_cost global={ratios.get('global', float('nan')):.2f} all={ratios.get('all-hyperbolic', float('nan')):.2f}"
    )


if __name__ == "__main__":
    main()
