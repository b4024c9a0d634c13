"""``ImageGraph``: a radiograph as a :class:`ClinicalGraph` whose anatomy nodes carry boxes and features."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from cxrgraph.graph import ANATOMY, ClinicalGraph, GraphValidationError, Triplet
from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.features import RegionFeatureExtractor
from cxrgraph.image.io import SkippedImage, check_image_tensor, iter_images
from cxrgraph.ontology import Ontology

__all__ = ["ImageGraph", "RegionDetectorLike", "extract_image_graphs"]

logger = logging.getLogger(__name__)


class RegionDetectorLike(Protocol):
    """What :func:`extract_image_graphs` needs: every detector of :mod:`cxrgraph.image` fits."""

    def detect(
        self, images: Sequence[torch.Tensor], sources: Sequence[str | None] | None = None
    ) -> list[RegionDetection]: ...


class ImageGraph(ClinicalGraph):
    """The image side of a study: the report graph's schema, built from detected regions.

    Beyond :class:`ClinicalGraph`'s fields, ``graph['anatomy']`` holds ``score`` (float
    ``[29]``, detector confidence) and, when a feature extractor ran, ``x`` (float ``[29, C]``,
    zero rows for absent regions). Graph-level ``image_id`` and ``image_size`` name the source.
    The fixed ``part_of`` / ``adjacent_to`` anatomy edges come with every graph; finding nodes
    are present (the schema is fixed) and carry what the caller passes as triplets, none by
    default.
    """

    @classmethod
    def from_detection(
        cls,
        detection: RegionDetection,
        features: torch.Tensor | None = None,
        triplets: Iterable[Triplet | Sequence[Any]] = (),
        ontology: Ontology | None = None,
        **graph_attrs: Any,
    ) -> ImageGraph:
        """Build the graph of one image from a detection (and optional region features).

        Args:
            detection: One box (or none) per region.
            features: Optional ``[29, C]`` region features (e.g. from :class:`RegionFeatureExtractor`).
            triplets: Optional finding triplets (e.g. from an image-tag decoder).
            ontology: The ontology (default: the packaged one).
            **graph_attrs: Extra graph-level attributes.

        Raises:
            GraphValidationError: Shapes disagree with the ontology.
        """
        boxes = detection.boxes.clone()
        boxes[~detection.present] = float("nan")
        attrs = {"image_id": detection.source or "", "image_size": list(detection.image_size), **graph_attrs}
        g = cls.from_triplets(triplets, boxes=boxes, present=detection.present, ontology=ontology, **attrs)
        g[ANATOMY].score = detection.scores.float().clone()
        if features is not None:
            x = features.detach().float()
            if x.dim() != 2 or x.size(0) != detection.num_regions:
                raise GraphValidationError(
                    "['anatomy'].x", f"expected [{detection.num_regions}, C], got {list(x.shape)}"
                )
            g[ANATOMY].x = x
        return g.validate(ontology)

    def validate(self, ontology: Ontology | None = None) -> ImageGraph:
        """:meth:`ClinicalGraph.validate` plus the anatomy ``score`` field."""
        super().validate(ontology)
        score = self[ANATOMY].get("score")
        n = self[ANATOMY].num_nodes
        if score is not None:
            if not isinstance(score, torch.Tensor) or score.shape != (n,) or not score.is_floating_point():
                raise GraphValidationError("['anatomy'].score", f"must be a float tensor of shape [{n}]")
            if not torch.isfinite(score).all() or (score < 0).any() or (score > 1).any():
                raise GraphValidationError("['anatomy'].score", "must be finite and in [0, 1]")
        return self

    def detection(self) -> RegionDetection:
        """The region detection this graph holds (boxes, scores, presence)."""
        a = self[ANATOMY]
        size = self.get("image_size") if hasattr(self, "image_size") else None
        hw = (int(size[0]), int(size[1])) if size is not None else (0, 0)
        score = a.get("score")
        scores = score if score is not None else a.present.float()
        present = a.present & a.has_box
        return RegionDetection(a.box.clone(), scores.clone(), present, hw, self.get("image_id"), "ImageGraph")


@torch.no_grad()
def extract_image_graphs(
    images: Iterable[str | Path | torch.Tensor],
    detector: RegionDetectorLike,
    extractor: RegionFeatureExtractor | None = None,
    batch_size: int = 8,
    sources: Sequence[str] | None = None,
    skipped: list[SkippedImage] | None = None,
) -> list[ImageGraph]:
    """Detect regions, pool their features and build one :class:`ImageGraph` per image, in batches.

    Args:
        images: Image files (read with :func:`~cxrgraph.image.io.read_image`) or ``[1, H, W]``
            tensors in ``[0, 1]``.
        detector: A :class:`LungFieldDetector`, :class:`AtlasDetector` or :class:`AnatomyDetector`.
        extractor: Optional region feature extractor (run in eval mode).
        batch_size: Images per detector / extractor call.
        sources: Names for tensor inputs (files are named by their path).
        skipped: Receives a :class:`SkippedImage` for each file that could not be read and
            each image whose detection reports a problem (e.g. no lung fields found); they
            are skipped, not fatal.

    Returns:
        The graphs of the readable images whose regions were found, in input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if extractor is not None:
        extractor.eval()

    def _items() -> Iterable[tuple[str, torch.Tensor]]:
        tensors: list[tuple[int, torch.Tensor]] = []
        paths: list[str | Path] = []
        for i, item in enumerate(images):
            if isinstance(item, torch.Tensor):
                tensors.append((i, item))
            else:
                paths.append(item)
        if tensors and paths:
            raise ValueError("extract_image_graphs: pass either files or tensors, not both")
        for i, t in tensors:
            name = sources[i] if sources is not None else f"image-{i}"
            yield name, check_image_tensor(t, name)
        for path, image in iter_images(paths, skipped=skipped):
            yield str(path), image

    graphs: list[ImageGraph] = []
    batch: list[tuple[str, torch.Tensor]] = []

    def _flush() -> None:
        names = [n for n, _ in batch]
        imgs = [t for _, t in batch]
        dets = detector.detect(imgs, sources=names)
        keep = [j for j, det in enumerate(dets) if det.problem is None]
        for j, det in enumerate(dets):
            if det.problem is not None:
                logger.warning("skipping %s: %s", names[j], det.problem)
                if skipped is not None:
                    skipped.append(SkippedImage(names[j], det.problem))
        feats = None
        if extractor is not None and keep:
            boxes, present = RegionDetection.stack_boxes([dets[j] for j in keep])
            feats = extractor([imgs[j] for j in keep], boxes, present).cpu()
        for k, j in enumerate(keep):
            graphs.append(ImageGraph.from_detection(dets[j], None if feats is None else feats[k]))
        batch.clear()

    for item in _items():
        batch.append(item)
        if len(batch) == batch_size:
            _flush()
    if batch:
        _flush()
    logger.info("built %d image graphs (%d skipped)", len(graphs), len(skipped or []))
    return graphs
