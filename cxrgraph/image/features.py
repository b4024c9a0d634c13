"""``RegionFeatureExtractor``: one feature vector per anatomical region, pooled by RoIAlign.

A backbone turns the image into a feature map; each region box is pooled from it with
:func:`torchvision.ops.roi_align` and averaged to one vector. Backbones: torchvision
``resnet18``, ``resnet50``, ``densenet121``, ``vit_b_16`` (patch tokens as a grid), and, when
``torchxrayvision`` is installed, its chest X-ray ``xrv_densenet121`` / ``xrv_resnet50``.

Weights are never fetched: ``weights`` is a local file, or a weights name that must already
sit in the torch hub cache (``torch.hub.get_dir()/checkpoints``) or the torchxrayvision cache;
otherwise :class:`FileNotFoundError` says where to put the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxrgraph.image.detection import check_boxes
from cxrgraph.image.io import check_image_batch, resize_image
from cxrgraph.image.region_pool import region_mean

__all__ = ["RegionFeatureExtractor", "FEATURE_BACKBONES", "region_grid", "resolve_torchvision_weights"]

#: backbone -> (feature channels, stride of the feature map)
FEATURE_BACKBONES: dict[str, tuple[int, int]] = {
    "resnet18": (512, 32),
    "resnet50": (2048, 32),
    "densenet121": (1024, 32),
    "vit_b_16": (768, 16),
    "xrv_densenet121": (1024, 32),
    "xrv_resnet50": (2048, 32),
}
_XRV_DEFAULT = {"xrv_densenet121": "densenet121-res224-all", "xrv_resnet50": "resnet50-res512-all"}
_TORCHVISION_ENUM = {
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "densenet121": "DenseNet121_Weights",
    "vit_b_16": "ViT_B_16_Weights",
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def resolve_torchvision_weights(backbone: str, name: str) -> Path:
    """The local file of torchvision weights ``name`` (e.g. ``"DEFAULT"``) in the hub cache.

    Raises:
        FileNotFoundError: The file is not in the cache (nothing is downloaded).
    """
    from torchvision.models import get_weight

    enum_name = _TORCHVISION_ENUM[backbone]
    try:
        weights = get_weight(f"{enum_name}.{name}")
    except (ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"unknown weights {name!r} for {backbone}") from err
    filename = os.path.basename(weights.url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"weights {enum_name}.{name} for {backbone} are not in the local torch hub cache ({path}); "
            f"cxrgraph never downloads weights: copy {filename} there or pass weights=<local file>"
        )
    return path


class _VitGrid(nn.Module):
    """A torchvision ViT returning its patch tokens as a ``[B, C, H/16, W/16]`` map."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.vit
        n, _, h, w = x.shape
        tokens = vit._process_input(x)
        cls = vit.class_token.expand(n, -1, -1)
        tokens = vit.encoder(torch.cat([cls, tokens], dim=1))[:, 1:]
        p = vit.patch_size
        return tokens.transpose(1, 2).reshape(n, -1, h // p, w // p)


class RegionFeatureExtractor(nn.Module):
    r"""Pool one feature vector per region box from a CNN / ViT feature map.

    .. math::
        \mathbf{x}_r = \operatorname{mean}\big(\operatorname{RoIAlign}(F(I), b_r)\big)

    Args:
        backbone: One of :data:`FEATURE_BACKBONES`.
        weights: ``None`` (random init), a local state-dict file, or a weights name
            (torchvision: ``"DEFAULT"``, ``"IMAGENET1K_V1"``...; torchxrayvision: e.g.
            ``"densenet121-res224-all"``) that must already be in the local cache.
        pretrained: Shorthand for the backbone's default weights name (local cache only).
        image_size: Side the image is resized to before the backbone (boxes are normalised,
            so they follow).
        output_size: RoIAlign grid per region before averaging.
        sampling_ratio: RoIAlign samples per bin (``-1``: adaptive).

    Shapes:
        - **input:** images ``[B, 1, H, W]`` (or a list of ``[1, H, W]``), boxes
          ``[B, R, 4]`` normalised xyxy, optional presence ``[B, R]``.
        - **output:** ``[B, R, out_channels]``; absent regions get zero vectors.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        weights: str | Path | None = None,
        pretrained: bool = False,
        image_size: int = 256,
        output_size: int = 3,
        sampling_ratio: int = 2,
    ) -> None:
        super().__init__()
        if backbone not in FEATURE_BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(FEATURE_BACKBONES)}")
        if backbone.startswith("xrv_"):
            try:
                import torchxrayvision  # noqa: F401
            except ImportError as err:
                raise ImportError(f"backbone {backbone!r} needs torchxrayvision: pip install torchxrayvision") from err
        if backbone == "vit_b_16" and image_size % 16:
            raise ValueError(f"vit_b_16 needs image_size divisible by 16, got {image_size}")
        if pretrained and weights is None:
            weights = _XRV_DEFAULT.get(backbone, "DEFAULT")
        self.backbone_name = backbone
        self.image_size = int(image_size)
        self.output_size = int(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.out_channels, self.stride = FEATURE_BACKBONES[backbone]
        self.weights = None if weights is None else str(weights)
        self.body = self._build(weights)
        if backbone.startswith("xrv_"):
            self.register_buffer("_scale", torch.tensor(2048.0), persistent=False)
            self.register_buffer("_shift", torch.tensor(-1024.0), persistent=False)
        else:
            self.register_buffer("_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.backbone_name!r}, out_channels={self.out_channels}, "
            f"image_size={self.image_size}, weights={self.weights!r})"
        )

    # ------------------------------------------------------------------ construction
    def _build(self, weights: str | Path | None) -> nn.Module:
        name = self.backbone_name
        if name.startswith("xrv_"):
            return self._build_xrv(weights)
        import torchvision.models as tvm

        state: dict[str, Any] | None = None
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                if os.sep in str(weights) or path.suffix in (".pt", ".pth", ".bin"):
                    raise FileNotFoundError(f"{path}: no such weights file (cxrgraph never downloads weights)")
                path = resolve_torchvision_weights(name, str(weights))
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
        if name == "vit_b_16":
            model = tvm.vit_b_16(weights=None, image_size=self.image_size)
            if state is not None:
                from torchvision.models.vision_transformer import interpolate_embeddings

                state = interpolate_embeddings(self.image_size, 16, state)
                model.load_state_dict(state)
            return _VitGrid(model)
        model = getattr(tvm, name)(weights=None)
        if state is not None:
            model.load_state_dict(state)
        if name == "densenet121":
            return nn.Sequential(model.features, nn.ReLU(inplace=False))
        return nn.Sequential(*list(model.children())[:-2])  # resnets: drop pool and fc

    def _build_xrv(self, weights: str | Path | None) -> nn.Module:
        import torchvision.models as tvm
        import torchxrayvision as xrv

        cache = None
        if weights is not None:
            path = Path(weights)
            if path.is_file():
                # a file of torchxrayvision's kind: find its weights name from the file name
                names = [k for k, v in xrv.models.model_urls.items() if os.path.basename(v["weights_url"]) == path.name]
                if not names:
                    raise ValueError(f"{path}: not a known torchxrayvision weights file")
                weights, cache = names[0], str(path.parent)
            elif str(weights) not in xrv.models.model_urls:
                raise ValueError(f"unknown torchxrayvision weights {weights!r}")
            folder = cache or xrv.utils.get_cache_dir()
            local = Path(os.path.expanduser(folder)) / os.path.basename(
                xrv.models.model_urls[str(weights)]["weights_url"]
            )
            if not local.is_file():
                raise FileNotFoundError(
                    f"torchxrayvision weights {weights!r} are not in the local cache ({local}); "
                    "cxrgraph never downloads weights: copy the file there or pass its path"
                )
        if self.backbone_name == "xrv_densenet121":
            model = xrv.models.DenseNet(weights=None if weights is None else str(weights), cache_dir=cache)
            return nn.Sequential(model.features, nn.ReLU(inplace=False))
        if weights is None:
            # same layout as torchxrayvision's ResNet-50 (one input channel), random init
            net = tvm.resnet50(weights=None)
            net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            net = xrv.models.ResNet(weights=str(weights), cache_dir=cache).model
        return nn.Sequential(*list(net.children())[:-2])

    # ------------------------------------------------------------------ forward
    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.backbone_name.startswith("xrv_"):
            return x * self._scale + self._shift  # torchxrayvision's [-1024, 1024] convention
        return (x.expand(-1, 3, -1, -1) - self._mean) / self._std

    def feature_map(self, images: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """The backbone's ``[B, C, h, w]`` map of images resized to ``image_size``."""
        batch = torch.stack([resize_image(img, self.image_size) for img in check_image_batch(images)])
        return self.body(self._normalise(batch.to(self._device())))

    def _device(self) -> torch.device:
        return next(self.body.parameters()).device

    def forward(
        self,
        images: Sequence[torch.Tensor] | torch.Tensor,
        boxes: torch.Tensor,
        present: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Region features ``[B, R, C]`` for normalised ``[B, R, 4]`` boxes."""
        return self.pool(self.feature_map(images), boxes, present)

    def pool(self, fmap: torch.Tensor, boxes: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """Region features ``[B, R, C]`` pooled from a :meth:`feature_map` (zero where absent)."""
        if self.sampling_ratio > 0:
            # the grid mean as one matrix product (same values, far cheaper backward)
            boxes = torch.as_tensor(boxes, device=fmap.device).float()
            if boxes.dim() != 3 or boxes.size(0) != fmap.size(0) or boxes.size(2) != 4:
                raise ValueError(f"boxes must have shape [{fmap.size(0)}, R, 4], got {list(boxes.shape)}")
            boxes = check_boxes(boxes, "boxes", present)
            feats = region_mean(fmap, boxes, self.image_size, self.output_size, self.sampling_ratio)
        else:
            grid, _ = region_grid(fmap, boxes, self.image_size, self.output_size, self.sampling_ratio, present=present)
            feats = grid.mean(dim=(2, 3)).view(fmap.size(0), boxes.shape[1], -1).to(fmap.dtype)
        if present is not None:
            feats = feats * torch.as_tensor(present, device=fmap.device).to(feats.dtype).unsqueeze(-1)
        return feats


def region_grid(
    fmap: torch.Tensor,
    boxes: torch.Tensor,
    image_size: int,
    output_size: int,
    sampling_ratio: int = 2,
    present: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoIAlign of every region box on a feature map.

    Args:
        fmap: ``[B, C, h, w]`` feature map of images of side ``image_size``.
        boxes: ``[B, R, 4]`` normalised xyxy boxes (all-NaN rows are absent regions and pool
            an empty box); checked with :func:`~cxrgraph.image.detection.check_boxes`.
        image_size: Side of the images the map was computed from.
        output_size: Side of each pooled grid.
        sampling_ratio: RoIAlign sampling points per bin.
        present: Optional ``[B, R]`` bool; boxes of absent regions are not checked.

    Returns:
        ``([B * R, C, s, s]`` grids pooled in float32, ``[B, R, 4]`` boxes in pixels``)``.

    Raises:
        BoxError: NaN / inf corners, ``x2 < x1`` or pixel coordinates (boxes slightly off
            the image are clipped with a warning).
    """
    from torchvision.ops import roi_align

    num_b = fmap.size(0)
    boxes = torch.as_tensor(boxes, device=fmap.device).float()
    if boxes.dim() != 3 or boxes.size(0) != num_b or boxes.size(2) != 4:
        raise ValueError(f"boxes must have shape [{num_b}, R, 4], got {list(boxes.shape)}")
    boxes = check_boxes(boxes, "boxes", present)
    pix = torch.nan_to_num(boxes).clamp(0.0, 1.0) * image_size
    # roi_align has no low-precision kernel everywhere: pool in float32
    grid = roi_align(
        fmap.float(),
        list(pix),
        output_size=output_size,
        spatial_scale=fmap.size(-1) / image_size,
        sampling_ratio=sampling_ratio,
        aligned=True,
    )
    return grid, pix
