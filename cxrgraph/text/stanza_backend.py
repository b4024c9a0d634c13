"""The ``stanza`` backend: dependency-based attachment and modifier scope over a stanza ``Document``.

Mentions come from the same ontology matcher as the rules backend; the dependency tree then
decides (1) negation and uncertainty: a finding is absent when its head word, or a word it is
conjoined with, governs a negation (``det``/``advmod`` "no", ``neg``, "without" as ``case``), or
when the head hangs below a negated predicate ("is not seen"); it is uncertain when a governor
carries a modal (``aux`` "may", "could") or is a hedging predicate ("suggest", "possible"); and
(2) location: a region attaches to the finding it is linked to through the tree (a region's
``nmod``/``amod``/``compound`` path to a finding's head); regions with no tree link fall back to
the rules backend's nearest-finding rule. Everything the tree does not settle (severity,
change, laterality words) is read as in the rules backend.

The pipeline needs stanza's English ``mimic`` package with the ``radiology`` NER model, which
a user downloads once; nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from cxrgraph.ontology import Ontology
from cxrgraph.text.mentions import FINDING, REGION, get_matcher, mention_term
from cxrgraph.text.modifiers import ABSENT, PRESENT, UNCERTAIN, get_modifier_finder
from cxrgraph.text.reading import ReportMention, ReportTriplet
from cxrgraph.text.relations import attach, suggestive_pairs
from cxrgraph.text.report_graph import ReportGraph
from cxrgraph.text.rules import merge_alternatives

__all__ = ["make_pipeline", "parse_with_stanza", "default_model_dir", "StanzaModelsMissing"]

_NEGATORS = frozenset({"no", "not", "without", "never", "neither", "nor", "n't", "absent", "free"})
_MODALS = frozenset({"may", "might", "could", "can", "would"})
_HEDGES = frozenset(
    {
        "possible",
        "possibly",
        "suggest",
        "suggestive",
        "suspicious",
        "concern",
        "concerning",
        "question",
        "questionable",
        "equivocal",
        "exclude",
        "represent",
        "reflect",
        "suspect",
        "suspected",
    }
)
# Predicates that interpret a seen abnormality: their subject is seen, their object is hedged
# ("opacity may represent atelectasis").
_INTERPRET = frozenset({"represent", "reflect", "suggest", "indicate", "mean", "relate", "favor"})
_LOCATION_RELS = frozenset({"nmod", "amod", "compound", "obl", "nmod:poss", "appos", "acl"})


class StanzaModelsMissing(RuntimeError):
    """Stanza's English radiology models are not installed where cxrgraph looks."""


