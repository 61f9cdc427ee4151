"""Point-in-time churn snapshots for the churn benchmark, built from a warehouse's raw tables at any
cutoff, with the population of the protocol (the platform's active users, or everyone seen before).

Features are `features.user_features`' own definition (the reference query `benchmarks.features.
BASELINE_SQL`, checked equal to dbt), plus lifetime columns (first event, totals) that long histories
such as transaction logs need, the label (no event in [c, c + H)) and the last 50 events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import duckdb
import pandas as pd

from benchmarks.features import BASELINE_SQL
from training.churn_data import with_sequences

Population = Literal["active", "any"]
# The active-user filter of the reference query: dropped for the "any" population.
ACTIVE_FILTER = "    HAVING max(ts) >= {cutoff} - INTERVAL 30 DAY  -- the active users\n"
MONDAY = dt.date(2000, 1, 3)  # week boundaries on the same fixed calendar as dbt's snapshots

LIFETIME_SQL = """
select
    user_id,
    date_diff('day', min(ts), $cutoff) as days_since_first_event,
    count(*) as events_total,
    count(*) filter (where event_type = 'purchase') as purchases_total,
    coalesce(sum(value) filter (where event_type = 'purchase'), 0) as purchase_value_total,
    count(distinct cast(ts as date)) as active_days_total
from raw.events
where ts < $cutoff
group by user_id
"""


@dataclass(frozen=True)
class Protocol:
    horizon_days: int = 30
    every_days: int = 28  # training cutoffs this far apart, going back from the test cutoff
    population: Population = "any"
    max_training_cutoffs: int = 12
    min_history_days: int = 28  # no training cutoff closer than this to the first event


def cutoffs(first: dt.date, last: dt.date, protocol: Protocol) -> tuple[list[dt.date], dt.date]:
    """(training cutoffs, test cutoff): the test cutoff is the latest week boundary with a complete
    window (c_test + H <= last event date); training cutoffs every `every_days` before it whose
    windows end by c_test (no label sees the test window)."""
    latest = last - dt.timedelta(days=protocol.horizon_days)
    test = latest - dt.timedelta(days=(latest - MONDAY).days % 7)
    training = []
    for k in range(1, 10_000):
        c = test - dt.timedelta(days=protocol.every_days * k)
        if (
            c < first + dt.timedelta(days=protocol.min_history_days)
            or len(training) == protocol.max_training_cutoffs
        ):
            break
        if c + dt.timedelta(days=protocol.horizon_days) <= test:
            training.append(c)
    if not training:
        raise ValueError(f"events from {first} to {last} are too short for a training cutoff before {test}")
    return sorted(training), test


def features_sql(cutoff: dt.date, population: Population) -> str:
    sql = BASELINE_SQL
    if population == "any":
        if ACTIVE_FILTER not in sql:
            raise RuntimeError("benchmarks.features.BASELINE_SQL changed: update ACTIVE_FILTER")
        sql = sql.replace(ACTIVE_FILTER, "")
    return sql.format(cutoff=f"TIMESTAMP '{cutoff.isoformat()} 00:00:00'", cutoff_date=f"DATE '{cutoff}'")


def snapshot(con: duckdb.DuckDBPyConnection, cutoff: dt.date, protocol: Protocol) -> pd.DataFrame:
    """Features at `cutoff` for the protocol's population, with lifetime columns and the label."""
    at = dt.datetime.combine(cutoff, dt.time())
    features = con.execute(features_sql(cutoff, protocol.population)).df()
    lifetime = con.execute(LIFETIME_SQL, {"cutoff": at}).df()
    returning = con.execute(
        "select distinct user_id from raw.events where ts >= $start and ts < $end",
        {"start": at, "end": at + dt.timedelta(days=protocol.horizon_days)},
    ).df()["user_id"]
    frame = features.merge(lifetime, on="user_id", how="left")
    weeks = frame["days_since_first_event"].clip(lower=7) / 7
    return frame.assign(
        active_days_per_week=frame["active_days_total"] / weeks,
        churned=(~frame["user_id"].isin(returning)).astype(int),
    )


def build_snapshots(con: duckdb.DuckDBPyConnection, protocol: Protocol) -> tuple[pd.DataFrame, dict]:
    """Every cutoff's snapshot stacked, with sequences, and a description of the cutoffs."""
    first, last = con.execute("select min(ts)::date, max(ts)::date from raw.events").fetchone()
    training, test = cutoffs(first, last, protocol)
    frame = pd.concat([snapshot(con, c, protocol) for c in [*training, test]], ignore_index=True)
    frame = with_sequences(con, frame, events="raw.events")
    described = {
        "first_event": str(first),
        "last_event": str(last),
        "test_cutoff": str(test),
        "training_cutoffs": [str(c) for c in training],
        **{k: v for k, v in protocol.__dict__.items()},
    }
    return frame, described
