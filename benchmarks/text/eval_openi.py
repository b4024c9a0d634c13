"""Score report-level findings of the text parser against the NegBio OpenI gold standard.

The gold (``openi_gld_std14.csv``, 14 ChestX-ray14 labels per report, derived from the OpenI
MeSH indexing) is compared with the findings the parser reads as *present*, mapped to the 14
labels through the ontology's ChestX-ray14 mapping (``data/mappings/chestxray14.csv``).

Splits: ``dev`` = every gold report not listed in ``openi-testset.txt`` (develop and tune here);
``test`` = the 771 held-out reports (run once, for the final figure only).

    python benchmarks/text/eval_openi.py                 # dev split
    python benchmarks/text/eval_openi.py --errors 20     # dev split, print 20 disagreements
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

DEFAULT_EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval" / "openi"


def load_gold(eval_dir: Path) -> tuple[list[str], dict[str, dict[str, int]], set[str]]:
    with (eval_dir / "openi_gld_std14.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        labels = [c for c in reader.fieldnames if c not in ("filename", "normal")]
        gold = {row["filename"].strip(): {k: int(float(row[k] or 0)) for k in labels} for row in reader}
    test = {line.strip() for line in (eval_dir / "openi-testset.txt").read_text(encoding="utf-8").splitlines()}
    test.discard("")
    return labels, gold, test


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--reports", default=None, help="NLMCXR_reports.tgz or folder (default: torchxrayvision's)")
    parser.add_argument("--errors", type=int, default=0, help="print this many disagreements (dev split only)")
    parser.add_argument("--label", default=None, help="only print disagreements of this label")
    args = parser.parse_args(argv)

    from cxrgraph.datasets import OpenIReports
    from cxrgraph.ontology import get_ontology
    from cxrgraph.text import parse_report

    labels, gold, test = load_gold(args.eval_dir)
    ids = sorted(i for i in gold if (i in test) == (args.split == "test"))
    onto = get_ontology()
    to_label = {}
    for label in labels:
        for f in onto.findings_for("chestxray14", label):
            to_label.setdefault(onto.finding_index(f.name), set()).add(label)
    reports = OpenIReports(args.reports)
    counts = {label: [0, 0, 0] for label in labels}  # tp, fp, fn
    shown = 0
    missing = 0
    start = time.perf_counter()
    for rid in ids:
        if rid not in reports:
            missing += 1
            continue
        report = reports[rid]
        graph = parse_report(report.text, id=rid)
        existence = graph["finding"].existence.tolist()
        pred = {lab for f, ex in enumerate(existence) if ex == 1 for lab in to_label.get(f, ())}
        truth = {lab for lab in labels if gold[rid][lab] == 1}
        for label in labels:
            c = counts[label]
            c[0] += label in pred and label in truth
            c[1] += label in pred and label not in truth
            c[2] += label in truth and label not in pred
        if args.split == "dev" and shown < args.errors and pred != truth:
            diff = (pred ^ truth) if args.label is None else ({args.label} & (pred ^ truth))
            if diff:
                shown += 1
                print(
                    f"--- {rid}  gold-only={sorted(truth - pred)}  pred-only={sorted(pred - truth)}  mesh={report.mesh}"
                )
                for t in graph.triplets:
                    if t.existence != "absent" and (onto.finding_index(t.finding) in to_label):
                        print(f"    [{t.sentence}] {t.finding} @ {t.region}: {t.existence}")
                for i, s in enumerate(graph.sentences):
                    print(f"    {i}: {s}")
    elapsed = time.perf_counter() - start

    print(f"split: {args.split} ({len(ids) - missing} reports; {missing} gold ids not in the corpus)")
    # A label no report of the whole gold file is positive for (Hernia: NegBio did not annotate
    # it) has no defined recall or F1; it is shown but left out of the micro and macro figures.
    unannotated = {label for label in labels if not any(g[label] for g in gold.values())}
    print(f"{'label':<20}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}{'predicted':>11}")
    tp = fp = fn = 0
    f1s = []
    for label in labels:
        a, b, c = counts[label]
        p, r, f = prf(a, b, c)
        note = ""
        if label in unannotated:
            note = "  (no positive in the gold file: not scored)"
        else:
            tp, fp, fn = tp + a, fp + b, fn + c
            f1s.append(f)
        print(f"{label:<20}{p:7.3f}{r:7.3f}{f:7.3f}{a + c:9d}{a + b:11d}{note}")
    p, r, f = prf(tp, fp, fn)
    print(f"micro P/R/F1: {p:.3f} / {r:.3f} / {f:.3f}")
    print(f"macro F1: {sum(f1s) / len(f1s):.3f} (over {len(f1s)} labels)")
    print(f"parsed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
