"""The contract validators: staging CSV/Parquet files, typing, and every kind of violation they report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from retention.contract import (
    EVENT_CHECKS,
    EVENT_FIELDS,
    ITEM_FIELDS,
    MAX_EXAMPLES,
    ContractError,
    Problem,
    check_unique,
    conform,
    stage_files,
    stage_frame,
)

HEADER = "event_id,user_id,item_id,event_type,ts,value,session_id"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    with duckdb.connect() as connection:
        yield connection


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_events(con: duckdb.DuckDBPyConnection, *paths: Path) -> pd.DataFrame:
    columns = stage_files(con, "staged", list(paths))
    conform(con, "staged", "typed", EVENT_FIELDS, columns, EVENT_CHECKS)
    return con.execute("SELECT * FROM typed ORDER BY _file, _line").df()


def violation(con: duckdb.DuckDBPyConnection, *paths: Path) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_events(con, *paths)
    return info.value


def test_csv_timestamps_in_every_accepted_form_become_naive_utc(con, tmp_path):
    path = write_csv(
        tmp_path / "e.csv",
        HEADER,
        "e1,u1,i1,view,2026-06-01T10:00:00Z,0,s1",
        "e2,u1,i1,view,2026-06-01T12:00:00+02:00,0,s1",
        "e3,u1,i1,view,2026-06-01 10:00:00,0,",
        "e4,u1,i1,purchase,1780308000,12.5,",
    )
    typed = load_events(con, path)
    assert list(typed["ts"]) == [pd.Timestamp("2026-06-01 10:00:00")] * 4
    assert list(typed["_line"]) == [2, 3, 4, 5]
    assert typed["session_id"].isna().tolist() == [False, False, True, True]
    assert typed["value"].tolist() == [0.0, 0.0, 0.0, 12.5]
    assert typed["rating"].isna().all()  # optional column absent: null


@pytest.mark.parametrize(
    "ts",
    [
        pd.to_datetime(["2026-06-01 10:00:00"]).tz_localize("UTC"),
        pd.to_datetime(["2026-06-01 12:00:00"]).tz_localize("Europe/Berlin"),
        pd.to_datetime(["2026-06-01 10:00:00"]),  # naive = UTC
        np.array([1780308000], dtype=np.int64),
        ["2026-06-01T10:00:00Z"],
    ],
    ids=["utc", "berlin", "naive", "epoch", "string"],
)
def test_parquet_timestamps_become_naive_utc(con, tmp_path, ts):
    path = tmp_path / "e.parquet"
    frame = pd.DataFrame(
        {"event_id": [1], "user_id": [7], "item_id": [3], "event_type": ["view"], "ts": ts, "value": [0.0]}
    )
    frame.to_parquet(path)
    typed = load_events(con, path)
    assert typed.loc[0, "ts"] == pd.Timestamp("2026-06-01 10:00:00")
    assert (typed.loc[0, "event_id"], typed.loc[0, "user_id"], typed.loc[0, "item_id"]) == ("1", "7", "3")
    assert typed.loc[0, "_line"] == 1


def test_extra_columns_are_ignored(con, tmp_path):
    path = write_csv(tmp_path / "e.csv", HEADER + ",device", "e1,u1,i1,click,2026-06-01T10:00:00Z,0,s1,ios")
    typed = load_events(con, path)
    assert "device" not in typed.columns
    assert len(typed) == 1


def test_missing_required_column_names_file_and_column(con, tmp_path):
    path = write_csv(tmp_path / "e.csv", "event_id,item_id,event_type,ts,value", "e1,i1,view,2026-06-01,0")
    error = violation(con, path)
    assert error.problems == [Problem(str(path), "user_id", "required column missing")]
    assert str(path) in str(error) and "'user_id'" in str(error)


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        ("e1,u1,i1,view,2026-06-01T10:00:00Z,abc,", "value", "value is not a valid number"),
        ("e1,u1,i1,view,yesterday,0,", "ts", "ts is not a valid timestamp"),
        ("e1,u1,i1,view,1780308000000,0,", "ts", "ts is not a valid timestamp"),  # milliseconds
        ("e1,,i1,view,2026-06-01T10:00:00Z,0,", "user_id", "null in required column user_id"),
        ("e1,u1,i1,like,2026-06-01T10:00:00Z,0,", "event_type", "event_type not one of"),
        ("e1,u1,i1,purchase,2026-06-01T10:00:00Z,-3,", "value", "value is negative"),
        ("e1,u1,i1,purchase,2026-06-01T10:00:00Z,nan,", "value", "value is NaN or infinite"),
        ("e1,u1,i1,purchase,2026-06-01T10:00:00Z,inf,", "value", "value is NaN or infinite"),
        ("e1,u1,i1,view,2026-06-01T10:00:00Z,4.5,", "value", "value is not 0 for a non-purchase event"),
    ],
)
def test_row_violations_report_file_column_count_and_lines(con, tmp_path, row, column, problem):
    good = "e0,u1,i1,view,2026-06-01T09:00:00Z,0,"
    path = write_csv(tmp_path / "day.csv", HEADER, good, row)
    error = violation(con, path)
    assert len(error.problems) == 1
    found = error.problems[0]
    assert (found.file, found.column, found.rows) == (str(path), column, 1)
    assert found.problem.startswith(problem)
    assert found.examples[0].startswith("line 3: event_id='e1'")
    assert isinstance(error, ValueError)


def test_every_problem_is_reported_with_at_most_five_examples(con, tmp_path):
    rows = [f"e{i},u1,i1,view,2026-06-01T10:00:00Z,x{i},s" for i in range(8)]
    path = write_csv(tmp_path / "day.csv", HEADER, *rows, "e9,u1,i1,nope,2026-06-01T10:00:00Z,0,s")
    error = violation(con, path)
    by_column = {p.column: p for p in error.problems}
    assert set(by_column) == {"value", "event_type"}
    assert by_column["value"].rows == 8
    assert len(by_column["value"].examples) == MAX_EXAMPLES
    assert by_column["value"].examples[0] == "line 2: event_id='e0', value='x0'"
    assert by_column["event_type"].examples == ("line 10: event_id='e9', event_type='nope'",)


def test_problems_in_several_files_name_each_file(con, tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, "e1,u1,i1,view,2026-06-01,-1,")
    b = write_csv(tmp_path / "b.csv", HEADER, "e2,u1,i1,view,2026-06-01,0,", "e3,u1,i1,view,2026-06-01,-2,")
    error = violation(con, a, b)
    assert {
        (p.file, p.examples[0].split(":")[0]) for p in error.problems if p.problem == "value is negative"
    } == {
        (str(a), "line 2"),
        (str(b), "line 3"),
    }


def test_parquet_rows_are_numbered_from_one(con, tmp_path):
    path = tmp_path / "e.parquet"
    pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "user_id": ["u1", "u2"],
            "item_id": ["i1", "i1"],
            "event_type": ["view", "view"],
            "ts": pd.to_datetime(["2026-06-01", "2026-06-01"], utc=True),
            "value": [0.0, -1.0],
        }
    ).to_parquet(path)
    error = violation(con, path)
    assert error.problems[0].examples == ("row 2: event_id='e2', value='-1.0'",)


def test_check_unique_names_every_file_holding_a_duplicate(con, tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, "e1,u1,i1,view,2026-06-01,0,", "e2,u1,i1,view,2026-06-01,0,")
    b = write_csv(tmp_path / "b.csv", HEADER, "e3,u1,i1,view,2026-06-01,0,", "e1,u1,i1,view,2026-06-01,0,")
    load_events(con, a, b)
    with pytest.raises(ContractError) as info:
        check_unique(con, "typed", "event_id")
    assert [(p.file, p.column, p.rows, p.examples) for p in info.value.problems] == [
        (str(a), "event_id", 1, ("line 2: event_id='e1'",)),
        (str(b), "event_id", 1, ("line 3: event_id='e1'",)),
    ]


def test_items_price_must_be_a_non_negative_number(con, tmp_path):
    path = write_csv(
        tmp_path / "items.csv", "item_id,title,category,price", "1,a,x,2.5", "2,b,x,-1", "3,c,x,"
    )
    columns = stage_files(con, "staged", [path])
    with pytest.raises(ContractError) as info:
        conform(con, "staged", "typed", ITEM_FIELDS, columns)
    assert {(p.column, p.problem, p.rows) for p in info.value.problems} == {
        ("price", "price is negative", 1),
        ("price", "null in required column price", 1),
    }


def test_truncated_parquet_is_named(con, tmp_path):
    good, bad = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pd.DataFrame({"event_id": ["e1"]}).to_parquet(good)
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ContractError, match="b.parquet: unreadable Parquet file"):
        stage_files(con, "staged", [good, bad])


def test_non_utf8_csv_is_named(con, tmp_path):
    good = write_csv(tmp_path / "a.csv", HEADER, "e1,u1,i1,view,2026-06-01,0,")
    bad = tmp_path / "b.csv"
    bad.write_bytes((HEADER + "\ne2,J\xfcrgen,i1,view,2026-06-01,0,\n").encode("latin-1"))
    with pytest.raises(ContractError, match="b.csv: unreadable CSV file"):
        stage_files(con, "staged", [good, bad])


def test_wrong_delimiter_reads_as_missing_columns(con, tmp_path):
    path = write_csv(tmp_path / "e.csv", HEADER.replace(",", ";"), "e1;u1;i1;view;2026-06-01;0;")
    error = violation(con, path)
    assert {p.column for p in error.problems} == {
        "event_id",
        "user_id",
        "item_id",
        "event_type",
        "ts",
        "value",
    }


def test_frames_are_validated_like_files(con):
    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "user_id": ["u1", "u1"],
            "item_id": ["i1", "i1"],
            "event_type": ["click", "click"],
            "ts": [dt.datetime(2026, 6, 1), dt.datetime(2026, 6, 2)],
            "value": [0.0, 0.0],
            "rating": [4.0, float("inf")],
        }
    )
    columns = stage_frame(con, "staged", frame, "memory")
    with pytest.raises(ContractError) as info:
        conform(con, "staged", "typed", EVENT_FIELDS, columns, EVENT_CHECKS)
    assert [(p.file, p.column, p.examples) for p in info.value.problems] == [
        ("memory", "rating", ("row 2: event_id='e2', rating='inf'",))
    ]
