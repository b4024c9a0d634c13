"""Registered region crops: each anatomy box resampled from an exposure-normalised radiograph.

Two studies of one patient differ in pose and exposure. Resampling every region box to a fixed
grid registers the same region across studies (the boxes follow the pose), and a robust
per-image intensity normalisation removes most of the exposure difference while keeping how
dense a region is relative to the rest of the same image, which is what a lesion's level
changes. The contralateral region, mirrored, is stacked as a second channel: the same patient,
exposure and anatomy without (usually) the same lesion is the closest reference for what the
region would look like if it were normal.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from cxrgraph.ontology import get_ontology

__all__ = ["normalise_exposure", "contralateral_index", "thorax_geometry", "region_crops", "GEOMETRY_CHANNELS"]

#: size of :func:`thorax_geometry`'s per-region vector
GEOMETRY_CHANNELS = 6


def normalise_exposure(images: Tensor, low: float = 0.05, high: float = 0.95) -> Tensor:
    """Map each image's ``low`` / ``high`` intensity quantiles to -2 / 2.

    Quantiles over the whole image move little when a lesion appears (it covers a small share of
    the pixels), unlike the mean and standard deviation, which a large effusion shifts.

    Args:
        images: ``[B, 1, H, W]``.
        low: Lower quantile.
        high: Upper quantile.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"quantiles: need 0 <= low < high <= 1, got low={low}, high={high}")
    flat = images.flatten(1).float()
    q = torch.quantile(flat, torch.tensor([low, high], dtype=flat.dtype, device=flat.device), dim=1)  # [2, B]
    lo, hi = q[0].view(-1, 1, 1, 1), q[1].view(-1, 1, 1, 1)
    return (images.float() - lo) / (hi - lo).clamp_min(1e-3) * 4.0 - 2.0


@lru_cache(maxsize=1)
def _mates() -> tuple[int, ...]:
    names = [r.name for r in get_ontology().regions]
    index = {n: i for i, n in enumerate(names)}
    out = []
    for i, name in enumerate(names):
        mirrored = name.replace("right", "\0").replace("left", "right").replace("\0", "left")
        out.append(index.get(mirrored, i))
    return tuple(out)


def contralateral_index() -> Tensor:
    """``[29]`` index of each region's mirror region (``right X`` <-> ``left X``; itself if none)."""
    return torch.tensor(_mates(), dtype=torch.long)


def thorax_geometry(boxes: Tensor) -> Tensor:
    """Region boxes in the frame of the thorax (the union of the two lung boxes), ``[B, R, 6]``.

    Gives x1, x2, y1, y2, width and height as fractions of the thorax, so that magnification
    and film position cancel and ratios such as the cardiothoracic ratio are read directly.

    Args:
        boxes: ``[B, R, 4]`` xyxy boxes (any unit; NaN or empty rows give zeros).
    """
    onto = get_ontology()
    rl, ll = onto.region_index("right lung"), onto.region_index("left lung")
    bx = torch.nan_to_num(boxes.float())
    x1 = torch.minimum(bx[:, rl, 0], bx[:, ll, 0]).unsqueeze(1)
    x2 = torch.maximum(bx[:, rl, 2], bx[:, ll, 2]).unsqueeze(1)
    y1 = torch.minimum(bx[:, rl, 1], bx[:, ll, 1]).unsqueeze(1)
    y2 = torch.maximum(bx[:, rl, 3], bx[:, ll, 3]).unsqueeze(1)
    tw, th = (x2 - x1).clamp_min(1e-3), (y2 - y1).clamp_min(1e-3)
    geo = torch.stack(
        [
            (bx[..., 0] - x1) / tw,
            (bx[..., 2] - x1) / tw,
            (bx[..., 1] - y1) / th,
            (bx[..., 3] - y1) / th,
            (bx[..., 2] - bx[..., 0]) / tw,
            (bx[..., 3] - bx[..., 1]) / th,
        ],
        dim=-1,
    )
    empty = (bx[..., 2] <= bx[..., 0]) | (bx[..., 3] <= bx[..., 1])
    return geo.masked_fill(empty.unsqueeze(-1), 0.0)


def region_crops(images: Tensor, boxes: Tensor, size: int = 16, contralateral: bool = True) -> Tensor:
    """Exposure-normalised crops of every region box, ``[B, R, C, size, size]``.

    Args:
        images: ``[B, 1, H, W]`` in ``[0, 1]`` (square).
        boxes: ``[B, R, 4]`` normalised xyxy boxes (NaN rows give a crop of the empty box).
        size: Side of each crop.
        contralateral: Stack the mirrored crop of the region's mirror region as channel 2.
    """
    from torchvision.ops import roi_align

    if images.dim() != 4 or images.size(1) != 1:
        raise ValueError(f"images: expected [B, 1, H, W], got {list(images.shape)}")
    num_b = images.size(0)
    if boxes.dim() != 3 or boxes.size(0) != num_b or boxes.size(2) != 4:
        raise ValueError(f"boxes: expected [{num_b}, R, 4], got {list(boxes.shape)}")
    num_r = boxes.size(1)
    pix = torch.nan_to_num(boxes.float()).clamp(0.0, 1.0) * images.size(-1)
    x = normalise_exposure(images)
    crops = roi_align(x, list(pix.to(x.device)), output_size=size, sampling_ratio=2, aligned=True)
    crops = crops.view(num_b, num_r, 1, size, size)
    if not contralateral:
        return crops
    mirror = crops[:, contralateral_index().to(crops.device)].flip(-1)
    return torch.cat([crops, mirror], dim=2)
