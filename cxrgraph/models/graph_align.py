"""``GraphAlignModel``: image and report graph encoders plus the chosen alignment losses."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.align.base import AlignTargets
from cxrgraph.graph.anatomy import anatomy_edges
from cxrgraph.graph.schema import ADJACENT_TO, ANATOMY, FINDING, LOCATED_AT, MODIFY, PART_OF, SUGGESTIVE_OF
from cxrgraph.models.batch import AlignBatch, located_at_codes, report_text_inputs
from cxrgraph.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint, save_checkpoint
from cxrgraph.models.config import GraphAlignConfig
from cxrgraph.models.registry import class_path_of, import_object, is_class_spec, resolve_module
from cxrgraph.models.text_cache import SentenceMemo
from cxrgraph.nn.hyperbolic import HyperbolicGraphEncoder
from cxrgraph.nn.outputs import GraphEmbeddings

__all__ = ["GraphAlignModel", "GraphAlignOutput", "CONFIG_FILE", "WEIGHTS_FILE", "load_checkpoint"]

log = logging.getLogger(__name__)


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
    refines the nodes by message passing (residual):

    * text graph edges: the report's located_at edges (with their existence, severity and change)
      and suggestive_of edges;
    * image graph edges: each finding to the region its decoder attention scores highest, with
      the decoder's existence call as the edge's existence (the image has no report at test time);
    * both sides: the ontology's part_of and adjacent_to anatomy edges.

    **The image embedding is the image graph's readout** (attention pooling over its anatomy and
    finding nodes after the graph encoder), so what node, edge and graph alignment put into the
    graph is what retrieval, zero-shot and linear probes read. The report embedding is the text
    graph's readout plus the mean of its sentence embeddings.

    Losses with a positive weight in ``config.loss_weights`` are built and summed:
    ``global`` (:class:`~cxrgraph.align.GlobalInfoNCELoss` on the summaries), ``cascade``
    (:class:`~cxrgraph.align.CascadingAlignment`), ``region_sentence``
    (:class:`~cxrgraph.align.RegionSentenceAlignment`), ``image_tag``
    (:class:`~cxrgraph.align.ImageTagLoss`, with the triplet location term), ``soft_label``
    (:class:`~cxrgraph.align.SoftLabelContrastiveLoss`), ``pathology``
    (:class:`~cxrgraph.align.PathologyAlignment`) and ``patch_correlation``
    (:class:`~cxrgraph.align.PatchCorrelationLoss`).

    With a frozen text transformer, a batch that carries stored text features
    (:func:`~cxrgraph.models.attach_text_features`) never runs the transformer.

    Args:
        config: A :class:`GraphAlignConfig` or a dict of its fields.

    Shapes:
        - **input:** an :class:`~cxrgraph.models.AlignBatch`
        - **output:** :class:`GraphAlignOutput`; :meth:`embed_images` / :meth:`embed_reports`
          give ``[B, D]`` embeddings, :meth:`locate_findings` ``[B, K, R]`` region scores.
    """

    def __init__(
        self,
        config: GraphAlignConfig | dict[str, Any] | None = None,
        graph_encoder: nn.Module | None = None,
        losses: Mapping[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        from cxrgraph.image.features import RegionFeatureExtractor
        from cxrgraph.nn import AttentionReadout, ImageGraphEncoder, TextGraphEncoder
        from cxrgraph.ontology import get_ontology

        values = config.to_dict() if isinstance(config, GraphAlignConfig) else dict(config or {})
        # module instances are recorded by class; init_args None: the config alone cannot rebuild them
        if graph_encoder is not None:
            values["graph_encoder"] = {"class_path": class_path_of(graph_encoder), "init_args": None}
        if losses:
            values["custom_losses"] = dict(values.get("custom_losses") or {})
            values["loss_weights"] = dict(values.get("loss_weights") or {"global": 1.0})
            for name, module in losses.items():
                values["custom_losses"][name] = {"class_path": class_path_of(module), "init_args": None}
                values["loss_weights"].setdefault(name, 1.0)
        config = GraphAlignConfig.from_dict(values)
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
        self.text_readout = AttentionReadout(d, d, config.decoder_heads)

        self.graph_encoder = self._build_graph_encoder(config, graph_encoder)
        if self.graph_encoder is not None:
            for key, ei in anatomy_edges().items():
                self.register_buffer(f"_edges_{key[1]}", ei, persistent=False)
        self._batched_edges: dict[tuple[int, str], dict[tuple[str, str, str], Tensor]] = {}

        self.losses = nn.ModuleDict(self._build_losses(config, losses or {}))
        self.weights = {name: config.loss_weights.get(name, 1.0) for name in self.losses}
        self._sentence_cache: SentenceMemo | None = None
        if config.freeze_text:
            # a frozen transformer in eval mode is a pure function of the sentence: encode each once
            self._sentence_cache = SentenceMemo(self.text_encoder)
            self.text_encoder.encode_sentences = self._sentence_cache  # type: ignore[method-assign]
        self.train()

    def train(self, mode: bool = True) -> GraphAlignModel:
        """Set train / eval mode; a frozen text transformer always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.config.freeze_text:
            self.text_encoder.backbone.eval()
        return self

    # ------------------------------------------------------------------ construction
    def _build_graph_encoder(self, config: GraphAlignConfig, instance: nn.Module | None) -> nn.Module | None:
        from cxrgraph.nn import HeteroGraphEncoder, HyperbolicGraphEncoder

        d = config.channels
        if instance is not None:
            return instance
        if config.graph_encoder is None:
            return None
        conv: Any = config.graph_conv
        if is_class_spec(conv):
            conv_cls, conv_args = import_object(conv["class_path"]), dict(conv.get("init_args") or {})

            def conv(channels: int, metadata: Any) -> nn.Module:
                return conv_cls(channels, metadata, **conv_args)

        choices = {
            "euclidean": lambda: HeteroGraphEncoder(
                d, d, d, num_layers=config.graph_layers, conv=conv, dropout=config.dropout
            ),
            "hyperbolic": lambda: HyperbolicGraphEncoder(
                d,
                d,
                d,
                num_layers=config.graph_layers,
                c=config.curvature,
                learn_curvature=config.learn_curvature,
                dropout=config.dropout,
            ),
        }
        spec = config.graph_encoder
        if is_class_spec(spec) and spec.get("init_args", {}) is None:
            raise ValueError(
                f"graph_encoder: this model was built with a {spec['class_path']} instance; pass the instance "
                "again (GraphAlignModel(config, graph_encoder=...), from_pretrained(path, graph_encoder=...))"
            )
        return resolve_module("graph_encoder", spec, choices)

    def _build_losses(self, config: GraphAlignConfig, instances: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
        from cxrgraph import align

        t = config.init_temperature
        d = config.channels
        choices: dict[str, Any] = {
            "global": lambda: align.GlobalInfoNCELoss(t),
            "cascade": lambda: align.CascadingAlignment(
                d,
                self.num_regions,
                self.num_findings,
                stage_weights=config.cascade_stage_weights,
                curriculum=config.cascade_curriculum,
                init_temperature=t,
            ),
            "region_sentence": lambda: align.RegionSentenceAlignment(t),
            "image_tag": lambda: align.ImageTagLoss(),
            "soft_label": lambda: align.SoftLabelContrastiveLoss(config.soft_label_alpha, t),
            "pathology": lambda: align.PathologyAlignment(d, self.num_findings, config.decoder_heads, t),
            "patch_correlation": lambda: align.PatchCorrelationLoss(d, self.num_patches, config.decoder_heads),
        }
        out: dict[str, nn.Module] = {}
        for name in config.active_losses:
            spec = instances.get(name, config.custom_losses.get(name, name))
            if is_class_spec(spec) and spec.get("init_args", {}) is None:
                raise ValueError(
                    f"loss {name!r}: this model was built with a {spec['class_path']} instance; pass the instance "
                    f"again (losses={{{name!r}: ...}})"
                )
            out[name] = resolve_module(f"loss {name!r}", spec, choices)
        for name, module in out.items():
            if not callable(getattr(module, "align", None)):
                raise ValueError(
                    f"loss {name!r}: {class_path_of(module)} has no align(image, text, targets, epoch) method; "
                    "subclass cxrgraph.align.AlignmentLoss"
                )
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
        if self.graph_encoder is None:
            return self.image_encoder(regions, fmap, region_mask=present)
        emb = self.image_encoder(regions, fmap, region_mask=present, summary=False)
        num_b, num_k, num_r = emb.anatomy.size(0), self.num_findings, self.num_regions
        route = emb.edge_logits.detach()
        if emb.anatomy_mask is not None:
            route = route.masked_fill(~emb.anatomy_mask.unsqueeze(1), float("-inf"))
        route = route.argmax(-1)  # [B, K]: each finding's best region
        k = torch.arange(num_k, device=route.device).expand(num_b, -1)
        b = torch.arange(num_b, device=route.device).unsqueeze(1).expand_as(route)
        located = torch.stack([(b * num_k + k).reshape(-1), (b * num_r + route).reshape(-1)])
        # the decoder's existence call is the edge's existence; severity and change are unknown
        attr = torch.zeros(located.size(1), 3, dtype=torch.long, device=route.device)
        attr[:, 0] = (emb.finding_logits.detach() > 0).long().reshape(-1)
        emb = self._graph_refine(emb, located, attr, None)
        return emb.replace(summary=self.image_encoder.readout(emb.anatomy, emb.finding, emb.anatomy_mask))

    @torch.no_grad()
    def locate_findings(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> Tensor:
        """``[B, K, R]`` where the image graph puts each finding (see :meth:`region_scores`)."""
        return self.region_scores(self.encode_image(images, boxes, present))

    @staticmethod
    def region_scores(image: GraphEmbeddings) -> Tensor:
        """``[B, K, R]`` softmax over the image's present regions of its located_at scores: the
        regions its graph links each finding to."""
        logits = image.edge_logits.float()
        if image.anatomy_mask is not None:
            present = image.anatomy_mask.bool()
            logits = logits.masked_fill(~(present | ~present.any(1, keepdim=True)).unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1)

    # ------------------------------------------------------------------ text side
    def encode_text(
        self,
        sentences: list[list[str]],
        region_sentence_mask: Tensor,
        mentions: Tensor,
        existence: Tensor | None = None,
        located_at: Tensor | None = None,
        suggestive_of: Tensor | None = None,
        located_severity: Tensor | None = None,
        located_change: Tensor | None = None,
        features: tuple[Tensor, Tensor] | None = None,
    ) -> GraphEmbeddings:
        """Report graph embeddings (see :class:`~cxrgraph.models.AlignBatch` for the inputs).

        ``features`` are the batch's stored ``(sentence, mention)`` text features; given, the text
        transformer does not run.
        """
        emb = self.text_encoder(sentences, region_sentence_mask, mentions, existence, features=features)
        if self.graph_encoder is not None:
            device = emb.anatomy.device
            if located_at is None:
                located = torch.empty(2, 0, dtype=torch.long, device=device)
                attr = torch.empty(0, 3, dtype=torch.long, device=device)
            else:
                located_at = located_at.to(device)
                b, k, r = (located_at >= 0).nonzero(as_tuple=True)
                located = torch.stack([b * self.num_findings + k, b * self.num_regions + r])
                sev = located_severity.to(device)[b, k, r] if located_severity is not None else torch.zeros_like(b)
                chg = located_change.to(device)[b, k, r] if located_change is not None else torch.zeros_like(b)
                attr = torch.stack([located_at[b, k, r], sev, chg], dim=1)
            sugg = None
            if suggestive_of is not None and suggestive_of.numel():
                sg = suggestive_of.to(device)
                sugg = torch.stack([sg[:, 0] * self.num_findings + sg[:, 1], sg[:, 0] * self.num_findings + sg[:, 2]])
            emb = self._graph_refine(emb, located, attr, sugg)
        nodes = torch.cat([emb.anatomy, emb.finding], dim=1)
        return emb.replace(summary=emb.summary + self.text_readout(nodes))

    def _anatomy_edges(self, num_b: int, device: torch.device) -> dict[tuple[str, str, str], Tensor]:
        """The ontology's anatomy edges repeated for a batch of ``num_b`` graphs (built once per size)."""
        key = (num_b, str(device))
        edges = self._batched_edges.get(key)
        if edges is None:
            r = self.num_regions
            edges = {
                PART_OF: _batch_edges(self._edges_part_of.to(device), num_b, r, r),
                ADJACENT_TO: _batch_edges(self._edges_adjacent_to.to(device), num_b, r, r),
            }
            if len(self._batched_edges) > 8:
                self._batched_edges.clear()
            self._batched_edges[key] = edges
        return edges

    def _graph_refine(
        self, emb: GraphEmbeddings, located: Tensor, located_attr: Tensor, suggestive: Tensor | None
    ) -> GraphEmbeddings:
        assert self.graph_encoder is not None
        num_b, num_r, num_k = emb.anatomy.size(0), self.num_regions, self.num_findings
        d = emb.anatomy.size(-1)
        x_dict = {ANATOMY: emb.anatomy.reshape(num_b * num_r, d), FINDING: emb.finding.reshape(num_b * num_k, d)}
        edges = dict(self._anatomy_edges(num_b, located.device))
        edges[LOCATED_AT] = located
        # every edge type is always given (empty when absent), so every relation's parameters
        # take part in each step, as DDP without find_unused_parameters requires
        empty = located.new_empty((2, 0))
        edges[SUGGESTIVE_OF] = suggestive if suggestive is not None else empty
        edges[MODIFY] = empty
        attrs = {LOCATED_AT: located_attr}
        if isinstance(self.graph_encoder, HyperbolicGraphEncoder):
            # losses and heads are Euclidean: read the ball through the tangent space at the origin
            out = self.graph_encoder.forward_hetero(x_dict, edges, attrs, tangent=True)
        else:
            out = self.graph_encoder(x_dict, edges, attrs)
            for t, n in ((ANATOMY, num_b * num_r), (FINDING, num_b * num_k)):
                got = out.get(t) if isinstance(out, Mapping) else None
                if got is None or tuple(got.shape) != (n, d):
                    raise ValueError(
                        f"graph_encoder {class_path_of(self.graph_encoder)}: expected {{{t!r}: [{n}, {d}]}} from "
                        f"gnn(x_dict, edge_index_dict, edge_attr_dict), got {None if got is None else list(got.shape)}"
                    )
        anatomy = emb.anatomy + out[ANATOMY].view(num_b, num_r, d)
        finding = emb.finding + out[FINDING].view(num_b, num_k, d)
        return emb.replace(anatomy=anatomy, finding=finding)

    # ------------------------------------------------------------------ training
    def encode_batch(self, batch: AlignBatch) -> tuple[GraphEmbeddings, GraphEmbeddings]:
        """Image and report graph embeddings of a collated batch."""
        img = self.encode_image(batch.images, batch.boxes, batch.present)
        txt = self.encode_text(
            batch.sentences,
            batch.region_sentence_mask,
            batch.mentions,
            batch.existence,
            batch.located_at,
            batch.suggestive_of,
            batch.located_severity,
            batch.located_change,
            features=batch.text_features,
        )
        return img, txt

    def forward(self, batch: AlignBatch, epoch: int | None = None) -> GraphAlignOutput:
        """Encode both sides of a batch and compute the weighted sum of the active losses."""
        if len(batch) < 2:
            raise ValueError(f"batch: contrastive losses need at least 2 studies, got {len(batch)}")
        img, txt = self.encode_batch(batch)
        targets = AlignTargets(batch.existence.to(img.anatomy.device), batch.located_at.to(img.anatomy.device))
        losses = {name: loss.align(img, txt, targets, epoch=epoch) for name, loss in self.losses.items()}
        total = sum(
            (self.weights[k] * v.float() for k, v in losses.items()),
            start=img.summary.new_zeros((), dtype=torch.float32),
        )
        return GraphAlignOutput(loss=total, losses=losses, image=img, text=txt)

    # ------------------------------------------------------------------ embeddings
    @torch.no_grad()
    def embed_images(self, images: Tensor, boxes: Tensor, present: Tensor | None = None) -> Tensor:
        """Frozen image embeddings ``[B, D]``: the image graph's readout."""
        return self.encode_image(images, boxes, present).summary

    @torch.no_grad()
    def embed_reports(self, reports: list[Any], located_from_graph: bool = True) -> Tensor:
        """Report embeddings ``[B, D]`` of parsed report graphs (e.g. from :func:`cxrgraph.text.parse_report`)."""
        if not reports:
            return torch.empty(0, self.config.channels, device=self.device)
        sentences, mask, mentions = report_text_inputs(reports, self.num_regions)
        existence = torch.stack([g[FINDING].existence.long().view(-1) for g in reports])
        located = severity = change = None
        if located_from_graph:
            codes = [located_at_codes(g, self.num_findings, self.num_regions) for g in reports]
            located, severity, change = (torch.stack(c) for c in zip(*codes))
        return self.encode_text(sentences, mask, mentions, existence, located, None, severity, change).summary

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> Tensor:
        """Report embeddings ``[B, D]`` of raw texts (parsed with the rules backend)."""
        from cxrgraph.text import parse_report

        return self.embed_reports([parse_report(t) for t in texts])

    @torch.no_grad()
    def embed_batch(self, batch: AlignBatch) -> tuple[Tensor, Tensor]:
        """``(image, report)`` embeddings ``[B, D]`` of a collated batch."""
        img, txt = self.encode_batch(batch.to(self.device))
        return img.summary, txt.summary

    @staticmethod
    def similarity(image: Tensor, report: Tensor) -> Tensor:
        """Cosine similarity ``[N_image, N_report]``."""
        return F.normalize(image.float(), dim=-1) @ F.normalize(report.float(), dim=-1).t()

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.pt`` (a plain state dict) into folder ``path``, atomically."""
        return save_checkpoint(self, self.config, path)

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        map_location: str | torch.device = "cpu",
        graph_encoder: nn.Module | None = None,
        losses: Mapping[str, nn.Module] | None = None,
    ) -> GraphAlignModel:
        """Load a model saved by :meth:`save_pretrained`, or a Lightning checkpoint of
        :class:`~cxrgraph.train.GraphAlignPretrainer` (``.ckpt``), with ``weights_only=True``.

        A model built with module instances (not names or ``class_path`` specs) needs the same
        instances again: its weights are in the checkpoint, its constructor arguments are not.
        """
        config, state = load_checkpoint(path, map_location)
        try:
            model = cls(config, graph_encoder=graph_encoder, losses=losses)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: checkpoint does not fit the model built from its config "
                f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
            )
        return model
