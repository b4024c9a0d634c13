"""Score :func:`cxrgraph.text.assertion` on the NegEx test kit (Negated vs Affirmed).

Each row of ``Annotations-1-120.txt`` gives a report number, a concept, a sentence in which
the concept is written in capitals and the gold label (Affirmed / Negated). The concept span
is located in the sentence and :func:`assertion` decides its existence; ``absent`` counts as
Negated, ``present`` and ``uncertain`` as Affirmed (the kit has no uncertainty class).

Splits: ``dev`` = reports 1-60 (develop here); ``test`` = reports 61-120 (held out).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

DEFAULT_KIT = Path(__file__).resolve().parents[3] / "shared" / "eval" / "negex" / "Annotations-1-120.txt"


def find_span(sentence: str, concept: str) -> tuple[int, int] | None:
    """The concept's span: its upper-case occurrence first, then any case-insensitive one."""
    words = [re.escape(w) for w in concept.split()]
    if not words:
        return None
    pattern = r"\s+".join(words)
    m = re.search(r"(?<![A-Za-z])" + pattern.upper() + r"(?![A-Za-z])", sentence)
    if m is None or concept.upper() == concept.lower():
        m = re.search(pattern, sentence, re.I) or m
    return (m.start(), m.end()) if m else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    parser.add_argument("--errors", type=int, default=0, help="print this many errors (dev split only)")
    args = parser.parse_args(argv)

    from cxrgraph.text import assertion

    lo, hi = (1, 60) if args.split == "dev" else (61, 120)
    rows = []
    with args.kit.open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or not row[0].strip().isdigit() or len(row) < 4:
                continue
            if lo <= int(row[0]) <= hi:
                rows.append(row)
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    unmatched = shown = 0
    for rep, concept, sentence, label in rows[:]:
        sentence = sentence.strip().strip('"')
        gold = label.strip().lower().startswith("neg")
        span = find_span(sentence, concept)
        if span is None:
            unmatched += 1
            pred = False
        else:
            pred = assertion(sentence, *span) == "absent"
        key = ("t" if pred == gold else "f") + ("p" if pred else "n")
        counts[key] += 1
        if pred != gold and args.split == "dev" and shown < args.errors:
            shown += 1
            ctx = sentence if span is None else sentence[max(0, span[0] - 150) : span[1] + 80]
            print(f"--- report {rep} gold={'Negated' if gold else 'Affirmed'} concept={concept!r}\n    {ctx}")
    n = len(rows)
    acc = (counts["tp"] + counts["tn"]) / n if n else 0.0
    p = counts["tp"] / (counts["tp"] + counts["fp"]) if counts["tp"] + counts["fp"] else 0.0
    r = counts["tp"] / (counts["tp"] + counts["fn"]) if counts["tp"] + counts["fn"] else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    print(f"split: {args.split} (reports {lo}-{hi}, {n} annotations, {unmatched} concept spans not found)")
    print(f"accuracy: {acc:.4f}")
    print(f"Negated  P/R/F1: {p:.3f} / {r:.3f} / {f:.3f}  (tp={counts['tp']} fp={counts['fp']} fn={counts['fn']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
