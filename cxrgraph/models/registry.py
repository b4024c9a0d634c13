"""Parts of a model named by a string, given as a module, or named by import path.

A graph encoder or a loss of :class:`~cxrgraph.models.GraphAlignModel` can be

* a name the library knows (``"hyperbolic"``, ``"cascade"`` ...),
* a module instance (your own ``nn.Module``), or
* ``{"class_path": "mypkg.MyGNN", "init_args": {...}}`` — what a YAML config can hold.

:func:`resolve_module` turns any of these into a module, with one error naming what could not be
resolved and the choices.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

__all__ = ["import_object", "resolve_module", "class_path_of", "is_class_spec"]


def import_object(path: str) -> Any:
    """The object at ``"package.module.Name"`` (nested names such as ``Outer.Inner`` allowed)."""
    if not isinstance(path, str) or "." not in path:
        raise ValueError(f"class_path: expected 'package.module.Name', got {path!r}")
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError as err:
            raise ValueError(f"class_path {path!r}: {'.'.join(parts[:cut])} has no {'.'.join(parts[cut:])}") from err
        return obj
    raise ValueError(f"class_path {path!r}: no importable module in it (is the package on the Python path?)")


def class_path_of(obj: Any) -> str:
    """``"module.QualName"`` of an object's class (or of a class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def is_class_spec(spec: Any) -> bool:
    """Whether ``spec`` is a ``{"class_path": ..., "init_args": ...}`` mapping."""
    return isinstance(spec, Mapping) and "class_path" in spec


def resolve_module(kind: str, spec: Any, choices: Mapping[str, Callable[[], nn.Module]]) -> nn.Module:
    """Build the module ``spec`` names.

    Args:
        kind: What is being resolved, for the error (e.g. ``"graph_encoder"``, ``"loss 'global'"``).
        spec: A name in ``choices``, an ``nn.Module`` instance, an ``nn.Module`` subclass (built
            without arguments), or ``{"class_path": str, "init_args": dict}``.
        choices: Name -> factory of the packaged options.

    Raises:
        ValueError: ``cannot resolve <kind> <spec>; choices are [...]``.
    """
    if isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, str) and spec in choices:
        return choices[spec]()
    if is_class_spec(spec):
        unknown = set(spec) - {"class_path", "init_args"}
        if unknown:
            raise ValueError(f"{kind}: unknown keys {sorted(unknown)} beside class_path (use init_args)")
        cls = import_object(spec["class_path"])
        args = spec.get("init_args") or {}
        if not isinstance(args, Mapping):
            raise ValueError(f"{kind}: init_args must be a mapping, got {type(args).__name__}")
        return _instantiate(kind, cls, dict(args))
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return _instantiate(kind, spec, {})
    raise ValueError(
        f"cannot resolve {kind} {spec!r}; choices are {sorted(choices)}, an nn.Module instance, "
        "or {'class_path': 'package.module.Class', 'init_args': {...}}"
    )


def _instantiate(kind: str, cls: Any, args: dict[str, Any]) -> nn.Module:
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{kind}: {class_path_of(cls) if isinstance(cls, type) else cls!r} is not an nn.Module class")
    try:
        return cls(**args)
    except TypeError as err:
        raise ValueError(f"{kind}: could not build {class_path_of(cls)}(**{args}): {err}") from err
