"""``DemoReport``: collects figures, tables and figures' data sources; writes ``report.md``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrgraph.utils.atomic import atomic_savefig, atomic_write

__all__ = ["DemoReport", "Figure"]


@dataclass
class Figure:
    """A PNG of the report with its caption and the data it was made from."""

    path: Path
    caption: str
    data: str


@dataclass
class DemoReport:
    """The demo's report: sections of text, tables and figures, written as Markdown."""

    out: Path
    title: str = "cxrgraph demo"
    blocks: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    summary: list[tuple[str, str, str]] = field(default_factory=list)

    def section(self, heading: str, text: str = "") -> None:
        self.blocks.append(f"## {heading}\n\n{text.strip()}\n" if text else f"## {heading}\n")

    def text(self, text: str) -> None:
        self.blocks.append(text.strip() + "\n")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        self.blocks.append("\n".join(lines) + "\n")

    def figure(self, fig: Any, name: str, caption: str, data: str) -> Path:
        path = atomic_savefig(fig, self.out / "figures" / name, dpi=110, bbox_inches="tight")
        self.figures.append(Figure(path, caption, data))
        n = len(self.figures)
        self.blocks.append(f"![{caption}](figures/{name})\n\n*Figure {n}. {caption}*\n")
        return path

    def metric(self, stage: str, name: str, value: str) -> None:
        """A line of the summary table (printed at the end and written at the top of the report)."""
        self.summary.append((stage, name, value))

    def write(self) -> Path:
        lines = [f"# {self.title}\n"]
        lines.append(
            "Everything below was computed on the built-in **phantom**: synthetic radiographs and reports "
            "with known ground truth. The numbers say what the pipeline does on synthetic data, not how it "
            "performs on real chest X-rays.\n"
        )
        lines.append("## Summary\n")
        lines.append("| stage | measure | value |\n|---|---|---|")
        lines += [f"| {s} | {n} | {v} |" for s, n, v in self.summary]
        lines.append("")
        lines += self.blocks
        lines.append("## Figures and the data they come from\n")
        lines.append("| # | file | shows | data |\n|---|---|---|---|")
        for i, f in enumerate(self.figures, 1):
            lines.append(f"| {i} | `figures/{f.path.name}` | {f.caption} | {f.data} |")
        path = self.out / "report.md"
        with atomic_write(path) as fh:
            fh.write("\n".join(lines) + "\n")
        return path

    def summary_text(self) -> str:
        width = max((len(s) + len(n) for s, n, _ in self.summary), default=20) + 3
        return "\n".join(f"  {s + ' · ' + n:<{width}} {v}" for s, n, v in self.summary)
