"""Temporal progression: study pairs, hyperbolic region alignment and per-region change.

A prior and a current study of one patient become region embeddings
(:class:`TemporalRegionEncoder`, ``forward(current, previous=None)`` as in BioViL-T), which
:class:`ManifoldAlignment` places on a Poincaré ball and compares by geodesic displacement;
:class:`ProgressionHead` reads improved / no change / worsened per region, and
:class:`TextGuidance` aligns change embeddings with the current report's comparison sentences.
:class:`RegionComparator` adds a change vector per region read from the registered crops of
both studies side by side.
"""

from cxrgraph.temporal.batch import (
    PairBatch,
    TemporalSample,
    collate_temporal,
    comparison_sentences,
    progression_against_empty,
    region_levels,
)
from cxrgraph.temporal.comparator import RegionComparator
from cxrgraph.temporal.evaluation import ProgressionEvaluation, evaluate_progression, write_evaluation
from cxrgraph.temporal.features import attach_region_features
from cxrgraph.temporal.guidance import SentenceEmbedder, TextGuidance
from cxrgraph.temporal.head import ProgressionHead, class_balanced_weights
from cxrgraph.temporal.manifold import MANIFOLDS, ManifoldAlignment, ManifoldOutput
from cxrgraph.temporal.metrics import (
    MSCXRT_LABELS,
    FindingRecord,
    ProgressionMetrics,
    aggregate_regions,
    finding_metrics,
    finding_records,
    progression_metrics,
)
from cxrgraph.temporal.model import ProgressionModel
from cxrgraph.temporal.plots import (
    plot_confusion_matrix,
    plot_poincare_regions,
    plot_region_scores,
    poincare_projection,
)
from cxrgraph.temporal.pretrain import (
    RegionPretrainResult,
    pretrain_region_encoder,
    reader_level_accuracy,
    region_targets,
)
from cxrgraph.temporal.region_encoder import RegionImageEncoder, TemporalRegionEncoder
from cxrgraph.temporal.types import (
    ALIGNMENTS,
    PairInputs,
    ProgressionConfig,
    ProgressionOutput,
    TemporalRegionOutput,
)

__all__ = [
    "PairBatch",
    "TemporalSample",
    "collate_temporal",
    "comparison_sentences",
    "progression_against_empty",
    "region_levels",
    "ManifoldAlignment",
    "ManifoldOutput",
    "MANIFOLDS",
    "ProgressionHead",
    "class_balanced_weights",
    "SentenceEmbedder",
    "TextGuidance",
    "RegionImageEncoder",
    "RegionComparator",
    "TemporalRegionEncoder",
    "TemporalRegionOutput",
    "PairInputs",
    "ProgressionModel",
    "ProgressionOutput",
    "ProgressionConfig",
    "ALIGNMENTS",
    "attach_region_features",
    "ProgressionMetrics",
    "progression_metrics",
    "aggregate_regions",
    "FindingRecord",
    "finding_records",
    "finding_metrics",
    "MSCXRT_LABELS",
    "plot_confusion_matrix",
    "plot_region_scores",
    "plot_poincare_regions",
    "poincare_projection",
    "region_targets",
    "pretrain_region_encoder",
    "reader_level_accuracy",
    "RegionPretrainResult",
    "ProgressionEvaluation",
    "evaluate_progression",
    "write_evaluation",
]
