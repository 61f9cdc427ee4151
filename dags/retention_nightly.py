"""retention_nightly: the nightly batch run, wiring only (the logic lives in `retention.pipeline`).

ingest -> validate_raw -> transform (dbt build) -> validate_features -> train_churn ->
train_recommender -> score -> intervene -> validate_outputs -> publish
(validate_*: Great Expectations gates; an error-severity failure fails the task, so nothing downstream
runs and the published marts stay as they were)

The run date is the `run_date` param when given, else the start of the run's data interval: for the
scheduled run at midnight, and for a manual trigger, the last complete day.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Param, chain, dag, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

STEPS = (
    "ingest",
    "validate_raw",
    "transform",
    "validate_features",
    "train_churn",
    "train_recommender",
    "score",
    "intervene",
    "validate_outputs",
    "publish",
)
# The data-quality gates only fail on bad data, which a retry cannot fix.
NO_RETRY = {"validate_raw", "validate_features", "validate_outputs"}


def pipeline_task(step: str):
    @task(task_id=step, retries=0 if step in NO_RETRY else 2, retry_delay=dt.timedelta(minutes=2))
    def run(**context) -> dict:
        from retention.pipeline import PERMANENT_ERRORS, run_step

        day = context.get("data_interval_start") or context["dag_run"].run_after
        try:
            return run_step(step, context["params"], day.date())
        except PERMANENT_ERRORS as error:  # bad data: fail now, a retry would only delay the alert
            raise AirflowFailException(str(error)) from error

    return run()


@dag(
    dag_id="retention_nightly",
    description="Ingest events, build features, gate, train, score users and write intervention lists",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["retention"],
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to process (YYYY-MM-DD); empty = the run's logical date",
        ),
        "data_dir": Param(
            None,
            type=["null", "string"],
            description="Folder of event files in the data contract; empty = paths.data_dir",
        ),
        "churn_model": Param(
            None,
            type=["null", "string"],
            enum=[None, "logistic", "gbdt", "bgnbd", "sequence"],
            description="Churn model to train; empty = churn.model from retention.yaml",
        ),
        "recommender": Param(
            None,
            type=["null", "string"],
            enum=[None, "popularity", "mf", "sasrec"],
            description="Recommender to train; empty = recommender.model",
        ),
    },
)
def retention_nightly():
    chain(*[pipeline_task(step) for step in STEPS])


retention_nightly()
