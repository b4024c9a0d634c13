"""One patient split for every run: pretraining studies and progression pairs alike."""

import pytest

from cxrgraph.datasets import split_by_subject, split_indices


def test_split_by_subject_keeps_patients_together():
    subjects = [f"p{i // 3}" for i in range(60)]  # 20 patients, 3 studies each
    splits = split_by_subject(subjects, (0.1, 0.2), seed=0)
    by_patient = {}
    for s, sp in zip(subjects, splits):
        by_patient.setdefault(s, set()).add(sp)
    assert all(len(v) == 1 for v in by_patient.values())
    counts = {k: sum(1 for v in by_patient.values() if k in v) for k in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 2, "test": 4}
    assert split_by_subject(subjects, (0.1, 0.2), seed=0) == splits
    assert split_by_subject(subjects, (0.1, 0.2), seed=1) != splits
    with pytest.raises(ValueError, match="fractions"):
        split_by_subject(subjects, (0.5, 0.5))


def test_split_indices_and_the_progression_pairs_use_the_same_split():
    from cxrgraph.datasets import PhantomCohort
    from cxrgraph.train import ProgressionDataModule

    idx = split_indices(range(12), (0.2, 0.3), seed=5)
    which = split_by_subject(range(12), (0.2, 0.3), seed=5)
    assert {i for v in idx.values() for i in v} == set(range(12))
    assert all(which[i] == name for name, v in idx.items() for i in v)
    dm = ProgressionDataModule(
        num_patients=12, image_size=64, seed=5, val_fraction=0.2, test_fraction=0.3, guidance=False
    )
    dm.setup()
    patients = list(PhantomCohort(12, size=64, seed=5).patients())
    for name, samples in dm.samples.items():  # each patient's consecutive pairs, in its own split
        assert len(samples) == sum(len(patients[i].studies) - 1 for i in idx[name]), name
    with pytest.raises(ValueError, match="no training patient"):
        split_indices(range(3), (0.49, 0.5))
