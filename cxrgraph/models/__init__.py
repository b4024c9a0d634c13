"""Composite models built from the encoders and losses (no Lightning here)."""

from cxrgraph.models.batch import AlignBatch, AlignSample, collate_align, located_at_codes, report_text_inputs
from cxrgraph.models.checkpoint import load_checkpoint
from cxrgraph.models.config import GRAPH_ENCODERS, LOSS_NAMES, GraphAlignConfig
from cxrgraph.models.graph_align import GraphAlignModel, GraphAlignOutput
from cxrgraph.models.text_cache import (
    ReportTextFeatures,
    TextFeatureCache,
    TextFeatureError,
    attach_text_features,
    encode_report_features,
    text_encoder_key,
    text_feature_key,
)

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
    "located_at_codes",
    "ReportTextFeatures",
    "TextFeatureCache",
    "TextFeatureError",
    "attach_text_features",
    "encode_report_features",
    "text_encoder_key",
    "text_feature_key",
]
