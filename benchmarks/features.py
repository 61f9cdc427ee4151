"""Feature build benchmark: the dbt feature build (`dbt run --select +user_features`, full refresh) for one
cutoff against ONE hand-written DuckDB query computing the same `features.user_features` from the raw
tables, both measured in this run, on this machine, on the same warehouse; plus the incremental build of
one more day on top of that history (what the nightly run costs).

Data: ``None`` or ``"sim"`` simulates two histories of about 1 M and 10 M events (90 days, seed 42,
items = users // 10; about 93 events per user) under ``var/bench-data`` and reuses them afterwards;
``RETENTION_BENCH_FEATURES_SIZES`` (e.g. ``"1M"`` or ``"200k,1M,10M"``) picks other sizes. Any other
value is a folder in the data contract: one size, that folder.

Method, per size, in a fresh warehouse in a temporary folder beside the configured warehouse (removed
afterwards); every step runs in a child process, so the parent stays small:

1. untimed: ingest every day partition but the last (`retention.ingest.ingest`, in a child), then flush
   the file system (`os.sync`: the ingest's writes are not left to be written back during the timing);
2. full build (timed): ``dbt run --full-refresh --select +user_features`` at run date = the day before
   the last partition, i.e. cutoff = the last partition's date: the features see every loaded day. dbt
   runs as the pipeline runs it, in process (`retention.transform.run_dbt`), in a child that first
   imports dbt and parses the project (untimed: the pipeline parses once per run and hands the manifest
   to every dbt command; ``import_seconds``, ``warmup_parse_seconds``); ``seconds`` is the invocation
   with that manifest: compilation, the models' SQL, connection and metadata queries, dbt's artifacts.
   The child's whole wall time,
   interpreter start-up, import and first parse included, is ``process_seconds`` (what a one-shot
   `dbt run` process pays); the per-model times are dbt's own;
3. baseline (timed): `BASELINE_SQL` in a child on a read-only connection, ``CREATE TEMP TABLE ... AS``
   the query, timed inside the child around the query only (interpreter start-up, import and connecting
   excluded, like dbt's); afterwards (untimed) its result is compared with dbt's features.user_features;
4. informational: the pipeline's full rebuild, ``dbt build --exclude-resource-type unit_test
   --full-refresh`` (every model and data test) at the same cutoff (``all_models_seconds``; off with
   ``RETENTION_BENCH_FEATURES_ALL_MODELS=0``, which also leaves out ``nightly_build``);
5. incremental (timed): ingest the last partition (untimed, child, flushed), then ``dbt run --select
   +user_features`` at run date = the last partition's date (incremental models rebuild the days the
   load changed: the new day), timed as in 2;
6. history (timed like 5): the same in a second warehouse holding only the first half of the days: ingest
   them but the last (untimed), full build, ingest the last of them, incremental build. The nightly run
   should cost what the new day costs, not what the history costs: ``incremental_history_ratio`` =
   ``incremental_seconds`` (full history) / ``half_history.incremental_seconds`` is about 1 when it does,
   about 2 if it grew with the history;
7. informational, after 4: the pipeline's whole nightly ``dbt build`` (`retention.transform.NIGHTLY_BUILD`:
   every model and data test, unit tests left out) at the last partition's date, on a copy of the warehouse
   taken after its ingest (``nightly_build``), timed as in 2: what the night costs beyond +user_features
   (the sequences, snapshots, item features, labels and the data tests);
8. opt-in (``RETENTION_BENCH_FEATURES_NIGHTS=N``): the night after N nights instead of after a full
   rebuild. A third warehouse gets the pipeline's full rebuild N + 1 days before the last partition, then
   N nights (ingest, the pipeline's nightly ``dbt build``: each one timed, ``nightly_build_seconds``, and
   the file's size after it, ``warehouse_mb``), then the last partition and the incremental build timed
   as in 5: the same day as 5 on tables that went through N nights of deletes and appends
   (``after_nights``; ``incremental_nights_ratio`` = its incremental_seconds / 5's, about 1 when the
   nights leave nothing behind that slows the next).

Peak memory: ``ru_maxrss`` of each timed child from ``os.wait4`` (the child's whole life). On Linux a
child's ru_maxrss starts from the parent's RSS at fork time (it survives execve), so the parent's own
RSS (``parent_rss_mb``) is a floor under every figure; the parent holds no data.

Each measurement runs once (a 10 M build takes minutes): the figures are single runs, not best-of-n.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from retention.config import PROJECT_ROOT, Config, Simulation
from retention.transform import NIGHTLY_BUILD, dbt_env

EVENTS_PER_USER = 93  # what the simulator makes per user over 90 days
DEFAULT_SIZES = "1M,10M"
SIZES_ENV = "RETENTION_BENCH_FEATURES_SIZES"
ALL_MODELS_ENV = "RETENTION_BENCH_FEATURES_ALL_MODELS"
NIGHTS_ENV = "RETENTION_BENCH_FEATURES_NIGHTS"  # opt-in: that many nights before the timed one (8.)
FEATURES = ["--select", "+user_features"]  # every timed build selects this, so the figures compare
TARGETS = {
    "ratio_vs_baseline_max": 2.0,  # dbt at >= 0.5x the hand-written query's speed
    "linearity_max": 12.0,  # seconds(10M) / seconds(1M)
    "peak_rss_mb_max_10M": 4096.0,  # under 4 GiB at 10 M events
    "incremental_share_max": 0.15,  # one more day <= 15 % of the full build
}
FLOAT_RTOL = 1e-9

DEFINITIONS = {
    "seconds": "wall time of the `dbt run --full-refresh --select +user_features` invocation in a warm dbt "
    "process (in process and with the parsed manifest, as the pipeline runs dbt, after an untimed import "
    "and parse): compilation, the models, connection and metadata queries; models_seconds has dbt's own "
    "per-model execution times",
    "process_seconds": "wall time of the whole child process of that build: interpreter start-up, "
    "import_seconds (importing dbt), warmup_parse_seconds (its parse) and seconds",
    "events": "events in the warehouse at the full build (every partition but the last one)",
    "events_per_s": "events / seconds",
    "peak_rss_mb": "ru_maxrss of the dbt child process (os.wait4); parent_rss_mb is a floor under it",
    "baseline_seconds": "BASELINE_SQL (one hand-written DuckDB query from raw.events, raw.items, raw.users "
    "computing the same user_features) timed inside a child process around the query only, "
    "CREATE TEMP TABLE ... AS on a read-only connection",
    "ratio_vs_baseline": "seconds / baseline_seconds (> 1: dbt is that many times slower; target <= 2, "
    "i.e. dbt at >= 0.5x the query's speed)",
    "process_ratio_vs_baseline": "process_seconds / baseline_wall_seconds: both child processes whole",
    "linearity": "seconds at the largest size / seconds at the smallest (10M / 1M: target <= 12)",
    "models_linearity": "the same for models_total_seconds (dbt's fixed cost left out)",
    "incremental_seconds": "wall time of `dbt run --select +user_features` (incremental) at the next run "
    "date after ingesting the last partition (the ingest itself untimed), timed like seconds",
    "incremental_share_of_full": "incremental_seconds / seconds",
    "incremental_process_seconds": "the incremental build's whole child process, as process_seconds",
    "incremental_sql_seconds": "of incremental_seconds, the warehouse's time in the SQL statements dbt sent "
    "(the sum of dbt's own per-statement timings, commits and their checkpoints included)",
    "incremental_close_seconds": "of incremental_seconds, closing the warehouse after dbt (DuckDB "
    "checkpoints the rest of its write-ahead log)",
    "incremental_dbt_own_seconds": "incremental_seconds - incremental_sql_seconds - "
    "incremental_close_seconds: dbt's own work (compiling the models' Jinja, the materialization macros, "
    "metadata bookkeeping, artifacts), which faster SQL does not reduce",
    "incremental_dbt_own_share_of_full": "incremental_dbt_own_seconds / seconds: the part of the 15 % target "
    "that dbt's own work takes",
    "half_history": "the first half of the days only: their full build (seconds) and the incremental build "
    "of the next day on top (incremental_seconds, incremental_events, incremental_date), timed alike",
    "after_nights": f"only with {NIGHTS_ENV}=N: the same incremental build (same day) on a warehouse that "
    "went through the pipeline's full rebuild and N nightly builds instead of one full rebuild: "
    "nightly_build_seconds and warehouse_mb (file size) after each night, incremental_seconds",
    "incremental_nights_ratio": "after_nights.incremental_seconds / incremental_seconds: ~1 when the nights "
    "leave nothing behind that slows the next one",
    "incremental_history_ratio": "incremental_seconds / half_history.incremental_seconds: ~1 when the "
    "nightly cost does not grow with the history",
    "models_total_seconds": "sum of dbt's per-model execution times in the full build",
    "dbt_overhead_seconds": "seconds - models_total_seconds: compilation, connection and metadata queries, "
    "artifacts",
    "models_ratio_vs_baseline": "models_total_seconds / baseline_seconds (dbt's SQL alone vs the query)",
    "all_models_seconds": "the pipeline's full rebuild (`dbt build --exclude-resource-type unit_test "
    "--full-refresh`: every model and data test) at the same cutoff, timed like seconds (informational)",
    "nightly_build": "the pipeline's nightly `dbt build` (NIGHTLY_BUILD: every model and data test) at the "
    "next run date on top of that full rebuild, timed like seconds (informational): seconds, "
    "models_total_seconds and tests_total_seconds (dbt's per-node times), share_of_all_models = "
    "seconds / all_models_seconds, and the slowest models",
    "baseline_matches_dbt": "the query's rows equal features.user_features (same user_ids, every column "
    f"equal, floats within {FLOAT_RTOL} relative)",
}

# The reference implementation of features.user_features (dbt_project/macros/user_features_as_of.sql),
# straight from the raw tables: {cutoff} is a TIMESTAMP literal at a midnight (UTC), {cutoff_date} the
# same day as a DATE literal. Features see events strictly before the cutoff; "the last w days" are the
# days d with cutoff_date - w <= d < cutoff_date, i.e. age = cutoff_date - d between 1 and w.
# raw.events holds each event_id once (ingest rejects duplicates), so stg_events' deduplication is a
# no-op here. rec_engagement_30d is 0: the benchmark's warehouse has no marts.user_recommendations.
BASELINE_SQL = """
WITH events AS (
    -- Every event before the cutoff, with its age in days and the user's previous event.
    SELECT
        user_id,
        event_type,
        ts,
        CAST(value AS DECIMAL(18, 2)) AS value,
        {cutoff_date} - CAST(ts AS DATE) AS age,
        lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS prev_ts
    FROM raw.events
    WHERE ts < {cutoff}
),

