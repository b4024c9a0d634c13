"""``GraphAlignModel``: image and report graph encoders plus the chosen alignment losses."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.graph.schema import ADJACENT_TO, ANATOMY, FINDING, LOCATED_AT, MODIFY, PART_OF, SUGGESTIVE_OF
from cxrgraph.models.batch import AlignBatch, report_text_inputs
from cxrgraph.models.config import GraphAlignConfig
from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.utils.atomic import atomic_write

__all__ = ["GraphAlignModel", "GraphAlignOutput", "CONFIG_FILE", "WEIGHTS_FILE", "load_checkpoint"]

log = logging.getLogger(__name__)

#: File names written by :meth:`GraphAlignModel.save_pretrained`.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"
_FORMAT = 1


@dataclass
class GraphAlignOutput:
    """What :meth:`GraphAlignModel.forward` returns.

    Attributes:
        loss: Weighted sum of the active losses.
        losses: Each active loss, unweighted (detached copies are safe to log).
        image: Image-side embeddings.
        text: Text-side embeddings.
    """

    loss: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    image: GraphEmbeddings | None = None
    text: GraphEmbeddings | None = None


def _ontology_anatomy_edges() -> dict[tuple[str, str, str], Tensor]:
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    part = torch.tensor(onto.part_of_pairs(), dtype=torch.long).view(-1, 2).t()
    adj = torch.tensor(onto.adjacent_pairs(), dtype=torch.long).view(-1, 2).t()
    return {PART_OF: part, ADJACENT_TO: adj}


def _batch_edges(edge_index: Tensor, num_graphs: int, num_src: int, num_dst: int) -> Tensor:
    """Repeat one graph's ``[2, E]`` edges for ``num_graphs`` graphs with dense node offsets."""
    offs = torch.arange(num_graphs, device=edge_index.device)
    src = (edge_index[0].unsqueeze(0) + offs.unsqueeze(1) * num_src).reshape(-1)
    dst = (edge_index[1].unsqueeze(0) + offs.unsqueeze(1) * num_dst).reshape(-1)
    return torch.stack([src, dst])


