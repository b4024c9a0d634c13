"""cxrgraph: graph-centric chest X-ray vision-language learning on PyTorch Geometric.

Radiology reports and radiographs become isomorphic anatomy / finding / relation graphs over
one clinical ontology (:mod:`cxrgraph.ontology`, :mod:`cxrgraph.graph`). Subpackages are
imported on first use, so ``import cxrgraph`` stays cheap and never imports Lightning or stanza.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

_SUBMODULES = (
    "ontology",
    "graph",
    "text",
    "image",
    "datasets",
    "nn",
    "align",
    "temporal",
    "train",
    "eval",
    "metrics",
    "cli",
)

# public names re-exported from subpackages, resolved lazily
_EXPORTS = {
    "get_ontology": "cxrgraph.ontology",
    "load_ontology": "cxrgraph.ontology",
    "Ontology": "cxrgraph.ontology",
    "ClinicalGraph": "cxrgraph.graph",
    "Triplet": "cxrgraph.graph",
    "StudyPair": "cxrgraph.graph",
    "parse_report": "cxrgraph.text",
    "parse_reports": "cxrgraph.text",
}

__all__ = ["__version__", *_SUBMODULES, *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cxrgraph.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cxrgraph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
