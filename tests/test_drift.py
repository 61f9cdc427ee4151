"""Feature drift: PSI and KS are ~0 for the same distribution and large for a shifted one."""

import datetime as dt

import numpy as np
import pandas as pd

from retention.drift import feature_drift, ks, psi


def test_same_distribution_is_stable_and_a_shift_is_not():
    rng = np.random.default_rng(1)
    before, after = rng.normal(size=5000), rng.normal(size=5000)
    assert psi(before, after) < 0.02 and ks(before, after) < 0.05
    assert psi(before, after + 1.0) > 0.25 and ks(before, after + 1.0) > 0.3


def test_discrete_features_with_ties_and_empty_bins_stay_finite():
    counts = np.array([0] * 80 + [1] * 15 + [2] * 5)
    assert psi(counts, counts) == 0.0
    assert np.isfinite(psi(counts, counts + 10)) and psi(counts, counts + 10) > 1.0


def test_one_row_per_feature_and_missing_features_are_nan():
    previous = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0, 0, 1]})
    current = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    drift = feature_drift(previous, current, ["a", "b"], dt.date(2026, 8, 2), dt.date(2026, 8, 1))
    assert list(drift["feature"]) == ["a", "b"]
    assert drift.loc[0, "psi"] == 0.0 and np.isnan(drift.loc[1, "psi"])
