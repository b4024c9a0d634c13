"""The parser's output on every OpenI report, written once and diffed against a later run.

``dump`` writes one JSON line per report (``ReportGraph.to_json()`` plus the report id) for all
3,955 OpenI reports; ``diff`` compares two dumps and counts the differences by kind:

* a triplet (region, finding) that only one side has, split by existence;
* the same (region, finding) read with another existence, severity or change;
* a finding node whose report-level existence changed (present / absent / uncertain / none);
* ``suggestive_of`` pairs, sentences and errors that differ.

Fields that only one dump has (e.g. the report terms a newer parser keeps) are reported, not
counted as differences. Examples are printed for dev-split reports only: the 771 held-out ids
(``openi-testset.txt``) are counted but never shown.

    PYTHONPATH=. python benchmarks/text/diff_openi.py dump before.jsonl
    PYTHONPATH=. python benchmarks/text/diff_openi.py diff before.jsonl after.jsonl [--examples 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT_EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval" / "openi"
_RANK = {"absent": 0, "uncertain": 1, "present": 2}


def dump(out: Path, source: str | None) -> int:
    from cxrgraph.datasets import OpenIReports
    from cxrgraph.text import parse_report

    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for report in OpenIReports(source):
            graph = parse_report(report.text, id=report.id) if report.text.strip() else None
            row = graph.to_json() if graph is not None else {"id": report.id, "triplets": [], "empty": True}
            fh.write(json.dumps(row, sort_keys=True) + "\n")
            n += 1
    print(f"wrote {n} reports to {out}")
    return 0


def _load(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as fh:
        return {row["id"]: row for row in map(json.loads, fh)}


def _edges(row: dict) -> dict[tuple[str, str], tuple[str, str, str]]:
    """Merged (finding, region) -> (existence, severity, change), as the graph merges them."""
    out: dict[tuple[str, str], list[str]] = {}
    for t in row.get("triplets", []):
        key = (t["finding"], t["region"])
        cur = out.get(key)
        if cur is None:
            out[key] = [t["existence"], t["severity"], t["change"]]
            continue
        if _RANK[t["existence"]] > _RANK[cur[0]]:
            cur[0] = t["existence"]
        if t["severity"] != "unspecified":
            cur[1] = t["severity"]
        if t["change"] != "unspecified":
            cur[2] = t["change"]
    return {k: tuple(v) for k, v in out.items()}


def _nodes(edges: dict[tuple[str, str], tuple[str, str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for (finding, _region), (ex, _sev, _ch) in edges.items():
        if finding not in out or _RANK[ex] > _RANK[out[finding]]:
            out[finding] = ex
    return out


def diff(before: Path, after: Path, examples: int, eval_dir: Path) -> int:
    a, b = _load(before), _load(after)
    held = set()
    test_file = eval_dir / "openi-testset.txt"
    if test_file.is_file():
        held = {x.strip() for x in test_file.read_text(encoding="utf-8").splitlines() if x.strip()}
    from cxrgraph.ontology import get_ontology

    onto = get_ontology()

    def root(name: str) -> str:
        return onto.finding_root(name).name if onto.has_finding(name) else name

    kinds: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    changed_reports = renamed_only = 0
    shown = 0
    only_fields: Counter[str] = Counter()
    for rid in sorted(set(a) | set(b)):
        if rid not in a or rid not in b:
            kinds["report only in " + ("after" if rid in b else "before")] += 1
            continue
        ra, rb = a[rid], b[rid]
        for t in rb.get("triplets", [])[:1]:
            for k in set(t) - set((ra.get("triplets") or [{}])[0] or t):
                only_fields[f"triplet field only after: {k}"] += 1
        for k in set(rb) - set(ra):
            only_fields[f"report field only after: {k}"] += 1
        ea, eb = _edges(ra), _edges(rb)
        notes = []
        renamed = False
        # an edge whose finding became one of its kinds (calcified nodule -> granuloma) at the same
        # region with the same modifiers is a renaming, counted apart from real changes
        for key in sorted(set(eb) - set(ea)):
            old = next((k for k in set(ea) - set(eb) if k[1] == key[1] and root(k[0]) == root(key[0])), None)
            if old is not None and ea[old] == eb[key]:
                kinds["edge renamed to the finding's kind (same Chest ImaGenome parent, same modifiers)"] += 1
                findings[f"= {old[0]} -> {key[0]}"] += 1
                renamed = True
                del ea[old]
                eb = {k: v for k, v in eb.items() if k != key}
        for key in sorted(set(ea) | set(eb)):
            if key not in eb:
                kinds[f"edge removed ({ea[key][0]})"] += 1
                findings[f"- {key[0]} ({ea[key][0]})"] += 1
                notes.append(f"- {key[0]} @ {key[1]}: {ea[key]}")
            elif key not in ea:
                kinds[f"edge added ({eb[key][0]})"] += 1
                findings[f"+ {key[0]} ({eb[key][0]})"] += 1
                notes.append(f"+ {key[0]} @ {key[1]}: {eb[key]}")
            else:
                for i, name in enumerate(("existence", "severity", "change")):
                    if ea[key][i] != eb[key][i]:
                        kinds[f"edge {name} {ea[key][i]} -> {eb[key][i]}"] += 1
                        if i == 0:
                            findings[f"~ {key[0]} ({ea[key][0]} -> {eb[key][0]})"] += 1
                        notes.append(f"~ {key[0]} @ {key[1]}: {name} {ea[key][i]} -> {eb[key][i]}")
        na, nb = _nodes(_edges(ra)), _nodes(_edges(rb))
        for f in sorted(set(na) | set(nb)):
            if na.get(f) != nb.get(f):
                kinds[f"finding node {na.get(f, 'none')} -> {nb.get(f, 'none')}"] += 1
        for field in ("suggestive_of", "sentences", "errors"):
            if ra.get(field) != rb.get(field):
                kinds[f"{field} differ"] += 1
                notes.append(f"{field}: {ra.get(field)} -> {rb.get(field)}")
        if renamed and not notes:
            renamed_only += 1
        if notes:
            changed_reports += 1
            if rid not in held and shown < examples:
                shown += 1
                print(f"--- {rid}")
                for line in notes:
                    print(f"    {line}")
                for i, s in enumerate(rb.get("sentences", [])):
                    print(f"    {i}: {s}")
    same = len(a) - changed_reports - renamed_only
    print(
        f"reports: {len(set(a) | set(b))}; identical: {same}; differing only by findings renamed to their kind: "
        f"{renamed_only}; differing otherwise: {changed_reports}"
    )
    print("differences by kind:")
    for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {v:6d}  {k}")
    if findings:
        print("edge differences by finding:")
        for k, v in sorted(findings.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {v:6d}  {k}")
    for k, v in sorted(only_fields.items()):
        print(f"  (not a difference) {k}: {v} reports")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump", help="parse every OpenI report, one JSON line each")
    p.add_argument("out", type=Path)
    p.add_argument("--reports", default=None, help="NLMCXR_reports.tgz or folder (default: torchxrayvision's)")
    p = sub.add_parser("diff", help="count the differences between two dumps")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--examples", type=int, default=0, help="print this many differing dev-split reports")
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args(argv)
    if args.cmd == "dump":
        return dump(args.out, args.reports)
    return diff(args.before, args.after, args.examples, args.eval_dir)


if __name__ == "__main__":
    sys.exit(main())