def default_model_dir() -> Path:
    """``$CXRGRAPH_STANZA_DIR``, else ``$STANZA_RESOURCES_DIR``, else ``~/stanza_resources``."""
    for var in ("CXRGRAPH_STANZA_DIR", "STANZA_RESOURCES_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path.home() / "stanza_resources"


def make_pipeline(model_dir: str | os.PathLike | None = None, *, use_gpu: bool = False) -> Any:
    """A stanza English pipeline (``mimic`` package, ``radiology`` NER) from local files only.

    Args:
        model_dir: Stanza resources folder (default :func:`default_model_dir`).
        use_gpu: Run the models on a GPU.

    Raises:
        ImportError: stanza is not installed.
        StanzaModelsMissing: The models are not in ``model_dir``; the message says how to
            download them once.
    """
    try:
        import stanza
    except ImportError as err:  # pragma: no cover - stanza is a declared dependency
        raise ImportError("the stanza backend needs stanza: pip install stanza") from err
    root = Path(model_dir) if model_dir is not None else default_model_dir()
    needed = [root / "resources.json", root / "en" / "tokenize" / "mimic.pt", root / "en" / "ner" / "radiology.pt"]
    missing = [p for p in needed if not p.exists()]
    if missing:
        raise StanzaModelsMissing(
            f"stanza's English radiology models are not in {root} (missing: "
            + ", ".join(str(p.relative_to(root)) for p in missing)
            + "). Download them once, with network access, by running:\n"
            f"    python -c \"import stanza; stanza.download('en', package='mimic', "
            f"processors={{'ner': 'radiology'}}, model_dir='{root}')\"\n"
            "or point CXRGRAPH_STANZA_DIR (or model_dir=) at a folder that holds them."
        )
    return stanza.Pipeline(
        "en",
        dir=str(root),
        package="mimic",
        processors={"tokenize": "mimic", "pos": "mimic", "lemma": "mimic", "depparse": "mimic", "ner": "radiology"},
        download_method=None,
        use_gpu=use_gpu,
        logging_level="WARN",
    )


_PIPELINE: dict[str, Any] = {}


def _pipeline() -> Any:
    key = str(default_model_dir())
    if key not in _PIPELINE:
        _PIPELINE[key] = make_pipeline()
    return _PIPELINE[key]


class _Tree:
    """Word-level view of one stanza sentence with character offsets into the report."""

    def __init__(self, sentence: Any) -> None:
        words = list(sentence.words)
        self.ids = [w.id for w in words]
        self.text = [(w.text or "").lower() for w in words]
        self.lemma = [(w.lemma or w.text or "").lower() for w in words]
        self.head = {w.id: int(w.head or 0) for w in words}
        self.rel = {w.id: (w.deprel or "").lower() for w in words}
        self.children: dict[int, list[int]] = {}
        for w in words:
            self.children.setdefault(int(w.head or 0), []).append(w.id)
        self.span = {}
        for w in words:
            start, end = w.start_char, w.end_char
            if start is None and w.parent is not None:
                start, end = w.parent.start_char, w.parent.end_char
            self.span[w.id] = (start, end)
        self.index = {w.id: i for i, w in enumerate(words)}

    def words_in(self, start: int, end: int) -> list[int]:
        return [i for i, (a, b) in self.span.items() if a is not None and a < end and b > start]

    def head_of(self, ids: list[int]) -> int | None:
        """The word of ``ids`` whose governor lies outside them."""
        inside = set(ids)
        for i in ids:
            if self.head[i] not in inside:
                return i
        return ids[0] if ids else None

    def governors(self, i: int, limit: int = 6) -> list[int]:
        out, cur = [], self.head.get(i, 0)
        while cur and len(out) < limit:
            out.append(cur)
            cur = self.head.get(cur, 0)
        return out

    def has_negator(self, i: int) -> bool:
        for c in self.children.get(i, ()):
            rel, lem = self.rel[c], self.lemma[self.index[c]]
            if lem in _NEGATORS and rel in ("det", "advmod", "neg", "case", "cc:preconj", "amod", "cc"):
                return True
        return False

    def has_hedge(self, i: int) -> bool:
        if self.lemma[self.index[i]] in _HEDGES:
            return True
        for c in self.children.get(i, ()):
            lem = self.lemma[self.index[c]]
            if (self.rel[c] == "aux" and lem in _MODALS) or (lem in _HEDGES and self.rel[c] in ("amod", "advmod")):
                return True
        return False


def _tree_existence(tree: _Tree, head: int) -> str | None:
    """Existence read from the tree, or ``None`` when the tree says nothing."""
    # the mention, and the first conjunct of a list it belongs to ("no A, B or C")
    chain = [head]
    cur = head
    while tree.rel.get(cur) == "conj" and tree.head.get(cur):
        cur = tree.head[cur]
        chain.append(cur)
    if any(tree.has_negator(i) for i in chain):
        return ABSENT
    top = chain[-1]
    for g in tree.governors(top, limit=3):
        if tree.has_negator(g) and tree.rel.get(top) in ("nsubj", "nsubj:pass", "obj", "obl", "nmod"):
            return ABSENT
        if tree.rel.get(top, "").startswith("nsubj") and tree.lemma[tree.index[g]] in _INTERPRET:
            return PRESENT
        if tree.has_hedge(g):
            return UNCERTAIN
    if any(tree.has_hedge(i) for i in chain):
        return UNCERTAIN
    return None


def parse_with_stanza(
    text: str,
    spans: list[tuple[int, int]],
    *,
    document: Any = None,
    ontology: Ontology,
    **graph_attrs: Any,
) -> ReportGraph:
    """Parse ``text`` with a stanza ``Document`` (run the pipeline when ``document`` is None).

    Sentences are stanza's, restricted to the chosen sections (``spans`` from the section
    and sentence stages); offsets are the document's character offsets into ``text``.
    """
    if document is None:
        document = _pipeline()(text)
    if getattr(document, "text", None) not in (None, text):
        raise ValueError("the stanza document was not made from this report text")
    onto = ontology
    matcher, finder = get_matcher(onto), get_modifier_finder(onto)
    region_names, finding_names = onto.region_names, onto.finding_names
    sentences: list[str] = []
    sent_spans: list[tuple[int, int]] = []
    triplets: list[ReportTriplet] = []
    mentions: list[ReportMention] = []
    suggest: list[tuple[int, int]] = []
    pairs: set[tuple[int, int]] = set()
    for sent in document.sentences:
        tree = _Tree(sent)
        offsets = [s for s in tree.span.values() if s[0] is not None]
        if not offsets:
            continue
        a, b = min(s[0] for s in offsets), max(s[1] for s in offsets)
        if not any(s0 <= a < s1 for s0, s1 in spans):
            continue
        si = len(sentences)
        sent_text = text[a:b]
        sentences.append(sent_text)
        sent_spans.append((a, b))
        found = matcher.find(sent_text)
        findings = [m for m in found if m.kind == FINDING]
        for m in found:
            if m.kind == REGION:
                mentions.append(
                    ReportMention(REGION, region_names[m.value], si, (a + m.start, a + m.end), mention_term(m.text))
                )
                pairs.add((si, m.value))
        if not findings:
            continue
        mods = finder.analyse(
            sent_text, [(m.start, m.end) for m in findings], blocked=[(m.start, m.end) for m in found]
        )
        if len(findings) > 1:
            findings, mods, found = merge_alternatives(sent_text, matcher, findings, mods, found)
        heads = {}
        for m in findings:
            ids = tree.words_in(a + m.start, a + m.end)
            heads[id(m)] = tree.head_of(ids) if ids else None
        located = {id(att.mention): att for att in attach(sent_text, found, onto)}
        # tree links override the nearest-finding rule for named regions
        for r in (m for m in found if m.kind == REGION):
            ids = tree.words_in(a + r.start, a + r.end)
            rh = tree.head_of(ids) if ids else None
            if rh is None:
                continue
            path = [rh, *tree.governors(rh, limit=3)]
            target = next((f for f in findings if heads[id(f)] in path[1:]), None)
            if target is None:
                target = next(
                    (f for f in findings if heads[id(f)] is not None and rh in tree.governors(heads[id(f)], 2)), None
                )
            if target is None or tree.rel.get(rh) not in _LOCATION_RELS | {"nsubj", "obj"}:
                continue
            for att in located.values():
                if r.value in att.regions and att.mention is not target and att.explicit:
                    att.regions = [x for x in att.regions if x != r.value] or onto_defaults(onto, att.mention.value)
                    att.explicit = bool(att.regions) and att.explicit
            tgt = located[id(target)]
            if not tgt.explicit:
                tgt.regions, tgt.explicit = [], True
            if r.value not in tgt.regions:
                tgt.regions.append(r.value)
        for i, j in suggestive_pairs(sent_text, findings):
            suggest.append((findings[i].value, findings[j].value))
            src, dst = located[id(findings[i])], located[id(findings[j])]
            if src.explicit and not dst.explicit:
                dst.regions, dst.explicit = list(src.regions), True
        for m, mod in zip(findings, mods):
            h = heads[id(m)]
            existence = (_tree_existence(tree, h) if h is not None else None) or mod.existence
            if mod.change == "resolved" and existence == PRESENT:
                existence = ABSENT
            span = (a + m.start, a + m.end)
            att = located[id(m)]
            term = mention_term(m.text)
            mentions.append(ReportMention(FINDING, finding_names[m.value], si, span, term))
            for r in att.regions:
                if att.explicit:
                    pairs.add((si, r))
                triplets.append(
                    ReportTriplet(
                        region_names[r],
                        finding_names[m.value],
                        existence,
                        mod.severity,
                        mod.change,
                        si,
                        span,
                        att.explicit,
                        term,
                    )
                )
    rows = torch.zeros((len(sentences), onto.num_regions), dtype=torch.bool)
    for si, r in pairs:
        rows[si, r] = True
    return ReportGraph.build(
        triplets,
        sentences=sentences,
        sentence_spans=sent_spans,
        mentions=mentions,
        region_sentences=rows,
        suggestive_of=suggest,
        ontology=onto,
        **graph_attrs,
    )


def onto_defaults(onto: Ontology, finding: int) -> list[int]:
    """Default region indices of a finding."""
    return [onto.region_index(r.name) for r in onto.default_regions(finding)]
