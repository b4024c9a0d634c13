"""Report parsing entry points: :func:`parse_report`, :func:`parse_reports`, :func:`assertion`."""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from cxrgraph.ontology import Ontology, get_ontology
from cxrgraph.text.mentions import Mention, get_matcher
from cxrgraph.text.modifiers import get_modifier_finder
from cxrgraph.text.reading import read_rules, report_spans, sentence_spans
from cxrgraph.text.report_graph import ReportGraph
from cxrgraph.text.sections import DEFAULT_SECTIONS, check_section_names
from cxrgraph.text.sentences import MAX_SENTENCE_CHARS

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


# parse_report's options: a graph attribute spelt like one of them is a typo, not an attribute
_OPTIONS = ("backend", "sections", "ontology", "document", "max_sentence_chars")
# graph attributes the parser sets itself
_RESERVED = frozenset(
    (
        "sentences",
        "sentence_spans",
        "mentions",
        "region_sentences",
        "report_triplets",
        "errors",
        "suggestive_of",
        "codes",
    )
)


def _check_options(backend: Any, sections: Any, max_sentence_chars: Any, graph_attrs: Mapping[str, Any]) -> Any:
    """Refuse bad parse options before any text is read; returns the checked ``sections``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if max_sentence_chars is not None and (
        isinstance(max_sentence_chars, bool) or not isinstance(max_sentence_chars, int) or max_sentence_chars < 20
    ):
        raise ValueError(f"max_sentence_chars must be an int >= 20 or None, got {max_sentence_chars!r}")
    for key in graph_attrs:
        if key in _RESERVED:
            raise TypeError(f"{key!r} is set by the parser; it cannot be passed as a graph attribute")
        near = difflib.get_close_matches(key, _OPTIONS, n=1, cutoff=0.85)
        if near:
            raise TypeError(
                f"unexpected option {key!r}: did you mean {near[0]!r}? (other keyword arguments are stored on "
                "the graph as attributes, e.g. id='CXR1')"
            )
    return check_section_names(sections)


def parse_report(
    text: str,
    backend: str = "rules",
    *,
    sections: Sequence[str] | None = DEFAULT_SECTIONS,
    ontology: Ontology | None = None,
    document: Any = None,
    max_sentence_chars: int | None = MAX_SENTENCE_CHARS,
    **graph_attrs: Any,
) -> ReportGraph:
    """Parse one radiology report into a :class:`ReportGraph`.

    Args:
        text: The report (MIMIC-CXR style with headers, or free text).
        backend: ``"rules"`` (default: fast, no model) or ``"stanza"`` (dependency-based
            attachment; needs stanza's English models, see :mod:`cxrgraph.text.stanza_backend`).
        sections: Canonical section names to parse (default findings + impression; ``None`` =
            every section; see :data:`~cxrgraph.text.sections.SECTION_NAMES`). A report with
            none of them falls back to its last section.
        ontology: The ontology (default: the packaged one).
        document: For ``backend="stanza"``: an already processed stanza ``Document`` of
            ``text`` (skips running the pipeline).
        max_sentence_chars: Longest sentence read as one (``None``: no cap). A longer one
            (a run-on list with no full stop) is read in pieces cut at clause breaks; the cut is
            recorded in the graph's ``errors`` and warned about, and no text is dropped. See
            :func:`~cxrgraph.text.sentences.cap_sentences`.
        **graph_attrs: Graph-level attributes stored on the graph, e.g. ``id="CXR1"``.

    Returns:
        The report's graph; an empty graph (with a warning) for a report with no content.

    Raises:
        TypeError: ``text`` is not a ``str`` (``None``, ``bytes``...); ``sections`` is a single
            string; a keyword argument looks like a misspelt option (``section=``).
        ValueError: Unknown backend or section name; a bad ``max_sentence_chars``.
    """
    text = _check_text(text)
    sections = _check_options(backend, sections, max_sentence_chars, graph_attrs)
    onto = ontology or get_ontology()
    spans, notes, problem = report_spans(text, sections, max_sentence_chars)
    if problem is not None:
        return _empty(onto, [problem], graph_attrs)
    if backend == "stanza":
        from cxrgraph.text.stanza_backend import parse_with_stanza

        if notes:
            graph_attrs = {**graph_attrs, "errors": notes}
        return parse_with_stanza(text, spans, document=document, ontology=onto, **graph_attrs)
    return _build(read_rules(text, spans, onto, notes), onto, graph_attrs)


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


def _build(reading: dict[str, Any], onto: Ontology, graph_attrs: dict[str, Any]) -> ReportGraph:
    """The graph of a :func:`~cxrgraph.text.reading.read_rules` reading."""
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


def _items(texts: Iterable[str] | Mapping[str, str], ids: Sequence[str] | None) -> list[tuple[str, Any]]:
    """``(id, text)`` of every report; refuses inputs that would pair texts and ids wrongly."""
    if isinstance(texts, (str, bytes, bytearray)):
        raise TypeError(
            f"texts must be a list of report strings or a mapping id -> text, got one {type(texts).__name__}; "
            "for a single report use parse_report(text) or parse_reports([text])"
        )
    if isinstance(texts, Mapping):
        if ids is not None:
            raise ValueError("ids= cannot be given with a mapping of texts: its keys are the ids")
        return [(str(k), v) for k, v in texts.items()]
    if not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of report strings or a mapping id -> text, got {type(texts).__name__}")
    texts = list(texts)
    if ids is None:
        return [(str(i), t) for i, t in enumerate(texts)]
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"ids must be a sequence of ids, got the string {ids!r}")
    ids = list(ids)
    if len(ids) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(ids)} ids: give one id per text")
    return [(str(i), t) for i, t in zip(ids, texts)]


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
        spans, notes = sentence_spans(
            text, kwargs.get("sections", DEFAULT_SECTIONS), kwargs.get("max_sentence_chars", MAX_SENTENCE_CHARS)
        )
        if spans:
            return rid, read_rules(text, spans, onto, notes)
    return rid, _parse_one(item)


# parse_report options under which a worker may send a reading instead of a graph
_PLAIN = frozenset(("backend", "sections", "ontology", "max_sentence_chars"))


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
        texts: Report texts (a list, not one string), or a mapping ``id -> text``.
        ids: Report ids, one per text (default: the position, or the mapping's keys).
        workers: Processes to use (``1`` = in this process).
        progress: Show a progress bar (needs ``tqdm``).
        chunksize: Reports per task sent to a worker.
        **kwargs: Passed to :func:`parse_report` (``backend``, ``sections``, ...); checked once,
            before any report is parsed.

    Returns:
        One graph per report, in input order, each with its ``id``. A report that could not be
        parsed (wrong type, no content) gives an empty graph whose ``errors`` say why.

    Raises:
        TypeError: ``texts`` is a single string; a misspelt option (``section=``).
        ValueError: ``ids`` and ``texts`` differ in length; a bad option value; ``workers < 1``.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if "id" in kwargs:
        raise TypeError("id= is given per report: pass ids=[...] (or a mapping id -> text)")
    extra = {k: v for k, v in kwargs.items() if k not in _OPTIONS}
    _check_options(
        kwargs.get("backend", "rules"),
        kwargs.get("sections", DEFAULT_SECTIONS),
        kwargs.get("max_sentence_chars", MAX_SENTENCE_CHARS),
        extra,
    )
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
