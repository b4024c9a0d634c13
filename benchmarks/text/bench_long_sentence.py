"""Parse time of one run-on sentence (a report with no full stop) against its length.

Two synthetic shapes, each a ``FINDINGS:`` section holding one sentence of clauses joined by
commas, drawn with a fixed seed:

* ``phrases``: clinical phrases with regions, sides, hedges and negations ("mild left basilar
  opacity, which may represent atelectasis, no pneumothorax, ...");
* ``dense``: bare finding names ("effusion, atelectasis, opacity, ..."), the most mentions per
  character.

The sentence cache is off, so every run reads the sentence from scratch. Each size is parsed
with the default sentence cap (:data:`cxrgraph.text.sentences.MAX_SENTENCE_CHARS`) and with no
cap (``max_sentence_chars=None``: the whole sentence read as one). Prints the median of
``--repeat`` runs, wall time, one process.

    PYTHONPATH=. python benchmarks/text/bench_long_sentence.py [--sizes 1000 3600 13000 50000] [--repeat 3]

(``PYTHONPATH=.`` from the repository root times this checkout, not an installed cxrgraph.)

Code without the ``max_sentence_chars`` option (before the cap existed) is timed as it is.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
import warnings
from inspect import signature

PHRASES = [
    "mild left basilar opacity",
    "which may represent atelectasis",
    "small right pleural effusion",
    "no pneumothorax",
    "the heart size is normal",
    "bibasilar atelectasis",
    "possible pneumonia in the right lower lobe",
    "stable cardiomegaly",
    "no focal consolidation",
    "calcified granuloma in the left upper lobe",
    "degenerative changes of the spine",
    "unchanged mediastinal contours",
]
FINDINGS = [
    "effusion",
    "atelectasis",
    "opacity",
    "pneumothorax",
    "edema",
    "nodule",
    "consolidation",
    "cardiomegaly",
    "emphysema",
    "granuloma",
]


def run_on(shape: str, chars: int, seed: int = 0) -> str:
    """A ``FINDINGS:`` report of one sentence of about ``chars`` characters."""
    words = PHRASES if shape == "phrases" else FINDINGS
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        parts.append(rng.choice(words))
        size += len(parts[-1]) + 2
    return "FINDINGS: " + ", ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3600, 13000, 50000])
    parser.add_argument("--shapes", nargs="+", default=["phrases", "dense"], choices=("phrases", "dense"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from cxrgraph.text import parse_report
    from cxrgraph.text.rules import set_sentence_cache_size

    set_sentence_cache_size(0)
    # code from before the sentence cap has no such option
    caps: list[object] = ["default", None] if "max_sentence_chars" in signature(parse_report).parameters else ["n/a"]
    parse_report("FINDINGS: warm-up, left effusion, no pneumothorax.")  # compile the regexes

    print(f"python {platform.python_version()} on {platform.machine()}, sentence cache off, median of {args.repeat}")
    print(f"{'shape':8} {'chars':>7} {'cap':>8} {'seconds':>9} {'ms/KB':>7} {'sentences':>9} {'triplets':>8}  errors")
    for shape in args.shapes:
        for size in args.sizes:
            text = run_on(shape, size)
            for cap in caps:
                kwargs = {} if cap in ("default", "n/a") else {"max_sentence_chars": cap}
                times = []
                for _ in range(args.repeat):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        graph = parse_report(text, **kwargs)
                        times.append(time.perf_counter() - t0)
                secs = statistics.median(times)
                label = "none" if cap is None else str(cap)
                print(
                    f"{shape:8} {len(text):7d} {label:>8} {secs:9.4f} {1000 * secs / (len(text) / 1000):7.2f} "
                    f"{len(graph.sentences):9d} {len(graph.triplets):8d}  {len(graph.errors)}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
