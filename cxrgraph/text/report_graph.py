"""``ReportGraph``: a :class:`~cxrgraph.graph.ClinicalGraph` that remembers the report text."""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Sequence
from typing import Any

import torch

from cxrgraph.graph import FINDING, LOCATED_AT, SUGGESTIVE_OF, ClinicalGraph, Triplet
from cxrgraph.graph.clinical_graph import existence_rank
from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.reading import ReportMention, ReportTriplet, suggestive_index_pairs, suggestive_names

__all__ = ["ReportGraph", "ReportTriplet", "ReportMention", "ReportTriplets"]


class ReportTriplets(list):
    """The :class:`ReportTriplet` records of a report graph, in reading order.

    It is a list; calling it (``graph.triplets()``) gives the merged located_at edges as
    :class:`~cxrgraph.graph.Triplet` objects, exactly as :meth:`ClinicalGraph.triplets` does, so
    code written for any clinical graph keeps working on report graphs.
    """

    __slots__ = ("_graph",)

    def __init__(self, items: list[ReportTriplet], graph: ReportGraph) -> None:
        super().__init__(items)
        self._graph = graph

    def __call__(self, ontology: Ontology | None = None) -> list[Triplet]:
        return ClinicalGraph.triplets(self._graph, ontology)


class ReportGraph(ClinicalGraph):
    r"""The graph of one report plus the text it came from.

    Besides the :class:`~cxrgraph.graph.ClinicalGraph` schema it holds (graph-level attributes,
    so PyG batching keeps them as per-graph lists / stacked rows):

    * ``sentences`` (``list[str]``) and ``sentence_spans`` (``list[(start, end)]`` in the report);
    * ``mentions`` (``list[ReportMention]``): every finding and region mention;
    * ``region_sentences`` (bool ``[num_sentences, 29]``): sentence *i* speaks of region *j*
      (a located finding or a named region), for region–sentence alignment;
    * ``report_triplets`` (``list[ReportTriplet]``), exposed as :attr:`triplets`;
    * ``errors`` (``list[str]``): problems met while parsing (empty for a clean parse).

    A graph made by :meth:`build` keeps the parse and creates its PyG stores and tensors on
    first use: parsing a corpus to triplets or JSON never pays for tensors it does not read,
    and a graph that is used behaves exactly like one built eagerly.
    """

    def __getattr__(self, key: str) -> Any:
        if key in _STORE_KEYS:
            if "_pending" not in self.__dict__:
                raise AttributeError(key)
            self._materialise()
            return self.__dict__[key]
        return super().__getattr__(key)

    def _materialise(self) -> None:
        """Create the stores from the pending parse (see :meth:`build`)."""
        d = self.__dict__
        p = d["_pending"]
        _fill_from_codes(self, p["ontology"], p["codes"], p["suggestive_of"])
        del d["_pending"]
        for key, value in p["graph_attrs"].items():
            self[key] = value
        # the global store is fresh (no cached views): fill its mapping directly
        mapping = d["_global_store"]._mapping
        mapping["sentences"] = p["sentences"]
        mapping["sentence_spans"] = p["sentence_spans"]
        mapping["mentions"] = p["mentions"]
        mapping["region_sentences"] = p["region_sentences"]
        mapping["report_triplets"] = p["report_triplets"]
        mapping["errors"] = p["errors"]

    def _parsed(self, key: str) -> Any:
        """A text attribute, read without creating the stores when they are still pending."""
        p = self.__dict__.get("_pending")
        if p is not None:
            return p[key] if key in _TEXT_KEYS else p["graph_attrs"].get(key)
        return self._global_store.get(key)

    def __copy__(self) -> ReportGraph:
        if "_pending" in self.__dict__:
            self._materialise()
        return super().__copy__()

    def __deepcopy__(self, memo: dict) -> ReportGraph:
        if "_pending" in self.__dict__:
            self._materialise()
        return super().__deepcopy__(memo)

    def __getstate__(self) -> dict[str, Any]:
        if "_pending" in self.__dict__:
            self._materialise()
        return self.__dict__

    @property
    def triplets(self) -> ReportTriplets:  # type: ignore[override]
        """Triplets with sentence index and character span (callable: merged edges)."""
        items = list(self._parsed("report_triplets") or [])
        if items and not isinstance(items[0], ReportTriplet):
            # plain tuples: a graph read back from a cache written before named tuples were kept
            items = [ReportTriplet(*t) for t in items]
        return ReportTriplets(items, self)

    @property
    def finding_terms(self) -> list[tuple[str, ...]]:
        """The report's own terms for each finding node, in node order (``K`` entries).

        Entry ``k`` holds the distinct normalised phrases the report used for finding ``k``, in
        reading order (``("calcified granuloma", "granulomas")`` for ``"granuloma"``); a finding the
        report does not mention has ``()``.
        """
        p = self.__dict__.get("_pending")
        onto = p["ontology"] if p is not None else get_ontology()
        out: list[list[str]] = [[] for _ in range(onto.num_findings)]
        for m in self._parsed("mentions") or []:
            if m[0] == FINDING and len(m) > 4 and m[4]:
                terms = out[onto.finding_index(m[1])]
                if m[4] not in terms:
                    terms.append(m[4])
        return [tuple(t) for t in out]

    @classmethod
    def build(
        cls,
        report_triplets: Sequence[ReportTriplet],
        *,
        sentences: Sequence[str],
        sentence_spans: Sequence[tuple[int, int]],
        mentions: Sequence[ReportMention],
        region_sentences: torch.Tensor,
        suggestive_of: Sequence[tuple[str | int, str | int]] = (),
        errors: Sequence[str] | None = None,
        ontology: Ontology | None = None,
        codes: Sequence[tuple[int, int, int, int, int]] | None = None,
        **graph_attrs: Any,
    ) -> ReportGraph:
        """Assemble a report graph (the parser's last step).

        The result equals ``ClinicalGraph.from_triplets`` of the same triplets (same merge
        rules, same tensors) plus the text attributes. The stores are created on first use, from
        a cached empty graph, because the generic constructor's name lookups and store set-up
        cost more than the parse itself.

        Args:
            report_triplets: The triplets with provenance.
            sentences: Sentence texts.
            sentence_spans: Their ``(start, end)`` in the report.
            mentions: Finding and region mentions.
            region_sentences: Bool ``[num_sentences, num_regions]``.
            suggestive_of: ``(finding, finding)`` pairs (names or indices).
            errors: Parse problems to record.
            ontology: The ontology (default: the packaged one).
            codes: ``(finding, region, existence, severity, change)`` integer codes of
                ``report_triplets`` in the same order (computed from the names if omitted).
            **graph_attrs: Graph-level attributes, e.g. ``id="CXR1"``.
        """
        onto = ontology or get_ontology()
        if codes is None:
            codes = [
                (
                    onto.finding_index(t.finding),
                    onto.region_index(t.region),
                    onto.label_index("existence", t.existence),
                    onto.label_index("severity", t.severity),
                    onto.label_index("change", t.change),
                )
                for t in report_triplets
            ]
        g = cls.__new__(cls)
        g.__dict__.update(_template(cls, onto).attrs)
        g.__dict__["_pending"] = {
            "ontology": onto,
            "codes": codes,
            "suggestive_of": suggestive_of,
            "graph_attrs": graph_attrs,
            "sentences": list(sentences),
            "sentence_spans": [tuple(s) for s in sentence_spans],
            "mentions": list(mentions),
            "region_sentences": region_sentences,
            "report_triplets": list(report_triplets),
            "errors": list(errors or []),
        }
        return g

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary: triplets, sentences, errors and graph-level ids."""
        out: dict[str, Any] = {}
        for key in ("id", "study_id"):
            value = self._parsed(key)
            if value is not None:
                out[key] = value
        out["triplets"] = [t.to_dict() for t in self.triplets]
        p = self.__dict__.get("_pending")
        if p is not None:  # the edge_index it would build: sorted, unique
            out["suggestive_of"] = suggestive_names(p["ontology"], p["suggestive_of"])
        else:
            pairs = self["finding", "suggestive_of", "finding"].edge_index.t().tolist()
            out["suggestive_of"] = [[self.ontology_finding_name(a), self.ontology_finding_name(b)] for a, b in pairs]
        out["sentences"] = list(self._parsed("sentences") or [])
        out["errors"] = list(self._parsed("errors") or [])
        return out

    @staticmethod
    def ontology_finding_name(index: int) -> str:
        """Name of finding ``index`` in the packaged ontology."""
        return get_ontology().finding(index).name


_TEMPLATES: dict[tuple[type, int], tuple[Ontology, _Template]] = {}
_RANK = {0: existence_rank(0), 1: existence_rank(1), 2: existence_rank(2)}


def _template(cls: type[ReportGraph], onto: Ontology) -> _Template:
    key = (cls, id(onto))
    hit = _TEMPLATES.get(key)
    if hit is None or hit[0] is not onto:
        hit = _TEMPLATES[key] = (onto, _Template(ClinicalGraph.from_triplets((), ontology=onto)))
    return hit[1]


def _fill_from_codes(
    g: ReportGraph,
    onto: Ontology,
    codes: Sequence[tuple[int, int, int, int, int]],
    suggestive_of: Sequence[tuple[str | int, str | int]],
) -> None:
    """Give ``g`` the stores ``from_triplets`` would build for integer-coded triplets, from the
    ontology's empty template."""
    template = _template(type(g), onto)
    # merge exactly as ClinicalGraph.from_triplets does
    edges: dict[tuple[int, int], list[int]] = {}
    for f, r, ex, sev, ch in codes:
        cur = edges.get((f, r))
        if cur is None:
            edges[(f, r)] = [ex, sev, ch]
            continue
        if _RANK[ex] > _RANK[cur[0]]:
            cur[0] = ex
        if sev > cur[1]:
            cur[1] = sev
        if ch != 0:
            cur[2] = ch
    keys = sorted(edges)
    num_f = onto.num_findings
    existence = [-1] * num_f
    severity = [0] * num_f
    for f, r in keys:
        ex, sev, _ch = edges[(f, r)]
        if existence[f] == -1 or _RANK[ex] > _RANK[existence[f]]:
            existence[f] = ex
        if sev > severity[f]:
            severity[f] = sev

    # the finding node attributes (and, when there are edges, the located_at ones) are
    # replaced below, so they are not cloned
    fresh = {FINDING: ("existence", "severity")}
    if keys:
        fresh[LOCATED_AT] = ("edge_index", "existence", "severity", "change")
    template.fill(g, fresh)
    fstore = g._node_store_dict[FINDING]._mapping
    fstore["existence"] = _long_rows(existence)
    fstore["severity"] = _long_rows(severity)
    if keys:
        store = g._edge_store_dict[LOCATED_AT]._mapping
        store["edge_index"] = _long_rows([f for f, _ in keys] + [r for _, r in keys], 2)
        store["existence"] = _long_rows([edges[key][0] for key in keys])
        store["severity"] = _long_rows([edges[key][1] for key in keys])
        store["change"] = _long_rows([edges[key][2] for key in keys])
    if suggestive_of:
        idx = suggestive_index_pairs(onto, suggestive_of)
        g._edge_store_dict[SUGGESTIVE_OF]._mapping["edge_index"] = _long_rows(
            [a for a, _ in idx] + [b for _, b in idx], 2
        )