class GraphAlignModel(nn.Module):
    r"""Graph-centric image–report pretraining model.

    The image side runs a CNN / ViT backbone, pools one feature per anatomical region with
    RoIAlign on the given boxes and builds the image graph with
    :class:`~cxrgraph.nn.ImageGraphEncoder` (region nodes, finding nodes from the image-tag
    decoder, located_at edge scores). The text side encodes the parsed report with
    :class:`~cxrgraph.nn.TextGraphEncoder`. An optional graph encoder, shared by both sides,
    refines the nodes by message passing (residual) and adds a graph readout to the summary:

    * text graph edges: the report's located_at and suggestive_of edges;
    * image graph edges: each finding to the region its decoder attention scores highest
      (the image has no report at test time, so its own predicted located_at edges are used);
    * both sides: the ontology's part_of and adjacent_to anatomy edges.

    Losses with a positive weight in ``config.loss_weights`` are built and summed:
    ``global`` (:class:`~cxrgraph.align.GlobalInfoNCELoss` on the summaries), ``cascade``
    (:class:`~cxrgraph.align.CascadingAlignment`), ``region_sentence``
    (:class:`~cxrgraph.align.RegionSentenceAlignment`), ``image_tag``
    (:class:`~cxrgraph.align.ImageTagLoss`), ``soft_label``
    (:class:`~cxrgraph.align.SoftLabelContrastiveLoss`), ``pathology``
    (:class:`~cxrgraph.align.PathologyAlignment`) and ``patch_correlation``
    (:class:`~cxrgraph.align.PatchCorrelationLoss`).

    Args:
        config: A :class:`GraphAlignConfig` or a dict of its fields.

    Shapes:
        - **input:** an :class:`~cxrgraph.models.AlignBatch`
        - **output:** :class:`GraphAlignOutput`; :meth:`embed_images` / :meth:`embed_reports`
          give ``[B, D]`` embeddings.
    """

    def __init__(self, config: GraphAlignConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        from cxrgraph.image.features import RegionFeatureExtractor
        from cxrgraph.nn import ImageGraphEncoder, TextGraphEncoder
        from cxrgraph.ontology import get_ontology

        if config is None:
            config = GraphAlignConfig()
        elif isinstance(config, dict):
            config = GraphAlignConfig.from_dict(config)
        self.config = config
        onto = get_ontology()
        self.num_regions = onto.num_regions
        self.num_findings = onto.num_findings
        d = config.channels

        self.extractor = RegionFeatureExtractor(
            config.backbone,
            weights=config.backbone_weights,
            image_size=config.image_size,
            output_size=config.roi_output_size,
        )
        channels = self.extractor.out_channels
        grid = -(-config.image_size // self.extractor.stride)
        self.num_patches = grid * grid
        self.image_encoder = ImageGraphEncoder(
            channels,
            channels,
            d,
            num_regions=self.num_regions,
            num_findings=self.num_findings,
            heads=config.decoder_heads,
            num_layers=config.decoder_layers,
            dropout=config.dropout,
        )
        self.text_encoder = TextGraphEncoder(
            config.text_model,
            out_channels=d,
            num_regions=self.num_regions,
            num_findings=self.num_findings,
            max_length=config.max_length,
            freeze_backbone=config.freeze_text,
        )

        self.graph_encoder: nn.Module | None = None
        self.graph_readout: nn.Module | None = None
        if config.graph_encoder == "euclidean":
            from cxrgraph.nn import HeteroGraphEncoder

            self.graph_encoder = HeteroGraphEncoder(
                d, d, d, num_layers=config.graph_layers, conv=config.graph_conv, dropout=config.dropout
            )
        elif config.graph_encoder == "hyperbolic":
            from cxrgraph.nn import HyperbolicGraphEncoder

            self.graph_encoder = HyperbolicGraphEncoder(
                d,
                d,
                d,
                num_layers=config.graph_layers,
                c=config.curvature,
                learn_curvature=config.learn_curvature,
                dropout=config.dropout,
            )
        if self.graph_encoder is not None:
            self.graph_readout = nn.Linear(d, d)
            for key, ei in _ontology_anatomy_edges().items():
                self.register_buffer(f"_edges_{key[1]}", ei, persistent=False)

        self.losses = nn.ModuleDict(self._build_losses(config))
        self.weights = config.active_losses
        self._sentence_cache: _SentenceCache | None = None
        if config.freeze_text:
            # a frozen transformer in eval mode is a pure function of the sentence: encode each once
            self._sentence_cache = _SentenceCache(self.text_encoder)
            self.text_encoder.encode_sentences = self._sentence_cache  # type: ignore[method-assign]
        self.train()

    def train(self, mode: bool = True) -> GraphAlignModel:
        """Set train / eval mode; a frozen text transformer always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.config.freeze_text:
            self.text_encoder.backbone.eval()
        return self

    # ------------------------------------------------------------------ construction
    def _build_losses(self, config: GraphAlignConfig) -> dict[str, nn.Module]:
        from cxrgraph import align

        t = config.init_temperature
        d = config.channels
        out: dict[str, nn.Module] = {}
        for name in config.active_losses:
            if name == "global":
                out[name] = align.GlobalInfoNCELoss(t)
            elif name == "cascade":
                out[name] = align.CascadingAlignment(
                    d,
                    self.num_regions,
                    self.num_findings,
                    stage_weights=config.cascade_stage_weights,
                    curriculum=config.cascade_curriculum,
                    init_temperature=t,
                )
            elif name == "region_sentence":
                out[name] = align.RegionSentenceAlignment(t)
            elif name == "image_tag":
                out[name] = align.ImageTagLoss()
            elif name == "soft_label":
                out[name] = align.SoftLabelContrastiveLoss(config.soft_label_alpha, t)
            elif name == "pathology":
                out[name] = align.PathologyAlignment(d, self.num_findings, config.decoder_heads, t)
            elif name == "patch_correlation":
                out[name] = align.PatchCorrelationLoss(d, self.num_patches, config.decoder_heads)
        return out

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{self.__class__.__name__}(backbone={c.backbone!r}, channels={c.channels}, "
            f"graph_encoder={c.graph_encoder!r}, losses={list(self.weights)})"
        )

    @property
    def device(self) -> torch.device:
        return self.image_encoder.region_proj.weight.device

    # ------------------------------------------------------------------ image side
    def region_features(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Backbone feature map ``[B, C, h, w]`` and RoIAligned region features ``[B, R, C]``."""
        fmap = self.extractor.feature_map(images)
        boxes = torch.as_tensor(boxes, device=fmap.device)
        if boxes.shape != (fmap.size(0), self.num_regions, 4):
            raise ValueError(f"boxes: expected [{fmap.size(0)}, {self.num_regions}, 4], got {list(boxes.shape)}")
        return fmap, self.extractor.pool(fmap, boxes, present)

    def encode_image(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> GraphEmbeddings:
        """Image graph embeddings of ``[B, 1, H, W]`` images with normalised ``[B, R, 4]`` boxes."""
        fmap, regions = self.region_features(images, boxes, present)
        emb = self.image_encoder(regions, fmap, region_mask=present)
        if self.graph_encoder is not None:
            num_b = emb.anatomy.size(0)
            route = emb.edge_logits.detach().argmax(-1)  # [B, K]: each finding's best region
            k = torch.arange(self.num_findings, device=route.device).expand(num_b, -1)
            b = torch.arange(num_b, device=route.device).unsqueeze(1).expand_as(route)
            located = torch.stack([(b * self.num_findings + k).reshape(-1), (b * self.num_regions + route).reshape(-1)])
            emb = self._graph_refine(emb, located, None)
        return emb

    # ------------------------------------------------------------------ text side
    def encode_text(
        self,
        sentences: list[list[str]],
        region_sentence_mask: Tensor,
        mentions: Tensor,
        existence: Tensor | None = None,
        located_at: Tensor | None = None,
        suggestive_of: Tensor | None = None,
    ) -> GraphEmbeddings:
        """Report graph embeddings (see :class:`~cxrgraph.models.AlignBatch` for the inputs)."""
        emb = self.text_encoder(sentences, region_sentence_mask, mentions, existence)
        if self.graph_encoder is not None:
            num_b = emb.anatomy.size(0)
            if located_at is None:
                located = torch.empty(2, 0, dtype=torch.long, device=emb.anatomy.device)
            else:
                b, k, r = (located_at.to(emb.anatomy.device) >= 0).nonzero(as_tuple=True)
                located = torch.stack([b * self.num_findings + k, b * self.num_regions + r])
            sugg = None
            if suggestive_of is not None and suggestive_of.numel():
                s = suggestive_of.to(emb.anatomy.device)
                sugg = torch.stack([s[:, 0] * self.num_findings + s[:, 1], s[:, 0] * self.num_findings + s[:, 2]])
            emb = self._graph_refine(emb, located, sugg)
            assert emb.batch_size == num_b
        return emb

    def _graph_refine(self, emb: GraphEmbeddings, located: Tensor, suggestive: Tensor | None) -> GraphEmbeddings:
        assert self.graph_encoder is not None and self.graph_readout is not None
        num_b, num_r, num_k = emb.anatomy.size(0), self.num_regions, self.num_findings
        d = emb.anatomy.size(-1)
        x_dict = {ANATOMY: emb.anatomy.reshape(num_b * num_r, d), FINDING: emb.finding.reshape(num_b * num_k, d)}
        edges = {
            PART_OF: _batch_edges(self._edges_part_of, num_b, num_r, num_r),
            ADJACENT_TO: _batch_edges(self._edges_adjacent_to, num_b, num_r, num_r),
            LOCATED_AT: located,
        }
        # every edge type is always given (empty when absent), so every relation's parameters
        # take part in each step, as DDP without find_unused_parameters requires
        empty = located.new_empty((2, 0))
        edges[SUGGESTIVE_OF] = suggestive if suggestive is not None else empty
        edges[MODIFY] = empty
        if self.config.graph_encoder == "hyperbolic":
            out = self.graph_encoder.forward_hetero(x_dict, edges)
            # losses and heads are Euclidean: read the ball through the tangent space at the origin
            out = {t: self.graph_encoder.to_tangent(v) for t, v in out.items()}
        else:
            out = self.graph_encoder(x_dict, edges)
        anatomy = emb.anatomy + out[ANATOMY].view(num_b, num_r, d)
        finding = emb.finding + out[FINDING].view(num_b, num_k, d)
        readout = torch.cat([out[ANATOMY].view(num_b, num_r, d), out[FINDING].view(num_b, num_k, d)], 1).mean(1)
        summary = self.graph_readout(readout)
        if emb.summary is not None:
            summary = emb.summary + summary
        return emb.replace(anatomy=anatomy, finding=finding, summary=summary)

    # ------------------------------------------------------------------ training
    def forward(self, batch: AlignBatch, epoch: int | None = None) -> GraphAlignOutput:
        """Encode both sides of a batch and compute the weighted sum of the active losses."""
        if len(batch) < 2:
            raise ValueError(f"batch: contrastive losses need at least 2 studies, got {len(batch)}")
        img = self.encode_image(batch.images, batch.boxes, batch.present)
        txt = self.encode_text(
            batch.sentences,
            batch.region_sentence_mask,
            batch.mentions,
            batch.existence,
            batch.located_at,
            batch.suggestive_of,
        )
        located = batch.located_at.to(img.anatomy.device)
        existence = batch.existence.to(img.anatomy.device)
        losses: dict[str, Tensor] = {}
        for name, loss in self.losses.items():
            if name == "global":
                losses[name] = loss(img.summary, txt.summary)
            elif name == "cascade":
                losses[name] = loss(img, txt, located, epoch=epoch).loss
            elif name == "region_sentence":
                losses[name] = loss(img.anatomy, txt.tokens, txt.token_region_mask, txt.token_mask, img.anatomy_mask)
            elif name == "image_tag":
                losses[name] = loss(img.finding_logits, existence)
            elif name == "soft_label":
                losses[name] = loss(img.summary, txt.summary, located)
            elif name == "pathology":
                losses[name] = loss(img.tokens, txt.finding, txt.finding_mask)
            elif name == "patch_correlation":
                losses[name] = loss(img.tokens, txt.tokens, txt.token_mask)
        total = sum(
            (self.weights[k] * v.float() for k, v in losses.items()),
            start=img.summary.new_zeros((), dtype=torch.float32),
        )
        return GraphAlignOutput(loss=total, losses=losses, image=img, text=txt)

    # ------------------------------------------------------------------ embeddings
    @torch.no_grad()
    def embed_images(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> Tensor:
        """Frozen image embeddings ``[B, D]`` (the summary the global losses align)."""
        return self.encode_image(images, boxes, present).summary

    @torch.no_grad()
    def embed_reports(self, reports: list[Any], located_from_graph: bool = True) -> Tensor:
        """Report embeddings ``[B, D]`` of parsed report graphs (e.g. from :func:`cxrgraph.text.parse_report`)."""
        if not reports:
            return torch.empty(0, self.config.channels, device=self.device)
        sentences, mask, mentions = report_text_inputs(reports, self.num_regions)
        existence = torch.stack([g[FINDING].existence.long().view(-1) for g in reports])
        located = None
        if located_from_graph:
            located = torch.full((len(reports), self.num_findings, self.num_regions), -1, dtype=torch.long)
            for b, g in enumerate(reports):
                st = g[LOCATED_AT]
                if st.edge_index.numel():
                    located[b, st.edge_index[0], st.edge_index[1]] = st.existence.long()
        return self.encode_text(sentences, mask, mentions, existence, located).summary

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> Tensor:
        """Report embeddings ``[B, D]`` of raw texts (parsed with the rules backend)."""
        from cxrgraph.text import parse_report

        return self.embed_reports([parse_report(t) for t in texts])

    @torch.no_grad()
    def embed_batch(self, batch: AlignBatch) -> tuple[Tensor, Tensor]:
        """``(image, report)`` embeddings ``[B, D]`` of a collated batch."""
        img = self.embed_images(batch.images.to(self.device), batch.boxes, batch.present)
        txt = self.encode_text(
            batch.sentences,
            batch.region_sentence_mask,
            batch.mentions,
            batch.existence,
            batch.located_at,
            batch.suggestive_of,
        ).summary
        return img, txt

    @staticmethod
    def similarity(image: Tensor, report: Tensor) -> Tensor:
        """Cosine similarity ``[N_image, N_report]``."""
        return F.normalize(image.float(), dim=-1) @ F.normalize(report.float(), dim=-1).t()

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.pt`` (a plain state dict) into folder ``path``, atomically."""
        from cxrgraph.ontology import get_ontology

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "model": type(self).__name__,
            "ontology_version": get_ontology().version,
            "config": self.config.to_dict(),
        }
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        _atomic(folder / WEIGHTS_FILE, lambda fh: torch.save(state, fh), "wb")
        _atomic(folder / CONFIG_FILE, lambda fh: fh.write(json.dumps(meta, indent=2, sort_keys=True)), "w")
        return folder

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> GraphAlignModel:
        """Load a model saved by :meth:`save_pretrained`, or a Lightning checkpoint of
        :class:`~cxrgraph.train.GraphAlignPretrainer` (``.ckpt``), with ``weights_only=True``."""
        config, state = load_checkpoint(path, map_location)
        model = cls(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: checkpoint does not fit the model built from its config "
                f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
            )
        return model


class _SentenceCache:
    """Memoised :meth:`TextGraphEncoder.encode_sentences` for a frozen transformer.

    Templated reports repeat sentences, so most lookups hit. Entries are kept unpadded on the
    CPU and re-padded per call; at most ``max_entries`` sentences are kept (later ones are
    encoded every time).
    """

    def __init__(self, encoder: nn.Module, max_entries: int = 100_000) -> None:
        self.encode = type(encoder).encode_sentences.__get__(encoder)
        self.encoder = encoder
        self.max_entries = max_entries
        self.entries: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

    def __call__(self, sentences: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        missing = list(dict.fromkeys(s for s in sentences if s not in self.entries))
        fresh: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        if missing:
            with torch.no_grad():
                states, attn, offsets, _ = self.encode(missing)
            for i, s in enumerate(missing):
                n = int(attn[i].sum())
                fresh[s] = (states[i, :n].detach().cpu(), offsets[i, :n].cpu(), _mean_pool(states[i, :n]).cpu())
            if len(self.entries) < self.max_entries:
                self.entries.update(fresh)
        rows = [self.entries.get(s) or fresh[s] for s in sentences]
        device = self.encoder.device
        longest = max(r[0].size(0) for r in rows)
        hidden = rows[0][0].size(1)
        states = torch.zeros(len(rows), longest, hidden)
        offsets = torch.zeros(len(rows), longest, 2, dtype=torch.long)
        attn = torch.zeros(len(rows), longest, dtype=torch.bool)
        for i, (st, off, _) in enumerate(rows):
            states[i, : st.size(0)] = st
            offsets[i, : off.size(0)] = off
            attn[i, : st.size(0)] = True
        pooled = torch.stack([r[2] for r in rows])
        return states.to(device), attn.to(device), offsets.to(device), pooled.to(device)


def _mean_pool(states: Tensor) -> Tensor:
    return states.mean(0)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[GraphAlignConfig, dict[str, Tensor]]:
    """``(config, state_dict)`` of a :meth:`GraphAlignModel.save_pretrained` folder or a Lightning ``.ckpt``.

    Everything is read with ``torch.load(weights_only=True)``: no pickled code runs.
    """
    from cxrgraph.ontology import get_ontology

    p = Path(path)
    if p.is_dir():
        cfg_path, w_path = p / CONFIG_FILE, p / WEIGHTS_FILE
        if not cfg_path.is_file() or not w_path.is_file():
            raise FileNotFoundError(f"{p}: expected {CONFIG_FILE} and {WEIGHTS_FILE} (written by save_pretrained)")
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{cfg_path}: checkpoint format {meta.get('format')}, this cxrgraph reads {_FORMAT}")
        version = get_ontology().version
        if meta.get("ontology_version") != version:
            log.warning(
                "%s was saved with ontology %s, the current one is %s", p, meta.get("ontology_version"), version
            )
        state = torch.load(w_path, map_location=map_location, weights_only=True)
        return GraphAlignConfig.from_dict(meta["config"]), state
    if p.is_file():
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
        hp = ckpt.get("hyper_parameters") or {}
        if "state_dict" not in ckpt or "model_config" not in hp:
            raise ValueError(f"{p}: not a GraphAlignPretrainer checkpoint (no state_dict / model_config)")
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        return GraphAlignConfig.from_dict(hp["model_config"]), state
    raise FileNotFoundError(f"{p}: no such checkpoint file or folder")


def _atomic(path: Path, write: Any, mode: str) -> None:
    with atomic_write(path, mode) as fh:
        write(fh)
