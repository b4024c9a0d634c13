"""How well can a lesion's level be read from PHANTOM pixels at all? An ideal-observer check.

Each study is rendered twice with the same noise and exposure: once as drawn and once without
one lesion. The summed absolute difference is that lesion's signal in the final image, after
the study's pose, exposure, noise and ±10 % size / intensity jitter. Per finding, the best
thresholds between adjacent levels (fitted on the same lesions, hence an upper bound) show how
far the jitter lets levels overlap; cardiomegaly is read from the drawn cardiothoracic ratio.
The levels read this way are then turned into region progression labels exactly as the
phantom does, and compared with the true labels.

The observer knows where each lesion is and what the study would look like without it, which
no model does: it bounds what the pixels allow, not what a model will reach.

    python benchmarks/temporal/ideal_observer.py --patients 120
"""

from __future__ import annotations

import argparse
import collections
import copy
import itertools

import numpy as np

import cxrgraph.datasets.phantom.dataset as phantom_dataset
from cxrgraph.datasets.phantom.render import render
from cxrgraph.datasets.phantom.series import edge_change, region_progression


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    captured: list[tuple] = []

    def recording_render(fields, drawn, rng, jitter):
        state = copy.deepcopy(rng.bit_generator.state)
        image = render(fields, drawn, rng, jitter)
        captured.append((fields, list(drawn), state, dict(jitter), image))
        return image

    # the cohort draws through this name; recording it keeps every study's random state
    phantom_dataset.render = recording_render
    cohort = phantom_dataset.PhantomCohort(args.patients, size=128, seed=args.seed)
    signals: dict[str, dict[int, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    patients = []
    for i in range(args.patients):
        captured.clear()
        patient = cohort.patient(i)
        per_study = []
        for fields, drawn, state, jitter, image in captured:
            sig = {}
            for lesion in drawn:
                if lesion.finding == "enlarged cardiac silhouette":
                    value = fields.ctr
                else:
                    rng = np.random.default_rng()
                    rng.bit_generator.state = state
                    without = render(fields, [x for x in drawn if x.key != lesion.key], rng, jitter)
                    value = float(np.abs(image - without).sum())
                sig[lesion.key] = value
                signals[lesion.finding][lesion.level].append(value)
            per_study.append(sig)
        patients.append((patient, per_study))

    cuts: dict[str, tuple[list[int], list[float]]] = {}
    print("lesion signal per level: n [min, median, max]; errors of the best cut between adjacent levels")
    for finding in sorted(signals):
        levels = sorted(signals[finding])
        desc = "; ".join(
            f"L{lv} n={len(signals[finding][lv])} [{min(signals[finding][lv]):.3g}, "
            f"{np.median(signals[finding][lv]):.3g}, {max(signals[finding][lv]):.3g}]"
            for lv in levels
        )
        print(f"  {finding}: {desc}")
        found = []
        for a, b in itertools.pairwise(levels):
            xa, xb = np.array(signals[finding][a]), np.array(signals[finding][b])
            errors, cut = min(((xa >= c).sum() + (xb < c).sum(), c) for c in np.unique(np.concatenate([xa, xb])))
            found.append(float(cut))
            print(f"    L{a} vs L{b}: {errors}/{len(xa) + len(xb)}")
        cuts[finding] = (levels, found)

    def level_of(finding: str, value: float) -> int:
        levels, found = cuts[finding]
        return levels[sum(value >= c for c in found)]

    correct = total = 0
    for patient, per_study in patients:
        for k in range(1, len(patient.studies)):
            study, before, now = patient.studies[k], per_study[k - 1], per_study[k]
            changes = {}
            for lesion in study.lesions:
                prior = level_of(lesion.finding, before[lesion.key]) if lesion.key in before else None
                current = level_of(lesion.finding, now[lesion.key]) if lesion.key in now else 0
                changes[lesion.key] = edge_change(prior, current)
            pred = region_progression(study.lesions, changes)
            labelled = study.progression >= 0
            total += int(labelled.sum())
            correct += int((pred[labelled] == study.progression[labelled]).sum())
    print(f"region progression accuracy from the observer's levels: {correct / total:.3f} ({total} regions)")


if __name__ == "__main__":
    main()
