"""Ingest: validate a data folder against the contract and load it into the warehouse's `raw` schema.

A data folder is either the contract layout (``items.*``, ``users.*``, ``events/date=YYYY-MM-DD/*``,
CSV or Parquet) or a MovieLens folder (detected automatically and converted in memory; an event's
event_date is then its UTC date and its source_file the ratings file).

Every day partition up to `run_date` is considered; one already in ``raw.load_log`` with the same files
and content hashes is skipped, except the `run_date` partition, which is always reloaded. Everything is
validated before anything is written; the writes (per date: delete then insert; items, users and user
attributes replaced wholesale; load_log updated) happen in one transaction, so a failure leaves the
warehouse unchanged and a rerun is idempotent. Raw files are only ever read. Partitions that vanished
from the folder, and dates after `run_date`, are left as they are in the warehouse.

Rows that break a row-level rule (a value of the wrong type, NaN, negative, an unknown event_type, a
timestamp in the future or older than the allowed lateness, a duplicated event_id) are not loaded but
written to ``raw.quarantine`` with the file, the line, the reason and the raw values; a file with more
than `Quality.max_rejected_share` of such rows (duplicates aside) is rejected as a whole, as is a file
that cannot be read or lacks a required column. Extra event and item columns are ignored and reported.

Extra user columns (anything besides user_id and signup_ts) are kept as text in the long table
``raw.user_attributes`` (user_id, attribute, value), so ``raw.users`` keeps a fixed schema. Items and
users are snapshots: they may list users who sign up (or items that appear) after `run_date`.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from retention.adapters.movielens import detect_movielens, load_movielens, movielens_files
from retention.config import Quality
from retention.contract import (
    EVENT_CHECKS,
    EVENT_FIELDS,
    ITEM_FIELDS,
    SQL_TYPES,
    USER_FIELDS,
    Check,
    ContractError,
    Field,
    Problem,
    check_unique,
    conform,
    file_format,
    q,
    stage_files,
    stage_frame,
)
from retention.warehouse import connect, table_exists

PARTITION_RE = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
DATA_SUFFIXES = (".csv", ".parquet")
EVENT_COLUMNS = [f.name for f in EVENT_FIELDS]
REJECT_COLUMNS = "_event_date AS event_date, _file, _line, _reject, _record"
NO_REJECTS = (
    "CAST(NULL AS DATE) AS event_date, CAST(NULL AS VARCHAR) AS _file, CAST(NULL AS BIGINT) AS _line, "
    "CAST(NULL AS VARCHAR) AS _reject, CAST(NULL AS VARCHAR) AS _record WHERE false"
)

DDL = (
    "CREATE SCHEMA IF NOT EXISTS raw",
    """CREATE TABLE IF NOT EXISTS raw.events (
        event_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, value DOUBLE NOT NULL, session_id VARCHAR,
        rating DOUBLE, event_date DATE NOT NULL, source_file VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS raw.items (
        item_id VARCHAR NOT NULL, title VARCHAR NOT NULL, category VARCHAR NOT NULL,
        price DOUBLE NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS raw.users (user_id VARCHAR NOT NULL, signup_ts TIMESTAMP NOT NULL)",
    """CREATE TABLE IF NOT EXISTS raw.user_attributes (
        user_id VARCHAR NOT NULL, attribute VARCHAR NOT NULL, value VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS raw.load_log (
        event_date DATE NOT NULL, source_file VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL,
        rows BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, affected_from DATE)""",
    # affected_from (the incremental dbt models read it: dbt_project/macros/loads.sql) came later.
    "ALTER TABLE raw.load_log ADD COLUMN IF NOT EXISTS affected_from DATE",
    """CREATE TABLE IF NOT EXISTS raw.quarantine (
        event_date DATE NOT NULL, source_file VARCHAR NOT NULL, line BIGINT, reason VARCHAR NOT NULL,
        detail VARCHAR, record VARCHAR, quarantined_at TIMESTAMP NOT NULL)""",
)


# Per date being loaded, the UTC day of its earliest event in raw.events.
EARLIEST_DAYS = """SELECT event_date, min(CAST(ts AS DATE)) AS earliest FROM raw.events
    WHERE event_date IN (SELECT event_date FROM _in_load_dates) GROUP BY event_date"""


@dataclass
class IngestReport:
    dates_loaded: list[datetime.date]
    dates_skipped: list[datetime.date]
    events_loaded: int
    items: int
    users: int
    off_partition_events: int  # loaded events whose UTC date differs from their partition's date
    source: str  # "contract", "movielens-latest" or "movielens-100k"
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> rows put in raw.quarantine
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns not in the contract


@dataclass
class _Plan:
    """The dates one run (re)loads, and the (date, file, sha256) entries to log for them."""

    source: str
    rules: Quality
    horizon: datetime.datetime  # events at or after this instant are in the future
    load: list[datetime.date] = field(default_factory=list)
    skipped: list[datetime.date] = field(default_factory=list)
    log: list[tuple[datetime.date, str, str]] = field(default_factory=list)


Logged = dict[datetime.date, set[tuple[str, str]]]


def ingest(
    warehouse: Path, data_dir: Path, run_date: datetime.date | None = None, rules: Quality | None = None
) -> IngestReport:
    """Validate `data_dir` and load its partitions up to `run_date` (all when None) into `warehouse`."""
    data_dir = Path(data_dir).resolve()
    flavour = detect_movielens(data_dir)
    with connect(Path(warehouse)) as con:
        con.execute("SET TimeZone = 'UTC'")
        logged = _logged(con)
        plan = _Plan("contract", rules or Quality(), _horizon(run_date))
        if flavour is None:
            ignored = _stage_contract(con, data_dir, run_date, logged, plan)
        else:
            ignored = _stage_movielens(con, data_dir, flavour, run_date, logged, plan)
        _split_quarantine(con)
        _write(con)
        return IngestReport(
            dates_loaded=plan.load,
            dates_skipped=plan.skipped,
            events_loaded=_count(con, "SELECT count(*) FROM _in_events"),
            items=_count(con, "SELECT count(*) FROM _in_items"),
            users=_count(con, "SELECT count(*) FROM _in_users"),
            off_partition_events=_count(
                con, "SELECT count(*) FROM _in_events WHERE CAST(ts AS DATE) <> event_date"
            ),
            source=plan.source,
            quarantined=dict(
                con.execute("SELECT reason, count(*) FROM _in_quarantine GROUP BY 1 ORDER BY 1").fetchall()
            ),
            ignored_columns=ignored,
        )


def _horizon(run_date: datetime.date | None) -> datetime.datetime:
    """The end of the run date (midnight UTC after it); without a run date, now."""
    if run_date is None:
        return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return datetime.datetime.combine(run_date + datetime.timedelta(days=1), datetime.time())


def _time_checks(plan: _Plan) -> tuple[Check, ...]:
    lateness = plan.rules.max_lateness_days
    return (
        Check("ts", f"ts in the future (at or after {plan.horizon})", f"ts >= TIMESTAMP '{plan.horizon}'"),
        Check(
            "ts",
            f"ts more than {lateness} days before its partition's day (quality.max_lateness_days)",
            f"ts < CAST(_event_date AS TIMESTAMP) - INTERVAL {int(lateness)} DAY",
        ),
    )


def _ignored_columns(columns: dict[str, list[str]], fields: Sequence[Field]) -> dict[str, list[str]]:
    known = {f.name for f in fields}
    extra = {
        file: [c for c in cols if c not in known and not c.startswith("_")] for file, cols in columns.items()
    }
    return {file: cols for file, cols in extra.items() if cols}


def latest_event_date(data_dir: Path) -> datetime.date:
    """The last partition date (for MovieLens: the UTC date of the last rating)."""
    data_dir = Path(data_dir)
    if detect_movielens(data_dir):
        return load_movielens(data_dir).events["ts"].max().date()
    dates = sorted(partitions(data_dir))
    if not dates:
        raise ContractError([Problem(str(data_dir / "events"), None, "no date=YYYY-MM-DD partitions")])
    return dates[-1]


def partitions(data_dir: Path) -> dict[datetime.date, list[Path]]:
    """The event files of each day partition, ``events/date=YYYY-MM-DD/*.(csv|parquet)``, sorted."""
    events_dir = Path(data_dir) / "events"
    if not events_dir.is_dir():
        raise ContractError(
            [Problem(str(events_dir), None, "no events/ folder (and not a MovieLens folder)")]
        )
    found: dict[datetime.date, list[Path]] = {}
    for folder in sorted(events_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        found[_partition_date(folder)] = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith((".", "_"))
        )
    return found


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _partition_date(folder: Path) -> datetime.date:
    match = PARTITION_RE.fullmatch(folder.name)
    try:
        if match:
            return datetime.date.fromisoformat(match.group(1))
    except ValueError:
        pass
    raise ContractError([Problem(str(folder), None, "partition folder not named date=YYYY-MM-DD")])


def _stage_contract(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    run_date: datetime.date | None,
    logged: Logged,
    plan: _Plan,
) -> dict[str, list[str]]:
    """Validate the partitions to load, items and users into the ``_in_*`` temp tables and views
    (events into ``_checked_events``, bad ones listed in ``_rejected_events``); returns the ignored
    extra columns per file."""
    ignored: dict[str, list[str]] = {}
    for day, files in partitions(data_dir).items():
        if run_date is not None and day > run_date:
            continue
        entries = [(day, str(p), file_sha256(p)) for p in files]
        if day != run_date and logged.get(day, set()) == {(f, h) for _, f, h in entries}:
            plan.skipped.append(day)
        else:
            plan.load.append(day)
            plan.log.extend(entries)
    _stage_plan(con, plan)

    by_format: dict[str, list[Path]] = {}
    for _, file, _ in plan.log:
        by_format.setdefault(file_format(Path(file)), []).append(Path(file))
    selects, rejects = [], []
    for fmt, paths in by_format.items():
        columns = stage_files(con, f"_stage_events_{fmt}", paths)
        ignored.update(_ignored_columns(columns, EVENT_FIELDS))
        con.execute(
            f"""CREATE TEMP VIEW _dated_events_{fmt} AS SELECT s.*, l.event_date AS _event_date
            FROM _stage_events_{fmt} s JOIN _in_log l ON s._file = l.source_file"""
        )
        checks = (*EVENT_CHECKS, *_time_checks(plan))
        share = plan.rules.max_rejected_share
        conform(con, f"_dated_events_{fmt}", f"_typed_events_{fmt}", EVENT_FIELDS, columns, checks, share)
        selects.append(
            f"SELECT {', '.join(EVENT_COLUMNS)}, _event_date AS event_date, _file, _line "
            f"FROM _typed_events_{fmt}"
        )
        rejects.append(f"SELECT {REJECT_COLUMNS} FROM _typed_events_{fmt}_rejects")
    # A view: the partition date comes from the file, and the staged rows are kept in one copy only.
    selects.append(
        "SELECT "
        + ", ".join(f"CAST(NULL AS {SQL_TYPES[f.kind]}) AS {f.name}" for f in EVENT_FIELDS)
        + ", CAST(NULL AS DATE) AS event_date, CAST(NULL AS VARCHAR) AS _file, CAST(NULL AS BIGINT) AS _line"
        + " WHERE false"
    )
    rejects.append(f"SELECT {NO_REJECTS}")
    con.execute("CREATE TEMP VIEW _checked_events AS " + " UNION ALL ".join(selects))
    con.execute("CREATE TEMP VIEW _rejected_events AS " + " UNION ALL ".join(rejects))

    items_columns = _stage_snapshot(con, "items", [_single_file(data_dir, "items")], ITEM_FIELDS)
    ignored.update(_ignored_columns(items_columns, ITEM_FIELDS))
    users_columns = _stage_snapshot(con, "users", [_single_file(data_dir, "users")], USER_FIELDS)
    _stage_user_attributes(con, users_columns)
    return ignored


def _stage_movielens(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    flavour: str,
    run_date: datetime.date | None,
    logged: Logged,
    plan: _Plan,
) -> dict[str, list[str]]:
    """Convert a MovieLens folder and stage it like contract data, one partition per UTC day."""
    plan.source = f"movielens-{flavour}"
    frames = load_movielens(data_dir)
    ratings, movies = (str(p) for p in movielens_files(data_dir))
    sha = file_sha256(Path(ratings))
    stage_frame(con, "_stage_events", frames.events, ratings)
    con.execute(
        "CREATE TEMP VIEW _dated_events AS SELECT *, CAST(ts AS DATE) AS _event_date FROM _stage_events"
    )
    share = plan.rules.max_rejected_share
    conform(
        con, "_dated_events", "_typed_events", EVENT_FIELDS, {ratings: EVENT_COLUMNS}, EVENT_CHECKS, share
    )
    days = con.execute(
        "SELECT DISTINCT CAST(ts AS DATE) AS d FROM _typed_events WHERE ts IS NOT NULL ORDER BY d"
    ).fetchall()
    for (day,) in days:
        if run_date is not None and day > run_date:
            continue
        if day != run_date and logged.get(day, set()) == {(ratings, sha)}:
            plan.skipped.append(day)
        else:
            plan.load.append(day)
            plan.log.append((day, ratings, sha))
    _stage_plan(con, plan)
    con.execute(
        f"""CREATE TEMP VIEW _checked_events AS
        SELECT {", ".join(EVENT_COLUMNS)}, CAST(ts AS DATE) AS event_date, _file, _line
        FROM _typed_events WHERE CAST(ts AS DATE) IN (SELECT event_date FROM _in_load_dates)"""
    )
    con.execute(
        f"""CREATE TEMP VIEW _rejected_events AS SELECT {REJECT_COLUMNS} FROM _typed_events_rejects
        WHERE _event_date IN (SELECT event_date FROM _in_load_dates)"""
    )

    stage_frame(con, "_stage_items", frames.items, movies)
    conform(con, "_stage_items", "_in_items", ITEM_FIELDS, {movies: list(frames.items.columns)})
    check_unique(con, "_in_items", "item_id", "the items file")
    stage_frame(con, "_stage_users", frames.users, ratings)
    conform(con, "_stage_users", "_in_users", USER_FIELDS, {ratings: list(frames.users.columns)})
    con.execute("CREATE TEMP TABLE _in_user_attributes (user_id VARCHAR, attribute VARCHAR, value VARCHAR)")
    return {}


def _stage_plan(con: duckdb.DuckDBPyConnection, plan: _Plan) -> None:
    con.execute(
        "CREATE TEMP TABLE _in_load_dates AS SELECT unnest($dates::DATE[]) AS event_date",
        {"dates": plan.load},
    )
    con.execute(
        """CREATE TEMP TABLE _in_log AS
        SELECT unnest($dates::DATE[]) AS event_date, unnest($files::VARCHAR[]) AS source_file,
            unnest($hashes::VARCHAR[]) AS file_sha256""",
        {
            "dates": [day for day, _, _ in plan.log],
            "files": [file for _, file, _ in plan.log],
            "hashes": [sha for _, _, sha in plan.log],
        },
    )


def _stage_snapshot(
    con: duckdb.DuckDBPyConnection, name: str, paths: Sequence[Path], fields: Sequence[Field]
) -> dict[str, list[str]]:
    """Validate the items or users file into temp ``_in_{name}`` (keeping ``_stage_{name}``)."""
    columns = stage_files(con, f"_stage_{name}", paths)
    conform(con, f"_stage_{name}", f"_in_{name}", fields, columns)
    check_unique(con, f"_in_{name}", fields[0].name, f"the {name} file")
    return columns


def _stage_user_attributes(con: duckdb.DuckDBPyConnection, columns: dict[str, list[str]]) -> None:
    contract = {f.name for f in USER_FIELDS}
    extras = [c for cols in columns.values() for c in cols if c not in contract and not c.startswith("_")]
    selects = [
        f"SELECT CAST(user_id AS VARCHAR) AS user_id, '{c.replace(chr(39), chr(39) * 2)}' AS attribute, "
        f"CAST({q(c)} AS VARCHAR) AS value FROM _stage_users WHERE {q(c)} IS NOT NULL"
        for c in dict.fromkeys(extras)
    ]
    selects.append(
        "SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS attribute, NULL::VARCHAR AS value WHERE false"
    )
    con.execute("CREATE TEMP TABLE _in_user_attributes AS " + " UNION ALL ".join(selects))


def _single_file(data_dir: Path, name: str) -> Path:
    found = [data_dir / f"{name}{s}" for s in DATA_SUFFIXES if (data_dir / f"{name}{s}").is_file()]
    if len(found) != 1:
        problem = "missing" if not found else "ambiguous: both CSV and Parquet present"
        raise ContractError(
            [Problem(str(data_dir / f"{name}.(csv|parquet)"), None, f"{name} file {problem}")]
        )
    return found[0]


def _split_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Split ``_checked_events`` into ``_in_events`` (to load) and ``_in_quarantine`` (bad rows, and
    repeats of an event_id: within the files loaded the first by date, file and line is kept; an
    event_id already loaded for a date this run does not reload keeps that copy)."""
    others = "SELECT NULL, NULL, NULL, NULL WHERE false"
    if table_exists(con, "raw", "events"):
        others = """SELECT e._file, e._line, 'event_id: duplicated event_id, already loaded',
                'loaded for ' || w.event_date || ' from ' || w.source_file
            FROM _good e JOIN raw.events w USING (event_id)
            WHERE w.event_date NOT IN (SELECT event_date FROM _in_load_dates)"""
    con.execute(
        "CREATE TEMP VIEW _good AS "
        "SELECT * FROM _checked_events ANTI JOIN _rejected_events USING (_file, _line)"
    )
    con.execute(
        f"""CREATE TEMP TABLE _duplicates AS
        SELECT _file, _line, 'event_id: duplicated event_id' AS reason,
            'kept ' || first_file || CASE WHEN first_file ILIKE '%.csv' THEN ' line ' ELSE ' row ' END
                || first_line AS detail
        FROM (
            SELECT _file, _line, row_number() OVER w AS n, first_value(_file) OVER w AS first_file,
                first_value(_line) OVER w AS first_line
            FROM _good SEMI JOIN (SELECT event_id FROM _good GROUP BY 1 HAVING count(*) > 1) USING (event_id)
            WINDOW w AS (PARTITION BY event_id ORDER BY event_date, _file, _line)
        ) WHERE n > 1
        UNION ALL ({others})"""
    )
    con.execute(
        f"""CREATE TEMP VIEW _in_events AS SELECT {", ".join(EVENT_COLUMNS)}, event_date, _file, _line
        FROM _good ANTI JOIN _duplicates USING (_file, _line)"""
    )
    record = ", ".join(f"{c} := CAST(e.{c} AS VARCHAR)" for c in EVENT_COLUMNS)
    con.execute(
        f"""CREATE TEMP VIEW _in_quarantine AS
        SELECT event_date, _file, _line, _reject AS reason, CAST(NULL AS VARCHAR) AS detail, _record
        FROM _rejected_events
        UNION ALL
        SELECT e.event_date, e._file, e._line, d.reason, d.detail,
            CAST(to_json(struct_pack({record})) AS VARCHAR)
        FROM _good e JOIN _duplicates d USING (_file, _line)"""
    )


def _write(con: duckdb.DuckDBPyConnection) -> None:
    """Replace the loaded dates, items, users and their load_log entries in one transaction."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in DDL:
            con.execute(statement)
        # Later than every load logged, whatever this machine's clock says: the incremental dbt models
        # rebuild what the loads after the newest loaded_at they have seen changed (macros/loads.sql).
        [(latest,)] = con.execute("SELECT max(loaded_at) FROM raw.load_log").fetchall()
        loaded_at = now if latest is None else max(now, latest + datetime.timedelta(microseconds=1))
        con.execute(f"CREATE OR REPLACE TEMP TABLE _replaced AS {EARLIEST_DAYS}")
        con.execute("DELETE FROM raw.events WHERE event_date IN (SELECT event_date FROM _in_load_dates)")
        con.execute(
            f"INSERT INTO raw.events SELECT {', '.join(EVENT_COLUMNS)}, event_date, _file AS source_file "
            "FROM _in_events"
        )
        # affected_from: the earliest UTC day of an event each loaded date wrote or replaced.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _affected AS
            SELECT d.event_date, least(d.event_date, r.earliest, n.earliest) AS affected_from
            FROM _in_load_dates d LEFT JOIN _replaced r USING (event_date) LEFT JOIN ({EARLIEST_DAYS}) n
                USING (event_date)"""
        )
        con.execute("DELETE FROM raw.quarantine WHERE event_date IN (SELECT event_date FROM _in_load_dates)")
        con.execute(
            "INSERT INTO raw.quarantine SELECT event_date, _file, _line, reason, detail, _record, $at "
            "FROM _in_quarantine",
            {"at": loaded_at},
        )
        con.execute("DELETE FROM raw.load_log WHERE event_date IN (SELECT event_date FROM _in_load_dates)")
        con.execute(
            """INSERT INTO raw.load_log
            SELECT l.event_date, l.source_file, l.file_sha256, coalesce(c.n, 0), $loaded_at, a.affected_from
            FROM _in_log l LEFT JOIN (SELECT event_date, _file, count(*) AS n FROM _in_events GROUP BY ALL) c
                ON c.event_date = l.event_date AND c._file = l.source_file
            LEFT JOIN _affected a ON a.event_date = l.event_date""",
            {"loaded_at": loaded_at},
        )
        for table, columns in (
            ("items", "item_id, title, category, price"),
            ("users", "user_id, signup_ts"),
            ("user_attributes", "user_id, attribute, value"),
        ):
            con.execute(f"DELETE FROM raw.{table}")
            con.execute(f"INSERT INTO raw.{table} SELECT {columns} FROM _in_{table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _logged(con: duckdb.DuckDBPyConnection) -> Logged:
    """The (file, sha256) pairs last loaded for each date."""
    if not table_exists(con, "raw", "load_log"):
        return {}
    logged: Logged = {}
    for day, file, sha in con.execute(
        "SELECT event_date, source_file, file_sha256 FROM raw.load_log"
    ).fetchall():
        logged.setdefault(day, set()).add((file, sha))
    return logged


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
