"""The phantom: built-in synthetic chest X-ray studies with complete graph ground truth.

Procedurally drawn frontal radiographs (anatomy, pathology with severity, support devices),
the 29 region boxes of the drawn geometry, findings per region, MIMIC-CXR style reports written
from that ground truth, longitudinal series with per-region change, and writers of the
MIMIC-CXR-JPG / Chest ImaGenome on-disk layouts. Everything is synthetic: results on it say so.
"""

from cxrgraph.datasets.phantom.anatomy import ChestFields, PatientAnatomy, StudyPose, region_boxes, region_masks
from cxrgraph.datasets.phantom.dataset import PhantomCohort, PhantomPatient, PhantomStudy, chexpert_labels
from cxrgraph.datasets.phantom.findings import PHANTOM_FINDINGS, Lesion
from cxrgraph.datasets.phantom.render import render, to_uint8
from cxrgraph.datasets.phantom.reports import grammar_size, write_report
from cxrgraph.datasets.phantom.series import plan_series, region_progression
from cxrgraph.datasets.phantom.writer import write_phantom

__all__ = [
    "ChestFields",
    "Lesion",
    "PHANTOM_FINDINGS",
    "PatientAnatomy",
    "PhantomCohort",
    "PhantomPatient",
    "PhantomStudy",
    "StudyPose",
    "chexpert_labels",
    "grammar_size",
    "plan_series",
    "region_boxes",
    "region_masks",
    "region_progression",
    "render",
    "to_uint8",
    "write_phantom",
    "write_report",
]
