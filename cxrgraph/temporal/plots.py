"""Pictures of progression results: confusion matrix, per-region bars, regions in the Poincaré disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from cxrgraph.ontology import get_ontology
from cxrgraph.utils.atomic import atomic_savefig

__all__ = ["plot_confusion_matrix", "plot_region_scores", "plot_poincare_regions", "poincare_projection"]

_CLASS_COLOURS = ("#2b8cbe", "#969696", "#de2d26")  # improved, no change, worsened


#: how every figure of the temporal package is saved (PNG, written atomically)
_SAVE = {"dpi": 120, "bbox_inches": "tight", "format": "png"}


def _figure(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def plot_confusion_matrix(
    confusion: Sequence[Sequence[int]] | Tensor,
    path: str | Path | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    normalize: bool = True,
):
    """Draw a confusion matrix (rows truth, columns prediction); returns the Figure.

    Args:
        confusion: ``[C, C]`` counts.
        path: Save a PNG here as well.
        labels: Class names (default: the ontology's progression labels).
        title: Figure title.
        normalize: Colour by row fraction (counts are written in the cells either way).
    """
    cm = torch.as_tensor(confusion, dtype=torch.float64)
    if cm.dim() != 2 or cm.size(0) != cm.size(1):
        raise ValueError(f"confusion: expected a square matrix, got shape {list(cm.shape)}")
    labels = list(labels or get_ontology().labels["progression"])
    if len(labels) != cm.size(0):
        raise ValueError(f"labels: {len(labels)} names for a {cm.size(0)}-class matrix")
    shown = cm / cm.sum(1, keepdim=True).clamp_min(1) if normalize else cm
    fig = _figure((4.2, 3.6))
    ax = fig.add_subplot()
    im = ax.imshow(shown.numpy(), cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    for i in range(cm.size(0)):
        for j in range(cm.size(1)):
            dark = float(shown[i, j]) > (0.5 if normalize else float(shown.max()) / 2)
            text = f"{int(cm[i, j])}" + (f"\n{float(shown[i, j]):.0%}" if normalize else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    if path is not None:
        atomic_savefig(fig, path, **_SAVE)
    return fig


def plot_region_scores(
    region_accuracy: Sequence[float | None],
    region_f1: Sequence[float | None] | None = None,
    support: Sequence[int] | None = None,
    path: str | Path | None = None,
    title: str | None = None,
):
    """Bar chart of per-region accuracy (and F1) in ontology order; returns the Figure.

    Regions without labels are left empty and marked ``n/a``.
    """
    onto = get_ontology()
    names = [r.name for r in onto.regions]
    if len(region_accuracy) != len(names):
        raise ValueError(f"region_accuracy: expected {len(names)} values, got {len(region_accuracy)}")
    fig = _figure((10.0, 3.8))
    ax = fig.add_subplot()
    x = torch.arange(len(names), dtype=torch.float64).numpy()
    width = 0.4 if region_f1 is not None else 0.8
    acc = [float("nan") if a is None else a for a in region_accuracy]
    ax.bar(x - (width / 2 if region_f1 is not None else 0), acc, width, label="accuracy", color="#3182bd")
    if region_f1 is not None:
        f1 = [float("nan") if f is None else f for f in region_f1]
        ax.bar(x + width / 2, f1, width, label="macro F1", color="#fd8d3c")
    for i, a in enumerate(region_accuracy):
        if a is None:
            ax.text(x[i], 0.02, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
        elif support is not None:
            ax.text(x[i], 1.01, str(support[i]), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, names, rotation=75, ha="right", fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or ("per-region progression" + (" (numbers: labelled pairs)" if support else "")), fontsize=10)
    if path is not None:
        atomic_savefig(fig, path, **_SAVE)
    return fig


def poincare_projection(points: Tensor, c: float | Tensor = 1.0, basis: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Project points of an ``H``-dimensional Poincaré ball to the 2-D disk.

    Points are taken to the tangent space at the origin (log map), projected on their two
    principal directions (or a given ``basis`` ``[H, 2]``) and mapped back with the 2-D
    exponential map of the same curvature, so distances from the origin are kept exactly and
    directions as well as two components allow. Returns ``(disk_points [..., 2], basis)``
    scaled to the unit disk.
    """
    c = float(c)
    if c <= 0:
        raise ValueError(f"c: curvature magnitude must be > 0, got {c}")
    x = points.detach().double()
    sc = c**0.5
    norm = x.norm(dim=-1, keepdim=True).clamp(1e-15, (1 - 1e-9) / sc)
    u = torch.atanh(sc * norm) * x / (sc * norm)  # log_0
    flat = u.reshape(-1, u.size(-1))
    if basis is None:
        centred = flat - flat.mean(0, keepdim=True)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        basis = v[:2].t()
    basis = basis.to(flat)
    uu = u @ basis
    # keep the full tangent length so the disk radius shows the depth in the ball
    length = u.norm(dim=-1, keepdim=True)
    uu = uu / uu.norm(dim=-1, keepdim=True).clamp_min(1e-15) * length
    disk = torch.tanh(sc * uu.norm(dim=-1, keepdim=True)) * uu / (uu.norm(dim=-1, keepdim=True).clamp_min(1e-15))
    return disk.float(), basis.float()


def plot_poincare_regions(
    prior: Tensor,
    current: Tensor,
    c: float | Tensor = 1.0,
    labels: Tensor | None = None,
    regions: Sequence[int] | None = None,
    path: str | Path | None = None,
    title: str | None = None,
    max_arrows: int = 400,
):
    """Region embeddings of prior and current studies in the Poincaré disk, with arrows prior → current.

    Args:
        prior: ``[N, R, H]`` (or ``[R, H]``) prior region points on the ball.
        current: Same shape, current points.
        c: Curvature magnitude of the ball.
        labels: ``[N, R]`` progression codes colouring the arrows (-1 = not drawn as arrow).
        regions: Region indices to draw (default all).
        path: Save a PNG here as well.
        title: Figure title.
        max_arrows: At most this many arrows (the first ones).

    Returns:
        The matplotlib Figure.
    """
    if prior.shape != current.shape:
        raise ValueError(f"prior {list(prior.shape)} and current {list(current.shape)} must have one shape")
    if prior.dim() == 2:
        prior, current = prior.unsqueeze(0), current.unsqueeze(0)
        labels = labels.unsqueeze(0) if labels is not None else None
    c = float(c)
    regions = list(range(prior.size(1))) if regions is None else list(regions)
    both, _basis = poincare_projection(torch.cat([prior[:, regions], current[:, regions]]), c)
    n = prior.size(0)
    p2, c2 = both[:n], both[n:]
    names = get_ontology().labels["progression"]
    fig = _figure((5.6, 5.6))
    ax = fig.add_subplot()
    from matplotlib.patches import Circle

    ax.add_patch(Circle((0, 0), 1.0, fill=False, color="black", lw=1.0))
    ax.scatter(p2[..., 0].flatten(), p2[..., 1].flatten(), s=6, c="#bdbdbd", label="prior", zorder=2)
    ax.scatter(c2[..., 0].flatten(), c2[..., 1].flatten(), s=6, c="#636363", marker="x", label="current", zorder=2)
    drawn = 0
    if labels is not None:
        lab = labels[:, regions]
        for code, name in enumerate(names):
            idx = (lab == code).nonzero().tolist()
            for b, j in idx:
                if drawn >= max_arrows:
                    break
                (x0, y0), (x1, y1) = p2[b, j].tolist(), c2[b, j].tolist()
                ax.annotate(
                    "",
                    xy=(x1, y1),
                    xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": _CLASS_COLOURS[code], "lw": 0.8},
                    zorder=3,
                )
                drawn += 1
            ax.plot([], [], color=_CLASS_COLOURS[code], label=name)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title or f"regions in the Poincaré disk (c={c:.2f}), prior → current", fontsize=10)
    if path is not None:
        atomic_savefig(fig, path, **_SAVE)
    return fig
