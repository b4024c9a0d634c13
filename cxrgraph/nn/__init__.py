"""Encoders: text, image, heterogeneous and hyperbolic graph encoders with dense outputs."""

from cxrgraph.nn.dense import dense_nodes, graph_targets, located_at_dense, triplet_multi_hot
from cxrgraph.nn.hetero import HeteroGraphEncoder, add_reverse_edges, clinical_metadata
from cxrgraph.nn.hyperbolic import BoundedPoincareBall, HGCNConv, HyperbolicGraphEncoder
from cxrgraph.nn.image_encoder import ImageGraphEncoder, sincos_position_2d
from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.nn.readout import AttentionReadout, EdgeAttrEmbedding
from cxrgraph.nn.relational import RelationalGraphConv
from cxrgraph.nn.text_encoder import TextGraphEncoder, TextGraphInputs, default_text_model_path

__all__ = [
    "GraphEmbeddings",
    "TextGraphEncoder",
    "TextGraphInputs",
    "default_text_model_path",
    "ImageGraphEncoder",
    "sincos_position_2d",
    "HeteroGraphEncoder",
    "add_reverse_edges",
    "clinical_metadata",
    "BoundedPoincareBall",
    "HGCNConv",
    "HyperbolicGraphEncoder",
    "dense_nodes",
    "graph_targets",
    "located_at_dense",
    "triplet_multi_hot",
    "AttentionReadout",
    "EdgeAttrEmbedding",
    "RelationalGraphConv",
]
