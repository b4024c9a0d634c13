"""Turn graphs into plain records (tensors, numbers, strings, lists, dicts) and back.

Records load with ``torch.load(weights_only=True)``: no pickled classes. Dataclass and named
tuple values held by a graph (the triplets and mentions of a report graph) are stored with their
class name and rebuilt only when that class lives in cxrgraph, so a graph read back behaves like
the one stored (``ReportGraph.to_json()`` works on it); other named tuples become plain tuples.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import torch
from torch_geometric.data import HeteroData

__all__ = ["graph_to_record", "record_to_graph", "pack_records", "unpack_record", "column_offsets"]

_SEP = "__"


def _qualname(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_ours(cls: type) -> bool:
    return cls.__module__ == "cxrgraph" or cls.__module__.startswith("cxrgraph.")


def _resolve(name: str) -> type:
    module, _, qual = name.partition(":")
    if not (module == "cxrgraph" or module.startswith("cxrgraph.")):
        raise ValueError(f"refusing to rebuild class {name!r}: only cxrgraph classes are restored from records")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dataclass__": _qualname(value), "fields": fields}
    if isinstance(value, tuple):
        if _is_ours(type(value)) and hasattr(type(value), "_fields"):
            return {"__namedtuple__": _qualname(value), "fields": [_encode(v) for v in value]}
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot store a value of type {type(value).__name__} in a graph record")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__dataclass__" in value:
            cls = _resolve(value["__dataclass__"])
            return cls(**{k: _decode(v) for k, v in value["fields"].items()})
        if "__namedtuple__" in value:
            return _resolve(value["__namedtuple__"])(*(_decode(v) for v in value["fields"]))
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    return value


def graph_to_record(graph: HeteroData) -> dict[str, Any]:
    """A ``weights_only``-loadable dict holding every store and graph-level attribute."""
    stores: dict[str, dict[str, Any]] = {}
    for key in (*graph.node_types, *graph.edge_types):
        name = key if isinstance(key, str) else _SEP.join(key)
        stores[name] = {k: _encode(v) for k, v in graph[key].items()}
    return {
        "class": _qualname(graph),
        "node_types": list(graph.node_types),
        "edge_types": [list(t) for t in graph.edge_types],
        "stores": stores,
        "global": {k: _encode(v) for k, v in graph._global_store.items()},
    }


def record_to_graph(record: dict[str, Any]) -> HeteroData:
    """Inverse of :func:`graph_to_record`."""
    cls = _resolve(record["class"])
    graph = cls()
    for node_type in record["node_types"]:
        for k, v in record["stores"][node_type].items():
            graph[node_type][k] = _decode(v)
    for edge_type in record["edge_types"]:
        for k, v in record["stores"][_SEP.join(edge_type)].items():
            graph[tuple(edge_type)][k] = _decode(v)
    for k, v in record["global"].items():
        graph[k] = _decode(v)
    return graph


def pack_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Store many graph records column-wise: one concatenated tensor per (store, attribute).

    Loading a shard then reads a few large tensors instead of thousands of small ones, which
    is what makes ``torch.load(weights_only=True)`` of a shard fast.
    """
    columns: dict[str, dict[str, Any]] = {}
    rest: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        shell = {k: v for k, v in rec.items() if k != "stores"}
        shell["stores"] = {}
        for store, attrs in rec["stores"].items():
            kept = {}
            for attr, value in attrs.items():
                if not isinstance(value, torch.Tensor):
                    kept[attr] = value
                    continue
                key = f"{store}{_SEP}{_SEP}{attr}"
                dim = 1 if attr == "edge_index" else 0
                col = columns.setdefault(
                    key, {"parts": [], "sizes": [-1] * len(records), "dim": dim, "scalar": value.dim() == 0}
                )
                part = value.unsqueeze(0) if value.dim() == 0 else value
                col["parts"].append(part)
                col["sizes"][i] = part.size(dim)
            shell["stores"][store] = kept
        rest.append(shell)
    packed = {}
    for key, col in columns.items():
        parts = col["parts"]
        tails = {tuple(p.shape[: col["dim"]]) + tuple(p.shape[col["dim"] + 1 :]) for p in parts}
        dtypes = {p.dtype for p in parts}
        if len(tails) != 1 or len(dtypes) != 1:
            raise ValueError(f"cannot pack {key!r}: shapes or dtypes differ between graphs ({tails}, {dtypes})")
        packed[key] = {
            "data": torch.cat(parts, dim=col["dim"]),
            "sizes": torch.tensor(col["sizes"], dtype=torch.long),
            "dim": col["dim"],
            "scalar": col["scalar"],
        }
    return {"columns": packed, "records": rest}


def unpack_record(packed: dict[str, Any], index: int, offsets: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Record ``index`` of a :func:`pack_records` payload (``offsets`` from :func:`column_offsets`)."""
    shell = packed["records"][index]
    rec = {k: v for k, v in shell.items() if k != "stores"}
    rec["stores"] = {store: dict(attrs) for store, attrs in shell["stores"].items()}
    for key, col in packed["columns"].items():
        size = int(col["sizes"][index])
        if size < 0:
            continue
        store, attr = key.split(_SEP + _SEP, 1)
        start = int(offsets[key][index])
        value = col["data"].narrow(col["dim"], start, size).clone()
        rec["stores"].setdefault(store, {})[attr] = value.squeeze(0) if col["scalar"] else value
    return rec


def column_offsets(packed: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Start of each record in each column of a :func:`pack_records` payload."""
    out = {}
    for key, col in packed["columns"].items():
        sizes = col["sizes"].clamp(min=0)
        out[key] = torch.cumsum(sizes, 0) - sizes
    return out
