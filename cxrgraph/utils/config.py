"""Typed configs from YAML: the one validation path of every run config and model config.

A config is a dataclass whose fields carry type hints. :func:`build` makes one from a mapping
(a YAML file's contents, ``--set`` overrides applied), checking every key and every value:

* an unknown key names itself, the closest valid key and every valid key;
* a key in the dataclass's ``RENAMED`` table says what it is called now;
* a value of the wrong type (``channels: "32"``, ``lr: fast``, ``max_epochs: one``) names the
  key, the value and the expected type;
* nested dataclass fields are sections, checked the same way, and a ``dict[str, Any]`` field
  passes its contents on unchecked (a model config its own class validates).

Every problem is a :class:`ConfigError`, which the command line prints as one line (exit code
2). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

__all__ = [
    "ConfigError",
    "build",
    "check_types",
    "read_yaml",
    "apply_overrides",
    "config_to_dict",
]

T = TypeVar("T")

# YAML 1.1 reads 1e-3 (exponent, no dot) as a string; a float field takes it as the number it means
_EXPONENT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file or key and what is wrong.

    Attributes:
        key: The dotted key at fault (``"model.lr"``), empty when the whole config is.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is Any:
        return "anything"
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, Sequence, tuple):
        return "a list"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a section (mapping)"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _same_kind(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    if isinstance(value, Mapping):
        return dataclasses.is_dataclass(tp) or origin in (dict, Mapping)
    if isinstance(value, (list, tuple)):
        return origin in (list, tuple, Sequence)
    return False


def _check(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to ``tp`` (a list to a tuple, an int to a float ...), or a ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, where)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        # a mapping or a list goes to the option of its kind, whose own message says more
        for arg in options:
            if _same_kind(value, arg):
                return _check(value, arg, where)
        for arg in options:
            try:
                return _check(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}", key=where)
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}", key=where)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _EXPONENT_TEXT.match(value.strip()):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin in (list, Sequence) or tp in (list, Sequence):
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_check(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}", key=where)
            return tuple(_check(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    elif origin in (dict, Mapping) or tp in (dict, Mapping):
        if isinstance(value, Mapping):
            key_t, val_t = args if args else (Any, Any)
            return {_check(k, key_t, where): _check(v, val_t, _join(where, str(k))) for k, v in value.items()}
    else:
        raise TypeError(f"{where}: config fields of type {tp!r} are not supported")
    raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}", key=where)


def _unknown_key(cls: type, key: str, where: str, valid: Sequence[str]) -> ConfigError:
    renamed = getattr(cls, "RENAMED", {}) or {}
    if key in renamed:
        return ConfigError(
            f"{_join(where, key)}: this key was renamed; call it {renamed[key]!r}", key=_join(where, key)
        )
    near = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    section = f"{where}: " if where else ""
    return ConfigError(
        f"{section}unknown key {key!r}{hint}; valid keys: {', '.join(sorted(valid))}", key=_join(where, key)
    )


def build(cls: type[T], values: Mapping[str, Any] | None, where: str = "") -> T:
    """An instance of dataclass ``cls`` from ``values``, every key and value type checked.

    Args:
        cls: The config dataclass (fields with type hints; ``RENAMED`` maps old key names to
            new ones).
        values: The mapping (``None``: every default).
        where: How messages name this section (``"model"``, ``"run.yaml: data"``).

    Raises:
        ConfigError: Not a mapping, an unknown or renamed key, a value of the wrong type, a
            missing required key, or a value the dataclass refuses.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys to values, got {values!r}", key=where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise _unknown_key(cls, str(key), where, list(fields))
        kwargs[key] = _check(value, hints[key], _join(where, key))
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where or 'config'}: missing required key(s) {missing}", key=where)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if not where:
            raise
        raise ConfigError(f"{where}.{err}", key=_join(where, err.key)) from None
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}", key=where) from err


def check_types(cls: type, values: Mapping[str, Any], where: str = "") -> None:
    """Check the types of the keys of ``values`` that are fields of dataclass ``cls``.

    For a config class that validates its own keys (a model config): unknown keys are left to
    it, and a value that names a plug-in (a mapping with ``class_path``) is left to whatever
    resolves it.

    Raises:
        ConfigError: A value of the wrong type.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys to values, got {values!r}", key=where)
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints or (isinstance(value, Mapping) and "class_path" in value):
            continue
        _check(value, hints[key], _join(where, key))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; every problem names the file.

    Raises:
        ConfigError: No such file, not UTF-8, a YAML syntax error (with its line and column),
            an empty file, or a top level that is not a mapping.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not UTF-8 text ({err})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{p}: not valid YAML{at}: {problem}") from err
    if data is None:
        raise ConfigError(f"{p}: the file is empty; a run config needs at least its sections")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key.sub=value`` overrides (``value`` read as YAML) to a config mapping, in place.

    Only the structure is checked here (``KEY=VALUE``, sections that are mappings); whether the
    key exists and the value has the right type is checked by :func:`build` afterwards, so an
    override is validated exactly like the file.

    Raises:
        ConfigError: An override that is not ``KEY=VALUE``, or that goes through a non-section.
    """
    import yaml

    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set trainer.max_epochs=3")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({err})") from err
        node = values
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {item!r}: {where!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return values


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML / JSON values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(config))
