"""The patient split shared by every training run: a patient's studies never straddle two splits."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence

__all__ = ["split_by_subject", "split_indices", "SPLITS"]

#: Split names, in the order the fractions of :func:`split_by_subject` refer to after ``"train"``.
SPLITS = ("train", "val", "test")


def split_by_subject(subjects: Sequence[Hashable], fractions: Sequence[float], seed: int = 0) -> list[str]:
    """Assign each item a split (``"train"``, ``"val"``, ``"test"``) so that a patient's studies stay together.

    Patients (distinct subject ids, compared as strings) are shuffled with ``seed``; the first
    ``round(test * P)`` go to test and the next ``round(val * P)`` to validation (at least one
    each when the fraction is positive and there are at least three patients), the rest to
    training. The same subjects, fractions and seed always give the same split, whatever the
    order of the items.

    Args:
        subjects: One subject id per item (a study, a study pair).
        fractions: ``(val, test)`` fractions of the patients.
        seed: Shuffle seed.

    Raises:
        ValueError: Negative fractions, or fractions that leave no room for training.
    """
    if len(fractions) != 2:
        raise ValueError(f"fractions: expected (val, test), got {tuple(fractions)}")
    val, test = (float(f) for f in fractions)
    if not (val >= 0 and test >= 0 and val + test < 1):
        raise ValueError(f"fractions: need val >= 0, test >= 0 and val + test < 1, got {tuple(fractions)}")
    unique = sorted(set(map(str, subjects)))
    random.Random(seed).shuffle(unique)
    num_p = len(unique)

    def count(frac: float) -> int:
        return 0 if frac == 0 or num_p < 3 else max(1, round(frac * num_p))

    n_test, n_val = count(test), count(val)
    which = {s: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, s in enumerate(unique)}
    return [which[str(s)] for s in subjects]


def split_indices(subjects: Sequence[Hashable], fractions: Sequence[float], seed: int = 0) -> dict[str, list[int]]:
    """:func:`split_by_subject` as the positions of the items of each split, ``{"train": [...], "val": [...], "test": [...]}``.

    Raises:
        ValueError: Bad fractions, or a split that leaves no patient for training.
    """
    which = split_by_subject(subjects, fractions, seed)
    out = {name: [i for i, w in enumerate(which) if w == name] for name in SPLITS}
    if subjects and not out["train"]:
        raise ValueError(f"fractions {tuple(fractions)} leave no training patient among {len(set(subjects))}")
    return out
