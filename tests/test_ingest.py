"""Ingest: contract folders (CSV and Parquet) and MovieLens, catch-up, reloads, and atomic failures."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from retention.contract import ContractError
from retention.ingest import ingest, latest_event_date
from retention.warehouse import connect, table_exists

from test_movielens_adapter import write_100k, write_latest  # isort: skip
from conftest import MOVIELENS_SMALL

DAYS = [dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)]
TYPES = ["view", "click", "add_to_cart", "purchase"]
RAW_TABLES = ("events", "items", "users", "user_attributes", "load_log")


def day_events(day: dt.date, n: int = 4) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=8)
    return pd.DataFrame(
        {
            "event_id": [f"e{day:%m%d}-{i}" for i in range(n)],
            "user_id": [f"u{i % 2}" for i in range(n)],
            "item_id": [10 + i % 3 for i in range(n)],  # numeric ids in the file
            "event_type": [TYPES[i % 4] for i in range(n)],
            "ts": [start + pd.Timedelta(minutes=7 * i) for i in range(n)],
            "value": [9.5 if TYPES[i % 4] == "purchase" else 0.0 for i in range(n)],
            "session_id": [f"s{day:%d}-{i % 2}" for i in range(n)],
        }
    )


def items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": [10, 11, 12], "title": ["a", "b", "c"], "category": ["x", "y", "x"],
                         "price": [9.5, 3.0, 0.0]})  # fmt: skip


def users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u0", "u1"],
            "signup_ts": pd.to_datetime(["2026-05-01 10:00", "2026-05-20 11:00"], utc=True),
            "country": ["DE", None],
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def event_file(folder: Path, day: dt.date, fmt: str = "csv", name: str = "part-0") -> Path:
    return folder / "events" / f"date={day}" / f"{name}.{fmt}"


def make_folder(root: Path, fmt: str = "csv", days: list[dt.date] = DAYS) -> Path:
    write(items(), root / f"items.{fmt}")
    write(users(), root / f"users.{fmt}")
    for day in days:
        write(day_events(day), event_file(root, day, fmt))
    return root


def snapshot(warehouse: Path, with_load_time: bool = True) -> dict[str, list[tuple]]:
    """Every raw table's rows, sorted (loaded_at dropped unless `with_load_time`)."""
    if not warehouse.exists():
        return {}
    with connect(warehouse, read_only=True) as con:
        tables = {}
        for table in RAW_TABLES:
            if table_exists(con, "raw", table):
                exclude = "" if with_load_time or table != "load_log" else " EXCLUDE (loaded_at)"
                tables[table] = con.execute(f"SELECT *{exclude} FROM raw.{table} ORDER BY ALL").fetchall()
        return tables


def file_states(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_loads_a_contract_folder(tmp_path, warehouse, fmt):
    data = make_folder(tmp_path / "data", fmt)
    before = file_states(data)
    report = ingest(warehouse, data)
    assert report.dates_loaded == DAYS and report.dates_skipped == []
    assert (report.events_loaded, report.items, report.users, report.source) == (12, 3, 2, "contract")
    assert report.off_partition_events == 0
    assert file_states(data) == before
    with connect(warehouse, read_only=True) as con:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events'"
            ).fetchall()
        )
        first = con.execute("SELECT * FROM raw.events WHERE event_id = 'e0601-3'").df().iloc[0]
        log = con.execute("SELECT event_date, source_file, rows FROM raw.load_log ORDER BY 1").fetchall()
        attributes = con.execute("SELECT * FROM raw.user_attributes").fetchall()
        signup = con.execute("SELECT signup_ts FROM raw.users WHERE user_id = 'u0'").fetchone()
    assert types["ts"] == "TIMESTAMP" and types["event_date"] == "DATE" and types["item_id"] == "VARCHAR"
    assert first["item_id"] == "10" and first["event_type"] == "purchase" and first["value"] == 9.5
    assert first["ts"] == pd.Timestamp("2026-06-01 08:21:00") and first["event_date"] == pd.Timestamp(DAYS[0])
    assert first["source_file"] == str(event_file(data, DAYS[0], fmt).resolve())
    assert log == [(day, str(event_file(data, day, fmt).resolve()), 4) for day in DAYS]
    assert attributes == [("u0", "country", "DE")]
    assert signup == (dt.datetime(2026, 5, 1, 10, 0),)


