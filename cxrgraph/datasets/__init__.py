"""Data sets: the built-in phantom and readers of the real chest X-ray data layouts.

Names are resolved on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "OpenIReports": "cxrgraph.datasets.openi",
    "MIMICCXR": "cxrgraph.datasets.mimic_cxr",
    "MIMICStudy": "cxrgraph.datasets.mimic_cxr",
    "MIMICCXRReportGraphs": "cxrgraph.datasets.mimic_cxr",
    "ChestImaGenome": "cxrgraph.datasets.imagenome",
    "SceneGraph": "cxrgraph.datasets.imagenome",
    "parse_scene_graph": "cxrgraph.datasets.imagenome",
    "MSCXRT": "cxrgraph.datasets.ms_cxr_t",
    "CheXpert": "cxrgraph.datasets.chexpert",
    "StudyPairDataset": "cxrgraph.datasets.pairs",
    "GraphCache": "cxrgraph.datasets.cache",
    "CachedGraphDataset": "cxrgraph.datasets.base",
    "harmonize_labels": "cxrgraph.datasets.harmonize",
    "HarmonizeLabels": "cxrgraph.datasets.harmonize",
    "DatasetNotFoundError": "cxrgraph.datasets.errors",
    "StaleCacheError": "cxrgraph.datasets.errors",
    "CacheCorruptError": "cxrgraph.datasets.errors",
    "PhantomCohort": "cxrgraph.datasets.phantom",
    "PhantomStudy": "cxrgraph.datasets.phantom",
    "PhantomPatient": "cxrgraph.datasets.phantom",
    "write_phantom": "cxrgraph.datasets.phantom",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cxrgraph.datasets' has no attribute {name!r}")
