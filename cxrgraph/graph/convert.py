"""Lossless conversion between :class:`ClinicalGraph` and networkx."""

from __future__ import annotations

from typing import Any

import networkx as nx
import torch

from cxrgraph.graph.clinical_graph import ClinicalGraph
from cxrgraph.graph.errors import GraphValidationError
from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["to_networkx", "from_networkx"]

_SCHEMA_KEY = "_cxrgraph_schema"


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def to_networkx(graph: ClinicalGraph, ontology: Ontology | None = None) -> nx.MultiDiGraph:
    """Convert to a ``networkx.MultiDiGraph``.

    Nodes are ``(node_type, index)`` with a ``name`` and every per-node tensor value as a
    Python value; edges carry their ``relation`` and per-edge attributes. Graph-level
    attributes go to ``G.graph``. The dtypes and shapes needed to rebuild every tensor exactly
    are kept in ``G.graph['_cxrgraph_schema']``, so :func:`from_networkx` is its exact inverse.
    """
    onto = ontology or get_ontology()
    G = nx.MultiDiGraph()
    schema: dict[str, Any] = {"nodes": {}, "edges": {}, "graph": {}}
    for node_type in graph.node_types:
        store = graph[node_type]
        n = store.num_nodes
        names = onto.region_names if node_type == "anatomy" else onto.finding_names
        tensors = {k: v for k, v in store.items() if isinstance(v, torch.Tensor)}
        schema["nodes"][node_type] = {
            "num_nodes": n,
            "attrs": {k: [_dtype_name(v), list(v.shape[1:])] for k, v in tensors.items()},
        }
        values = {k: v.tolist() for k, v in tensors.items()}
        for i in range(n):
            attrs = {k: vals[i] for k, vals in values.items()}
            G.add_node((node_type, i), node_type=node_type, index=i, name=names[i] if i < len(names) else None, **attrs)
    for edge_type in graph.edge_types:
        store = graph[edge_type]
        ei = store.edge_index
        tensors = {k: v for k, v in store.items() if isinstance(v, torch.Tensor) and k != "edge_index"}
        rel = "__".join(edge_type)
        schema["edges"][rel] = {
            "edge_type": list(edge_type),
            "attrs": {k: [_dtype_name(v), list(v.shape[1:])] for k, v in tensors.items()},
        }
        values = {k: v.tolist() for k, v in tensors.items()}
        for pos, (s, d) in enumerate(ei.t().tolist()):
            attrs = {k: vals[pos] for k, vals in values.items()}
            G.add_edge((edge_type[0], s), (edge_type[2], d), key=(rel, pos), relation=edge_type[1], **attrs)
    for key, value in graph._global_store.items():
        if isinstance(value, torch.Tensor):
            schema["graph"][key] = [_dtype_name(value), list(value.shape)]
            G.graph[key] = value.tolist()
        else:
            G.graph[key] = value
    G.graph[_SCHEMA_KEY] = schema
    return G


def from_networkx(G: nx.MultiDiGraph, cls: type[ClinicalGraph] = ClinicalGraph) -> ClinicalGraph:
    """Rebuild a :class:`ClinicalGraph` from :func:`to_networkx` output."""
    schema = G.graph.get(_SCHEMA_KEY)
    if schema is None:
        raise GraphValidationError(
            f"G.graph[{_SCHEMA_KEY!r}]", "missing: only graphs made by cxrgraph.graph.to_networkx can be read back"
        )
    g = cls()
    for node_type, spec in schema["nodes"].items():
        n = spec["num_nodes"]
        g[node_type].num_nodes = n
        for attr, (dtype, tail) in spec["attrs"].items():
            vals = [G.nodes[(node_type, i)][attr] for i in range(n)]
            g[node_type][attr] = torch.tensor(vals, dtype=getattr(torch, dtype)).reshape(n, *tail)
    collected: dict[str, list[tuple[int, int, int, dict]]] = {rel: [] for rel in schema["edges"]}
    for u, v, key, data in G.edges(keys=True, data=True):
        rel, pos = key
        collected[rel].append((pos, u[1], v[1], data))
    for rel, spec in schema["edges"].items():
        edge_type = tuple(spec["edge_type"])
        rows = sorted(collected[rel])
        g[edge_type].edge_index = (
            torch.tensor([[r[1] for r in rows], [r[2] for r in rows]], dtype=torch.long)
            if rows
            else torch.empty((2, 0), dtype=torch.long)
        )
        for attr, (dtype, tail) in spec["attrs"].items():
            vals = [r[3][attr] for r in rows]
            g[edge_type][attr] = torch.tensor(vals, dtype=getattr(torch, dtype)).reshape(len(rows), *tail)
    for key, value in G.graph.items():
        if key == _SCHEMA_KEY:
            continue
        if key in schema["graph"]:
            dtype, shape = schema["graph"][key]
            value = torch.tensor(value, dtype=getattr(torch, dtype)).reshape(shape)
        g[key] = value
    return g
