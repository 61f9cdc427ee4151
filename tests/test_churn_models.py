"""The four churn models behind one interface, on point-in-time snapshots of a small simulated history:
temporal split, models beat chance, MLflow save/load roundtrip, BG/NBD parameter recovery, monotone GBDT."""

import datetime as dt
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from benchmarks.churn_data import Protocol, build_snapshots, snapshot
from retention.ingest import ingest
from retention.simulator import SimulationSpec, simulate, write_dataset
from training import tracking
from training.churn_bgnbd import (
    BgnbdParams,
    expected_transactions,
    fit_bgnbd,
    probability_alive,
    probability_no_transaction,
)
from training.churn_data import temporal_split
from training.churn_evaluation import churn_metrics
from training.churn_model import CHURN_MODELS, LABEL, build_churn_model
from training.churn_sequence import SequenceConfig, sequence_arrays

HORIZON = 30
SPEC = SimulationSpec(users=2000, items=300, days=90, seed=11, start_date=dt.date(2026, 6, 1))
PROTOCOL = Protocol(horizon_days=HORIZON, every_days=7, population="active", min_history_days=14)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("churn")
    write_dataset(simulate(SPEC), root / "data")
    ingest(root / "warehouse.duckdb", root / "data")
    return root / "warehouse.duckdb"


@pytest.fixture(scope="module")
def split(warehouse: Path):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame, _ = build_snapshots(con, PROTOCOL)
    return temporal_split(frame, HORIZON)


@pytest.fixture(scope="module")
def fitted(split) -> dict:
    return {name: build_churn_model(name).fit(split.train, split.calibration) for name in CHURN_MODELS}


def test_no_training_or_calibration_label_reaches_into_the_validation_window(split):
    validation_cutoff = pd.to_datetime(split.validation["cutoff_date"]).max()
    assert (pd.to_datetime(split.validation["cutoff_date"]) == validation_cutoff).all()
    for part in (split.train, split.calibration):
        label_ends = pd.to_datetime(part["cutoff_date"]) + pd.Timedelta(days=HORIZON)
        assert (label_ends <= validation_cutoff).all()
    assert split.protocol == "temporal"
    assert not set(split.train["user_id"]) & set(split.calibration["user_id"])


def test_snapshot_features_ignore_events_after_the_cutoff_and_labels_ignore_those_after_the_window(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first, last = con.execute("select min(ts)::date, max(ts)::date from raw.events").fetchone()
    cutoff = first + dt.timedelta(days=42)
    full = _snapshot_with_events_before(warehouse, cutoff, last + dt.timedelta(days=1))
    until_window_end = _snapshot_with_events_before(warehouse, cutoff, cutoff + dt.timedelta(days=HORIZON))
    features_only = _snapshot_with_events_before(warehouse, cutoff, cutoff)
    pd.testing.assert_frame_equal(full, until_window_end)
    pd.testing.assert_frame_equal(full.drop(columns=LABEL), features_only.drop(columns=LABEL))
    assert full[LABEL].mean() < features_only[LABEL].mean() == 1.0  # no events after c: everyone "churns"


def _snapshot_with_events_before(warehouse: Path, cutoff: dt.date, end: dt.date) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as source (read_only)")
        con.execute("create schema raw")
        con.execute("create table raw.events as select * from source.raw.events where ts < ?", [end])
        con.execute("create table raw.items as select * from source.raw.items")
        con.execute("create table raw.users as select * from source.raw.users")
        return snapshot(con, cutoff, PROTOCOL).sort_values("user_id").reset_index(drop=True)


def test_temporal_split_falls_back_to_disjoint_users_when_the_history_is_short():
    frame = pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(200)], "cutoff_date": pd.Timestamp("2026-07-06"), LABEL: 0}
    )
    split = temporal_split(frame, HORIZON)
    assert split.protocol == "users"
    parts = [set(p["user_id"]) for p in (split.train, split.calibration, split.validation)]
    assert sum(len(p) for p in parts) == 200 and len(set.union(*parts)) == 200


