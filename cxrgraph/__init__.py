"""cxrgraph: graph-centric chest X-ray vision-language learning on PyTorch Geometric.

Radiology reports and radiographs become isomorphic anatomy / finding / relation graphs over
one clinical ontology (:mod:`cxrgraph.ontology`, :mod:`cxrgraph.graph`). Subpackages are
imported on first use, so ``import cxrgraph`` stays cheap and never imports torch, Lightning
or stanza.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from cxrgraph import align as align
    from cxrgraph import cli as cli
    from cxrgraph import datasets as datasets
    from cxrgraph import demo as demo
    from cxrgraph import eval as eval
    from cxrgraph import graph as graph
    from cxrgraph import image as image
    from cxrgraph import models as models
    from cxrgraph import nn as nn
    from cxrgraph import ontology as ontology
    from cxrgraph import temporal as temporal
    from cxrgraph import text as text
    from cxrgraph import train as train
    from cxrgraph import utils as utils
    from cxrgraph.graph import ClinicalGraph as ClinicalGraph
    from cxrgraph.graph import StudyPair as StudyPair
    from cxrgraph.graph import Triplet as Triplet
    from cxrgraph.ontology import Ontology as Ontology
    from cxrgraph.ontology import get_ontology as get_ontology
    from cxrgraph.ontology import load_ontology as load_ontology
    from cxrgraph.text import parse_report as parse_report
    from cxrgraph.text import parse_reports as parse_reports

_SUBMODULES = (
    "ontology",
    "graph",
    "text",
    "image",
    "datasets",
    "nn",
    "align",
    "temporal",
    "models",
    "train",
    "eval",
    "demo",
    "cli",
    "utils",
)

__getattr__, __dir__, _names = lazy_exports(
    __name__,
    {
        "get_ontology": "cxrgraph.ontology",
        "load_ontology": "cxrgraph.ontology",
        "Ontology": "cxrgraph.ontology",
        "ClinicalGraph": "cxrgraph.graph",
        "Triplet": "cxrgraph.graph",
        "StudyPair": "cxrgraph.graph",
        "parse_report": "cxrgraph.text",
        "parse_reports": "cxrgraph.text",
    },
    _SUBMODULES,
)
__all__ = ["__version__", *_names]
