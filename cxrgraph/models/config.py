"""``GraphAlignConfig``: everything needed to rebuild a :class:`~cxrgraph.models.GraphAlignModel`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GraphAlignConfig", "LOSS_NAMES", "GRAPH_ENCODERS", "GRAPH_CONVS"]

#: Loss names accepted in :attr:`GraphAlignConfig.loss_weights`.
LOSS_NAMES = (
    "global",  # global image-report InfoNCE
    "cascade",  # cascading anatomy -> pathology -> relation -> graph alignment (CGA)
    "region_sentence",  # ASG anatomical region-sentence alignment
    "image_tag",  # ASG image-tag recognition
    "soft_label",  # ASG triplet-overlap soft-label contrastive loss
    "pathology",  # PLACE pathology-level cross-modal alignment
    "patch_correlation",  # PLACE patch-correlation proxy task
)

#: Graph encoders accepted by name in :attr:`GraphAlignConfig.graph_encoder`.
GRAPH_ENCODERS = (None, "euclidean", "hyperbolic")

#: Convolutions of the Euclidean graph encoder accepted by name in :attr:`GraphAlignConfig.graph_conv`.
GRAPH_CONVS = ("rgcn", "hgt", "gat")


def _is_class_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("class_path"), str)


@dataclass
class GraphAlignConfig:
    """Configuration of :class:`~cxrgraph.models.GraphAlignModel` (plain values only, so it
    round-trips through JSON and YAML).

    Args:
        backbone: Image backbone (see :data:`cxrgraph.image.features.FEATURE_BACKBONES`).
        backbone_weights: ``None`` (random init), a local weights file or a cached weights name.
        image_size: Side images are resized to.
        roi_output_size: RoIAlign grid per region before averaging.
        text_model: Local folder or cached hub name of the text transformer (``None``: the
            offline all-MiniLM-L6-v2).
        freeze_text: Keep the text transformer fixed (its projection head still trains).
        max_length: Token limit per sentence.
        channels: Node embedding size ``D`` of both sides.
        decoder_heads: Heads of the image-tag decoder.
        decoder_layers: Layers of the image-tag decoder.
        graph_encoder: ``None``, ``"euclidean"`` (:class:`~cxrgraph.nn.HeteroGraphEncoder`),
            ``"hyperbolic"`` (:class:`~cxrgraph.nn.HyperbolicGraphEncoder`), or your own module as
            ``{"class_path": "mypkg.MyGNN", "init_args": {...}}``; shared by both sides. Your
            module is called as ``gnn(x_dict, edge_index_dict, edge_attr_dict)`` and returns
            ``{node_type: [N, channels]}`` (see :class:`~cxrgraph.models.GraphAlignModel`).
        graph_layers: Message-passing layers of the graph encoder.
        graph_conv: Convolution of the Euclidean encoder: ``"rgcn"``, ``"hgt"``, ``"gat"``, or
            ``{"class_path": "mypkg.MyConv", "init_args": {...}}`` — a hetero convolution built
            per layer as ``MyConv(hidden_channels, metadata, **init_args)``.
        curvature: Initial curvature of the hyperbolic encoder.
        learn_curvature: Train the curvature.
        loss_weights: Weight of each loss in :data:`LOSS_NAMES` or in ``custom_losses``; a loss
            with weight 0 (or missing) is not built.
        custom_losses: Losses of your own, ``{name: {"class_path": ..., "init_args": {...}}}``,
            each a :class:`~cxrgraph.align.AlignmentLoss`; weighted by ``loss_weights[name]``.
        cascade_stage_weights: Stage weights of the cascade (anatomy, pathology, relation, graph).
        cascade_curriculum: Optional start epoch of each cascade stage.
        soft_label_alpha: Weight of the triplet-overlap targets in the soft-label loss.
        init_temperature: Initial temperature of every contrastive loss.
        dropout: Dropout in the decoder and graph encoder.
    """

    backbone: str = "resnet18"
    backbone_weights: str | None = None
    image_size: int = 224
    roi_output_size: int = 3
    text_model: str | None = None
    freeze_text: bool = False
    max_length: int = 64
    channels: int = 256
    decoder_heads: int = 4
    decoder_layers: int = 1
    graph_encoder: str | dict[str, Any] | None = None
    graph_layers: int = 2
    graph_conv: str | dict[str, Any] = "rgcn"
    curvature: float = 1.0
    learn_curvature: bool = True
    loss_weights: dict[str, float] = field(default_factory=lambda: {"global": 1.0})
    cascade_stage_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    cascade_curriculum: list[int] | None = None
    custom_losses: dict[str, dict[str, Any]] = field(default_factory=dict)
    soft_label_alpha: float = 0.5
    init_temperature: float = 0.07
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, spec in self.custom_losses.items():
            if name in LOSS_NAMES:
                raise ValueError(f"custom_losses: {name!r} is a packaged loss; give your loss another name")
            if not _is_class_spec(spec):
                raise ValueError(
                    f"custom_losses[{name!r}]: expected {{'class_path': ..., 'init_args': {{...}}}}, got {spec!r}"
                )
        known = [*LOSS_NAMES, *self.custom_losses]
        unknown = set(self.loss_weights) - set(known)
        if unknown:
            raise ValueError(f"loss_weights: unknown losses {sorted(unknown)}; choose from {known}")
        bad = {k: v for k, v in self.loss_weights.items() if not float(v) >= 0.0}
        if bad:
            raise ValueError(f"loss_weights: weights must be >= 0, got {bad}")
        if not any(float(v) > 0 for v in self.loss_weights.values()):
            raise ValueError(f"loss_weights: at least one loss needs a positive weight, got {self.loss_weights}")
        if self.graph_encoder not in GRAPH_ENCODERS and not _is_class_spec(self.graph_encoder):
            raise ValueError(
                f"graph_encoder: cannot resolve {self.graph_encoder!r}; choices are {list(GRAPH_ENCODERS)} or "
                "{'class_path': 'mypkg.MyGNN', 'init_args': {...}}"
            )
        if self.graph_conv not in GRAPH_CONVS and not _is_class_spec(self.graph_conv):
            raise ValueError(
                f"graph_conv: cannot resolve {self.graph_conv!r}; choices are {list(GRAPH_CONVS)} or "
                "{'class_path': 'mypkg.MyConv', 'init_args': {...}}"
            )
        if self.channels % 4 or self.channels % self.decoder_heads:
            raise ValueError(f"channels: {self.channels} must be divisible by 4 and by decoder_heads")
        if self.image_size < 32:
            raise ValueError(f"image_size: must be >= 32, got {self.image_size}")
        self.loss_weights = {k: float(v) for k, v in self.loss_weights.items()}
        self.cascade_stage_weights = [float(w) for w in self.cascade_stage_weights]
        if self.cascade_curriculum is not None:
            self.cascade_curriculum = [int(e) for e in self.cascade_curriculum]

    @property
    def active_losses(self) -> dict[str, float]:
        """The losses with a positive weight: packaged ones in :data:`LOSS_NAMES` order, then custom ones."""
        order = [*LOSS_NAMES, *self.custom_losses]
        return {k: self.loss_weights[k] for k in order if self.loss_weights.get(k, 0.0) > 0.0}

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON / YAML ready)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GraphAlignConfig:
        """Build from a dict, naming unknown keys in the error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"model config: unknown keys {sorted(unknown)}; known keys are {sorted(names)}")
        return cls(**dict(values))
