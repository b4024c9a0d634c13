"""Downstream evaluation of pretrained models: linear probe, zero-shot classification, retrieval, region grounding."""

from cxrgraph.eval.embeddings import StudyEmbeddings, extract_embeddings
from cxrgraph.eval.grounding import GroundingResult, region_grounding
from cxrgraph.eval.grounding_plot import plot_grounding
from cxrgraph.eval.linear_probe import LogisticProbe, ProbeResult, binary_labels, linear_probe
from cxrgraph.eval.metrics import roc_auc, roc_auc_per_column
from cxrgraph.eval.retrieval import duplicate_positives, recall_at_k, retrieval_metrics
from cxrgraph.eval.zero_shot import ZeroShotResult, finding_prompts, zero_shot

__all__ = [
    "StudyEmbeddings",
    "extract_embeddings",
    "LogisticProbe",
    "ProbeResult",
    "binary_labels",
    "linear_probe",
    "roc_auc",
    "roc_auc_per_column",
    "recall_at_k",
    "retrieval_metrics",
    "duplicate_positives",
    "ZeroShotResult",
    "finding_prompts",
    "zero_shot",
    "GroundingResult",
    "region_grounding",
    "plot_grounding",
]
