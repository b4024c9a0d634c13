"""``ClinicalGraph``: the heterogeneous anatomy / finding graph shared by reports and images."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch_geometric.data import HeteroData

from cxrgraph.graph.anatomy import anatomy_edges
from cxrgraph.graph.errors import GraphValidationError
from cxrgraph.graph.schema import (
    ANATOMY,
    EDGE_TYPES,
    FINDING,
    LOCATED_AT,
    MODIFY,
    SUGGESTIVE_OF,
    UNMENTIONED,
)
from cxrgraph.graph.triplet import Triplet
from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["ClinicalGraph", "existence_rank"]

# present > uncertain > absent > unmentioned: a finding said to be present anywhere is present.
# The one table of the package: label merges elsewhere (harmonisation, data sets) rank by it.
_EXISTENCE_RANK = {1: 2, 2: 1, 0: 0, UNMENTIONED: -1}


def existence_rank(code: int) -> int:
    """Merge priority of an existence code: present (1) > uncertain (2) > absent (0) > unmentioned (-1)."""
    return _EXISTENCE_RANK[int(code)]


class ClinicalGraph(HeteroData):
    r"""A study as a graph over the clinical ontology.

    Schema (R = 29 regions, K = number of finding types, both in ontology order):

    * ``graph['anatomy']``: ``num_nodes = R``; ``present`` (bool ``[R]``): the region exists /
      was found in this study; ``box`` (float ``[R, 4]``, normalised xyxy, image side);
      ``has_box`` (bool ``[R]``). ``x`` once encoded.
    * ``graph['finding']``: ``num_nodes = K``; ``existence`` (long ``[K]``, report level:
      0 absent, 1 present, 2 uncertain, -1 unmentioned); ``severity`` (long ``[K]``). ``x``
      once encoded.
    * ``('finding', 'located_at', 'anatomy')``: one edge per (finding, region) pair with long
      attributes ``existence``, ``severity``, ``change`` (codes of the ontology label sets).
    * ``('anatomy', 'part_of' | 'adjacent_to', 'anatomy')``: fixed, from the ontology.
    * ``('finding', 'suggestive_of' | 'modify', 'finding')``: where the source says so.

    Because the node sets are fixed, a report's graph and an image's graph of one study are
    isomorphic and can be aligned node by node. Build one with :meth:`from_triplets`.
    """

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, ontology: Ontology | None = None, **graph_attrs: Any) -> ClinicalGraph:
        """A graph with the fixed nodes and anatomy edges and no findings."""
        return cls.from_triplets((), ontology=ontology, **graph_attrs)

    @classmethod
    def from_triplets(
        cls,
        triplets: Iterable[Triplet | Sequence[Any]],
        *,
        boxes: torch.Tensor | Sequence[Sequence[float]] | None = None,
        present: torch.Tensor | Sequence[bool] | None = None,
        suggestive_of: Iterable[tuple[str | int, str | int]] = (),
        modify: Iterable[tuple[str | int, str | int]] = (),
        ontology: Ontology | None = None,
        **graph_attrs: Any,
    ) -> ClinicalGraph:
        """Build a graph from ⟨region, finding, existence, severity, change⟩ triplets.

        Triplets about the same (finding, region) pair are merged into one edge: existence by
        priority present > uncertain > absent, severity by maximum, change by the last cue that
        is not ``unspecified``. A triplet with ``region=None`` is placed at the finding's default
        regions.

        Args:
            triplets: :class:`Triplet` objects or tuples in the same field order.
            boxes: Optional ``[29, 4]`` normalised xyxy boxes (rows of NaN = unknown).
            present: Optional ``[29]`` region presence (default: every region present).
            suggestive_of: ``(finding, finding)`` pairs, e.g. ``("lung opacity", "pneumonia")``.
            modify: ``(finding, finding)`` modifier pairs (RadGraph ``modify``).
            ontology: The ontology (default: the packaged one).
            **graph_attrs: Graph-level attributes, e.g. ``study_id="s50414267"``.

        Raises:
            UnknownConceptError: A name is not in the ontology.
            GraphValidationError: Boxes or presence have a wrong shape or bad values.
        """
        onto = ontology or get_ontology()
        num_r, num_f = onto.num_regions, onto.num_findings
        edges: dict[tuple[int, int], list[int]] = {}
        for item in triplets:
            t = item if isinstance(item, Triplet) else Triplet(*item)
            f = onto.finding_index(t.finding)
            ex = onto.label_index("existence", t.existence)
            sev = onto.label_index("severity", t.severity)
            ch = onto.label_index("change", t.change)
            regions = (
                [onto.region_index(t.region)]
                if t.region is not None
                else [onto.region_index(n) for n in onto.finding(f).default_regions]
            )
            for r in regions:
                cur = edges.get((f, r))
                if cur is None:
                    edges[(f, r)] = [ex, sev, ch]
                    continue
                if _EXISTENCE_RANK[ex] > _EXISTENCE_RANK[cur[0]]:
                    cur[0] = ex
                cur[1] = max(cur[1], sev)
                if ch != 0:
                    cur[2] = ch

        keys = sorted(edges)
        existence = [UNMENTIONED] * num_f
        severity = [0] * num_f
        for f, r in keys:
            ex, sev, _ch = edges[(f, r)]
            if existence[f] == UNMENTIONED or _EXISTENCE_RANK[ex] > _EXISTENCE_RANK[existence[f]]:
                existence[f] = ex
            if sev > severity[f]:
                severity[f] = sev
        if keys:
            pairs = torch.tensor(keys, dtype=torch.long).t()
            attrs = torch.tensor([edges[k] for k in keys], dtype=torch.long).t()
        else:
            pairs = torch.empty((2, 0), dtype=torch.long)
            attrs = torch.empty((3, 0), dtype=torch.long)
        present_t, box, has_box = _anatomy_fields(boxes, present, num_r)

        g = cls()
        g[ANATOMY].num_nodes = num_r
        g[ANATOMY].present = present_t
        g[ANATOMY].box = box
        g[ANATOMY].has_box = has_box
        g[FINDING].num_nodes = num_f
        g[FINDING].existence = torch.tensor(existence, dtype=torch.long)
        g[FINDING].severity = torch.tensor(severity, dtype=torch.long)
        store = g[LOCATED_AT]
        store.edge_index = pairs.contiguous()
        store.existence = attrs[0].contiguous()
        store.severity = attrs[1].contiguous()
        store.change = attrs[2].contiguous()

        for edge_type, edge_index in anatomy_edges(onto).items():
            g[edge_type].edge_index = edge_index
        for edge_type, pairs_in in ((SUGGESTIVE_OF, suggestive_of), (MODIFY, modify)):
            idx = sorted({(onto.finding_index(a), onto.finding_index(b)) for a, b in pairs_in})
            g[edge_type].edge_index = (
                torch.tensor(idx, dtype=torch.long).t().contiguous() if idx else torch.empty((2, 0), dtype=torch.long)
            )
        g.ontology_version = onto.version
        for key, value in graph_attrs.items():
            g[key] = value
        return g

    # ------------------------------------------------------------------ reading back
    def triplets(self, ontology: Ontology | None = None) -> list[Triplet]:
        """The located_at edges as named :class:`Triplet` objects, in edge order."""
        onto = ontology or get_ontology()
        store = self[LOCATED_AT]
        out = []
        for (f, r), ex, sev, ch in zip(
            store.edge_index.t().tolist(), store.existence.tolist(), store.severity.tolist(), store.change.tolist()
        ):
            out.append(
                Triplet(
                    region=onto.region(r).name,
                    finding=onto.finding(f).name,
                    existence=onto.label_name("existence", ex),
                    severity=onto.label_name("severity", sev),
                    change=onto.label_name("change", ch),
                )
            )
        return out

    def positive_findings(self, ontology: Ontology | None = None) -> list[str]:
        """Names of the findings whose report-level existence is *present*."""
        onto = ontology or get_ontology()
        return [onto.finding(int(i)).name for i in (self[FINDING].existence == 1).nonzero().flatten()]

    def equals(self, other: HeteroData) -> bool:
        """Exact equality of every node, edge and graph-level attribute (dtypes included)."""
        if set(self.node_types) != set(other.node_types) or set(self.edge_types) != set(other.edge_types):
            return False
        pairs = [(self[k], other[k]) for k in (*self.node_types, *self.edge_types)]
        pairs.append((self._global_store, other._global_store))
        for mine, theirs in pairs:
            if set(mine.keys()) != set(theirs.keys()):
                return False
            for key, value in mine.items():
                there = theirs[key]
                if isinstance(value, torch.Tensor):
                    if not isinstance(there, torch.Tensor) or value.dtype != there.dtype:
                        return False
                    if value.shape != there.shape or not torch.equal(value, there):
                        return False
                elif value != there:
                    return False
        return True

    # ------------------------------------------------------------------ checks
    def validate(self, ontology: Ontology | None = None) -> ClinicalGraph:
        """Check the schema; raise :class:`GraphValidationError` naming the offending field.

        Returns the graph itself so calls can be chained.
        """
        onto = ontology or get_ontology()
        num_r, num_f = onto.num_regions, onto.num_findings
        for node_type, n in ((ANATOMY, num_r), (FINDING, num_f)):
            if node_type not in self.node_types:
                raise GraphValidationError(f"[{node_type!r}]", "node type missing")
            got = self[node_type].num_nodes
            if got != n:
                raise GraphValidationError(f"[{node_type!r}].num_nodes", f"expected {n}, got {got}")
            x = self[node_type].get("x")
            if x is not None:
                _check_tensor(f"[{node_type!r}].x", x, dims=2, rows=n, floating=True)
        a = self[ANATOMY]
        _check_tensor("['anatomy'].present", a.get("present"), dims=1, rows=num_r, dtype=torch.bool)
        _check_tensor("['anatomy'].has_box", a.get("has_box"), dims=1, rows=num_r, dtype=torch.bool)
        _check_tensor("['anatomy'].box", a.get("box"), dims=2, rows=num_r, cols=4, floating=True, finite=False)
        boxes = a.box[a.has_box]
        if boxes.numel():
            if not torch.isfinite(boxes).all():
                raise GraphValidationError("['anatomy'].box", "a box marked has_box holds NaN or inf")
            if (boxes < -1e-6).any() or (boxes > 1 + 1e-6).any():
                raise GraphValidationError("['anatomy'].box", "coordinates must be normalised to [0, 1]")
            if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
                raise GraphValidationError("['anatomy'].box", "boxes must be xyxy with x2 >= x1 and y2 >= y1")
        f = self[FINDING]
        _check_tensor("['finding'].existence", f.get("existence"), dims=1, rows=num_f, dtype=torch.long)
        _check_range("['finding'].existence", f.existence, -1, len(onto.labels["existence"]))
        _check_tensor("['finding'].severity", f.get("severity"), dims=1, rows=num_f, dtype=torch.long)
        _check_range("['finding'].severity", f.severity, 0, len(onto.labels["severity"]))
        for edge_type in EDGE_TYPES:
            name = str(edge_type)
            if edge_type not in self.edge_types:
                raise GraphValidationError(name, "edge type missing")
            ei = self[edge_type].get("edge_index")
            if not isinstance(ei, torch.Tensor) or ei.dim() != 2 or ei.size(0) != 2:
                raise GraphValidationError(f"{name}.edge_index", "must be a LongTensor of shape [2, E]")
            if ei.dtype != torch.long:
                raise GraphValidationError(f"{name}.edge_index", f"dtype must be torch.long, got {ei.dtype}")
            src_n = num_r if edge_type[0] == ANATOMY else num_f
            dst_n = num_r if edge_type[2] == ANATOMY else num_f
            _check_range(f"{name}.edge_index[0]", ei[0], 0, src_n)
            _check_range(f"{name}.edge_index[1]", ei[1], 0, dst_n)
        e = self[LOCATED_AT]
        num_e = e.edge_index.size(1)
        for attr, kind in (("existence", "existence"), ("severity", "severity"), ("change", "change")):
            field = f"{LOCATED_AT}.{attr}"
            _check_tensor(field, e.get(attr), dims=1, rows=num_e, dtype=torch.long)
            _check_range(field, e[attr], 0, len(onto.labels[kind]))
        version = self.get("ontology_version") if hasattr(self, "ontology_version") else None
        if isinstance(version, str) and version != onto.version:
            raise GraphValidationError(
                "ontology_version", f"graph was built with ontology {version}, this ontology is {onto.version}"
            )
        return self


def _anatomy_fields(
    boxes: torch.Tensor | Sequence[Sequence[float]] | None,
    present: torch.Tensor | Sequence[bool] | None,
    num_r: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if boxes is None:
        box = torch.zeros(num_r, 4)
        has_box = torch.zeros(num_r, dtype=torch.bool)
    else:
        box = torch.as_tensor(boxes, dtype=torch.float32).clone()
        if box.shape != (num_r, 4):
            raise GraphValidationError("boxes", f"expected shape ({num_r}, 4), got {tuple(box.shape)}")
        has_box = torch.isfinite(box).all(dim=1)
        box[~has_box] = 0.0
    if present is None:
        pres = torch.ones(num_r, dtype=torch.bool)
    else:
        pres = torch.as_tensor(present, dtype=torch.bool).clone()
        if pres.shape != (num_r,):
            raise GraphValidationError("present", f"expected shape ({num_r},), got {tuple(pres.shape)}")
    return pres, box, has_box


def _check_tensor(
    field: str,
    value: Any,
    *,
    dims: int,
    rows: int,
    cols: int | None = None,
    dtype: torch.dtype | None = None,
    floating: bool = False,
    finite: bool = True,
) -> None:
    if value is None:
        raise GraphValidationError(field, "missing")
    if not isinstance(value, torch.Tensor):
        raise GraphValidationError(field, f"must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != dims or value.size(0) != rows or (cols is not None and value.size(1) != cols):
        want = f"[{rows}{', ' + str(cols) if cols is not None else ''}{', ...' if dims == 2 and cols is None else ''}]"
        raise GraphValidationError(field, f"expected shape {want}, got {list(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise GraphValidationError(field, f"dtype must be {dtype}, got {value.dtype}")
    if floating:
        if not value.is_floating_point():
            raise GraphValidationError(field, f"must be floating point, got {value.dtype}")
        if finite and not torch.isfinite(value).all():
            bad = (~torch.isfinite(value)).nonzero()[0].tolist()
            raise GraphValidationError(field, f"holds NaN or inf (first at index {bad})")


def _check_range(field: str, value: torch.Tensor, low: int, high: int) -> None:
    if value.numel() == 0:
        return
    lo, hi = int(value.min()), int(value.max())
    if lo < low or hi >= high:
        bad = lo if lo < low else hi
        raise GraphValidationError(field, f"value {bad} out of range [{low}, {high})")
