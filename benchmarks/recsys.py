"""Recommender quality benchmark: protocols P1 (leave-last-out, HR@10/NDCG@10) and P2 (temporal cutoff,
Recall@20/NDCG@20, coverage, novelty) of ../shared/ANCHORS.md, for every model, on MovieLens data.

Data: a folder in either MovieLens layout (default ../shared/data/movielens-small); ratings are implicit
interactions and the catalogue is every item that occurs in the ratings. Each model's setting (epochs)
is chosen on the protocol's validation split inside the training data, then refitted on all of it
(`training.recommender.tune_and_refit`); the test split is only used for the reported numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from retention.adapters.movielens import detect_movielens, load_movielens
from retention.config import PROJECT_ROOT, Config
from training.mf import MFConfig, MFRecommender
from training.popularity import PopularityConfig, PopularityRecommender
from training.recommender import Recommender, tune_and_refit
from training.recsys_data import raw_id_order
from training.recsys_evaluator import Split, evaluate, leave_last_out, temporal
from training.sasrec import SASRecConfig, SASRecRecommender

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"
# Settings chosen on P1's validation split (never on a test split); epochs are chosen per run.
MODELS: dict[str, Callable[[], Recommender]] = {
    "popularity": lambda: PopularityRecommender(PopularityConfig(window_days=0)),
    "mf": lambda: MFRecommender(MFConfig()),
    "sasrec": lambda: SASRecRecommender(SASRecConfig()),
}
PROTOCOLS: dict[str, tuple[Callable[[pd.DataFrame], Split], int, tuple[str, ...]]] = {
    "P1": (leave_last_out, 10, ("HR@10", "NDCG@10")),
    "P2": (temporal, 20, ("Recall@20", "NDCG@20", "coverage@20", "novelty@20")),
}
# ../shared/ANCHORS.md: the best public implementations measured on the same protocols.
ANCHORS = {"P1": {"SASRec": 0.0487, "EASE": 0.0409}, "P2": {"SASRec": 0.1709, "EASE": 0.1528}}


def load_events(data_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    events = load_movielens(data_dir).events[["user_id", "item_id", "ts", "event_type"]]
    return events, raw_id_order(events["item_id"])


def run_protocol(protocol: str, events: pd.DataFrame, catalogue: list[str], models: list[str]) -> dict:
    split_rule, k, reported = PROTOCOLS[protocol]
    split = split_rule(events)
    results = {}
    for name in models:
        started = time.perf_counter()
        model = tune_and_refit(MODELS[name], split.train, catalogue, split_rule, k)
        train_s = time.perf_counter() - started
        metrics = evaluate(model, split.test, k).metrics
        results[name] = {m: round(metrics[m], 4) for m in reported} | {
            "train_s": round(train_s, 1),
            "best_epoch": model.best_epoch,
            "users": int(metrics["users"]),
        }
    return results


def run(cfg: Config, data: str | None, models: list[str] | None = None) -> dict[str, Any]:
    data_dir = Path(data).expanduser().resolve() if data else DEFAULT_DATA
    if not detect_movielens(data_dir):
        raise SystemExit(f"recsys benchmark: {data_dir} is not a MovieLens folder (ratings.csv or u.data)")
    started = time.perf_counter()
    events, catalogue = load_events(data_dir)
    models = models or list(MODELS)
    results: dict[str, Any] = {"dataset": data_dir.name, "data": str(data_dir)}
    for protocol in PROTOCOLS:
        results[protocol] = run_protocol(protocol, events, catalogue, models)
    results |= {
        "total_s": round(time.perf_counter() - started, 1),
        "anchors_ndcg": ANCHORS,
        "events": len(events),
        "users": int(events["user_id"].nunique()),
        "items": len(catalogue),
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _print_table(results)
    return results


def _print_table(results: dict[str, Any]) -> None:
    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=f"recsys benchmark on {results['dataset']} ({results['total_s']:.0f} s in all)")
    columns = ("HR@10", "NDCG@10", "train_s", "Recall@20", "NDCG@20", "coverage@20", "novelty@20", "train_s")
    table.add_column("model")
    for column, protocol in zip(columns, ["P1"] * 3 + ["P2"] * 5, strict=True):
        table.add_column(f"{protocol} {column}", justify="right")
    for model in results["P1"]:
        p1, p2 = results["P1"][model], results["P2"][model]
        values = [p1[c] for c in columns[:3]] + [p2[c] for c in columns[3:]]
        table.add_row(model, *(f"{v:.4f}" if isinstance(v, float) and v < 10 else str(v) for v in values))
    anchors = ", ".join(
        f"{p} NDCG: " + ", ".join(f"{m} {v}" for m, v in a.items()) for p, a in ANCHORS.items()
    )
    table.caption = f"anchors (../shared/ANCHORS.md) {anchors}"
    console.print(table)
