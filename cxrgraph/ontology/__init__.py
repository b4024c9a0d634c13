"""The clinical ontology: anatomy, findings, relations, label sets and external mappings.

Plain data plus lookups; importing it does not import torch.

Example:
    >>> from cxrgraph.ontology import get_ontology
    >>> onto = get_ontology()
    >>> onto.region("left base").name
    'left lower lung zone'
    >>> onto.finding("cardiomegaly").name
    'enlarged cardiac silhouette'
"""

from cxrgraph.ontology.concepts import Finding, Region, RelationType
from cxrgraph.ontology.errors import OntologyError, UnknownConceptError
from cxrgraph.ontology.loader import get_ontology, load_ontology
from cxrgraph.ontology.ontology import (
    EXISTENCE_CUE_KINDS,
    LABEL_KINDS,
    Ontology,
    data_dir,
    normalize_term,
)

__all__ = [
    "Finding",
    "Region",
    "RelationType",
    "Ontology",
    "OntologyError",
    "UnknownConceptError",
    "EXISTENCE_CUE_KINDS",
    "LABEL_KINDS",
    "data_dir",
    "get_ontology",
    "load_ontology",
    "normalize_term",
]