@pytest.mark.parametrize("name", list(CHURN_MODELS))
def test_every_model_gives_probabilities_that_beat_chance(fitted, split, name):
    probability = fitted[name].predict_proba(split.validation)
    assert probability.shape == (len(split.validation),)
    assert np.all((probability >= 0) & (probability <= 1))
    assert churn_metrics(split.validation[LABEL].to_numpy(), probability)["roc_auc"] > 0.6


def test_models_roundtrip_through_mlflow(fitted, split, platform):
    tracking.configure(platform)
    tracking.use_experiment(platform, "churn-roundtrip")
    for name, model in fitted.items():
        with mlflow.start_run():
            version = tracking.log_model(model, f"churn-{name}")
        loaded = tracking.load_version(f"churn-{name}", version)
        np.testing.assert_allclose(
            loaded.predict_proba(split.validation), model.predict_proba(split.validation)
        )


def test_gbdt_risk_never_falls_as_recency_grows(fitted, split):
    rows = split.validation.head(50)
    for days in range(0, 30, 3):
        later = fitted["gbdt"].predict_proba(rows.assign(days_since_last_event=days + 3))
        assert np.all(later >= fitted["gbdt"].predict_proba(rows.assign(days_since_last_event=days)) - 1e-12)


def test_bgnbd_maximum_likelihood_recovers_the_parameters_it_was_simulated_with():
    truth = BgnbdParams(r=0.24, alpha=4.41, a=0.79, b=2.43)  # Fader et al.'s CDNOW estimates
    rng = np.random.default_rng(0)
    n = 5000
    rate, dropout = rng.gamma(truth.r, 1 / truth.alpha, n), rng.beta(truth.a, truth.b, n)
    age = rng.uniform(27, 39, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = rng.exponential(1 / rate[i])
        while t < age[i]:
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < dropout[i]:
                break
            t += rng.exponential(1 / rate[i])
    fitted = fit_bgnbd(x, t_x, age)
    for field in ("r", "alpha", "a", "b"):
        assert getattr(fitted, field) == pytest.approx(getattr(truth, field), rel=0.2)
    # At least one transaction in the next 13 weeks happens with probability 1 - P(none) <= E[count].
    expected = expected_transactions(fitted, x, t_x, age, 13)
    some = 1 - probability_no_transaction(fitted, x, t_x, age, 13)
    assert np.all(np.isfinite(expected)) and np.all(expected >= some - 1e-9)
    alive = probability_alive(fitted, x, t_x, age)
    assert np.all(alive[x == 0] == 1.0) and np.all((alive > 0) & (alive <= 1))


def test_sequences_become_left_padded_steps_with_gaps_and_ages_in_hours():
    frame = pd.DataFrame(
        {
            "item_ids": [["a", "b", "c"], [], ["x"]],
            "event_types": [["view", "click", "purchase"], [], ["view"]],
            "gap_seconds": [[3600, 7200], [], []],
            "days_since_last_event": [1, 0, 2],
        }
    )
    items, types, times = sequence_arrays(frame, SequenceConfig(sequence_length=4))
    assert (items[0, 0], items[1].sum(), items[2, :3].sum()) == (0, 0, 0)
    assert (items[0, 1:] > 0).all() and items[2, 3] > 0
    assert types.tolist() == [[0, 1, 2, 4], [0, 0, 0, 0], [0, 0, 0, 1]]
    np.testing.assert_allclose(np.expm1(times[0, :, 0]), [0, 0, 1, 2], atol=1e-5)  # gap to previous, hours
    np.testing.assert_allclose(np.expm1(times[0, :, 1]), [0, 27, 26, 24], atol=1e-4)  # age at cutoff, hours
    np.testing.assert_allclose(np.expm1(times[2, 3, 1]), 48, atol=1e-4)
