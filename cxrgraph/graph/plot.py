"""Draw a :class:`ClinicalGraph` with matplotlib: regions where they sit in the chest."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from cxrgraph.graph.clinical_graph import ClinicalGraph
from cxrgraph.graph.schema import ANATOMY, LOCATED_AT, PART_OF, SUGGESTIVE_OF
from cxrgraph.ontology import Ontology, get_ontology

__all__ = ["plot_graph", "EXISTENCE_STYLE"]

#: Edge and label style per existence code: present solid red, uncertain dashed orange,
#: absent dotted grey (negated findings are drawn grey, italic and prefixed with "no").
EXISTENCE_STYLE = {
    1: {"color": "#c0392b", "linestyle": "-", "prefix": ""},
    2: {"color": "#e67e22", "linestyle": "--", "prefix": "? "},
    0: {"color": "#95a5a6", "linestyle": ":", "prefix": "no "},
}


def plot_graph(
    graph: ClinicalGraph,
    path: str | Path | None = None,
    *,
    ax: Any = None,
    title: str | None = None,
    show_absent: bool = True,
    show_anatomy_edges: bool = True,
    ontology: Ontology | None = None,
) -> Any:
    """Draw the graph: anatomy nodes at their chest positions, findings attached to them.

    Args:
        graph: The graph to draw.
        path: Where to save a PNG (optional).
        ax: A matplotlib Axes to draw into (a new figure is made when ``None``).
        title: Axes title (defaults to the graph's ``study_id`` when it has one).
        show_absent: Draw negated findings (grey, dotted, "no ...").
        show_anatomy_edges: Draw part_of edges (thin grey lines).
        ontology: The ontology (default: the packaged one).

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.figure import Figure

    onto = ontology or get_ontology()
    if ax is None:
        fig = Figure(figsize=(8, 9), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    xy = {r.index: (r.plot_xy[0], 1.0 - r.plot_xy[1]) for r in onto.regions}
    present = graph[ANATOMY].get("present", torch.ones(onto.num_regions, dtype=torch.bool))

    if show_anatomy_edges:
        for c, p in graph[PART_OF].edge_index.t().tolist():
            ax.plot([xy[c][0], xy[p][0]], [xy[c][1], xy[p][1]], color="#d5d8dc", lw=0.8, zorder=1)

    # findings: one label per finding, placed around the mean position of its regions
    store = graph[LOCATED_AT]
    per_finding: dict[int, list[tuple[int, int]]] = {}
    for (f, r), ex in zip(store.edge_index.t().tolist(), store.existence.tolist()):
        if ex == 0 and not show_absent:
            continue
        per_finding.setdefault(f, []).append((r, ex))
    finding_xy: dict[int, tuple[float, float]] = {}
    for k, (f, links) in enumerate(sorted(per_finding.items())):
        cx = sum(xy[r][0] for r, _ in links) / len(links)
        cy = sum(xy[r][1] for r, _ in links) / len(links)
        angle = 2 * math.pi * (k * 0.618034 % 1.0)
        fx, fy = cx + 0.10 * math.cos(angle), cy + 0.07 * math.sin(angle)
        finding_xy[f] = (fx, fy)
        best = max((ex for _, ex in links), key=lambda e: {1: 2, 2: 1, 0: 0}[e])
        style = EXISTENCE_STYLE[best]
        for r, ex in links:
            s = EXISTENCE_STYLE[ex]
            ax.plot([fx, xy[r][0]], [fy, xy[r][1]], color=s["color"], linestyle=s["linestyle"], lw=1.4, zorder=2)
        ax.text(
            fx,
            fy,
            style["prefix"] + onto.finding(f).name,
            fontsize=7.5,
            ha="center",
            va="center",
            color="white" if best != 0 else "#566573",
            style="italic" if best == 0 else "normal",
            bbox={
                "boxstyle": "round,pad=0.25",
                "fc": style["color"] if best != 0 else "#f4f6f6",
                "ec": style["color"],
                "ls": style["linestyle"],
            },
            zorder=4,
        )
    for a, b in graph[SUGGESTIVE_OF].edge_index.t().tolist():
        if a in finding_xy and b in finding_xy:
            ax.annotate(
                "",
                xy=finding_xy[b],
                xytext=finding_xy[a],
                arrowprops={"arrowstyle": "->", "color": "#8e44ad", "lw": 1.2},
                zorder=3,
            )

    for r in onto.regions:
        x, y = xy[r.index]
        on = bool(present[r.index])
        ax.scatter([x], [y], s=60, c="#2e86c1" if on else "white", edgecolors="#2e86c1", zorder=3)
        ax.text(x, y - 0.025, r.name, fontsize=6, ha="center", va="top", color="#1b4f72" if on else "#aab7b8")

    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.08, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    heading = title if title is not None else graph.get("study_id") if hasattr(graph, "study_id") else None
    if heading:
        ax.set_title(str(heading), fontsize=10)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    return fig
