"""``RegionComparator``: the same region of two registered studies compared pixel by pixel.

A region's progression label is the sign of a change in one patient. Reading each study's
severity on its own and subtracting has to separate a lesion from everything else the region
shows (ribs, vessels, exposure) twice, and both readings must be right. Comparing the two
registered crops of the region directly cancels what the two studies share: the patient's
anatomy, a lesion's position and texture. This follows BioViL-T, whose image encoder sees the
prior image next to the current one and encodes their difference, here per anatomy region.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["RegionComparator", "conv_bn_relu"]


def conv_bn_relu(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    """A bias-free convolution, batch norm and ReLU (the small CNNs' building block)."""
    return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class RegionComparator(nn.Module):
    r"""Change features of one region from its registered crops in a current and a prior study.

    Early fusion: the current crop :math:`c`, the prior crop :math:`p`, their difference
    :math:`c - p`, and each study's mirrored contralateral crop (the reference channel of
    :func:`~cxrgraph.temporal.crops.region_crops`) are stacked as five channels; a four-layer
    CNN reads them, its grid is pooled by mean and max and projected to ``out_channels``.

    Args:
        out_channels: Size ``K`` of the change vector.
        width: Base width of the CNN.
        crop_channels: Channels per study crop (2: region and contralateral reference; 1: the
            region only).

    Shapes:
        - **input:** current crops ``[N, crop_channels, S, S]``, prior crops of the same shape
        - **output:** ``[N, out_channels]``
    """

    def __init__(self, out_channels: int = 32, width: int = 16, crop_channels: int = 2) -> None:
        super().__init__()
        if out_channels < 1 or width < 1:
            raise ValueError(f"RegionComparator: out_channels and width must be >= 1, got {out_channels}, {width}")
        if crop_channels not in (1, 2):
            raise ValueError(f"crop_channels: must be 1 or 2, got {crop_channels}")
        self.out_channels = int(out_channels)
        self.crop_channels = int(crop_channels)
        self.body = nn.Sequential(
            *conv_bn_relu(2 * crop_channels + 1, width, 3, 1), *conv_bn_relu(width, 2 * width, 3, 2),
            *conv_bn_relu(2 * width, 2 * width, 3, 1), *conv_bn_relu(2 * width, 4 * width, 3, 2),
        )  # fmt: skip
        self.proj = nn.Linear(8 * width, out_channels)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(out_channels={self.out_channels})"

    def forward(self, current: Tensor, prior: Tensor) -> Tensor:
        if current.dim() != 4 or current.size(1) != self.crop_channels:
            raise ValueError(f"current: expected [N, {self.crop_channels}, S, S] crops, got {list(current.shape)}")
        if prior.shape != current.shape:
            raise ValueError(f"prior: crops of shape {list(prior.shape)} differ from current {list(current.shape)}")
        dtype = self.proj.weight.dtype
        c, p = current.to(dtype), prior.to(dtype)
        x = torch.cat([c[:, :1], p[:, :1], c[:, :1] - p[:, :1], c[:, 1:], p[:, 1:]], dim=1)
        h = self.body(x)
        return self.proj(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))
