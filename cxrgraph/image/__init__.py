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

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from cxrgraph.image.atlas import AtlasDetector as AtlasDetector
    from cxrgraph.image.atlas import find_thorax as find_thorax
    from cxrgraph.image.data import RegionBoxDataset as RegionBoxDataset
    from cxrgraph.image.data import read_imagenome_tree as read_imagenome_tree
    from cxrgraph.image.detection import BoxError as BoxError
    from cxrgraph.image.detection import RegionDetection as RegionDetection
    from cxrgraph.image.detection import check_boxes as check_boxes
    from cxrgraph.image.detector import AnatomyDetector as AnatomyDetector
    from cxrgraph.image.detector import make_targets as make_targets
    from cxrgraph.image.dicom import read_dicom_pixels as read_dicom_pixels
    from cxrgraph.image.evaluation import DetectionReport as DetectionReport
    from cxrgraph.image.evaluation import evaluate_detections as evaluate_detections
    from cxrgraph.image.evaluation import plot_detection_overlay as plot_detection_overlay
    from cxrgraph.image.evaluation import region_average_precision as region_average_precision
    from cxrgraph.image.evaluation import region_iou as region_iou
    from cxrgraph.image.features import RegionFeatureExtractor as RegionFeatureExtractor
    from cxrgraph.image.image_graph import ImageGraph as ImageGraph
    from cxrgraph.image.image_graph import extract_image_graphs as extract_image_graphs
    from cxrgraph.image.io import ImageInputError as ImageInputError
    from cxrgraph.image.io import SkippedImage as SkippedImage
    from cxrgraph.image.io import check_image_batch as check_image_batch
    from cxrgraph.image.io import check_image_tensor as check_image_tensor
    from cxrgraph.image.io import find_images as find_images
    from cxrgraph.image.io import iter_images as iter_images
    from cxrgraph.image.io import read_image as read_image
    from cxrgraph.image.io import read_images as read_images
    from cxrgraph.image.io import resize_image as resize_image
    from cxrgraph.image.io import to_image_tensor as to_image_tensor
    from cxrgraph.image.lungs import LungFields as LungFields
    from cxrgraph.image.lungs import LungFieldsNotFound as LungFieldsNotFound
    from cxrgraph.image.lungs import find_lung_fields as find_lung_fields
    from cxrgraph.image.rules import LungFieldDetector as LungFieldDetector
    from cxrgraph.image.rules import place_regions as place_regions
    from cxrgraph.image.training import AnatomyDetectorModule as AnatomyDetectorModule
    from cxrgraph.image.training import train_detector as train_detector

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
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
    },
)
