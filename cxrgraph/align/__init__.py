"""Alignment losses between image and report graphs, each usable on its own."""

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.align.cascade import STAGES, CascadeOutput, CascadingAlignment, anatomy_adjacency
from cxrgraph.align.grounding import located_at_routing_loss
from cxrgraph.align.infonce import GlobalInfoNCELoss, LogitScale, info_nce, multi_positive_nce, node_info_nce
from cxrgraph.align.pathology import PatchCorrelationLoss, PathologyAlignment, PathologyObservationExtractor
from cxrgraph.align.region_sentence import RegionSentenceAlignment
from cxrgraph.align.tags import ImageTagLoss, SoftLabelContrastiveLoss, existence_targets, triplet_overlap

__all__ = [
    "AlignmentLoss",
    "AlignTargets",
    "GlobalInfoNCELoss",
    "LogitScale",
    "info_nce",
    "node_info_nce",
    "multi_positive_nce",
    "CascadingAlignment",
    "CascadeOutput",
    "STAGES",
    "anatomy_adjacency",
    "RegionSentenceAlignment",
    "ImageTagLoss",
    "SoftLabelContrastiveLoss",
    "existence_targets",
    "triplet_overlap",
    "PathologyAlignment",
    "PathologyObservationExtractor",
    "PatchCorrelationLoss",
    "located_at_routing_loss",
]
