"""Train the recommender on events before the run date, validate on the run date's next interactions,
log it to MLflow and run the promotion gate.

The catalogue is the whole of staging.stg_items, items nobody interacted with yet included, with their
titles: SASRec with the item text tower (`recommender.sasrec_item_text`) scores those by their titles,
so a brand-new item is recommendable from the first nightly training after its ingest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.entities import Metric

from retention.config import Config
from retention.warehouse import connect
from training.item_text import ItemTitles
from training.mf import MFConfig, MFRecommender
from training.popularity import PopularityConfig, PopularityRecommender
from training.promotion import log_and_gate
from training.recommender import Recommender, tune_and_refit
from training.recsys_data import Interactions
from training.recsys_evaluator import EvalSet, evaluate, leave_last_out
from training.recsys_plots import activity_figure, by_activity
from training.sasrec import SASRecConfig, SASRecRecommender

# The MLflow experiment and the registered model share this name.
REGISTERED_NAME = "retention-recommender"
MODELS = ("popularity", "mf", "sasrec")


def build_model(cfg: Config, titles: dict[str, str] | None = None) -> Recommender:
    """An unfitted recommender of the configured kind, with its hyper-parameters from the config;
    `titles` (item id -> title) feed the item text tower."""
    r = cfg.recommender
    if r.model == "popularity":
        return PopularityRecommender(PopularityConfig(window_days=r.popularity_days))
    if r.model == "mf":
        return MFRecommender(
            MFConfig(
                dim=r.mf_dim,
                negatives=r.mf_negatives,
                learning_rate=r.mf_learning_rate,
                batch_size=r.mf_batch_size,
                max_epochs=r.max_epochs,
                patience=r.patience,
                seed=r.seed,
            )
        )
    if r.model == "sasrec":
        return SASRecRecommender(
            SASRecConfig(
                hidden=r.sasrec_hidden,
                blocks=r.sasrec_blocks,
                max_len=r.sasrec_max_len,
                dropout=r.sasrec_dropout,
                learning_rate=r.sasrec_learning_rate,
                batch_size=r.sasrec_batch_size,
                max_epochs=r.max_epochs,
                patience=r.patience,
                seed=r.seed,
                item_text=r.sasrec_item_text,
                id_dropout=r.sasrec_id_dropout,
            ),
            ItemTitles(titles or {}, r.text_cache_dir),
        )
    raise ValueError(f"unknown recommender '{r.model}' (available: {', '.join(MODELS)})")


def load_events(cfg: Config, cutoff: dt.datetime) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Events before `cutoff`, the catalogue (every item of stg_items, by id) and the items' titles."""
    with connect(cfg.paths.warehouse, read_only=True) as con:
        events = con.execute(
            "select user_id, item_id, event_type, ts from staging.stg_events where ts < ?", [cutoff]
        ).df()
        items = con.execute("select item_id, title from staging.stg_items order by item_id").fetchall()
    return events, [item_id for item_id, _ in items], {item_id: title for item_id, title in items if title}


def validation_set(events: pd.DataFrame, validation_start: dt.datetime) -> EvalSet:
    """The run date's interactions with items the user had not interacted with before."""
    train = events[events["ts"] < validation_start]
    seen = train[["user_id", "item_id"]].drop_duplicates()
    valid = events[events["ts"] >= validation_start][["user_id", "item_id"]].drop_duplicates()
    truth = valid.merge(seen, how="left", indicator=True).query("_merge == 'left_only'")
    truth = truth[["user_id", "item_id"]].reset_index(drop=True)
    return EvalSet(sorted(truth["user_id"].unique()), seen, truth)


def train_recommender(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    validation_start = dt.datetime.combine(run_date, dt.time())
    events, item_ids, titles = load_events(cfg, validation_start + dt.timedelta(days=1))
    train = events[events["ts"] < validation_start]
    valid = validation_set(events, validation_start)
    k = cfg.recommender.top_k
    model = tune_and_refit(lambda: build_model(cfg, titles), train, item_ids, leave_last_out, k)
    baseline_config = PopularityConfig(cfg.recommender.popularity_days)
    baseline = PopularityRecommender(baseline_config).fit(Interactions(train, item_ids))

    def validation_ndcg(candidate: Any) -> float:
        return evaluate(candidate, valid, k).metrics[f"NDCG@{k}"]

    params = {
        "model": model.name,
        **{f"config.{key}": value for key, value in model.params().items()},
        "best_epoch": model.best_epoch,
        "train_events": len(train),
        "items": len(item_ids),
        "validation_users": len(valid.users),
        "k": k,
    }
    evaluation = evaluate(model, valid, k)
    metrics = {
        f"recall_at_{k}": evaluation.metrics[f"Recall@{k}"],
        f"ndcg_at_{k}": evaluation.metrics[f"NDCG@{k}"],
    }
    result = log_and_gate(
        cfg, REGISTERED_NAME, run_date, model, params, metrics, f"ndcg_at_{k}", validation_ndcg
    )
    _log_evaluation(result["run_id"], model, baseline, valid, train, k)
    return result


def _log_evaluation(
    run_id: str, model: Recommender, baseline: Recommender, valid: EvalSet, train: pd.DataFrame, k: int
) -> None:
    """Per-epoch curves, the config, both models' validation metrics and the activity-bucket plot."""
    client = mlflow.MlflowClient()
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    curves = [
        Metric(f"epoch_{key}", value, now, int(row["epoch"]))
        for row in model.history
        for key, value in row.items()
        if key != "epoch"
    ]
    evaluations = {"model": evaluate(model, valid, k), "popularity": evaluate(baseline, valid, k)}
    summary = [
        Metric(f"val_{who}_{name.replace('@', '_at_')}", value, now, 0)
        for who, evaluation in evaluations.items()
        for name, value in evaluation.metrics.items()
    ]
    client.log_batch(run_id, metrics=curves + summary)
    if dataclasses.is_dataclass(getattr(model, "config", None)):
        client.log_dict(run_id, dataclasses.asdict(model.config), "config/recommender.json")
    buckets = {
        f"{model.name} (candidate)": by_activity(evaluations["model"].per_user, train),
        "popularity": by_activity(evaluations["popularity"].per_user, train),
    }
    figure = activity_figure(buckets, f"NDCG@{k}", "validation NDCG by user activity")
    client.log_figure(run_id, figure, "plots/ndcg_by_activity.png")
    plt.close(figure)
    client.log_table(run_id, pd.concat(buckets, names=["model"]).reset_index(), "plots/ndcg_by_activity.json")
