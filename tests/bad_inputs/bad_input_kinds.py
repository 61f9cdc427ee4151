"""The bad-input corpus: each kind writes the run date's partition of a data folder from the day's good
events (a DataFrame in the contract) and states what the platform must do with it.

Outcomes: "stop" (the step that stops, and words the message must contain), "quarantine" (rows go to
raw.quarantine with these reasons, the run goes on), "warn" (the run goes on, the warning is recorded).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Kind:
    make: Callable[[Path, pd.DataFrame, dt.date], None]  # (partition folder, good events, day)
    outcome: str  # stop | quarantine | warn
    step: str | None = None  # for stop: ingest | validate_raw
    words: tuple[str, ...] = ()  # in the error message (stop) or the warnings (warn)
    quarantined: dict[str, int] = field(default_factory=dict)  # reason prefix -> rows


def csv(folder: Path, frame: pd.DataFrame, name: str = "events.csv", **options) -> Path:
    path = folder / name
    frame.to_csv(path, index=False, **options)
    return path


def parquet(folder: Path, frame: pd.DataFrame, name: str = "events.parquet") -> Path:
    path = folder / name
    frame.to_parquet(path, index=False)
    return path


def with_cells(frame: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    frame = frame.astype({column: object}) if not isinstance(value, float) else frame.copy()
    frame.loc[rows, column] = value
    return frame


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def renumbered(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return frame.assign(event_id=[f"{prefix}-{i}" for i in range(len(frame))])


def make_missing_column(folder, events, day):
    parquet(folder, events.drop(columns=["user_id"]))


def make_wrong_type(folder, events, day):
    parquet(folder, events.assign(value=["cheap"] * len(events)))


def make_unparseable_ts(folder, events, day):
    csv(folder, with_cells(as_text(events), "ts", [5, 6, 7], "yesterday-ish"))


def make_future_ts(folder, events, day):
    future = pd.Timestamp(day + dt.timedelta(days=5), tz="UTC")
    parquet(folder, with_cells(events, "ts", [1, 2, 3, 4], future).astype({"ts": "datetime64[us, UTC]"}))


def make_too_late_ts(folder, events, day):
    old = pd.Timestamp(day - dt.timedelta(days=10), tz="UTC")
    parquet(folder, with_cells(events, "ts", [8, 9], old).astype({"ts": "datetime64[us, UTC]"}))


def make_late_arrivals(folder, events, day):
    late = pd.Timestamp(day - dt.timedelta(days=1), tz="UTC") + pd.Timedelta(hours=20)
    parquet(folder, with_cells(events, "ts", [10, 11, 12], late).astype({"ts": "datetime64[us, UTC]"}))


def make_duplicated_event_ids(folder, events, day):
    repeats = events.iloc[:5].assign(session_id="replayed")
    parquet(folder, pd.concat([events, repeats], ignore_index=True))


def make_negative_value(folder, events, day):
    parquet(folder, with_cells(events, "value", [3, 4], -5.0))


def make_unknown_event_type(folder, events, day):
    parquet(folder, with_cells(events, "event_type", [0, 1, 2], "like"))


def make_null_user_id(folder, events, day):
    parquet(folder, with_cells(events, "user_id", [0, 1], None))


def make_nan_inf(folder, events, day):
    # As text: Parquet writers turn a pandas NaN into a null (a different kind: null in a required column).
    frame = with_cells(events, "value", [0, 1], float("nan"))
    csv(folder, as_text(with_cells(frame, "value", [2], float("inf"))), na_rep="NaN")


def make_too_many_bad_rows(folder, events, day):
    bad = list(range(0, len(events), 3))  # a third of the rows
    parquet(folder, with_cells(events, "value", bad, -1.0))


def make_few_unknown_ids(folder, events, day):
    parquet(folder, with_cells(events, "user_id", [0, 1], "ghost"))


def make_many_unknown_ids(folder, events, day):
    rows = list(range(0, len(events), 5))  # 20 % of the events
    frame = with_cells(events, "user_id", rows, "ghost")
    parquet(folder, with_cells(frame, "item_id", rows, "i-ghost"))


def make_empty_day(folder, events, day):
    csv(folder, as_text(events).iloc[:0])


def make_ten_times_volume(folder, events, day):
    copies = [renumbered(events, f"x{n}") for n in range(10)]
    parquet(folder, pd.concat(copies, ignore_index=True))


def make_truncated_parquet(folder, events, day):
    path = parquet(folder, events)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def make_wrong_delimiter(folder, events, day):
    csv(folder, as_text(events), sep=";")


def make_non_utf8(folder, events, day):
    path = csv(folder, as_text(events).assign(session_id="sitzung-ü"))
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


def make_extra_column(folder, events, day):
    parquet(folder, events.assign(device=np.where(np.arange(len(events)) % 2, "ios", "web")))


def make_duplicated_whole_file(folder, events, day):
    parquet(folder, events, "events.parquet")
    parquet(folder, events, "events (copy).parquet")


def make_yesterdays_file_again(folder, events, day):
    yesterday = folder.parent / f"date={day - dt.timedelta(days=1)}" / "events.parquet"
    folder.joinpath("events.parquet").write_bytes(yesterday.read_bytes())


def stop(step: str, *words: str) -> dict:
    return {"outcome": "stop", "step": step, "words": words}


def quarantine(reason: str, rows: int) -> dict:
    return {"outcome": "quarantine", "quarantined": {reason: rows}}


DUPLICATE = "event_id: duplicated event_id"
ALL_ROWS = -1  # as many rows as the day has

KINDS: dict[str, Kind] = {
    "missing column": Kind(make_missing_column, **stop("ingest", "'user_id'", "required column missing")),
    "wrong type": Kind(make_wrong_type, **stop("ingest", "'value'", "not a valid number", "rejected")),
    "unparseable timestamp": Kind(make_unparseable_ts, **quarantine("ts: ts is not a valid timestamp", 3)),
    "future timestamps": Kind(make_future_ts, **quarantine("ts: ts in the future", 4)),
    "events older than the allowed lateness": Kind(
        make_too_late_ts, **quarantine("ts: ts more than 3 days before", 2)
    ),
    "late arrivals within the allowed lateness": Kind(
        make_late_arrivals, outcome="warn", words=("hours_from_day_start",)
    ),
    "duplicated event_ids": Kind(make_duplicated_event_ids, **quarantine(DUPLICATE, 5)),
    "negative value": Kind(make_negative_value, **quarantine("value: value is negative", 2)),
    "unknown event_type": Kind(make_unknown_event_type, **quarantine("event_type: event_type not one of", 3)),
    "null user_id": Kind(make_null_user_id, **quarantine("user_id: null in required column", 2)),
    "NaN and inf values": Kind(make_nan_inf, **quarantine("value: value is NaN or infinite", 3)),
    "too many bad rows in one file": Kind(
        make_too_many_bad_rows, **stop("ingest", "'value'", "break the contract", "rejected")
    ),
    "a few unknown user ids": Kind(make_few_unknown_ids, outcome="warn", words=("user_known",)),
    "unknown user/item ids above the threshold": Kind(
        make_many_unknown_ids, **stop("validate_raw", "user_known", "item_known", "event_id")
    ),
    "empty day": Kind(make_empty_day, **stop("validate_raw", "expect_table_row_count_to_be_between", "0")),
    "10x the usual volume": Kind(
        make_ten_times_volume, **stop("validate_raw", "expect_table_row_count_to_be_between", "observed")
    ),
    "truncated Parquet file": Kind(make_truncated_parquet, **stop("ingest", "unreadable Parquet file")),
    "CSV with a wrong delimiter": Kind(make_wrong_delimiter, **stop("ingest", "required column missing")),
    "non-UTF-8 bytes": Kind(make_non_utf8, **stop("ingest", "unreadable CSV file", "utf-8")),
    "extra column": Kind(make_extra_column, outcome="warn", words=("device",)),
    "duplicated whole file": Kind(make_duplicated_whole_file, **quarantine(DUPLICATE, ALL_ROWS)),
    "yesterday's file delivered again as today's": Kind(
        make_yesterdays_file_again,
        **stop("validate_raw", "row_count", "'observed': 0", "quarantined at ingest", "already loaded"),
    ),
}
