"""A picture of region grounding: the region an image graph links each finding to, beside the truth."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_savefig

__all__ = ["plot_grounding"]

_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf")


def plot_grounding(
    image: Tensor,
    boxes: Tensor,
    region_scores: Tensor,
    findings: Sequence[int | str],
    truth: Tensor | None = None,
    ax: Any = None,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Draw an image with, for each finding, the region its image graph links it to.

    The linked region (highest score) is drawn solid in the finding's colour with the score;
    the finding's true regions, when given, are drawn dashed in the same colour, so a hit shows
    as a solid box over a dashed one.

    Args:
        image: ``[1, H, W]`` (or ``[H, W]``) in ``[0, 1]``.
        boxes: ``[R, 4]`` normalised xyxy region boxes.
        region_scores: ``[K, R]`` region scores of the study (e.g. one row of
            :meth:`GraphAlignModel.locate_findings <cxrgraph.models.GraphAlignModel.locate_findings>`).
        findings: Finding indices or names to draw (a few: each gets a colour).
        truth: Optional ``[K, R]`` bool true regions.
        ax: A matplotlib axes to draw into (default: a new figure).
        title: Axes title.
        path: Also save the figure as a PNG here (atomically).

    Returns:
        The figure.
    """
    onto = get_ontology()
    img = torch.as_tensor(image).detach().float().squeeze()
    if img.dim() != 2:
        raise ValueError(f"image: expected [1, H, W] or [H, W], got {list(torch.as_tensor(image).shape)}")
    boxes = torch.as_tensor(boxes).detach().float()
    scores = torch.as_tensor(region_scores).detach().float()
    if boxes.shape != (onto.num_regions, 4) or scores.shape != (onto.num_findings, onto.num_regions):
        raise ValueError(
            f"boxes / region_scores: expected [{onto.num_regions}, 4] and [{onto.num_findings}, {onto.num_regions}], "
            f"got {list(boxes.shape)} and {list(scores.shape)}"
        )
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 5.6))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    h, w = img.shape
    ax.imshow(img.numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    from matplotlib.patches import Rectangle

    for i, f in enumerate(findings):
        k = onto.finding_index(f) if isinstance(f, str) else int(f)
        colour = _COLOURS[i % len(_COLOURS)]
        if truth is not None:
            for r in torch.as_tensor(truth)[k].nonzero().flatten().tolist():
                x1, y1, x2, y2 = (boxes[r] * torch.tensor([w, h, w, h])).tolist()
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ls="--", lw=1.2, ec=colour))
        r = int(scores[k].argmax())
        x1, y1, x2, y2 = (boxes[r] * torch.tensor([w, h, w, h])).tolist()
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2.0, ec=colour))
        label = f"{onto.finding(k).name} → {onto.region(r).name} ({float(scores[k, r]):.2f})"
        ax.text(2, 4 + 11 * i * h / 256, label, color=colour, fontsize=7, va="top", backgroundcolor="#000000aa")
    if title:
        ax.set_title(title, fontsize=9)
    if path is not None:
        atomic_savefig(fig, path, dpi=120, bbox_inches="tight", format="png")
    return fig
