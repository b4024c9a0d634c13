"""Report parsing entry points: :func:`parse_report`, :func:`parse_reports`, :func:`assertion`."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch

from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.mentions import FINDING, REGION, Mention, get_matcher
from cxrgraph.text.modifiers import get_modifier_finder
from cxrgraph.text.report_graph import ReportGraph, ReportMention, ReportTriplet
from cxrgraph.text.rules import read_sentence
from cxrgraph.text.sections import DEFAULT_SECTIONS, select_sections, split_sections
from cxrgraph.text.sentences import split_sentences

__all__ = ["parse_report", "parse_reports", "assertion", "BACKENDS"]

log = logging.getLogger(__name__)

#: Parsing backends.
BACKENDS = ("rules", "stanza")


def _check_text(text: Any, what: str = "report text") -> str:
    if text is None:
        raise TypeError(f"{what} is None; expected str")
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{what} is {type(text).__name__}; decode it to str first (e.g. data.decode('utf-8'))")
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, got {type(text).__name__}")
    return text


def parse_report(
    text: str,
    backend: str = "rules",
    *,
    sections: Sequence[str] | None = DEFAULT_SECTIONS,
    ontology: Ontology | None = None,
    document: Any = None,
    **graph_attrs: Any,
) -> ReportGraph:
    """Parse one radiology report into a :class:`ReportGraph`.

    Args:
        text: The report (MIMIC-CXR style with headers, or free text).
        backend: ``"rules"`` (default: fast, no model) or ``"stanza"`` (dependency-based
            attachment; needs stanza's English models, see :mod:`cxrgraph.text.stanza_backend`).
        sections: Canonical section names to parse (default findings + impression; ``None`` =
            every section). A report with none of them falls back to its last section.
        ontology: The ontology (default: the packaged one).
        document: For ``backend="stanza"``: an already processed stanza ``Document`` of
            ``text`` (skips running the pipeline).
        **graph_attrs: Graph-level attributes stored on the graph, e.g. ``id="CXR1"``.

    Returns:
        The report's graph; an empty graph (with a warning) for a report with no content.

    Raises:
        TypeError: ``text`` is not a ``str`` (``None``, ``bytes``...).
        ValueError: Unknown backend.
    """
    text = _check_text(text)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    onto = ontology or get_ontology()
    if not text.strip():
        warnings.warn("empty report text: returning an empty graph", UserWarning, stacklevel=2)
        return _empty(onto, ["empty report"], graph_attrs)
    spans = _sentence_spans(text, sections)
    if not spans:
        warnings.warn(
            "report has no text to parse (only headers?): returning an empty graph", UserWarning, stacklevel=2
        )
        return _empty(onto, ["no report body"], graph_attrs)
    if backend == "stanza":
        from cxrgraph.text.stanza_backend import parse_with_stanza

        return parse_with_stanza(text, spans, document=document, ontology=onto, **graph_attrs)
    return _build(_read_rules(text, spans, onto), onto, graph_attrs)


def _sentence_spans(text: str, sections: Sequence[str] | None) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for sec in select_sections(split_sections(text), sections):
        spans.extend(split_sentences(sec.text, offset=sec.start))
    return spans


def _empty(onto: Ontology, errors: list[str], graph_attrs: dict[str, Any]) -> ReportGraph:
    return ReportGraph.build(
        [],
        sentences=[],
        sentence_spans=[],
        mentions=[],
        region_sentences=torch.zeros((0, onto.num_regions), dtype=torch.bool),
        errors=errors,
        ontology=onto,
        **graph_attrs,
    )


_NAMES: dict[int, tuple] = {}


def _names(onto: Ontology) -> tuple:
    hit = _NAMES.get(id(onto))
    if hit is None or hit[0] is not onto:
        hit = _NAMES[id(onto)] = (
            onto,
            onto.region_names,
            onto.finding_names,
            {n: i for i, n in enumerate(onto.labels["existence"])},
            {n: i for i, n in enumerate(onto.labels["severity"])},
            {n: i for i, n in enumerate(onto.labels["change"])},
        )
    return hit[1:]


def _read_rules(text: str, spans: list[tuple[int, int]], onto: Ontology) -> dict[str, Any]:
    """Everything the rules backend reads from a report, as :meth:`ReportGraph.build` arguments.

    Plain Python objects (the region-sentence matrix as a ``bytearray``): a worker process sends
    this back far faster than a pickled graph, whose ``HeteroData`` stores cost milliseconds.
    """
    sentences = [text[a:b] for a, b in spans]
    triplets: list[ReportTriplet] = []
    codes: list[tuple[int, int, int, int, int]] = []
    mentions: list[ReportMention] = []
    suggest: list[tuple[int, int]] = []
    num_regions = onto.num_regions
    rows = bytearray(len(spans) * num_regions)  # region_sentences, row-major
    region_names, finding_names, ex_code, sev_code, ch_code = _names(onto)
    for si, ((a, _b), sent) in enumerate(zip(spans, sentences)):
        regions, findings, suggestive = read_sentence(sent, onto)
        for r, start, end in regions:
            mentions.append(ReportMention(REGION, region_names[r], si, (a + start, a + end)))
            rows[si * num_regions + r] = 1
        suggest.extend(suggestive)
        for f, start, end, existence, severity, change, f_regions, explicit in findings:
            span = (a + start, a + end)
            mentions.append(ReportMention(FINDING, finding_names[f], si, span))
            ex, sev, ch = ex_code[existence], sev_code[severity], ch_code[change]
            for r in f_regions:
                if explicit:
                    rows[si * num_regions + r] = 1
                codes.append((f, r, ex, sev, ch))
                triplets.append(
                    ReportTriplet(region_names[r], finding_names[f], existence, severity, change, si, span, explicit)
                )
    return {
        "report_triplets": triplets,
        "sentences": sentences,
        "sentence_spans": spans,
        "mentions": mentions,
        "region_sentences": rows,
        "suggestive_of": suggest,
        "codes": codes,
    }


def _build(reading: dict[str, Any], onto: Ontology, graph_attrs: dict[str, Any]) -> ReportGraph:
    """The graph of a :func:`_read_rules` reading."""
    rows = reading["region_sentences"]
    region_rows = torch.frombuffer(rows, dtype=torch.bool).view(len(reading["sentences"]), onto.num_regions)
    return ReportGraph.build(**{**reading, "region_sentences": region_rows}, ontology=onto, **graph_attrs)


def assertion(sentence: str, start: int, end: int, *, ontology: Ontology | None = None) -> str:
    """Existence of the concept at ``sentence[start:end]``: ``"present"``, ``"absent"`` or ``"uncertain"``.

    The negation / uncertainty logic of the rules backend on its own, for any concept span
    (not only ontology concepts), e.g. to evaluate it on the NegEx test kit.

    Raises:
        TypeError: ``sentence`` is not a str.
        ValueError: The span is out of range or empty.
    """
    sentence = _check_text(sentence, "sentence")
    if not (0 <= start < end <= len(sentence)):
        raise ValueError(f"span ({start}, {end}) is not a non-empty span of a {len(sentence)}-character sentence")
    onto = ontology or get_ontology()
    finder = get_modifier_finder(onto)
    found: list[Mention] = get_matcher(onto).find(sentence)
    blocked = [(m.start, m.end) for m in found if m.end <= start or m.start >= end]
    blocked.append((start, end))
    return finder.analyse(sentence, [(start, end)], blocked=blocked)[0].existence


def _items(texts: Iterable[str] | Mapping[str, str], ids: Sequence[str] | None) -> Iterator[tuple[str, Any]]:
    if isinstance(texts, Mapping):
        yield from ((str(k), v) for k, v in texts.items())
        return
    if ids is not None:
        ids = list(ids)
    for i, t in enumerate(texts):
        yield (str(ids[i]) if ids is not None else str(i)), t


def _parse_one(item: tuple[str, Any, dict[str, Any]]) -> ReportGraph:
    rid, text, kwargs = item
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse_report(text, id=rid, **kwargs)
    except (TypeError, ValueError) as err:
        log.warning("report %s skipped: %s", rid, err)
        onto = kwargs.get("ontology") or get_ontology()
        return _empty(onto, [f"{type(err).__name__}: {err}"], {"id": rid})


def _read_one(item: tuple[str, Any, dict[str, Any]]) -> tuple[str, dict[str, Any] | ReportGraph]:
    """Worker side of :func:`parse_reports`: the rules reading of a report, else its graph."""
    rid, text, kwargs = item
    if isinstance(text, str) and text.strip() and kwargs.get("backend", "rules") == "rules" and set(kwargs) <= _PLAIN:
        onto = kwargs.get("ontology") or get_ontology()
        spans = _sentence_spans(text, kwargs.get("sections", DEFAULT_SECTIONS))
        if spans:
            return rid, _read_rules(text, spans, onto)
    return rid, _parse_one(item)


# parse_report options under which a worker may send a reading instead of a graph
_PLAIN = frozenset(("backend", "sections", "ontology"))


def parse_reports(
    texts: Iterable[str] | Mapping[str, str],
    *,
    ids: Sequence[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    chunksize: int = 64,
    **kwargs: Any,
) -> list[ReportGraph]:
    """Parse a corpus; a bad report is recorded, never fatal.

    Args:
        texts: Report texts, or a mapping ``id -> text``.
        ids: Report ids (default: the position, or the mapping's keys).
        workers: Processes to use (``1`` = in this process).
        progress: Show a progress bar (needs ``tqdm``).
        chunksize: Reports per task sent to a worker.
        **kwargs: Passed to :func:`parse_report` (``backend``, ``sections``, ...).

    Returns:
        One graph per report, in input order, each with its ``id``. A report that could not be
        parsed (wrong type, no content) gives an empty graph whose ``errors`` say why.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    items = [(rid, t, kwargs) for rid, t in _items(texts, ids)]
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), unit="report", desc="parse")
        except ImportError:  # pragma: no cover - tqdm ships with the torch stack
            log.info("tqdm is not installed: no progress bar")
    out: list[ReportGraph] = []
    try:
        if workers == 1 or len(items) < 2 * chunksize:
            for item in items:
                out.append(_parse_one(item))
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            onto = kwargs.get("ontology") or get_ontology()
            with mp.get_context("spawn" if _torch_threads_unsafe() else "fork").Pool(workers) as pool:
                for rid, result in pool.imap(_read_one, items, chunksize=chunksize):
                    out.append(result if isinstance(result, ReportGraph) else _build(result, onto, {"id": rid}))
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out


def _torch_threads_unsafe() -> bool:
    import sys

    return sys.platform != "linux"
