"""Train the recommender on events before the run date, validate on the run date's next interactions,
log it to MLflow and run the promotion gate."""

from __future__ import annotations

import datetime as dt
from typing import Any

from retention.config import Config
from retention.warehouse import connect
from training.evaluate import ranking_metrics
from training.popularity import PopularityRecommender
from training.promotion import log_and_gate

# The MLflow experiment and the registered model share this name.
REGISTERED_NAME = "retention-recommender"


def build_model(cfg: Config) -> PopularityRecommender:
    if cfg.recommender.model != "popularity":
        raise ValueError(f"unknown recommender '{cfg.recommender.model}' (available: popularity)")
    return PopularityRecommender(window_days=cfg.recommender.popularity_days)


def train_recommender(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    validation_start = dt.datetime.combine(run_date, dt.time())
    cutoff = validation_start + dt.timedelta(days=1)
    with connect(cfg.paths.warehouse, read_only=True) as con:
        events = con.execute(
            "select user_id, item_id, event_type, ts from staging.stg_events where ts < ?", [cutoff]
        ).df()
        item_ids = [
            r[0] for r in con.execute("select item_id from staging.stg_items order by item_id").fetchall()
        ]
    train = events[events["ts"] < validation_start]
    seen = train[["user_id", "item_id"]].drop_duplicates()
    valid = events[events["ts"] >= validation_start][["user_id", "item_id"]].drop_duplicates()
    truth = valid.merge(seen, how="left", indicator=True).query("_merge == 'left_only'")[
        ["user_id", "item_id"]
    ]
    users = sorted(truth["user_id"].unique())
    k = cfg.recommender.top_k
    model = build_model(cfg).fit(train, item_ids, validation_start)

    def validation_ndcg(candidate: Any) -> float:
        return ranking_metrics(candidate, users, seen, truth, k)[f"ndcg_at_{k}"]

    params = {
        "model": cfg.recommender.model,
        "popularity_days": cfg.recommender.popularity_days,
        "train_events": len(train),
        "items": len(item_ids),
        "validation_users": len(users),
        "k": k,
    }
    metrics = ranking_metrics(model, users, seen, truth, k)
    gate_metric = f"ndcg_at_{k}"
    return log_and_gate(cfg, REGISTERED_NAME, run_date, model, params, metrics, gate_metric, validation_ndcg)
