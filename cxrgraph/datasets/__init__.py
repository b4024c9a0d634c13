"""Data sets: the built-in phantom and readers of the real chest X-ray data layouts.

Names are resolved on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from cxrgraph.datasets.base import CachedGraphDataset as CachedGraphDataset
    from cxrgraph.datasets.cache import GraphCache as GraphCache
    from cxrgraph.datasets.chexpert import CheXpert as CheXpert
    from cxrgraph.datasets.errors import CacheCorruptError as CacheCorruptError
    from cxrgraph.datasets.errors import DatasetNotFoundError as DatasetNotFoundError
    from cxrgraph.datasets.errors import StaleCacheError as StaleCacheError
    from cxrgraph.datasets.harmonize import HarmonizeLabels as HarmonizeLabels
    from cxrgraph.datasets.harmonize import harmonize_labels as harmonize_labels
    from cxrgraph.datasets.harmonize import labels_to_existence as labels_to_existence
    from cxrgraph.datasets.imagenome import ChestImaGenome as ChestImaGenome
    from cxrgraph.datasets.imagenome import SceneGraph as SceneGraph
    from cxrgraph.datasets.imagenome import parse_scene_graph as parse_scene_graph
    from cxrgraph.datasets.mimic_cxr import MIMICCXR as MIMICCXR
    from cxrgraph.datasets.mimic_cxr import MIMICCXRReportGraphs as MIMICCXRReportGraphs
    from cxrgraph.datasets.mimic_cxr import MIMICStudy as MIMICStudy
    from cxrgraph.datasets.ms_cxr_t import MSCXRT as MSCXRT
    from cxrgraph.datasets.openi import OpenIReports as OpenIReports
    from cxrgraph.datasets.pairs import StudyPairDataset as StudyPairDataset
    from cxrgraph.datasets.phantom import PhantomCohort as PhantomCohort
    from cxrgraph.datasets.phantom import PhantomPatient as PhantomPatient
    from cxrgraph.datasets.phantom import PhantomStudy as PhantomStudy
    from cxrgraph.datasets.phantom import write_phantom as write_phantom
    from cxrgraph.datasets.splits import split_by_subject as split_by_subject
    from cxrgraph.datasets.splits import split_indices as split_indices
    from cxrgraph.datasets.studies import AlignDataset as AlignDataset
    from cxrgraph.datasets.studies import ShardBlockSampler as ShardBlockSampler
    from cxrgraph.datasets.studies import SkippedStudy as SkippedStudy
    from cxrgraph.datasets.studies import StudyTable as StudyTable
    from cxrgraph.datasets.studies import StudyTableDataset as StudyTableDataset
    from cxrgraph.datasets.studies import collate_skipping as collate_skipping
    from cxrgraph.datasets.studies import mimic_study_table as mimic_study_table
    from cxrgraph.datasets.studies import phantom_samples as phantom_samples

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
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
        "labels_to_existence": "cxrgraph.datasets.harmonize",
        "split_by_subject": "cxrgraph.datasets.splits",
        "split_indices": "cxrgraph.datasets.splits",
        "AlignDataset": "cxrgraph.datasets.studies",
        "StudyTable": "cxrgraph.datasets.studies",
        "StudyTableDataset": "cxrgraph.datasets.studies",
        "ShardBlockSampler": "cxrgraph.datasets.studies",
        "SkippedStudy": "cxrgraph.datasets.studies",
        "phantom_samples": "cxrgraph.datasets.studies",
        "mimic_study_table": "cxrgraph.datasets.studies",
        "collate_skipping": "cxrgraph.datasets.studies",
    },
)