steps AS (
    SELECT
        *,
        date_diff('second', prev_ts, ts) AS gap,  -- seconds since the user's previous event
        prev_ts IS NULL OR CAST(prev_ts AS DATE) <> CAST(ts AS DATE) AS first_of_day,
        {cutoff_date} - CAST(prev_ts AS DATE) AS prev_age
    FROM events
),

per_user AS (
    SELECT
        user_id,
        max(ts) AS last_event_ts,
        max(ts) FILTER (event_type = 'purchase') AS last_purchase_ts,
        min(ts) AS first_event_ts,
        count(*) FILTER (age <= 1) AS events_1d,
        count(*) FILTER (age <= 1 AND event_type = 'view') AS views_1d,
        count(*) FILTER (age <= 1 AND event_type = 'click') AS clicks_1d,
        count(*) FILTER (age <= 1 AND event_type = 'add_to_cart') AS carts_1d,
        count(*) FILTER (age <= 1 AND event_type = 'purchase') AS purchases_1d,
        count(*) FILTER (age <= 7) AS events_7d,
        count(*) FILTER (age <= 7 AND event_type = 'view') AS views_7d,
        count(*) FILTER (age <= 7 AND event_type = 'click') AS clicks_7d,
        count(*) FILTER (age <= 7 AND event_type = 'add_to_cart') AS carts_7d,
        count(*) FILTER (age <= 7 AND event_type = 'purchase') AS purchases_7d,
        count(*) FILTER (age <= 30) AS events_30d,
        count(*) FILTER (age <= 30 AND event_type = 'view') AS views_30d,
        count(*) FILTER (age <= 30 AND event_type = 'click') AS clicks_30d,
        count(*) FILTER (age <= 30 AND event_type = 'add_to_cart') AS carts_30d,
        count(*) FILTER (age <= 30 AND event_type = 'purchase') AS purchases_30d,
        count(*) FILTER (age <= 90) AS events_90d,
        count(*) FILTER (age <= 90 AND event_type = 'view') AS views_90d,
        count(*) FILTER (age <= 90 AND event_type = 'click') AS clicks_90d,
        count(*) FILTER (age <= 90 AND event_type = 'add_to_cart') AS carts_90d,
        count(*) FILTER (age <= 90 AND event_type = 'purchase') AS purchases_90d,
        count(*) FILTER (age BETWEEN 31 AND 60) AS events_prev_30d,
        coalesce(CAST(sum(value) FILTER (age <= 30) AS DOUBLE), 0) AS purchase_value_30d,
        coalesce(CAST(sum(value) FILTER (age <= 90) AS DOUBLE), 0) AS purchase_value_90d,
        count(*) FILTER (age <= 30 AND first_of_day) AS active_days_30d,
        count(*) FILTER (age <= 90 AND first_of_day) AS active_days_90d,
        -- Sessions split on gaps of more than 30 minutes and at midnight.
        count(*) FILTER (age <= 30 AND (first_of_day OR gap > 1800)) AS sessions_30d,
        coalesce(sum(gap) FILTER (age <= 30 AND NOT first_of_day AND gap <= 1800), 0) AS session_seconds_30d,
        -- Weekly event counts of the last 4 weeks (week 1 = the oldest).
        count(*) FILTER (age BETWEEN 22 AND 28) AS week_1_events,
        count(*) FILTER (age BETWEEN 15 AND 21) AS week_2_events,
        count(*) FILTER (age BETWEEN 8 AND 14) AS week_3_events,
        count(*) FILTER (age BETWEEN 1 AND 7) AS week_4_events,
        -- Gaps between consecutive events, both in the last 90 days.
        coalesce(sum(gap) FILTER (age <= 90 AND prev_age <= 90), 0) AS gap_sum_90d,
        coalesce(sum(gap * gap) FILTER (age <= 90 AND prev_age <= 90), 0) AS gap_sq_sum_90d
    FROM steps
    GROUP BY user_id
    HAVING max(ts) >= {cutoff} - INTERVAL 30 DAY  -- the active users
),

