"""The nightly data-quality gates, one per stage: raw events after ingest, features after dbt, outputs
before publish. Each reads what it checks from the warehouse (read-only), runs the GE suites with this
run's parameters, records the outcome (``ops.validation_results``, Data Docs) and raises
`QualityGateError` on an error-severity failure; warnings are returned and recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import duckdb
import pandas as pd

from retention import validation_store
from retention.config import Config
from retention.drift import DRIFT_DDL, feature_drift
from retention.quality import DocsSite, GateResult, QualityGateError, build_docs, enforce, run_checkpoint
from retention.warehouse import connect, table_exists

log = logging.getLogger(__name__)


def docs_site(cfg: Config) -> DocsSite:
    return DocsSite(gx_root=cfg.paths.warehouse.parent / "gx", docs_dir=cfg.paths.data_docs_dir)


def _finish(
    cfg: Config, run_date: dt.date, results: list[GateResult], to_mlflow: bool = False
) -> dict[str, Any]:
    """Record and document the results (failures too), then stop on errors."""
    validation_store.record(cfg, run_date, results)
    if to_mlflow:  # the night's training runs exist by now: they get every suite's counts
        validation_store.log_to_runs_of_date(cfg, run_date)
    build_docs(docs_site(cfg), results)
    for warning in (w for r in results for w in r.warnings):
        log.warning("data quality warning: %s", warning.describe())  # lands in the Airflow task log
    outcome = enforce(results)
    return {**outcome, "data_docs": str(docs_site(cfg).index)}


# --- raw events -------------------------------------------------------------------------------------

RAW_EVENTS_SQL = """
select e.event_id, e.user_id, e.item_id, e.event_type, e.value,
    case when e.event_type <> 'purchase' then e.value end as non_purchase_value,
    date_diff('second', cast(e.event_date as timestamp), e.ts) / 3600.0 as hours_from_day_start,
    u.user_id is not null as user_known, i.item_id is not null as item_known
from raw.events e
left join raw.users u on u.user_id = e.user_id
left join raw.items i on i.item_id = e.item_id
where e.event_date = ?
"""


def raw_params(con: duckdb.DuckDBPyConnection, cfg: Config, run_date: dt.date) -> dict[str, Any]:
    rules = cfg.quality
    since = run_date - dt.timedelta(days=rules.volume_history_days)
    median, days = con.execute(
        """select median(n), count(*) from (
            select event_date, count(*) as n from raw.events
            where event_date >= ? and event_date < ? group by event_date)""",
        [since, run_date],
    ).fetchone()
    enough = days >= rules.volume_min_history
    return {
        "min_rows": math.floor(rules.volume_low * median) if enough else None,
        "max_rows": math.ceil(rules.volume_high * median) if enough else None,
        "min_hours": -24.0 * rules.max_lateness_days,
        "min_known_share": rules.min_known_id_share,
    }


def validate_raw(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    with connect(cfg.paths.warehouse, read_only=True) as con:
        events = con.execute(RAW_EVENTS_SQL, [run_date]).df()
        params = raw_params(con, cfg, run_date)
        quarantined = quarantine_counts(con, run_date)
    result = run_checkpoint("raw_events", events, params, docs_site(cfg))
    try:
        outcome = _finish(cfg, run_date, [result])
    except QualityGateError as error:
        if quarantined:
            raise QualityGateError(f"{error}\n{_quarantine_note(run_date, quarantined)}") from error
        raise
    return {**outcome, "events": len(events), "quarantined": quarantined, "volume_band": params}


def quarantine_counts(con: duckdb.DuckDBPyConnection, run_date: dt.date) -> dict[str, int]:
    if not table_exists(con, "raw", "quarantine"):
        return {}
    found = con.execute(
        "select reason, count(*) from raw.quarantine where event_date = ? group by 1 order by 1", [run_date]
    ).fetchall()
    return dict(found)


def _quarantine_note(run_date: dt.date, quarantined: dict[str, int]) -> str:
    reasons = "; ".join(f"{reason} ({n})" for reason, n in quarantined.items())
    return f"note: {sum(quarantined.values())} rows of {run_date} were quarantined at ingest: {reasons}"


# --- features ---------------------------------------------------------------------------------------


def _previous_snapshot(con: duckdb.DuckDBPyConnection, run_date: dt.date):
    if not table_exists(con, "marts", "user_features"):
        return None, pd.DataFrame()
    (previous,) = con.execute(
        "select max(run_date) from marts.user_features where run_date < ?", [run_date]
    ).fetchone()
    if previous is None:
        return None, pd.DataFrame()
    frame = con.execute("select * from marts.user_features where run_date = ?", [previous]).df()
    return previous, frame


def validate_features(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    rules = cfg.quality
    with connect(cfg.paths.warehouse, read_only=True) as con:
        features = con.execute("select * from features.user_features").df()
        previous_date, previous = _previous_snapshot(con, run_date)
    rows = {
        "min_rows": math.floor(rules.feature_rows_low * len(previous)) if len(previous) else None,
        "max_rows": math.ceil(rules.feature_rows_high * len(previous)) if len(previous) else None,
    }
    site = docs_site(cfg)
    results = [run_checkpoint("user_features", features, rows, site)]
    drift = None
    if previous_date is not None:
        names = [n.strip() for n in rules.drift_features.split(",") if n.strip()]
        drift = feature_drift(previous, features, names, run_date, previous_date)
        _record_drift(cfg, run_date, drift)
        limits = {"psi_warn": rules.drift_psi_warn, "psi_error": rules.drift_psi_error}
        results.append(run_checkpoint("feature_drift", drift, limits, site))
    outcome = _finish(cfg, run_date, results)
    psi = {} if drift is None else dict(zip(drift["feature"], drift["psi"].round(4), strict=True))
    return {**outcome, "previous_run_date": str(previous_date), "psi": psi}


def _record_drift(cfg: Config, run_date: dt.date, drift: pd.DataFrame) -> None:
    with connect(cfg.paths.warehouse) as con:
        con.execute(DRIFT_DDL)
        con.execute("begin transaction")
        con.execute("delete from ops.feature_drift where run_date = ?", [run_date])
        con.register("drift_frame", drift)
        con.execute("insert into ops.feature_drift select *, current_timestamp from drift_frame")
        con.unregister("drift_frame")
        con.execute("commit")


# --- outputs ----------------------------------------------------------------------------------------

RECOMMENDATIONS_SQL = """
select r.user_id, r.item_id, r.rank, s.user_id is not null as already_seen
from {schema}.user_recommendations r
left join (select distinct user_id, item_id from staging.stg_events where ts < ?) s
    on s.user_id = r.user_id and s.item_id = r.item_id
