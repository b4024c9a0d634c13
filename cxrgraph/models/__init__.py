"""Composite models built from the encoders and losses (no Lightning here)."""

from cxrgraph.models.batch import AlignBatch, AlignSample, collate_align, report_text_inputs
from cxrgraph.models.config import GRAPH_ENCODERS, LOSS_NAMES, GraphAlignConfig
from cxrgraph.models.graph_align import GraphAlignModel, GraphAlignOutput, load_checkpoint

__all__ = [
    "GraphAlignConfig",
    "GraphAlignModel",
    "GraphAlignOutput",
    "AlignSample",
    "AlignBatch",
    "collate_align",
    "report_text_inputs",
    "load_checkpoint",
    "LOSS_NAMES",
    "GRAPH_ENCODERS",
]