-- One row per (user, item) ever seen: its last cart and purchase in the last 30 days, whether it was
-- touched in the last 30 days, and whether it is new there (first seen in the window).
user_items AS (
    SELECT
        user_id,
        max({cutoff_date} - CAST(ts AS DATE)) <= 30 AS novel_30d,
        max(ts) FILTER (event_type = 'add_to_cart' AND ts >= {cutoff} - INTERVAL 30 DAY) AS last_cart_ts,
        max(ts) FILTER (event_type = 'purchase' AND ts >= {cutoff} - INTERVAL 30 DAY) AS last_purchase_ts
    FROM raw.events
    WHERE ts < {cutoff}
    GROUP BY user_id, item_id
    HAVING max(ts) >= {cutoff} - INTERVAL 30 DAY
),

item_stats AS (
    SELECT
        user_id,
        count(*) AS distinct_items_30d,
        count(*) FILTER (novel_30d) AS novel_items_30d,
        count(last_cart_ts) AS carted_items_30d,
        count(*) FILTER (
            last_cart_ts IS NOT NULL AND (last_purchase_ts IS NULL OR last_purchase_ts < last_cart_ts)
        ) AS abandoned_items_30d
    FROM user_items
    GROUP BY user_id
),

categories AS (
    SELECT e.user_id, coalesce(i.category, '(unknown)') AS category, count(*) AS events
    FROM raw.events AS e
    LEFT JOIN raw.items AS i ON i.item_id = e.item_id
    WHERE e.ts < {cutoff} AND e.ts >= {cutoff} - INTERVAL 90 DAY
    GROUP BY ALL
),

