"""Longitudinal series: change labels agree with the severity changes they describe."""

import itertools

import numpy as np
import torch

from cxrgraph.datasets.phantom.series import edge_change, plan_series, region_progression
from cxrgraph.graph import StudyPair, progression_from_changes
from cxrgraph.ontology import get_ontology


def test_edge_change_rules():
    assert edge_change(None, 2) == "new"
    assert edge_change(1, 3) == "worsened"
    assert edge_change(3, 1) == "improved"
    assert edge_change(2, 2) == "no change"
    assert edge_change(2, 0) == "resolved"


def test_planned_changes_follow_levels():
    for seed in range(40):
        steps = plan_series(np.random.default_rng(seed), 4)
        for prev, cur in itertools.pairwise(steps):
            before = {les.key: les.level for les in prev.lesions if les.present}
            assert set(cur.changes) == {les.key for les in cur.lesions}
            for les in cur.lesions:
                assert cur.changes[les.key] == edge_change(before.get(les.key), les.level)
            # a lesion present before never silently disappears
            assert set(before) <= {les.key for les in cur.lesions}


def test_pairs_are_consistent(small_patients):
    onto = get_ontology()
    n_pairs = 0
    seen = set()
    for patient in small_patients:
        assert 2 <= len(patient.studies) <= 4
        dates = [s.date for s in patient.studies]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        pairs = patient.pairs()
        assert len(pairs) == len(patient.studies) - 1
        for pair, prior, cur in zip(pairs, patient.studies[:-1], patient.studies[1:]):
            n_pairs += 1
            assert isinstance(pair, StudyPair)
            assert pair.meta["prior_study_id"] == prior.study_id and pair.meta["study_id"] == cur.study_id
            # the labels read back from the current report's change cues are the pair's labels
            assert torch.equal(progression_from_changes(cur.graph), pair.change)
            assert torch.equal(torch.as_tensor(region_progression(cur.lesions, cur.changes)), pair.change)
            before = {les.key: les for les in prior.lesions if les.present}
            for les in cur.lesions:
                old = before.get(les.key)
                for region in les.regions:
                    label = onto.label_name("progression", int(pair.change[onto.region_index(region)]))
                    seen.add(label)
                    # a region is worsened if any of its lesions got worse, etc.
                    if old is None or les.level > old.level:
                        assert label == "worsened"
                    elif les.level < old.level and label != "worsened":
                        assert label == "improved"
            touched = {onto.region_index(r) for les in cur.lesions for r in les.regions}
            untouched = [i for i in range(onto.num_regions) if i not in touched]
            assert (pair.change[untouched] == -1).all()
    assert n_pairs > 10
    assert seen == {"improved", "no change", "worsened"}
