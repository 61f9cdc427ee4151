"""Feature drift: how far today's feature distributions moved from the previous published snapshot.

PSI (population stability index) over the previous snapshot's deciles, and the two-sample KS statistic.
Rules of thumb for PSI: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large. Every run's values are kept
in ``ops.feature_drift``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

BINS = 10
# Empty bins would make PSI infinite; a tiny share keeps it finite and still large.
EPSILON = 1e-4

DRIFT_DDL = """
create schema if not exists ops;
create table if not exists ops.feature_drift (
    run_date date, previous_run_date date, feature varchar, psi double, ks double,
    rows_current bigint, rows_previous bigint, computed_at timestamp
);
"""


def psi(previous: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    """PSI of `current` against `previous`, on the previous values' quantile bins (ties merged)."""
    previous, current = _finite(previous), _finite(current)
    if len(previous) == 0 or len(current) == 0:
        return 0.0 if len(previous) == len(current) else float("inf")
    inner = np.unique(np.quantile(previous, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(inner, previous, side="right"), minlength=len(inner) + 1)
    actual = np.bincount(np.searchsorted(inner, current, side="right"), minlength=len(inner) + 1)
    p = np.maximum(expected / len(previous), EPSILON)
    q = np.maximum(actual / len(current), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(previous: np.ndarray, current: np.ndarray) -> float:
    previous, current = _finite(previous), _finite(current)
    if len(previous) == 0 or len(current) == 0:
        return 0.0 if len(previous) == len(current) else 1.0
    return float(stats.ks_2samp(previous, current).statistic)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def feature_drift(
    previous: pd.DataFrame, current: pd.DataFrame, features: list[str], run_date: dt.date, previous_date
) -> pd.DataFrame:
    """One row per feature: PSI and KS of `current` vs `previous` (features missing on either side: NaN)."""
    rows = []
    for name in features:
        both = name in previous.columns and name in current.columns
        rows.append(
            {
                "run_date": run_date,
                "previous_run_date": previous_date,
                "feature": name,
                "psi": psi(previous[name], current[name]) if both else float("nan"),
                "ks": ks(previous[name], current[name]) if both else float("nan"),
                "rows_current": len(current),
                "rows_previous": len(previous),
            }
        )
    return pd.DataFrame(rows)
