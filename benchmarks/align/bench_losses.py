"""Time one forward + backward of each alignment loss on a batch of phantom studies.

A full step runs the same encoders (TextGraphEncoder on the offline all-MiniLM-L6-v2 and
ImageGraphEncoder) and then one loss; the ratio of each step to the global-InfoNCE-only step
is the overhead of that loss. The image backbone (RegionFeatureExtractor, resnet18, random
weights) runs once before timing: its cost is the same for every loss. A second table times
the loss heads alone on fixed embeddings.

    .venv/bin/python benchmarks/align/bench_losses.py --batch-size 32 --repeats 5 [--all-steps]

Full steps are timed for global InfoNCE and the full cascade (every loss with ``--all-steps``),
interleaved round by round; the reported ratio is the median of the per-round ratios.

The phantom is synthetic: these are speed figures, not quality figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def build(batch_size: int, size: int, channels: int, seed: int):
    from torch_geometric.loader import DataLoader

    from cxrgraph.datasets.phantom import PhantomCohort
    from cxrgraph.image import RegionFeatureExtractor
    from cxrgraph.nn import ImageGraphEncoder, TextGraphEncoder, TextGraphInputs, graph_targets
    from cxrgraph.text import parse_report

    cohort = PhantomCohort(batch_size, size=size, seed=seed, studies_per_patient=(1, 2))
    studies = []
    for study in cohort.studies():
        studies.append(study)
        if len(studies) == batch_size:
            break
    reports = [parse_report(s.report) for s in studies]
    batch = next(iter(DataLoader(reports, batch_size=len(reports))))
    targets = graph_targets(batch)
    inputs = TextGraphInputs.from_reports(reports)
    images = torch.stack([torch.from_numpy(s.image).float().div(255.0).unsqueeze(0) for s in studies])
    boxes = torch.stack([torch.as_tensor(s.graph["anatomy"].box) for s in studies])
    present = torch.stack([s.graph["anatomy"].has_box for s in studies])
    extractor = RegionFeatureExtractor("resnet18", image_size=size).eval()
    with torch.no_grad():
        fmap = extractor.feature_map(images)
        regions = extractor(images, boxes, present)
    torch.manual_seed(seed)
    text_encoder = TextGraphEncoder(out_channels=channels)
    image_encoder = ImageGraphEncoder(regions.size(-1), fmap.size(1), channels)
    return text_encoder, image_encoder, inputs, targets, regions, fmap, present


def make_losses(channels: int, num_patches: int) -> dict[str, tuple[torch.nn.Module, callable]]:
    from cxrgraph.align import (
        CascadingAlignment,
        GlobalInfoNCELoss,
        ImageTagLoss,
        PatchCorrelationLoss,
        PathologyAlignment,
        RegionSentenceAlignment,
        SoftLabelContrastiveLoss,
    )

    glob, cga = GlobalInfoNCELoss(), CascadingAlignment(channels)
    arsa, tag, soft = RegionSentenceAlignment(), ImageTagLoss(), SoftLabelContrastiveLoss()
    pcma, cce = PathologyAlignment(channels), PatchCorrelationLoss(channels, num_patches)
    return {
        "global_infonce": (glob, lambda i, t, y: glob(i.summary, t.summary)),
        "cascade_full": (cga, lambda i, t, y: cga(i, t, y["located_at"]).loss),
        "region_sentence": (arsa, lambda i, t, y: arsa(i.anatomy, t.tokens, t.token_region_mask, t.token_mask)),
        "image_tag": (tag, lambda i, t, y: tag(i.finding_logits, y["existence"])),
        "soft_label": (soft, lambda i, t, y: soft(i.summary, t.summary, y["located_at"])),
        "pathology": (pcma, lambda i, t, y: pcma(i.tokens, t.finding, t.finding_mask)),
        "patch_correlation": (cce, lambda i, t, y: cce(i.tokens, t.tokens, t.token_mask)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=128, help="phantom image side")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-steps", action="store_true", help="full encoder steps for every loss, not only the two")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    text_encoder, image_encoder, inputs, targets, regions, fmap, present = build(
        args.batch_size, args.size, args.channels, args.seed
    )
    losses = make_losses(args.channels, fmap.size(2) * fmap.size(3))
    params = [*text_encoder.parameters(), *image_encoder.parameters()]
    for module, _ in losses.values():
        params += list(module.parameters())

    def step(fn):
        def run():
            for p in params:
                p.grad = None
            image = image_encoder(regions, fmap, present)
            text = text_encoder.encode(inputs)
            fn(image, text, targets).backward()

        return run

    with torch.no_grad():
        image0 = image_encoder(regions, fmap, present)
        text0 = text_encoder.encode(inputs)

    def head_only(fn):
        def run():
            for p in params:
                p.grad = None
            image = image0.replace(
                **{
                    k: getattr(image0, k).detach().requires_grad_()
                    for k in ("anatomy", "finding", "summary", "tokens", "finding_logits", "edge_logits")
                }
            )
            text = text0.replace(
                **{k: getattr(text0, k).detach().requires_grad_() for k in ("anatomy", "finding", "summary", "tokens")}
            )
            fn(image, text, targets).backward()

        return run

    print(
        f"batch {args.batch_size} phantom studies ({args.size}px), {sum(len(s) for s in inputs.sentences)} sentences, "
        f"{int((targets['located_at'] >= 0).sum())} located_at edges, D={args.channels}, "
        f"patches {fmap.size(2)}x{fmap.size(3)}, torch threads {torch.get_num_threads()}, device cpu",
        flush=True,
    )
    # rounds interleave the candidates so that each sees the same background load
    names = list(losses) if args.all_steps else ["global_infonce", "cascade_full"]
    full = interleaved({n: step(losses[n][1]) for n in names}, args.repeats)
    heads = interleaved({n: head_only(fn) for n, (_, fn) in losses.items()}, 3 * args.repeats)
    print(f"{'loss':<20}{'full step ms':>14}{'x global':>10}{'loss head ms':>14}")
    for name in losses:
        if name in full:
            ratio = statistics.median(a / b for a, b in zip(full[name], full["global_infonce"]))
            cell = f"{statistics.median(full[name]):>14.1f}{ratio:>10.3f}"
        else:
            cell = f"{'-':>14}{'-':>10}"
        print(f"{name:<20}{cell}{statistics.median(heads[name]):>14.2f}")
    ratio = statistics.median(a / b for a, b in zip(full["cascade_full"], full["global_infonce"]))
    print(f"full cascade / global-only step (median of per-round ratios): {ratio:.3f} (target <= 1.25)")


def interleaved(fns: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Times in ms of each function, one call of each per round after one warm-up round."""
    for fn in fns.values():
        fn()
    out: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - t0) * 1e3)
    return out


if __name__ == "__main__":
    main()
