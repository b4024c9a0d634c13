"""``cxrgraph smoke``: build, validate, convert and draw one clinical graph."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build, validate and print a clinical graph (installation check)"

# A small study written as triplets: what a parsed report or a detector would produce.
_EXAMPLE = (
    ("left lower lung zone", "lung opacity", "present", "mild", "worsened"),
    ("left costophrenic angle", "pleural effusion", "present", "moderate", "unspecified"),
    (None, "pneumothorax", "absent", "unspecified", "unspecified"),
    ("cardiac silhouette", "enlarged cardiac silhouette", "uncertain", "unspecified", "no change"),
    (None, "pneumonia", "uncertain", "unspecified", "unspecified"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/smoke"), help="folder for the graph picture")


def run(args: argparse.Namespace) -> int:
    from cxrgraph.graph import ClinicalGraph, from_networkx, to_networkx
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()
    graph = ClinicalGraph.from_triplets(
        _EXAMPLE, suggestive_of=[("lung opacity", "pneumonia")], study_id="smoke-example"
    ).validate()
    back = from_networkx(to_networkx(graph))
    same = graph.equals(back)
    print(onto)
    print(graph)
    for t in graph.triplets():
        print(f"  {t.finding:<28} -> {t.region:<26} {t.existence:<9} {t.severity:<11} {t.change}")
    print(f"networkx round trip exact: {bool(same)}")
    png = args.out / "smoke_graph.png"
    graph.plot(png)
    print(f"graph picture: {png}")
    return 0 if same else 1
