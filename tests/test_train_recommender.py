"""The nightly recommender step on a small warehouse: the configured model is built, tuned, logged to
MLflow (params, per-epoch curves, config, activity plot), registered and gated."""

from __future__ import annotations

import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pytest

from retention.config import Config
from retention.simulator import CATEGORIES
from retention.warehouse import connect
from training import tracking
from training.mf import MFRecommender
from training.sasrec import SASRecRecommender
from training.train_recommender import REGISTERED_NAME, build_model, train_recommender

RUN_DATE = dt.date(2026, 8, 2)  # every user's sixth click


def write_warehouse(cfg: Config, users: int = 90, items: int = 24, seed: int = 1) -> None:
    """Three taste groups; each user clicks items of their group, one a day-ish, up to RUN_DATE. Item i
    of group i // 8 (i % 3 past 24: nobody clicked those yet) is titled from that group's vocabulary."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        group = u % 3
        for n, item in enumerate(rng.permutation(8)[:6]):
            ts = dt.datetime(2026, 7, 28) + dt.timedelta(days=n, hours=int(rng.integers(0, 24)))
            rows.append((f"u{u:03d}", f"i{group * 8 + int(item):02d}", "click", ts))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts"])
    groups = [i // 8 if i < 24 else i % 3 for i in range(items)]
    titles = [f"{CATEGORIES[g].adjectives[i % 6]} {CATEGORIES[g].nouns[i % 8]}" for i, g in enumerate(groups)]
    catalogue = pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(items)], "title": titles})
    with connect(cfg.paths.warehouse) as con:
        con.execute("create schema staging")
        con.register("events", events)
        con.register("catalogue", catalogue)
        con.execute("create table staging.stg_events as select * from events")
        con.execute("create table staging.stg_items as select * from catalogue")


def test_build_model_follows_the_config(platform):
    assert isinstance(build_model(platform.replace("recommender", model="mf", mf_dim=8)), MFRecommender)
    sasrec = build_model(platform.replace("recommender", model="sasrec", sasrec_max_len=7))
    assert isinstance(sasrec, SASRecRecommender) and sasrec.config.max_len == 7
    text = build_model(
        platform.replace("recommender", model="sasrec", sasrec_item_text=True), {"i00": "Kettle"}
    )
    assert text.name == "sasrec_text" and text.titles.titles == {"i00": "Kettle"}
    with pytest.raises(ValueError, match="unknown recommender"):
        build_model(platform.replace("recommender", model="nope"))


def test_nightly_training_logs_and_gates_an_mf_model(platform):
    cfg = platform.replace(
        "recommender", model="mf", max_epochs=6, patience=2, mf_dim=8, mf_negatives=8, mf_batch_size=64,
        mf_learning_rate=0.05,
    )  # fmt: skip
    write_warehouse(cfg)
    result = train_recommender(cfg, RUN_DATE)
    assert result["promoted"] and result["val_ndcg_at_10"] > 0

    tracking.configure(cfg)
    run = mlflow.get_run(result["run_id"])
    assert run.data.params["model"] == "mf" and run.data.params["config.dim"] == "8"
    assert run.data.metrics["val_model_NDCG_at_10"] > run.data.metrics["val_popularity_NDCG_at_10"]
    curve = mlflow.MlflowClient().get_metric_history(result["run_id"], "epoch_val_ndcg")
    assert [m.step for m in curve] == list(range(1, len(curve) + 1)) and len(curve) >= 2
    artifacts = {
        a.path
        for folder in ("plots", "config")
        for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, folder)
    }
    assert {"plots/ndcg_by_activity.png", "config/recommender.json"} <= artifacts
    champion = tracking.load_champion(REGISTERED_NAME)
    assert isinstance(champion, MFRecommender) and champion.score(["u000"]).shape == (1, 24)


def test_nightly_training_feeds_the_warehouse_titles_to_the_text_tower(platform):
    cache = platform.paths.warehouse.parent / "item_text"
    cfg = platform.replace(
        "recommender", model="sasrec", sasrec_item_text=True, sasrec_hidden=16, sasrec_max_len=6,
        sasrec_batch_size=32, max_epochs=3, patience=0, text_cache_dir=cache,
    )  # fmt: skip
    write_warehouse(cfg, items=27)  # i24-i26: in stg_items, no interactions yet
    result = train_recommender(cfg, RUN_DATE)
    assert result["promoted"]

    tracking.configure(cfg)
    run = mlflow.get_run(result["run_id"])
    assert run.data.params["model"] == "sasrec_text" and run.data.params["config.item_text"] == "True"
    assert "all-MiniLM-L6-v2" in run.data.params["config.text_encoder"]
    assert "val_model_NDCG_at_10" in run.data.metrics and len(list(cache.glob("*.npy"))) == 1
    champion = tracking.load_champion(REGISTERED_NAME)
    new = champion.score(["u000"])[0, 24:]
    assert champion.item_ids[24:] == ["i24", "i25", "i26"] and len(set(new.tolist())) == 3  # by title
