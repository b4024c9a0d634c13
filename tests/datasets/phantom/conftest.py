"""Shared fixtures of the phantom tests: small cohorts generated once per session."""

import pytest

from cxrgraph.datasets.phantom import PhantomCohort


@pytest.fixture(scope="session")
def small_cohort() -> PhantomCohort:
    return PhantomCohort(12, size=128, seed=7)


@pytest.fixture(scope="session")
def small_patients(small_cohort):
    return list(small_cohort.patients())
