"""``cxrgraph detect train|predict``: the anatomical region detector on a MIMIC-CXR / Chest ImaGenome tree.

``train`` reads ``<root>/files/pXX/p<subject>/s<study>/<dicom_id>.jpg`` with the boxes of
``<root>/silver_dataset/scene_graph/<dicom_id>_SceneGraph.json`` (the layout ``cxrgraph
phantom`` writes), trains an :class:`~cxrgraph.image.AnatomyDetector` and saves it.
``predict`` runs a trained detector, a fitted atlas layout or the training-free
:class:`~cxrgraph.image.LungFieldDetector` (the default, ``--atlas``) on a tree, a folder or one
file and writes one JSON per image (and, with ``--overlay``, a picture of the boxes beside
it); when the tree has boxes it also scores the predictions. Unreadable images and films whose
lung fields cannot be found are skipped and listed in ``skipped.json``. A model fitted on the
phantom warns once when the images are not phantom ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from cxrgraph.utils.atomic import atomic_write_json

HELP = "train or run the anatomical region detector"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train an AnatomyDetector on a tree with scene-graph boxes")
    t.add_argument("--root", type=Path, required=True, help="tree with files/ and silver_dataset/scene_graph/")
    t.add_argument("--out", type=Path, required=True, help="output folder (detector.pt, train_summary.json)")
    t.add_argument("--backbone", choices=("mobilenet_v3", "resnet50_fpn"), default="mobilenet_v3")
    t.add_argument("--backbone-weights", type=Path, default=None, help="local classification-backbone state dict")
    t.add_argument("--size", type=int, default=256, help="image side used for training (default 256)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--max-steps", type=int, default=2000)
    t.add_argument("--max-minutes", type=float, default=None, help="wall-time budget")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--val-fraction", type=float, default=0.1, help="held-out share when the tree has no splits")
    t.add_argument("--val-every", type=int, default=None, help="validate every N steps (default: at the end)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("predict", help="detect regions and write one JSON per image")
    p.add_argument("--root", type=Path, required=True, help="a tree (files/...), a folder of images or one image")
    p.add_argument("--out", type=Path, required=True, help="output folder for <image>.json files")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="detector checkpoint written by `detect train`")
    which.add_argument(
        "--atlas",
        nargs="?",
        const="rules",
        default=None,
        metavar="rules|phantom|LAYOUT",
        help="no training: 'rules' (default) places the regions around each film's lung fields; "
        "'phantom' uses the packaged layout fitted on the phantom; or a layout JSON from AtlasDetector.fit",
    )
    p.add_argument("--overlay", action="store_true", help="also write <image>.png with the boxes over the image")
    p.add_argument("--threshold", type=float, default=None, help="score threshold (default: the detector's)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--split", default=None, help="only images of this split (train/valid/test) of a tree")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _phantom_root(path: Path) -> Path | None:
    """The phantom tree ``path`` lies in (a folder up the tree holds ``phantom_manifest.json``)."""
    path = path.resolve()
    for folder in [path, *path.parents][:8]:
        if (folder / "phantom_manifest.json").is_file():
            return folder
    return None


def _held_out(subject: str, fraction: float) -> bool:
    # split by patient, stable across runs and machines
    h = int(hashlib.sha1(subject.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    return _train(args) if args.action == "train" else _predict(args)


def _train(args: argparse.Namespace) -> int:
    import torch

    from cxrgraph.image.data import RegionBoxDataset, read_imagenome_tree, read_split_ids
    from cxrgraph.image.detector import AnatomyDetector
    from cxrgraph.image.io import SkippedImage, iter_images
    from cxrgraph.image.training import train_detector

    skipped: list[SkippedImage] = []
    items = read_imagenome_tree(args.root, require_boxes=True, skipped=skipped)
    splits = read_split_ids(args.root)
    if "train" in splits:
        val_ids = splits.get("valid", set())
        train_items = [it for it in items if it.dicom_id in splits["train"]]
        val_items = [it for it in items if it.dicom_id in val_ids]
    else:
        val_items = [it for it in items if _held_out(it.subject_id, args.val_fraction)]
        train_items = [it for it in items if not _held_out(it.subject_id, args.val_fraction)]

    def _load(subset: list) -> tuple[list, list]:
        by_path = {str(it.path): it for it in subset}
        images, boxes = [], []
        for path, image in iter_images([it.path for it in subset], size=args.size, skipped=skipped):
            images.append(image)
            boxes.append(by_path[str(path)].boxes)
        return images, boxes

    train_images, train_boxes = _load(train_items)
    if not train_images:
        print(f"error: no readable training images with boxes under {args.root}")
        atomic_write_json(args.out / "skipped.json", [s.to_dict() for s in skipped], sort_keys=False)
        return 1
    val_images, val_boxes = _load(val_items)
    train = RegionBoxDataset(train_images, torch.stack(train_boxes), size=args.size, augment=True, seed=args.seed)
    val = RegionBoxDataset(val_images, torch.stack(val_boxes), size=args.size) if val_images else None
    phantom = _phantom_root(args.root) is not None
    data = f"{args.root} ({'cxrgraph phantom, synthetic' if phantom else 'Chest ImaGenome boxes'})"
    detector = AnatomyDetector(args.backbone, image_size=args.size, backbone_weights=args.backbone_weights)
    print(f"training {detector.backbone_name} on {len(train)} images ({len(val) if val else 0} held out)")
    detector, summary = train_detector(
        train,
        val,
        detector,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
        lr=args.lr,
        val_every=args.val_every,
        progress_bar=not args.no_progress,
        seed=args.seed,
        data=data,
        synthetic=phantom,
    )
    path = detector.save(args.out / "detector.pt")
    summary.update(
        {
            "root": str(args.root),
            "train_images": len(train),
            "val_images": len(val) if val else 0,
            "config": detector.config,
        }
    )
    atomic_write_json(args.out / "train_summary.json", summary, sort_keys=False)
    atomic_write_json(args.out / "skipped.json", [s.to_dict() for s in skipped], sort_keys=False)
    print(json.dumps({k: summary[k] for k in ("steps", "seconds") if k in summary}))
    if "val_mean_iou" in summary:
        print(f"held-out mean IoU over regions: {summary['val_mean_iou']:.4f}")
    print(f"detector: {path}  ({len(skipped)} images skipped)")
    return 0


def _load_detector(args: argparse.Namespace) -> Any:
    from cxrgraph.image.atlas import AtlasDetector
    from cxrgraph.image.detector import AnatomyDetector
    from cxrgraph.image.rules import LungFieldDetector

    if args.model is not None:
        detector = AnatomyDetector.load(args.model)
        if args.threshold is not None:
            detector.score_threshold = args.threshold
        return detector
    if args.atlas == "rules":
        return LungFieldDetector()
    return AtlasDetector.load(None if args.atlas == "phantom" else args.atlas)


def _predict(args: argparse.Namespace) -> int:
    import sys

    import torch
    from tqdm.auto import tqdm

    from cxrgraph.image.atlas import is_synthetic
    from cxrgraph.image.data import read_imagenome_tree, read_split_ids
    from cxrgraph.image.evaluation import evaluate_detections, plot_detection_overlay
    from cxrgraph.image.io import SkippedImage, find_images, iter_images

    detector = _load_detector(args)
    if is_synthetic(getattr(detector, "meta", None)) and _phantom_root(args.root) is None:
        print(
            f"warning: {type(detector).__name__} was fitted on the synthetic phantom "
            f"({detector.meta.get('data')}) and {args.root} holds no phantom images: its regions on real films "
            "are not to be trusted; use --atlas (the lung-field rules) or a model trained on real boxes",
            file=sys.stderr,
        )

    truth: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    root = args.root
    if (root / "files").is_dir():
        items = read_imagenome_tree(root)
        if args.split:
            wanted = read_split_ids(root).get({"val": "valid", "validate": "valid"}.get(args.split, args.split))
            if wanted is None:
                print(f"error: {root} has no split {args.split!r} (silver_dataset/splits/)")
                return 2
            items = [it for it in items if it.dicom_id in wanted]
        paths = [it.path for it in items]
        for it in items:
            names[str(it.path)] = it.dicom_id
            if it.boxes is not None:
                truth[str(it.path)] = it.boxes
    else:
        paths = find_images(root)
        names = {str(p): p.stem for p in paths}

    skipped: list[SkippedImage] = []
    detections, seen = [], set()
    batch: list[tuple[Path, torch.Tensor]] = []
    bar = tqdm(total=len(paths), disable=args.no_progress, desc="detect", unit="img")

    def _flush() -> None:
        dets = detector.detect([img for _, img in batch], sources=[str(p) for p, _ in batch])
        for (path, image), det in zip(batch, dets):
            if det.problem is not None:
                skipped.append(SkippedImage(str(path), det.problem))
                continue
            name = names.get(str(path), path.stem)
            if name in seen:
                name = f"{name}_{len(seen)}"
            seen.add(name)
            atomic_write_json(args.out / f"{name}.json", det.to_dict(), sort_keys=False)
            if args.overlay:
                title = f"{path.name}: {det.detector}, confidence {det.confidence:.2f}"
                plot_detection_overlay(image, det, truth.get(str(path)), path=args.out / f"{name}.png", title=title)
            detections.append((str(path), det))
        bar.update(len(batch))
        batch.clear()

    for path, image in iter_images(paths, skipped=skipped):
        batch.append((path, image))
        if len(batch) >= args.batch_size:
            _flush()
    if batch:
        _flush()
    bar.update(len(paths) - bar.n)
    bar.close()
    atomic_write_json(args.out / "skipped.json", [s.to_dict() for s in skipped], sort_keys=False)
    print(f"{len(detections)} predictions written to {args.out} ({len(skipped)} images skipped)")
    scored = [(p, d) for p, d in detections if p in truth]
    if scored:
        report = evaluate_detections([d for _, d in scored], torch.stack([truth[p] for p, _ in scored]))
        atomic_write_json(args.out / "evaluation.json", report.to_dict(), sort_keys=False)
        print(
            f"against the tree's boxes ({len(scored)} images): mean IoU {report.mean_iou:.4f}, mAP@0.5 {report.map50:.4f}"
        )
    return 0 if detections or not paths else 1
