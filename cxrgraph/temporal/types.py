"""Types of the temporal model: its config, its outputs and the pair inputs its encoder reads.

Split like hi-ml-multimodal's ``image/model/types.py``: the plain data that the region encoder
(:mod:`cxrgraph.temporal.region_encoder`), the model (:mod:`cxrgraph.temporal.model`) and the
feature cache (:mod:`cxrgraph.temporal.features`) pass between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor

from cxrgraph.temporal.manifold import ManifoldOutput
from cxrgraph.utils.config import build

__all__ = [
    "ALIGNMENTS",
    "LEVEL_FEATURES",
    "PairInputs",
    "ProgressionConfig",
    "ProgressionOutput",
    "TemporalRegionOutput",
]

#: size of the severity read-out appended to the change features: both level distributions and
#: the difference of the expected levels
LEVEL_FEATURES = 9

#: how the two studies' regions are compared: on a Poincaré ball, in flat space, or not at all
#: (the plain baseline classifies the concatenated region features)
ALIGNMENTS = ("poincare", "euclidean", "concat")


@dataclass
class PairInputs:
    """One batch of (current, prior) studies as :class:`~cxrgraph.temporal.TemporalRegionEncoder` reads it.

    Either images with their region boxes, or (``features=True``) region features precomputed
    by a frozen backbone, with the region crops the comparator reads.

    Attributes:
        current: Current images ``[B, 1, H, W]``, or region features ``[B, R, C]``.
        previous: Prior images or features of the same shape (``None``: no prior for any row).
        current_boxes: ``[B, R, 4]`` normalised boxes of the current images (images only).
        previous_boxes: Boxes of the prior images (default: ``current_boxes``).
        current_present: ``[B, R]`` bool, the regions with a box in the current study.
        previous_present: Same for the prior study.
        has_previous: ``[B]`` bool, the rows whose prior is real (the stand-in elsewhere).
        current_crops: Precomputed registered region crops ``[B, R, 2, S, S]`` (features only).
        previous_crops: Same for the prior study.
        compare_mask: ``[B, R]`` bool, the regions the comparator reads (default: all).
        features: Whether ``current`` / ``previous`` are region features.
    """

    current: Tensor
    previous: Tensor | None = None
    current_boxes: Tensor | None = None
    previous_boxes: Tensor | None = None
    current_present: Tensor | None = None
    previous_present: Tensor | None = None
    has_previous: Tensor | None = None
    current_crops: Tensor | None = None
    previous_crops: Tensor | None = None
    compare_mask: Tensor | None = None
    features: bool = False

    def __post_init__(self) -> None:
        if not self.features and self.current_boxes is None:
            raise ValueError("current_boxes: images need their region boxes ([B, R, 4], normalised)")
        if self.previous is not None and self.previous.shape != self.current.shape:
            raise ValueError(
                f"previous: shape {list(self.previous.shape)} differs from current {list(self.current.shape)}"
            )

    @property
    def batch_size(self) -> int:
        return int(self.current.size(0))


@dataclass
class TemporalRegionOutput:
    """Region embeddings of a current study and of its prior (or the stand-in).

    Attributes:
        current: ``[B, R, D]``.
        previous: ``[B, R, D]``; the learned stand-in where :attr:`has_previous` is false.
        has_previous: ``[B]`` bool.
        difference: ``[B, R, K]`` change vectors of the region comparator (the learned
            "not compared" vector where a region was not compared); ``None`` without one.
    """

    current: Tensor
    previous: Tensor
    has_previous: Tensor
    difference: Tensor | None = None


@dataclass
class ProgressionConfig:
    """Hyperparameters of :class:`ProgressionModel` (plain values, stored in checkpoints).

    Attributes:
        backbone: Region image backbone (``"crops"``, ``"small"`` or a RegionFeatureExtractor
            name).
        image_size: Image side.
        width: Small CNN base width.
        pixel_grid: Raw pixel grid per region appended to the features (0 = none).
        box_geometry: Append box centre and size to the region features.
        crop_size: Region crop side of the ``"crops"`` backbone.
        embed_channels: Region embedding size ``D``.
        alignment: One of :data:`ALIGNMENTS`.
        hidden_channels: Manifold dimension.
        num_layers: Graph layers over the anatomy graph on the manifold.
        curvature: Initial curvature.
        clip_radius: Tangent clip (units of ``1/sqrt(c)``).
        margin: Alignment margin for changed regions.
        radial_weight: Weight of the radial term of the alignment loss.
        head_hidden: Progression head hidden size.
        dropout: Head dropout.
        beta: Class-balancing beta.
        text_guidance: Use the comparison-sentence guidance loss.
        text_channels: Sentence embedding size (384 for MiniLM).
        align_weight: Weight of the alignment loss.
        text_weight: Weight of the text guidance loss.
        level_weight: Weight of the severity auxiliary: each study's region representation
            (its tangent vector at the origin on the manifold, its embedding for the plain
            baseline) is read out linearly to the level its graph gives the region (0 = off).
        level_features: Append that read-out to the change features: the level distribution of
            the prior and of the current study and the difference of their expected levels. A
            region's label is the sign of its level change, so the head sees the reader's
            estimate of that change directly (needs ``level_weight > 0``; every alignment alike).
        freeze_backbone: Keep the image backbone fixed (e.g. after region pretraining); its
            region features can then be computed once (:meth:`ProgressionModel.encode_studies`).
        compare_channels: Size of the region comparator's change vector, appended to the change
            features of every alignment alike (0 = no comparator). It reads registered region
            crops of both images, which every backbone can give, and is always trained, also
            with a frozen backbone.
        compare_width: Base width of the comparator CNN.
        compare_weight: Weight of the comparator's own progression loss (a linear read-out of its
            change vector, class-balanced like the head), so that it learns the change even
            where the other change features already fit the training pairs (0 = off).
    """

    backbone: str = "crops"
    image_size: int = 128
    width: int = 16
    pixel_grid: int = 6
    box_geometry: bool = True
    crop_size: int = 16
    embed_channels: int = 64
    alignment: str = "poincare"
    hidden_channels: int = 64
    num_layers: int = 0
    curvature: float = 1.0
    clip_radius: float | None = 2.5
    margin: float = 1.0
    radial_weight: float = 1.0
    head_hidden: int = 64
    dropout: float = 0.1
    beta: float = 0.999
    text_guidance: bool = True
    text_channels: int = 384
    align_weight: float = 0.1
    text_weight: float = 0.5
    level_weight: float = 0.5
    level_features: bool = True
    freeze_backbone: bool = False
    compare_channels: int = 32
    compare_width: int = 16
    compare_weight: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment: must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if self.compare_channels < 0:
            raise ValueError(f"compare_channels: must be >= 0, got {self.compare_channels}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON / YAML ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, where: str = "model config") -> ProgressionConfig:
        """Build from a mapping, every key and value type checked (:func:`cxrgraph.utils.config.build`).

        Raises:
            ConfigError: An unknown key (named, with the valid ones) or a value of the wrong type.
        """
        return build(cls, values, where)


@dataclass
class ProgressionOutput:
    """What :class:`ProgressionModel` returns.

    Attributes:
        logits: ``[B, R, 3]`` improved / no change / worsened.
        features: Change features ``[B, R, F]`` fed to the head.
        regions: Region embeddings of both studies.
        manifold: The alignment output (``None`` for the plain baseline).
    """

    logits: Tensor
    features: Tensor
    regions: TemporalRegionOutput
    manifold: ManifoldOutput | None