category_stats AS (
    SELECT
        user_id,
        sum(events) AS events,
        sum(CAST(events * ln(events) AS DECIMAL(38, 9))) AS sum_c_ln_c,
        first(category ORDER BY events DESC, category) AS top_category
    FROM categories
    GROUP BY user_id
)

SELECT
    p.user_id,
    {cutoff_date} AS cutoff_date,
    date_diff('day', p.last_event_ts, {cutoff}) AS days_since_last_event,
    coalesce(date_diff('day', p.last_purchase_ts, {cutoff}), 365) AS days_since_last_purchase,
    date_diff('day', least(coalesce(u.signup_ts, p.first_event_ts), p.first_event_ts), {cutoff})
        AS tenure_days,
    p.events_7d,
    p.events_30d,
    p.events_prev_30d,
    p.views_30d,
    p.clicks_30d,
    p.carts_30d,
    p.purchases_30d,
    p.purchase_value_30d,
    p.active_days_30d,
    coalesce(i.distinct_items_30d, 0) AS distinct_items_30d,
    p.events_1d,
    p.views_1d,
    p.clicks_1d,
    p.carts_1d,
    p.purchases_1d,
    p.views_7d,
    p.clicks_7d,
    p.carts_7d,
    p.purchases_7d,
    p.events_90d,
    p.views_90d,
    p.clicks_90d,
    p.carts_90d,
    p.purchases_90d,
    p.purchase_value_90d,
    p.active_days_90d,
    p.sessions_30d,
    coalesce(CAST(p.session_seconds_30d AS DOUBLE) / nullif(p.sessions_30d * 60, 0), 0)
        AS mean_session_minutes_30d,
    CASE WHEN p.events_90d > 1 THEN CAST(p.gap_sum_90d AS DOUBLE) / (p.events_90d - 1) / 3600 END
        AS inter_event_hours_mean_90d,
    CASE WHEN p.events_90d > 1 THEN
        sqrt(greatest(
            CAST(p.gap_sq_sum_90d AS DOUBLE) / (p.events_90d - 1)
            - power(CAST(p.gap_sum_90d AS DOUBLE) / (p.events_90d - 1), 2),
            0
        )) / 3600
    END AS inter_event_hours_std_90d,
    CAST(-1.5 * p.week_1_events - 0.5 * p.week_2_events + 0.5 * p.week_3_events + 1.5 * p.week_4_events
         AS DOUBLE) / 5 AS activity_trend_4w,
    coalesce(CAST(i.abandoned_items_30d AS DOUBLE) / nullif(i.carted_items_30d, 0), 0)
        AS cart_abandonment_30d,
    c.top_category AS top_category_90d,
    greatest(coalesce(ln(CAST(c.events AS DOUBLE)) - CAST(c.sum_c_ln_c AS DOUBLE) / c.events, 0), 0)
        AS category_entropy_90d,
    coalesce(CAST(i.novel_items_30d AS DOUBLE) / nullif(i.distinct_items_30d, 0), 0)
        AS novel_item_share_30d,
    CAST(0 AS DOUBLE) AS rec_engagement_30d
