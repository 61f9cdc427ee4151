"""The simulator: determinism, the data contract, the intended marginal statistics, and the file layout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention import simulator
from retention.simulator import (
    EVENT_COLUMNS,
    EVENT_TYPES,
    SimulatedData,
    SimulationSpec,
    simulate,
    write_dataset,
)

SMALL = SimulationSpec(users=500, items=100, days=30, seed=7)
MEDIUM = SimulationSpec(users=3000, items=300, days=60, seed=11)


@pytest.fixture(scope="module")
def small() -> SimulatedData:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def medium() -> SimulatedData:
    return simulate(MEDIUM)


def _utc(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


# --- determinism ------------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(small: SimulatedData) -> None:
    again = simulate(SMALL)
    for name in ("events", "items", "users", "ground_truth"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))


def test_different_seed_gives_different_data(small: SimulatedData) -> None:
    other = simulate(
        SimulationSpec(users=SMALL.users, items=SMALL.items, days=SMALL.days, seed=SMALL.seed + 1)
    )
    assert not small.events.equals(other.events)
    assert not small.items.equals(other.items)
    assert not small.ground_truth.equals(other.ground_truth)


# --- contract ---------------------------------------------------------------------------------------


def test_event_columns_and_dtypes(small: SimulatedData) -> None:
    events = small.events
    assert list(events.columns) == EVENT_COLUMNS
    for col in ("event_id", "user_id", "item_id", "event_type", "session_id"):
        assert pd.api.types.is_string_dtype(events[col]), col
        assert events[col].notna().all(), col
    assert str(events["ts"].dtype) == "datetime64[us, UTC]"
    assert events["value"].dtype == np.float64
    assert events["event_id"].is_unique
    assert events["ts"].is_monotonic_increasing
    assert events["event_id"].str.fullmatch(r"e\d{9}").all()
    assert events["user_id"].str.fullmatch(r"u\d{5}").all()
    assert events["item_id"].str.fullmatch(r"i\d{4}").all()


def test_event_values(small: SimulatedData) -> None:
    events = small.events
    assert set(events["event_type"]) == set(EVENT_TYPES)
    purchase = events["event_type"] == "purchase"
    assert (events["value"] >= 0).all()
    assert (events.loc[~purchase, "value"] == 0.0).all()
    prices = small.items.set_index("item_id")["price"]
    bought = events[purchase]
    np.testing.assert_allclose(bought["value"].to_numpy(), prices.loc[bought["item_id"]].to_numpy())


def test_timestamps_within_window(small: SimulatedData) -> None:
    ts = small.events["ts"]
    assert ts.min() >= _utc(SMALL.start_date)
    assert ts.max() < _utc(SMALL.start_date + dt.timedelta(days=SMALL.days))


def test_events_reference_known_users_and_items(small: SimulatedData) -> None:
    assert small.events["user_id"].isin(small.users["user_id"]).all()
    assert small.events["item_id"].isin(small.items["item_id"]).all()
    assert small.users["user_id"].is_unique and small.items["item_id"].is_unique


def test_funnel_events_follow_a_view_of_the_same_item(small: SimulatedData) -> None:
    events = small.events
    views = events[events["event_type"] == "view"]
    first_view = views.groupby(["session_id", "item_id"])["ts"].min().rename("viewed_at")
    later = events[events["event_type"] != "view"].join(first_view, on=["session_id", "item_id"])
    assert later["viewed_at"].notna().all()
    assert (later["ts"] > later["viewed_at"]).all()
    assert events.groupby("session_id")["user_id"].nunique().max() == 1


def test_no_events_after_churn_or_before_signup(small: SimulatedData) -> None:
    events = small.events.merge(small.ground_truth[["user_id", "churned_on"]], on="user_id")
    events = events.merge(small.users[["user_id", "signup_ts"]], on="user_id")
    churned = events[events["churned_on"].notna()]
    event_day = churned["ts"].dt.date
    assert (event_day < churned["churned_on"]).all()
    assert (events["ts"] >= events["signup_ts"]).all()


def test_items_and_users_tables(small: SimulatedData) -> None:
    items, users = small.items, small.users
    assert list(items.columns) == ["item_id", "title", "category", "price"]
    assert len(items) == SMALL.items and (items["price"] > 0).all()
    assert items["category"].nunique() == len(simulator.CATEGORIES)
    assert items["title"].nunique() > 0.8 * len(items)
    assert list(users.columns) == ["user_id", "signup_ts", "country", "acquisition_channel"]
    assert len(users) == SMALL.users
    assert str(users["signup_ts"].dtype) == "datetime64[us, UTC]"
    assert set(users["country"]) <= set(simulator.COUNTRIES)
    assert set(users["acquisition_channel"]) <= set(simulator.CHANNELS)
    before = users["signup_ts"] < _utc(SMALL.start_date)
    assert 0.7 < before.mean() < 0.98  # most users signed up before the window


def test_ground_truth_table(medium: SimulatedData) -> None:
    gt = medium.ground_truth
    assert list(gt.columns) == [
        "user_id",
        "churned_on",
        "true_hazard",
        "true_churn_prob_30d",
        "effect_recommendation",
        "effect_coupon",
        "effect_care_message",
        "price_sensitivity",
        "taste_strength",
        "activity_rate",
    ]
    assert gt["user_id"].tolist() == medium.users["user_id"].tolist()
    assert gt["true_hazard"].between(0, 1, inclusive="neither").all()
    np.testing.assert_allclose(gt["true_churn_prob_30d"], 1 - (1 - gt["true_hazard"]) ** 30)
    assert gt["price_sensitivity"].between(0, 1).all() and gt["taste_strength"].between(0, 1).all()
    churned = gt["churned_on"].dropna()
    assert all(isinstance(d, dt.date) for d in churned)
    assert churned.min() >= MEDIUM.start_date
    assert churned.max() < MEDIUM.start_date + dt.timedelta(days=MEDIUM.days)

    effects = gt[["effect_recommendation", "effect_coupon", "effect_care_message"]]
    averse = (effects > 0).all(axis=1)
    assert 0.08 < averse.mean() < 0.17
    assert ((effects > 0).any(axis=1) == averse).all()  # annoyance hits every arm at once
    helped = gt[~averse]
    assert np.corrcoef(helped["effect_coupon"], helped["price_sensitivity"])[0, 1] < -0.7
    assert np.corrcoef(helped["effect_recommendation"], helped["taste_strength"])[0, 1] < -0.7
    assert effects.std().min() > 0.03


# --- marginal statistics ----------------------------------------------------------------------------


def test_funnel_ratios(medium: SimulatedData) -> None:
    counts = medium.events["event_type"].value_counts()
    assert 0.30 <= counts["click"] / counts["view"] <= 0.40
    assert 0.20 <= counts["add_to_cart"] / counts["click"] <= 0.30
    assert 0.30 <= counts["purchase"] / counts["add_to_cart"] <= 0.50


def test_session_length(medium: SimulatedData) -> None:
    views = medium.events[medium.events["event_type"] == "view"]
    assert 4.0 <= views.groupby("session_id").size().mean() <= 5.0


def test_activity_is_heavy_tailed(medium: SimulatedData) -> None:
    per_user = medium.events["user_id"].value_counts().reindex(medium.users["user_id"], fill_value=0)
    top = per_user.sort_values(ascending=False).iloc[: len(per_user) // 10]
    assert top.sum() / per_user.sum() > 0.35


def test_item_popularity_is_skewed(medium: SimulatedData) -> None:
    views = medium.events.loc[medium.events["event_type"] == "view", "item_id"].value_counts()
    top = views.iloc[: MEDIUM.items // 10]
    assert top.sum() / views.sum() > 0.35


def test_churn_rates(medium: SimulatedData) -> None:
    gt = medium.ground_truth.set_index("user_id")
    assert 0.2 < gt["churned_on"].notna().mean() < 0.8

    cutoff = MEDIUM.start_date + dt.timedelta(days=30)
    early = medium.events[medium.events["ts"] < _utc(cutoff)]
    active = gt.loc[early["user_id"].unique(), "churned_on"]
    alive = active[active.isna() | (active >= cutoff)]
    assert 0.15 < alive.notna().mean() < 0.5  # churned within the next 30 days


def test_hazard_rises_as_activity_falls(medium: SimulatedData) -> None:
    gt = medium.ground_truth
    light = gt["activity_rate"] < gt["activity_rate"].quantile(0.25)
    heavy = gt["activity_rate"] > gt["activity_rate"].quantile(0.75)
    assert gt.loc[light, "churned_on"].notna().mean() > gt.loc[heavy, "churned_on"].notna().mean()


def test_sessions_follow_successor_lists(medium: SimulatedData) -> None:
    catalog = simulator._build_catalog(np.random.default_rng(MEDIUM.seed), MEDIUM.items)
    views = medium.events[medium.events["event_type"] == "view"].sort_values(
        ["session_id", "ts"], kind="stable"
    )
    item = views["item_id"].str.slice(1).astype(int).to_numpy() - 1
    session = views["session_id"].to_numpy()
    same = session[1:] == session[:-1]
    prev, nxt = item[:-1][same], item[1:][same]

    def follow_share(nxt: np.ndarray) -> float:
        return float((catalog.successors[prev] == nxt[:, None]).any(axis=1).mean())

    shuffled = np.random.default_rng(0).permutation(nxt)
    assert follow_share(nxt) > 0.4
    assert follow_share(nxt) > 3 * follow_share(shuffled)


def test_titles_cluster_by_category(small: SimulatedData) -> None:
    nouns = {cat.name: set(cat.nouns) for cat in simulator.CATEGORIES}
    for title, category in small.items[["title", "category"]].itertuples(index=False):
        assert any(title.endswith(noun) for noun in nouns[category]), (title, category)


# --- files ------------------------------------------------------------------------------------------


def _partitions(root: Path, fmt: str) -> list[Path]:
    return sorted((root / "events").glob(f"date=*/events.{fmt}"))


def test_write_parquet_round_trips(small: SimulatedData, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    counts = write_dataset(small, out)
    event_days = small.events["ts"].dt.date.nunique()
    assert counts == {
        "users": SMALL.users,
        "items": SMALL.items,
        "events": len(small.events),
        "days": event_days,
    }

    files = _partitions(out, "parquet")
    assert len(files) == event_days == len(list((out / "events").iterdir()))
    for path in files:
        day = pd.read_parquet(path)["ts"].dt.date.unique()
        assert [str(d) for d in day] == [path.parent.name.removeprefix("date=")]
    events = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    pd.testing.assert_frame_equal(events, small.events)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "items.parquet"), small.items)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "users.parquet"), small.users)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "ground_truth" / "users.parquet"), small.ground_truth)


def test_write_csv_parses(small: SimulatedData, tmp_path: Path) -> None:
    out = tmp_path / "demo_csv"
    counts = write_dataset(small, out, fmt="csv")
    files = _partitions(out, "csv")
    assert counts["days"] == len(files) == small.events["ts"].dt.date.nunique()
    assert (out / "ground_truth" / "users.parquet").exists()

    events = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    assert list(events.columns) == EVENT_COLUMNS
    assert events["ts"].str.endswith("Z").all()
    ts = pd.to_datetime(events["ts"], utc=True, format="ISO8601")
    pd.testing.assert_series_equal(ts.dt.as_unit("us"), small.events["ts"], check_names=False)
    assert events["event_id"].tolist() == small.events["event_id"].tolist()
    np.testing.assert_allclose(events["value"], small.events["value"])

    items = pd.read_csv(out / "items.csv")
    assert list(items.columns) == list(small.items.columns)
    assert items["title"].tolist() == small.items["title"].tolist()
    users = pd.read_csv(out / "users.csv")
    assert list(users.columns) == list(small.users.columns)
    signup = pd.to_datetime(users["signup_ts"], utc=True, format="ISO8601").dt.as_unit("us")
    pd.testing.assert_series_equal(signup, small.users["signup_ts"])


def test_write_replaces_atomically(
    small: SimulatedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "demo"
    write_dataset(small, out)
    (out / "stale.txt").write_text("from an earlier run")
    write_dataset(small, out)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]

    def crash(*args: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulator, "_write_events", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_dataset(small, out, fmt="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temp folder left behind
    assert (out / "items.parquet").exists() and not (out / "items.csv").exists()


def test_rejects_unknown_format(small: SimulatedData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write_dataset(small, tmp_path / "x", fmt="json")
