"""Churn training data: the temporal split of stacked snapshots, and event sequences as of any cutoff.

The split never lets a model see a user's future: validation is the latest complete cutoff c_val; the
model trains on cutoffs whose label windows end by c_val (c + horizon <= c_val); calibration rows are a
fixed share of users (by a hash of the id), held out of training at every cutoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from retention.sampling import stable_uniform

CALIBRATION_SALT = "churn-calibration-v1"
# Used only when the history is too short for a temporal split (see `temporal_split`).
VALIDATION_SALT = "churn-validation-v1"
HOLDOUT_SHARE = 0.2


@dataclass(frozen=True)
class ChurnSplit:
    train: pd.DataFrame
    calibration: pd.DataFrame
    validation: pd.DataFrame
    protocol: str  # "temporal", or "users" when the history is too short

    def describe(self) -> dict[str, object]:
        return {
            "split": self.protocol,
            "train_rows": len(self.train),
            "train_cutoffs": ",".join(sorted(str(c)[:10] for c in self.train["cutoff_date"].unique())),
            "calibration_rows": len(self.calibration),
            "validation_rows": len(self.validation),
            "validation_cutoff": str(self.validation["cutoff_date"].max())[:10],
        }


def temporal_split(
    frame: pd.DataFrame, horizon_days: int, holdout_share: float = HOLDOUT_SHARE
) -> ChurnSplit:
    """Split user x cutoff rows (columns user_id, cutoff_date, churned, features) as described above.

    With no cutoff old enough, falls back to disjoint users at the latest cutoff (same label window,
    so no user's future is seen either, but the validation is not out of time)."""
    cutoffs = pd.to_datetime(frame["cutoff_date"])
    latest = cutoffs.max()
    validation = frame[cutoffs == latest]
    history = frame[cutoffs + pd.Timedelta(days=horizon_days) <= latest]
    protocol = "temporal"
    if history.empty:
        is_valid = stable_uniform(validation["user_id"], VALIDATION_SALT) < holdout_share
        history, validation, protocol = validation[~is_valid], validation[is_valid], "users"
    is_calibration = stable_uniform(history["user_id"], CALIBRATION_SALT) < holdout_share
    return ChurnSplit(history[~is_calibration], history[is_calibration], validation, protocol)


SEQUENCES_SQL = """
with last_events as (
    select user_id, item_id, event_type, ts, event_id
    from (
        select e.user_id, e.item_id, e.event_type, e.ts, e.event_id,
               row_number() over (partition by e.user_id order by e.ts desc, e.event_id desc) as recency
        from {events} as e
        where e.ts < $cutoff and e.user_id in (select user_id from wanted)
    )
    where recency <= $length
),
with_gaps as (
    select *, date_diff('second', lag(ts) over (partition by user_id order by ts, event_id), ts) as gap
    from last_events
)
select
    user_id,
    cast($cutoff as date) as cutoff_date,
    max(ts) as last_ts,
    list(item_id order by ts, event_id) as item_ids,
    list(event_type order by ts, event_id) as event_types,
    coalesce(list(gap order by ts, event_id) filter (where gap is not null), []) as gap_seconds
from with_gaps
group by user_id
"""


def sequences_at(
    con: duckdb.DuckDBPyConnection, events: str, cutoff: dt.date, user_ids: pd.Series, length: int = 50
) -> pd.DataFrame:
    """The last `length` events before `cutoff` of each user, as `features.user_sequences` has them."""
    con.register("wanted", pd.DataFrame({"user_id": user_ids.astype(str).unique()}))
    try:
        sql = SEQUENCES_SQL.format(events=events)
        cutoff_ts = dt.datetime.combine(cutoff, dt.time())
        return con.execute(sql, {"cutoff": cutoff_ts, "length": length}).df()
    finally:
        con.unregister("wanted")


def with_sequences(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, events: str = "staging.stg_events", length: int = 50
) -> pd.DataFrame:
    """`frame` (user x cutoff rows) with the sequence columns as of each row's cutoff_date."""
    parts = []
    for cutoff, rows in frame.groupby(pd.to_datetime(frame["cutoff_date"]).dt.date, sort=True):
        sequences = sequences_at(con, events, cutoff, rows["user_id"], length)
        parts.append(rows.merge(sequences.drop(columns="cutoff_date"), on="user_id", how="left"))
    return pd.concat(parts, ignore_index=True) if parts else frame
