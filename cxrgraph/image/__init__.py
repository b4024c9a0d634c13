"""Image → graph: read radiographs, find the 29 anatomical regions, pool region features.

* :mod:`~cxrgraph.image.io`: file reading and the one pixel convention (``float32 [1, H, W]``
  in ``[0, 1]``), checked at every model's door by :func:`check_image_tensor`.
* :func:`find_lung_fields`: the lung fields, cardiac silhouette and midline of a real film,
  by classical image processing (borders and labels cropped).
* Detectors, all returning :class:`RegionDetection` (boxes, scores, a confidence, a problem):
  :class:`LungFieldDetector` (regions placed by rule around each film's lung fields; no
  training, the default for films without boxes), :class:`AtlasDetector` (a mean layout
  fitted on box-annotated images) and :class:`AnatomyDetector` (Faster R-CNN).
* :class:`RegionFeatureExtractor`: backbone feature map + RoIAlign per region.
* :class:`ImageGraph`: a :class:`~cxrgraph.graph.ClinicalGraph` built from a detection.
* :mod:`~cxrgraph.image.evaluation`: per-region IoU, mAP@0.5, overlay plots.
* :mod:`~cxrgraph.image.training`: the Lightning module (imported only when asked for).

Names are resolved on first use, so importing this package is cheap and never imports Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ImageInputError": "cxrgraph.image.io",
    "SkippedImage": "cxrgraph.image.io",
    "read_image": "cxrgraph.image.io",
    "read_images": "cxrgraph.image.io",
    "iter_images": "cxrgraph.image.io",
    "find_images": "cxrgraph.image.io",
    "to_image_tensor": "cxrgraph.image.io",
    "check_image_tensor": "cxrgraph.image.io",
    "check_image_batch": "cxrgraph.image.io",
    "resize_image": "cxrgraph.image.io",
    "read_dicom_pixels": "cxrgraph.image.dicom",
    "LungFields": "cxrgraph.image.lungs",
    "LungFieldsNotFound": "cxrgraph.image.lungs",
    "find_lung_fields": "cxrgraph.image.lungs",
    "LungFieldDetector": "cxrgraph.image.rules",
    "place_regions": "cxrgraph.image.rules",
    "BoxError": "cxrgraph.image.detection",
    "check_boxes": "cxrgraph.image.detection",
    "RegionDetection": "cxrgraph.image.detection",
    "AnatomyDetector": "cxrgraph.image.detector",
    "make_targets": "cxrgraph.image.detector",
    "AtlasDetector": "cxrgraph.image.atlas",
    "find_thorax": "cxrgraph.image.atlas",
    "RegionFeatureExtractor": "cxrgraph.image.features",
    "ImageGraph": "cxrgraph.image.image_graph",
    "extract_image_graphs": "cxrgraph.image.image_graph",
    "DetectionReport": "cxrgraph.image.evaluation",
    "evaluate_detections": "cxrgraph.image.evaluation",
    "region_iou": "cxrgraph.image.evaluation",
    "region_average_precision": "cxrgraph.image.evaluation",
    "plot_detection_overlay": "cxrgraph.image.evaluation",
    "RegionBoxDataset": "cxrgraph.image.data",
    "read_imagenome_tree": "cxrgraph.image.data",
    "AnatomyDetectorModule": "cxrgraph.image.training",
    "train_detector": "cxrgraph.image.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cxrgraph.image' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