def test_a_users_file_with_only_the_contract_columns_loads(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    write(users().drop(columns=["country"]), data / "users.csv")
    report = ingest(warehouse, data)
    assert (report.events_loaded, report.users) == (12, 2)
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.user_attributes").fetchone() == (0,)


def test_several_files_per_partition_and_mixed_formats(tmp_path, warehouse):
    data = make_folder(tmp_path / "data", "parquet", DAYS[:1])
    extra = day_events(DAYS[0]).assign(event_id=lambda f: f["event_id"] + "b")
    write(extra, event_file(data, DAYS[0], "csv", "part-1"))
    report = ingest(warehouse, data)
    assert report.events_loaded == 8
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT source_file) FROM raw.events").fetchone() == (2,)


def test_rerun_is_idempotent(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    ingest(warehouse, data, DAYS[-1])
    first = snapshot(warehouse, with_load_time=False)
    report = ingest(warehouse, data, DAYS[-1])
    assert report.dates_loaded == [DAYS[-1]]  # the run date is always reloaded
    assert report.dates_skipped == DAYS[:-1]
    assert snapshot(warehouse, with_load_time=False) == first


def test_a_new_day_only_loads_that_day(tmp_path, warehouse):
    data = make_folder(tmp_path / "data", "parquet", DAYS[:2])
    ingest(warehouse, data, DAYS[1])
    write(day_events(DAYS[2]), event_file(data, DAYS[2], "parquet"))
    report = ingest(warehouse, data, DAYS[2])
    assert (report.dates_loaded, report.dates_skipped, report.events_loaded) == ([DAYS[2]], DAYS[:2], 4)
    report = ingest(warehouse, data)  # no run date: nothing changed, nothing loaded
    assert (report.dates_loaded, report.events_loaded) == ([], 0)
    with connect(warehouse, read_only=True) as con:
        assert con.execute(
            "SELECT event_date, count(*) FROM raw.events GROUP BY 1 ORDER BY 1"
        ).fetchall() == [(day, 4) for day in DAYS]


def test_a_changed_file_is_reloaded(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    ingest(warehouse, data)
    write(day_events(DAYS[0], n=2), event_file(data, DAYS[0]))
    report = ingest(warehouse, data)
    assert (report.dates_loaded, report.dates_skipped, report.events_loaded) == ([DAYS[0]], DAYS[1:], 2)
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.events WHERE event_date = ?", [DAYS[0]]).fetchone() == (
            2,
        )
        assert con.execute("SELECT rows FROM raw.load_log WHERE event_date = ?", [DAYS[0]]).fetchall() == [
            (2,)
        ]


def test_the_load_log_says_from_which_day_each_load_changed_events(tmp_path, warehouse):
    """affected_from: the earliest UTC day of an event a load wrote or replaced (the incremental dbt models
    rebuild from it); a warehouse logged before the column existed gets it, unknown (NULL) for old loads."""
    data = make_folder(tmp_path / "data", days=DAYS[:2])
    with connect(warehouse) as con:  # a load_log of an older ingest, without affected_from
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.load_log (event_date DATE NOT NULL, source_file VARCHAR NOT NULL, "
            "file_sha256 VARCHAR NOT NULL, rows BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL)"
        )
        con.execute("INSERT INTO raw.load_log VALUES ('2026-05-01', 'old.csv', 'x', 1, '2026-05-02')")
    ingest(warehouse, data, DAYS[1])
    late = day_events(DAYS[0], n=1).assign(event_id="late-0")  # an event of day 0 in day 2's partition
    write(pd.concat([day_events(DAYS[2]), late]), event_file(data, DAYS[2]))
    ingest(warehouse, data, DAYS[2])
    write(day_events(DAYS[2]), event_file(data, DAYS[2]))  # corrected: the late event is gone
    ingest(warehouse, data, DAYS[2])

    def logged() -> list[tuple]:
        with connect(warehouse, read_only=True) as con:
            return con.execute(
                "SELECT event_date, affected_from FROM raw.load_log ORDER BY event_date, loaded_at"
            ).fetchall()

    old = dt.date(2026, 5, 1)
    # day 2, first with its late event of day 0, then without it: both loads changed day 0's events
    assert logged() == [(old, None), (DAYS[0], DAYS[0]), (DAYS[1], DAYS[1]), (DAYS[2], DAYS[0])]
    ingest(warehouse, data, DAYS[2])  # the same file again: only its own day
    assert logged()[-1] == (DAYS[2], DAYS[2])


def test_loaded_at_never_goes_back_whatever_the_clock(tmp_path, warehouse):
    """A load logged by a machine whose clock ran ahead: the next load is still logged after it."""
    data = make_folder(tmp_path / "data")
    ingest(warehouse, data, DAYS[1])
    ahead = dt.datetime(2099, 1, 1)
    with connect(warehouse) as con:
        con.execute("UPDATE raw.load_log SET loaded_at = ? WHERE event_date = ?", [ahead, DAYS[1]])
    ingest(warehouse, data, DAYS[2])
    with connect(warehouse, read_only=True) as con:
        [(loaded_at,)] = con.execute(
            "SELECT loaded_at FROM raw.load_log WHERE event_date = ?", [DAYS[2]]
        ).fetchall()
    assert loaded_at == ahead + dt.timedelta(microseconds=1)


def test_run_date_bounds_what_is_loaded(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    report = ingest(warehouse, data, DAYS[0])
    assert report.dates_loaded == [DAYS[0]]
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT DISTINCT event_date FROM raw.events").fetchall() == [(DAYS[0],)]
    assert latest_event_date(data) == DAYS[-1]


def test_off_partition_events_are_counted_not_rejected(tmp_path, warehouse):
    data = make_folder(tmp_path / "data", days=DAYS[:1])
    late = day_events(DAYS[1], n=2).assign(event_id=["late-0", "late-1"])
    write(pd.concat([day_events(DAYS[0]), late]), event_file(data, DAYS[0]))
    report = ingest(warehouse, data)
    assert (report.events_loaded, report.off_partition_events) == (6, 2)


def test_a_failed_write_leaves_the_warehouse_unchanged(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    ingest(warehouse, data, DAYS[1])
    with duckdb.connect(str(warehouse)) as con:  # sabotage the last insert of the transaction
        con.execute("ALTER TABLE raw.user_attributes ADD COLUMN extra INTEGER NOT NULL DEFAULT 0")
    before = snapshot(warehouse)
    with pytest.raises(duckdb.Error):
        ingest(warehouse, data)
    assert snapshot(warehouse) == before


# --- contract violations ---------------------------------------------------------------------------

Mutation = Callable[[pd.DataFrame], pd.DataFrame]


def cell(column: str, value: object, row: int = 1) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return mutate


VIOLATIONS: dict[str, tuple[str, Mutation, str]] = {
    # name: (file to break, mutation, column the error must name)
    "missing column": ("events", lambda f: f.drop(columns=["user_id"]), "user_id"),
    "value not a number": ("events", cell("value", "abc"), "value"),
    "unparseable ts": ("events", cell("ts", "not a time"), "ts"),
    "null user_id": ("events", cell("user_id", None), "user_id"),
    "null ts": ("events", cell("ts", None), "ts"),
    "unknown event_type": ("events", cell("event_type", "like"), "event_type"),
    "negative value": ("events", cell("value", -1.0, row=3), "value"),
    "NaN value": ("events", cell("value", float("nan"), row=3), "value"),
    "infinite value": ("events", cell("value", float("inf"), row=3), "value"),
    "value for a non-purchase": ("events", cell("value", 2.0, row=0), "value"),
    "negative price": ("items", cell("price", -5.0), "price"),
    "price not a number": ("items", cell("price", "free"), "price"),
    "duplicated item_id": ("items", cell("item_id", 10), "item_id"),
    "duplicated user_id": ("users", cell("user_id", "u0"), "user_id"),
    "null signup_ts": ("users", cell("signup_ts", None), "signup_ts"),
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", VIOLATIONS)
def test_contract_violations_abort_with_nothing_written(tmp_path, warehouse, kind, fmt):
    target, mutate, column = VIOLATIONS[kind]
    data = make_folder(tmp_path / "data", fmt, DAYS[:2])
    ingest(warehouse, data)
    broken = {
        "events": event_file(data, DAYS[2], fmt),
        "items": data / f"items.{fmt}",
        "users": data / f"users.{fmt}",
    }[target]
    original = {"events": day_events(DAYS[2]), "items": items(), "users": users()}[target]
    mutated = mutate(original)
    if fmt == "parquet" and kind in ("value not a number", "unparseable ts", "price not a number"):
        mutated[column] = mutated[column].astype("str")  # Parquet columns have one type: text here
    write(mutated, broken)
    before, files = snapshot(warehouse), file_states(data)

    with pytest.raises(ContractError) as info:
        ingest(warehouse, data)

    message = str(info.value)
    assert str(broken.resolve()) in message and f"'{column}'" in message
    assert snapshot(warehouse) == before
    assert file_states(data) == files


def quarantine(warehouse: Path) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(
            "SELECT event_date, source_file, line, reason, detail FROM raw.quarantine ORDER BY ALL"
        ).fetchall()


def test_duplicates_across_files_of_one_batch_are_quarantined(tmp_path, warehouse):
    data = make_folder(tmp_path / "data", "parquet")
    copy = write(day_events(DAYS[0]).head(1), event_file(data, DAYS[2], "parquet", "part-1"))
    report = ingest(warehouse, data)
    assert report.events_loaded == 12 and report.quarantined == {"event_id: duplicated event_id": 1}
    first = event_file(data, DAYS[0], "parquet").resolve()
    [(day, file, line, _, detail)] = quarantine(warehouse)
    assert (day, file, line, detail) == (DAYS[2], str(copy.resolve()), 1, f"kept {first} row 1")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_repeated_event_ids_are_quarantined_the_first_kept(tmp_path, warehouse, fmt):
    data = make_folder(tmp_path / "data", fmt, DAYS[:2])
    ingest(warehouse, data)
    repeats = day_events(DAYS[2], n=40)
    repeats.loc[5, "event_id"] = "e0603-0"  # repeated in the file
    repeats.loc[6, "event_id"] = "e0601-0"  # already loaded for another day
    write(repeats, event_file(data, DAYS[2], fmt))
    files = file_states(data)
    report = ingest(warehouse, data)
    assert report.quarantined == {
        "event_id: duplicated event_id": 1,
        "event_id: duplicated event_id, already loaded": 1,
    }
    assert [row[2] for row in quarantine(warehouse)] == ([7, 8] if fmt == "csv" else [6, 7])
    assert file_states(data) == files


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_few_bad_rows_are_quarantined_with_file_line_and_reason(tmp_path, warehouse, fmt):
    data = make_folder(tmp_path / "data", fmt, DAYS[:2])
    frame = day_events(DAYS[2], n=40).astype({"value": object, "ts": object})
    frame.loc[3, "value"] = -1.0
    frame.loc[4, "ts"] = "not a time" if fmt == "csv" else pd.Timestamp("2030-01-01", tz="UTC")
    if fmt == "parquet":
        frame["value"] = frame["value"].astype(float)
    write(frame, event_file(data, DAYS[2], fmt))
    report = ingest(warehouse, data, DAYS[2])
    assert report.events_loaded == 4 + 4 + 38
    reasons = [(row[2], row[3].split(":")[0]) for row in quarantine(warehouse)]
    offset = 2 if fmt == "csv" else 1
    assert reasons == [(3 + offset, "value"), (4 + offset, "ts")]


def test_too_many_bad_rows_reject_the_file(tmp_path, warehouse):
    data = make_folder(tmp_path / "data", "csv", DAYS[:2])
    write(day_events(DAYS[2], n=40).assign(value=-1.0), event_file(data, DAYS[2]))
    with pytest.raises(ContractError, match="40 of 40 rows"):
        ingest(warehouse, data)
    assert snapshot(warehouse) == {}


@pytest.mark.parametrize("kind", ["truncated parquet", "non-UTF-8 CSV", "wrong delimiter"])
def test_unreadable_files_are_named(tmp_path, warehouse, kind):
    data = make_folder(tmp_path / "data", "parquet" if kind == "truncated parquet" else "csv", DAYS[:2])
    ingest(warehouse, data)
    if kind == "truncated parquet":
        broken = write(day_events(DAYS[2]), event_file(data, DAYS[2], "parquet"))
        broken.write_bytes(broken.read_bytes()[:200])
    elif kind == "non-UTF-8 CSV":
        broken = write(day_events(DAYS[2]).assign(user_id="Jürgen"), event_file(data, DAYS[2]))
        broken.write_bytes(broken.read_text(encoding="utf-8").encode("latin-1"))
    else:
        broken = write(day_events(DAYS[2]), event_file(data, DAYS[2]))
        day_events(DAYS[2]).to_csv(broken, sep=";", index=False)
    before, files = snapshot(warehouse), file_states(data)
    with pytest.raises(ContractError, match=str(broken.resolve())):
        ingest(warehouse, data)
    assert snapshot(warehouse) == before
    assert file_states(data) == files


def test_missing_items_file(tmp_path, warehouse):
    data = make_folder(tmp_path / "data")
    (data / "items.csv").unlink()
    with pytest.raises(ContractError, match="items file missing"):
        ingest(warehouse, data)


# --- MovieLens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "writer"), [("latest", write_latest), ("100k", write_100k)])
def test_movielens_folder_ingests(tmp_path, warehouse, layout, writer):
    data = writer(tmp_path / "ml")
    before = file_states(data)
    report = ingest(warehouse, data)
    assert report.source == f"movielens-{layout}"
    assert (report.events_loaded, report.items, report.users, report.off_partition_events) == (3, 3, 2, 0)
    ratings = (data / ("ratings.csv" if layout == "latest" else "u.data")).resolve()
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "SELECT event_type, rating, event_date, CAST(ts AS DATE), source_file FROM raw.events"
        )
        for event_type, rating, event_date, ts_date, source_file in rows.fetchall():
            assert (event_type, event_date, source_file) == ("click", ts_date, str(ratings))
            assert rating > 0
    assert len(report.dates_loaded) == 2  # two of the three ratings fall on the same UTC day
    assert file_states(data) == before

    again = ingest(warehouse, data)
    assert (again.dates_loaded, again.dates_skipped) == ([], report.dates_loaded)
    assert latest_event_date(data) == report.dates_loaded[-1]


@pytest.mark.skipif(not (MOVIELENS_SMALL / "ratings.csv").exists(), reason="no MovieLens copy")
def test_real_movielens_ingests(warehouse):
    report = ingest(warehouse, MOVIELENS_SMALL)  # read in place, never written
    assert (report.events_loaded, report.items, report.users) == (100_836, 9_742, 610)
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT item_id) FROM raw.events").fetchone() == (
            100_836,
            9_724,
        )
