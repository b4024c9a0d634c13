"""Region features as one matrix product: RoIAlign's averaged grid, written as fixed bilinear weights.

Averaging a RoIAlign grid is linear in the feature map: every sampling point is a bilinear mix
of four cells, and the region's feature is the mean over all sampling points. With a fixed
sampling ratio the weights of a box factor into a row profile and a column profile, so the
features of ``B × R`` boxes are one batched product ``W @ F`` with ``W`` ``[B, R, h·w]`` built
from the boxes alone. Forward and backward then cost a ``bmm`` instead of torchvision's
per-box loops (on a CPU, RoIAlign's backward took longer than the backbone's layers it feeds).
The result equals ``roi_align(..., aligned=True).mean((2, 3))`` (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["region_pool_weights", "region_mean"]


def _axis_profile(start: Tensor, bin_size: Tensor, bins: int, grid: int, length: int) -> Tensor:
    """``[N, length]`` summed bilinear weights of one axis's ``bins * grid`` sampling points, / their count."""
    k = torch.arange(bins * grid, device=start.device, dtype=start.dtype)
    offsets = torch.div(k, grid, rounding_mode="floor") + (k % grid + 0.5) / grid  # in bins
    coord = start.unsqueeze(1) + offsets.unsqueeze(0) * bin_size.unsqueeze(1)  # [N, S]
    inside = ((coord >= -1.0) & (coord <= length)).to(start.dtype)
    coord = coord.clamp(min=0.0)
    low = coord.floor().long()
    edge = low >= length - 1
    low = torch.where(edge, torch.full_like(low, length - 1), low)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(coord), coord - low.to(coord.dtype))
    out = start.new_zeros(start.size(0), length)
    out.scatter_add_(1, low, (1.0 - frac) * inside)
    out.scatter_add_(1, high, frac * inside)
    return out / (bins * grid)


def region_pool_weights(
    boxes: Tensor, height: int, width: int, image_size: int, output_size: int, sampling_ratio: int = 2
) -> Tensor:
    """``[B, R, height * width]`` weights whose product with a ``[B, height * width, C]`` map is the
    mean of ``roi_align(output_size, sampling_ratio, aligned=True)`` over each box's grid.

    Args:
        boxes: ``[B, R, 4]`` normalised xyxy boxes (NaN rows pool an empty box, as in
            :func:`~cxrgraph.image.features.region_grid`).
        height: Feature-map rows.
        width: Feature-map columns.
        image_size: Side of the images the map was computed from.
        output_size: RoIAlign grid side.
        sampling_ratio: Sampling points per bin and axis (> 0).
    """
    if sampling_ratio <= 0:
        raise ValueError(f"sampling_ratio: the matrix form needs a fixed ratio (> 0), got {sampling_ratio}")
    num_b, num_r = boxes.shape[:2]
    pix = torch.nan_to_num(boxes.float()).clamp(0.0, 1.0) * image_size
    flat = pix.reshape(-1, 4)
    scale_y, scale_x = height / image_size, width / image_size
    y1, y2 = flat[:, 1] * scale_y - 0.5, flat[:, 3] * scale_y - 0.5
    x1, x2 = flat[:, 0] * scale_x - 0.5, flat[:, 2] * scale_x - 0.5
    rows = _axis_profile(y1, (y2 - y1) / output_size, output_size, sampling_ratio, height)
    cols = _axis_profile(x1, (x2 - x1) / output_size, output_size, sampling_ratio, width)
    return (rows.unsqueeze(2) * cols.unsqueeze(1)).reshape(num_b, num_r, height * width)


def region_mean(fmap: Tensor, boxes: Tensor, image_size: int, output_size: int, sampling_ratio: int = 2) -> Tensor:
    """``[B, R, C]`` mean RoIAlign feature of every box on a ``[B, C, h, w]`` feature map."""
    num_b, _, h, w = fmap.shape
    boxes = torch.as_tensor(boxes, device=fmap.device)
    if boxes.dim() != 3 or boxes.size(0) != num_b or boxes.size(2) != 4:
        raise ValueError(f"boxes must have shape [{num_b}, R, 4], got {list(boxes.shape)}")
    weights = region_pool_weights(boxes, h, w, image_size, output_size, sampling_ratio)
    return torch.bmm(weights.to(fmap.dtype), fmap.flatten(2).transpose(1, 2))
