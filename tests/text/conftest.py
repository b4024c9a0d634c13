"""Shared fixtures of the text tests. Example sentences come from OpenI dev-split reports
(never from the 771 held-out test ids) and from MIMIC-CXR style report templates."""

from __future__ import annotations

import pytest

from cxrgraph.ontology import get_ontology


@pytest.fixture(scope="session")
def onto():
    return get_ontology()
