"""Data sets: the built-in phantom and readers of the real chest X-ray data layouts.

Names are resolved on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "OpenIReports": "cxrgraph.datasets.openi",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cxrgraph.datasets' has no attribute {name!r}")
