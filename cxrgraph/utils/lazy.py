"""The package ``__init__`` modules' one way of exporting names that are imported on first use.

A package that must stay cheap to import (``cxrgraph``, ``cxrgraph.datasets``, ``cxrgraph.image``,
``cxrgraph.train``) lists its public names and the module each lives in; :func:`lazy_exports`
gives it ``__getattr__``, ``__dir__`` and ``__all__``. The package also imports the same names
under ``if TYPE_CHECKING:`` so that type checkers and IDEs see them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` of a package whose names are imported on first use.

    Args:
        package: The package's ``__name__``.
        exports: Public name -> the module that defines it.
        submodules: Subpackages reachable as attributes (``cxrgraph.models`` after
            ``import cxrgraph``) without being imported up front.

    Example:
        >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"GraphCache": "cxrgraph.datasets.cache"})
    """
    exports = dict(exports)
    subs = tuple(submodules)
    names = sorted({*exports, *subs})

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # resolved once; later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, list(names)