"""

INTERVENTIONS_SQL = """
select l.user_id, l.arm, l.segment, l.is_holdout::int as holdout,
    l.is_holdout and l.arm <> 'none' as breaks_holdout,
    c.user_id is not null and l.arm <> 'none' as breaks_fatigue,
    l.arm in ('coupon', 'care_message') and row_number() over (
        partition by l.arm order by l.churn_probability desc, l.user_id
    ) > case l.arm when 'coupon' then $coupon when 'care_message' then $care else 0 end as over_budget
from {schema}.intervention_list l
left join ({contacted}) c on c.user_id = l.user_id
"""


def _contacted_sql(con: duckdb.DuckDBPyConnection) -> str:
    if not table_exists(con, "marts", "intervention_list"):
        return "select null::varchar as user_id where false"
    return """select distinct user_id from marts.intervention_list
        where arm <> 'none' and run_date >= $since and run_date < $run_date"""


def output_frames(cfg: Config, run_date: dt.date) -> tuple[dict[str, pd.DataFrame], int]:
    from retention.pipeline import stage_schema

    schema = stage_schema(run_date)
    cutoff = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    rules = cfg.interventions
    with connect(cfg.paths.warehouse, read_only=True) as con:
        (active,) = con.execute("select count(*) from features.user_features").fetchone()
        frames = {
            "churn_scores": con.execute(f"select user_id, churn_probability from {schema}.churn_scores").df(),
            "risk_segments": con.execute(
                f"select user_id, churn_probability, segment from {schema}.risk_segments"
            ).df(),
            "user_recommendations": con.execute(RECOMMENDATIONS_SQL.format(schema=schema), [cutoff]).df(),
        }
        contacted = _contacted_sql(con)
        params = {"coupon": rules.coupon_budget, "care": rules.care_budget}
        if "$since" in contacted:
            params |= {"since": run_date - dt.timedelta(days=rules.fatigue_days), "run_date": run_date}
        sql = INTERVENTIONS_SQL.format(schema=schema, contacted=contacted)
        frames["intervention_list"] = con.execute(sql, params).df()
    return frames, int(active)


def validate_outputs(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    frames, active = output_frames(cfg, run_date)
    share = cfg.interventions.holdout_share
    # Binomial noise of the holdout share at this many users, with a floor for tiny runs.
    tolerance = max(0.02, 4 * math.sqrt(share * (1 - share) / max(active, 1)))
    params = {
        "active_users": active,
        "top_k": cfg.recommender.top_k,
        "holdout_min": max(0.0, share - tolerance),
        "holdout_max": min(1.0, share + tolerance),
    }
    site = docs_site(cfg)
    results = [run_checkpoint(name, frame, params, site) for name, frame in frames.items()]
    return _finish(cfg, run_date, results, to_mlflow=True)