def _long_rows(values: list[int], num_rows: int | None = None) -> torch.Tensor:
    """``values`` as a contiguous int64 tensor, ``[len(values)]`` or ``[num_rows, -1]``.

    Goes through an ``array`` buffer: several times faster than ``torch.tensor`` on a list,
    which matters at a few calls per report.
    """
    if not values:
        return torch.empty((0,) if num_rows is None else (num_rows, 0), dtype=torch.long)
    out = torch.frombuffer(array("q", values), dtype=torch.long)
    return out if num_rows is None else out.view(num_rows, -1)


class _Template:
    """The empty graph of an ontology, taken apart once so that copying it is cheap.

    A copy has the same stores as ``copy.copy`` of the graph followed by cloning every tensor,
    without the generic copy machinery (which costs more than parsing a report). Empty tensors
    are shared: they hold no data to mutate. Mirrors ``HeteroData.__copy__`` and
    ``BaseStorage.__copy__``.
    """

    def __init__(self, graph: ClinicalGraph) -> None:
        self.attrs = {k: v for k, v in graph.__dict__.items() if k not in _STORE_KEYS}
        self.global_store = self._recipe(graph._global_store)
        self.node_stores = [(k, self._recipe(v)) for k, v in graph._node_store_dict.items()]
        self.edge_stores = [(k, self._recipe(v)) for k, v in graph._edge_store_dict.items()]

    @staticmethod
    def _recipe(store: Any) -> tuple[type, dict[str, Any], dict[str, Any], list[tuple[str, torch.Tensor]]]:
        attrs = {k: v for k, v in store.__dict__.items() if k not in ("_mapping", "_parent", "_cached_attr")}
        shared = {k: v for k, v in store._mapping.items() if not isinstance(v, torch.Tensor) or v.numel() == 0}
        cloned = [(k, v) for k, v in store._mapping.items() if isinstance(v, torch.Tensor) and v.numel() > 0]
        return store.__class__, attrs, shared, cloned

    @staticmethod
    def _store(recipe: tuple, ref: weakref.ref, skip: tuple[str, ...]) -> Any:
        cls, attrs, shared, cloned = recipe
        new = cls.__new__(cls)
        mapping = dict(shared)
        for k, v in cloned:
            if k not in skip:
                mapping[k] = v.clone()
        nd = new.__dict__
        nd.update(attrs)
        nd["_parent"] = ref
        nd["_mapping"] = mapping
        return new

    def fill(self, out: ClinicalGraph, fresh: dict[Any, tuple[str, ...]]) -> None:
        """Give ``out`` copies of the template's stores; the attributes in ``fresh`` are left to the caller."""
        d = out.__dict__
        d.update(self.attrs)
        ref = weakref.ref(out)
        store = self._store
        d["_global_store"] = store(self.global_store, ref, ())
        d["_node_store_dict"] = {k: store(r, ref, fresh.get(k, ())) for k, r in self.node_stores}
        d["_edge_store_dict"] = {k: store(r, ref, fresh.get(k, ())) for k, r in self.edge_stores}


_STORE_KEYS = ("_global_store", "_node_store_dict", "_edge_store_dict")
# graph-level attributes every report graph has (they win over graph_attrs of the same name)
_TEXT_KEYS = frozenset(("sentences", "sentence_spans", "mentions", "region_sentences", "report_triplets", "errors"))