FROM per_user AS p
LEFT JOIN raw.users AS u ON u.user_id = p.user_id
LEFT JOIN item_stats AS i ON i.user_id = p.user_id
LEFT JOIN category_stats AS c ON c.user_id = p.user_id
"""


def baseline_query(cutoff: dt.date) -> str:
    """`BASELINE_SQL` for a cutoff date (features see events strictly before its midnight, UTC)."""
    return BASELINE_SQL.format(
        cutoff=f"TIMESTAMP '{cutoff.isoformat()} 00:00:00'", cutoff_date=f"DATE '{cutoff}'"
    )


# --------------------------------------------------------------------------------------------------
# Children: `python -m benchmarks.features <step> <json args>`; each prints one JSON line last.


def _child_generate(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.data import simulated_history
    from retention.config import load_config

    spec = Simulation(**{**args, "start_date": dt.date.fromisoformat(args["start_date"])})
    folder, description = simulated_history(load_config(), spec)
    return {"folder": str(folder), "simulation": description}


def _child_ingest(args: dict[str, Any]) -> dict[str, Any]:
    from retention.ingest import ingest

    report = ingest(Path(args["warehouse"]), Path(args["data"]), dt.date.fromisoformat(args["run_date"]))
    os.sync()  # the warehouse on disk before a timed step starts
    return {"events_loaded": report.events_loaded, "dates_loaded": len(report.dates_loaded)}


def compare_sql(left: str, right: str, columns: list[tuple[str, str]]) -> str:
    """Rows of `left` and `right` (joined on user_id) that differ in any column: floats beyond FLOAT_RTOL."""
    differs = []
    for name, type_ in columns:
        a, b = f"l.{name}", f"r.{name}"
        if type_ in ("DOUBLE", "FLOAT", "REAL"):
            differs.append(
                f"({a} IS NULL) <> ({b} IS NULL) "
                f"OR abs({a} - {b}) > {FLOAT_RTOL} * greatest(abs({a}), abs({b}), 1e-300)"
            )
        else:
            differs.append(f"{a} IS DISTINCT FROM {b}")
    return (
        f"SELECT count(*) FROM {left} AS l FULL OUTER JOIN {right} AS r ON l.user_id = r.user_id "
        f"WHERE l.user_id IS NULL OR r.user_id IS NULL OR " + " OR ".join(f"({d})" for d in differs)
    )


def _child_baseline(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    sql = baseline_query(dt.date.fromisoformat(args["cutoff"]))
    with duckdb.connect(args["warehouse"], read_only=True) as con:
        started = time.perf_counter()
        con.execute("CREATE TEMP TABLE baseline AS " + sql)
        seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM baseline").fetchone()[0]  # type: ignore[index]
        dbt_columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'features' AND table_name = 'user_features' ORDER BY ordinal_position"
        ).fetchall()
        base_columns = [r[0] for r in con.execute("DESCRIBE baseline").fetchall()]
        same_columns = [c for c, _ in dbt_columns] == base_columns
        mismatched = None
        if same_columns:
            compare = compare_sql("baseline", "features.user_features", dbt_columns)
            mismatched = con.execute(compare).fetchone()[0]  # type: ignore[index]
        dbt_rows = con.execute("SELECT count(*) FROM features.user_features").fetchone()[0]  # type: ignore[index]
    return {
        "seconds": seconds,
        "rows": rows,
        "dbt_rows": dbt_rows,
        "same_columns": same_columns,
        "mismatched_rows": mismatched,
        "matches": bool(same_columns and mismatched == 0 and rows == dbt_rows),
    }


def _child_dbt(args: dict[str, Any]) -> dict[str, Any]:
    """dbt `args` in this process after an untimed import and parse, with the parsed manifest (a warm dbt
    process, as the pipeline runs dbt: it parses once per run and passes the manifest to each command)."""
    started = time.perf_counter()
    import dbt.cli.main  # noqa: F401

    from retention.config import load_config
    from retention.transform import parse, run_dbt

    imported = time.perf_counter()
    cfg, run_date = load_config(), dt.date.fromisoformat(args["run_date"])
    manifest = parse(cfg, run_date)
    parsed = time.perf_counter()
    result = run_dbt(cfg, args["dbt"], run_date, manifest)
    seconds = time.perf_counter() - parsed
    tests = [seconds for node, (_, seconds) in result.nodes.items() if node.startswith("test.")]
    models = {
        node.split(".")[-1]: round(seconds, 3)
        for node, (_, seconds) in result.nodes.items()
        if node.startswith("model.")
    }
    return {
        "seconds": seconds,
        "import_seconds": imported - started,
        "warmup_parse_seconds": parsed - imported,
        "models_seconds": models,
        "tests_seconds": round(sum(tests), 3),
        "sql_seconds": result.sql_seconds,
        "close_seconds": result.close_seconds,
    }


CHILD_STEPS = {
    "generate": _child_generate,
    "ingest": _child_ingest,
    "baseline": _child_baseline,
    "dbt": _child_dbt,
}


# --------------------------------------------------------------------------------------------------
# The parent: child processes measured with wait4.


@dataclasses.dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    output: str


def _measure(command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run `command`, timing it (perf_counter) and taking its ru_maxrss from wait4; raise on failure."""
    with open(log, "w") as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text()
    if child.returncode != 0:
        what = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(command[:4]))
        raise SystemExit(f"features benchmark: {what} ... failed ({child.returncode}):\n{output[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, output)


def _child(
    step: str, args: dict[str, Any], env: dict[str, str], log: Path
) -> tuple[dict[str, Any], Measured]:
    measured = _measure([sys.executable, "-m", "benchmarks.features", step, json.dumps(args)], env, log)
    return json.loads(measured.output.strip().splitlines()[-1]), measured


def _parse_sizes(text: str) -> list[tuple[str, int]]:
    sizes = []
    for label in (s.strip() for s in text.split(",") if s.strip()):
        scale = {"k": 1_000, "m": 1_000_000}.get(label[-1].lower(), 1)
        number = float(label[:-1]) if scale > 1 else float(label)
        sizes.append((label, int(number * scale)))
    return sizes


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _steps(data_dir: Path, warehouse: Path, env: dict[str, str], work: Path, name: str) -> tuple[Any, Any]:
    """`ingest(day)` and `dbt(args, day)` on `warehouse`, each in a child (logs in `work`, named `name`)."""
    env = {**env, "RETENTION_WAREHOUSE": str(warehouse), "RETENTION_PATHS__WAREHOUSE": str(warehouse)}

    def ingest(day: dt.date) -> dict[str, Any]:
        args = {"warehouse": str(warehouse), "data": str(data_dir), "run_date": str(day)}
        return _child("ingest", args, env, work / f"{name}-ingest.log")[0]

    def dbt(args: list[str], day: dt.date) -> dict[str, Any]:
        return _child("dbt", {"dbt": args, "run_date": str(day)}, env, work / f"{name}-dbt.log")[0]

    return ingest, dbt


def _half_history(
    data_dir: Path, days: list[dt.date], work: Path, env: dict[str, str], step: Any
) -> dict[str, Any]:
    """Full build of the first half of `days` but its last, then the incremental build of that last day."""
    half = days[: max(2, len(days) // 2)]
    step(f"half the history: {len(half) - 1} days, full build (untimed), ingest {half[-1]}, incremental")
    ingest, dbt = _steps(data_dir, work / "half-history.duckdb", env, work, "half")
    ingest(half[-2])
    full = dbt(["run", "--full-refresh", *FEATURES], half[-2])
    loaded = ingest(half[-1])
    incremental = dbt(["run", *FEATURES], half[-1])
    return {
        "days": len(half) - 1,
        "seconds": round(full["seconds"], 3),
        "incremental_date": str(half[-1]),
        "incremental_events": loaded["events_loaded"],
        "incremental_seconds": round(incremental["seconds"], 3),
    }


def _nights() -> int:
    text = os.environ.get(NIGHTS_ENV, "0").strip()
    if not text.isdigit():
        raise SystemExit(f"features benchmark: {NIGHTS_ENV} must be a whole number of nights, not {text!r}")
    return int(text)


def _after_nights(
    data_dir: Path, days: list[dt.date], work: Path, env: dict[str, str], step: Any, nights: int
) -> dict[str, Any]:
    """The pipeline's full rebuild `nights` + 1 days before the last day, its nightly build on each of the
    `nights` days after (ingest first), then the incremental build of the last day: the same day as the
    main incremental build, on a warehouse that went through `nights` nights instead of a full rebuild."""
    first, last = days[-(nights + 2)], days[-1]
    step(f"{nights} nights: full rebuild at {first} (untimed), nightly builds up to {days[-2]}, incremental")
    warehouse = work / "nights.duckdb"
    ingest, dbt = _steps(data_dir, warehouse, env, work, "nights")
    ingest(first)
    dbt([*NIGHTLY_BUILD, "--full-refresh"], first)
    builds, sizes = [], []
    for day in days[-(nights + 1) : -1]:
        ingest(day)
        builds.append(round(dbt(NIGHTLY_BUILD, day)["seconds"], 3))
        sizes.append(round(warehouse.stat().st_size / 2**20, 1))
    ingest(last)
    incremental = dbt(["run", *FEATURES], last)
    warehouse.unlink()
    return {
        "nights": nights,
        "full_rebuild_date": str(first),
        "nightly_build_seconds": builds,
        "warehouse_mb": sizes,
        "incremental_date": str(last),
        "incremental_seconds": round(incremental["seconds"], 3),
    }


def _nightly_build(
    warehouse: Path, day: dt.date, env: dict[str, str], work: Path, all_models_seconds: float
) -> dict[str, Any]:
    """The pipeline's nightly `dbt build` at `day` on `warehouse` (holding the full rebuild and the day)."""
    env = {**env, "RETENTION_WAREHOUSE": str(warehouse), "RETENTION_PATHS__WAREHOUSE": str(warehouse)}
    nightly, _ = _child("dbt", {"dbt": NIGHTLY_BUILD, "run_date": str(day)}, env, work / "nightly.log")
    warehouse.unlink()
    models = nightly["models_seconds"]
    return {
        "seconds": round(nightly["seconds"], 3),
        "share_of_all_models": round(nightly["seconds"] / all_models_seconds, 3),
        "models_total_seconds": round(sum(models.values()), 3),
        "tests_total_seconds": nightly["tests_seconds"],
        "slowest_models": dict(sorted(models.items(), key=lambda item: -item[1])[:5]),
    }


def _bench_one(
    cfg: Config, data_dir: Path, tmp_root: Path, console: Console, label: str, nights: int
) -> dict[str, Any]:
    from retention.ingest import partitions

    days = sorted(partitions(data_dir))
    if len(days) < 2:
        raise SystemExit(f"features benchmark: {data_dir} needs at least two day partitions")
    if nights and len(days) < nights + 2:
        raise SystemExit(f"features benchmark: {NIGHTS_ENV}={nights} needs {nights + 2} day partitions")
    run_date, last = days[-2], days[-1]
    with tempfile.TemporaryDirectory(prefix="bench-features-", dir=tmp_root) as tmp:
        work = Path(tmp)
        warehouse = work / "warehouse.duckdb"
        bench_cfg = cfg.replace("paths", warehouse=warehouse)
        env = {**os.environ, **dbt_env(bench_cfg), "RETENTION_PATHS__WAREHOUSE": str(warehouse)}

        def step(text: str) -> None:
            console.log(f"features benchmark [{label}]: {text}")

        def dbt(args: list[str], day: dt.date, name: str) -> tuple[dict[str, Any], Measured]:
            return _child("dbt", {"dbt": args, "run_date": str(day)}, env, work / f"{name}.log")

        step(f"ingest {len(days) - 1} days up to {run_date} (untimed)")
        loaded, _ = _child(
            "ingest",
            {"warehouse": str(warehouse), "data": str(data_dir), "run_date": str(run_date)},
            env,
            work / "ingest.log",
        )
        step("full build: dbt run --full-refresh --select +user_features")
        full, full_process = dbt(["run", "--full-refresh", *FEATURES], run_date, "full")

        step("baseline: the hand-written query")
        cutoff = run_date + dt.timedelta(days=1)
        base, base_measured = _child(
            "baseline", {"warehouse": str(warehouse), "cutoff": str(cutoff)}, env, work / "baseline.log"
        )
        if not base["matches"]:
            console.print(f"[red]the baseline query does not match features.user_features: {base}[/]")

        all_models = None
        if os.environ.get(ALL_MODELS_ENV, "1") not in ("0", "false", "no"):
            step("every model and data test: the pipeline's full rebuild (informational)")
            all_models = dbt([*NIGHTLY_BUILD, "--full-refresh"], run_date, "all")[0]

        step(f"ingest {last} (untimed), incremental build")
        new_day, _ = _child(
            "ingest",
            {"warehouse": str(warehouse), "data": str(data_dir), "run_date": str(last)},
            env,
            work / "ingest-last.log",
        )
        if all_models is not None:
            shutil.copy(warehouse, work / "nightly.duckdb")  # the night before any build of it
            os.sync()
        incremental, incremental_process = dbt(["run", *FEATURES], last, "incremental")
        nightly = None
        if all_models is not None:
            step(f"the pipeline's nightly dbt build at {last} (informational)")
            nightly = _nightly_build(work / "nightly.duckdb", last, env, work, all_models["seconds"])
        half_history = _half_history(data_dir, days, work, env, step)
        after_nights = _after_nights(data_dir, days, work, env, step, nights) if nights > 0 else None

    events = loaded["events_loaded"]
    models = full["models_seconds"]
    incremental_models = incremental["models_seconds"]
    return {
        "data": str(data_dir),
        "days": len(days) - 1,
        "cutoff": str(cutoff),
        "events": events,
        "feature_rows": base["dbt_rows"],
        "seconds": round(full["seconds"], 3),
        "events_per_s": round(events / full["seconds"]),
        "peak_rss_mb": round(full_process.peak_rss_mb, 1),
        "process_seconds": round(full_process.seconds, 3),
        "import_seconds": round(full["import_seconds"], 3),
        "warmup_parse_seconds": round(full["warmup_parse_seconds"], 3),
        "models_seconds": models,
        "models_total_seconds": round(sum(models.values()), 3),
        "dbt_overhead_seconds": round(full["seconds"] - sum(models.values()), 3),
        "models_ratio_vs_baseline": round(sum(models.values()) / base["seconds"], 2),
        "baseline_seconds": round(base["seconds"], 3),
        "baseline_events_per_s": round(events / base["seconds"]),
        "baseline_wall_seconds": round(base_measured.seconds, 3),
        "baseline_peak_rss_mb": round(base_measured.peak_rss_mb, 1),
        "ratio_vs_baseline": round(full["seconds"] / base["seconds"], 2),
        "process_ratio_vs_baseline": round(full_process.seconds / base_measured.seconds, 2),
        "baseline_matches_dbt": base["matches"],
        "baseline_check": {k: base[k] for k in ("rows", "dbt_rows", "same_columns", "mismatched_rows")},
        "all_models_seconds": None if all_models is None else round(all_models["seconds"], 3),
        "incremental_date": str(last),
        "incremental_events": new_day["events_loaded"],
        "incremental_seconds": round(incremental["seconds"], 3),
        "incremental_share_of_full": round(incremental["seconds"] / full["seconds"], 3),
        "incremental_process_seconds": round(incremental_process.seconds, 3),
        "incremental_peak_rss_mb": round(incremental_process.peak_rss_mb, 1),
        "incremental_models_seconds": incremental_models,
        "incremental_models_total_seconds": round(sum(incremental_models.values()), 3),
        **_split(incremental, full["seconds"]),
        "half_history": half_history,
        "incremental_history_ratio": round(incremental["seconds"] / half_history["incremental_seconds"], 2),
        "nightly_build": nightly,
        "after_nights": after_nights,
        "incremental_nights_ratio": (
            None
            if after_nights is None
            else round(after_nights["incremental_seconds"] / incremental["seconds"], 2)
        ),
    }


def _split(incremental: dict[str, Any], full_seconds: float) -> dict[str, Any]:
    """The incremental build's wall time split into the warehouse's SQL, the close, and dbt's own work."""
    own = incremental["seconds"] - incremental["sql_seconds"] - incremental["close_seconds"]
    return {
        "incremental_sql_seconds": round(incremental["sql_seconds"], 3),
        "incremental_close_seconds": round(incremental["close_seconds"], 3),
        "incremental_dbt_own_seconds": round(own, 3),
        "incremental_dbt_own_share_of_full": round(own / full_seconds, 3),
    }


def _targets(sizes: dict[str, dict[str, Any]], linearity: float | None) -> dict[str, Any]:
    measured = list(sizes.values())
    largest = measured[-1] if measured else None
    met: dict[str, bool | None] = {
        "ratio_vs_baseline": all(
            s["ratio_vs_baseline"] <= TARGETS["ratio_vs_baseline_max"] for s in measured
        ),
        "linearity": None if linearity is None else linearity <= TARGETS["linearity_max"],
        "peak_rss_10M": (
            sizes["10M"]["peak_rss_mb"] <= TARGETS["peak_rss_mb_max_10M"] if "10M" in sizes else None
        ),
        "incremental_share": (
            None
            if largest is None
            else largest["incremental_share_of_full"] <= TARGETS["incremental_share_max"]
        ),
        "baseline_matches_dbt": all(s["baseline_matches_dbt"] for s in measured),
    }
    return {"targets": TARGETS, "met": met}


def run(cfg: Config, data: str | None) -> dict[str, Any]:
    """Measure the dbt feature build, the hand-written baseline and the incremental build; return figures."""
    console = Console(width=None if sys.stdout.isatty() else 120)
    nights = _nights()
    tmp_root = cfg.paths.warehouse.parent  # the warehouse's file system, not a possibly in-memory /tmp
    tmp_root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    datasets: list[tuple[str, Path, dict[str, Any] | None]] = []
    if data in (None, "sim"):
        for label, events in _parse_sizes(os.environ.get(SIZES_ENV, DEFAULT_SIZES)):
            users = max(1, round(events / EVENTS_PER_USER))
            spec = {
                "users": users,
                "items": max(1, users // 10),
                "days": 90,
                "seed": 42,
                "start_date": str(cfg.simulation.start_date),
            }
            console.log(
                f"features benchmark [{label}]: simulated history of {users:,} users (generated once)"
            )
            made, _ = _child("generate", spec, env, tmp_root / f"bench-features-generate-{label}.log")
            (tmp_root / f"bench-features-generate-{label}.log").unlink(missing_ok=True)
            datasets.append((label, Path(made["folder"]), made["simulation"]))
    else:
        folder = Path(data).expanduser().resolve()
        if not (folder / "events").is_dir():
            raise SystemExit(f"features benchmark: {folder} is not a contract data folder (no events/)")
        datasets.append(("data", folder, None))

    sizes: dict[str, dict[str, Any]] = {}
    for label, folder, simulation in datasets:
        sizes[label] = {"simulation": simulation, **_bench_one(cfg, folder, tmp_root, console, label, nights)}
    ordered = list(sizes.values())
    linearity = round(ordered[-1]["seconds"] / ordered[0]["seconds"], 2) if len(ordered) > 1 else None
    results: dict[str, Any] = {
        "benchmark": "features",
        "sizes": sizes,
        "linearity": linearity,
        "models_linearity": (
            round(ordered[-1]["models_total_seconds"] / ordered[0]["models_total_seconds"], 2)
            if len(ordered) > 1
            else None
        ),
        "linearity_events": (
            round(ordered[-1]["events"] / ordered[0]["events"], 2) if len(ordered) > 1 else None
        ),
        **_targets(sizes, linearity),
        "parent_rss_mb": round(_rss_mb(), 1),
        "definitions": DEFINITIONS,
        "baseline_sql": BASELINE_SQL.strip(),  # {cutoff}, {cutoff_date}: see sizes[*].cutoff
        "timing": "one run of each measurement, each in its own child process, on a fresh warehouse per size",
        "machine": {
            "cpus": os.cpu_count(),
            "duckdb": _duckdb_version(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _print_table(console, results)
    return results


def _duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def _print_table(console: Console, r: dict[str, Any]) -> None:
    table = Table(
        title="features benchmark: dbt run --full-refresh --select +user_features vs one hand-written query",
        caption="ratio = dbt seconds / baseline seconds (target <= 2); "
        "incr. = one more day (target <= 15 % of the full build)",
    )
    columns = (
        "size",
        "events",
        "dbt s",
        "events/s",
        "peak MB",
        "baseline s",
        "ratio",
        "incr. s",
        "incr. %",
        "match",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "size" else "right")
    for label, s in r["sizes"].items():
        table.add_row(
            label,
            f"{s['events']:,}",
            f"{s['seconds']:.2f}",
            f"{s['events_per_s']:,}",
            f"{s['peak_rss_mb']:.0f}",
            f"{s['baseline_seconds']:.2f}",
            f"{s['ratio_vs_baseline']:.2f}x",
            f"{s['incremental_seconds']:.2f}",
            f"{100 * s['incremental_share_of_full']:.0f}",
            "yes" if s["baseline_matches_dbt"] else "NO",
        )
    console.print(table)
    for label, s in r["sizes"].items():
        h = s["half_history"]
        console.print(
            f"{label}: one more day on {s['days']} days of history: {s['incremental_seconds']:.2f} s; "
            f"on {h['days']} days: {h['incremental_seconds']:.2f} s (ratio {s['incremental_history_ratio']})"
        )
        console.print(
            f"{label}: of that day's {s['incremental_seconds']:.2f} s, "
            f"SQL {s['incremental_sql_seconds']:.2f} s, "
            f"closing the warehouse {s['incremental_close_seconds']:.2f} s, "
            f"dbt's own work {s['incremental_dbt_own_seconds']:.2f} s "
            f"({100 * s['incremental_dbt_own_share_of_full']:.0f} % of the full build)"
        )
        if s["after_nights"] is not None:
            a = s["after_nights"]
            builds = a["nightly_build_seconds"]
            console.print(
                f"{label}: that day after {a['nights']} night{'s' if a['nights'] > 1 else ''} "
                f"instead of after a full rebuild: "
                f"{a['incremental_seconds']:.2f} s (ratio {s['incremental_nights_ratio']}); "
                f"the nightly builds {min(builds):.2f}-{max(builds):.2f} s, "
                f"the warehouse {a['warehouse_mb'][0]:,.0f} -> {a['warehouse_mb'][-1]:,.0f} MB"
            )
        if s["nightly_build"] is not None:
            n = s["nightly_build"]
            console.print(
                f"{label}: the whole nightly dbt build {n['seconds']:.2f} s "
                f"({100 * n['share_of_all_models']:.0f} % of the full rebuild, "
                f"{s['all_models_seconds']:.2f} s): "
                f"models {n['models_total_seconds']:.2f} s, data tests {n['tests_total_seconds']:.2f} s"
            )
    if r["linearity"] is not None:
        console.print(
            f"linearity (largest / smallest seconds): {r['linearity']} "
            f"for {r['linearity_events']}x the events"
        )


if __name__ == "__main__":
    print(json.dumps(CHILD_STEPS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
