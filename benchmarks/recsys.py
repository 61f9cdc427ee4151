"""Recommender quality benchmark: protocols P1 (leave-last-out, HR@10/NDCG@10) and P2 (temporal cutoff,
Recall@20/NDCG@20, coverage, novelty) of ../shared/ANCHORS.md, for every model, on MovieLens data.

Data: a folder in either MovieLens layout (default ../shared/data/movielens-small); ratings are implicit
interactions and the catalogue is every item that occurs in the ratings. Each model's setting (epochs)
is chosen on the protocol's validation split inside the training data, then refitted on all of it
(`training.recommender.tune_and_refit`); the test split is only used for the reported numbers.

Cold start (`cold_start` in the JSON): the protocol of `training.cold_start` (10 % of the items held out
of training entirely, their users' interactions with them the truth; Recall@20/NDCG@20/HR@20 ranking all
unseen catalogue items, and ranking the held-out items only) for the models of COLD_MODELS. Each is
fitted once on the cold training data with P1's settings, for the epoch count it chose on P1's
validation split in the same run (no second tuning run: it would add ~10 minutes; the cold truth never
chooses anything).
"""

from __future__ import annotations

import datetime as dt
import functools
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from retention.adapters.movielens import detect_movielens, load_movielens
from retention.config import PROJECT_ROOT, Config
from training.cold_start import OnlyItems, hold_out_items
from training.item_text import ItemTitles
from training.mf import MFConfig, MFRecommender
from training.popularity import PopularityConfig, PopularityRecommender
from training.recommender import Recommender, tune_and_refit
from training.recsys_data import Interactions, raw_id_order
from training.recsys_evaluator import Split, evaluate, leave_last_out, temporal
from training.sasrec import SASRecConfig, SASRecRecommender

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"
# P2 trains on whole histories up to one cutoff, far longer than P1's 50-item windows. On P2's validation
# split (NDCG@20) a 200-item window with 64 dimensions scored 0.0943, against 0.0757 for P1's setting
# (128, 50), 0.0811 for (128, 200) and 0.0793 for (64, 200) trained on each user's last window only.
P2_SASREC = {"hidden": 64, "max_len": 200}


def sasrec_config(protocol: str, **settings: Any) -> SASRecConfig:
    return SASRecConfig(**(P2_SASREC if protocol == "P2" else {}), **settings)


# Settings chosen on each protocol's validation split (never on a test split); epochs are chosen per
# run. Each factory gets the catalogue's titles (only the text tower reads them) and the protocol.
MODELS: dict[str, Callable[[ItemTitles, str], Recommender]] = {
    "popularity": lambda titles, protocol: PopularityRecommender(PopularityConfig(window_days=0)),
    "mf": lambda titles, protocol: MFRecommender(MFConfig()),
    "sasrec": lambda titles, protocol: SASRecRecommender(sasrec_config(protocol)),
    "sasrec_text": lambda titles, protocol: SASRecRecommender(
        sasrec_config(protocol, item_text=True), titles
    ),
}
COLD_MODELS = ("popularity", "sasrec", "sasrec_text")  # the floor, the same model without and with text
TEXT_MODELS = ("sasrec_text",)
WORKERS_ENV = "RETENTION_BENCH_RECSYS_WORKERS"
# Rough single-thread training seconds (measured here), to start the longest runs first.
EXPECTED_S = {
    ("P1", "sasrec_text"): 900,
    ("P1", "sasrec"): 700,
    ("P2", "sasrec_text"): 450,
    ("P2", "sasrec"): 400,
    ("P2", "mf"): 110,
    ("P1", "mf"): 45,
}
COLD_SHARE, COLD_SEED, COLD_K = 0.1, 0, 20
PROTOCOLS: dict[str, tuple[Callable[[pd.DataFrame], Split], int, tuple[str, ...]]] = {
    "P1": (leave_last_out, 10, ("HR@10", "NDCG@10")),
    "P2": (temporal, 20, ("Recall@20", "NDCG@20", "coverage@20", "novelty@20")),
}
# ../shared/ANCHORS.md: the best public implementations measured on the same protocols.
ANCHORS = {"P1": {"SASRec": 0.0487, "EASE": 0.0409}, "P2": {"SASRec": 0.1709, "EASE": 0.1528}}


def load_events(data_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    events, catalogue, _ = load_data(data_dir)
    return events, catalogue


def load_data(data_dir: Path) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Events, the catalogue (every item in the ratings, raw-id order) and the titles by item id."""
    frames = load_movielens(data_dir)
    events = frames.events[["user_id", "item_id", "ts", "event_type"]]
    titles = dict(zip(frames.items["item_id"], frames.items["title"], strict=True))
    return events, raw_id_order(events["item_id"]), titles


def run_protocol(protocol: str, name: str, data_dir: Path, cache_dir: Path) -> dict[str, Any]:
    """One model on one protocol: tuned on the protocol's validation split, refitted, tested."""
    events, catalogue, titles = _data(data_dir, cache_dir)
    split_rule, k, reported = PROTOCOLS[protocol]
    split = split_rule(events)
    started = time.perf_counter()
    factory = functools.partial(MODELS[name], titles, protocol)
    model = tune_and_refit(factory, split.train, catalogue, split_rule, k)
    train_s = time.perf_counter() - started
    metrics = evaluate(model, split.test, k).metrics
    return {m: round(metrics[m], 4) for m in reported} | {
        "train_s": round(train_s, 1),
        "best_epoch": model.best_epoch,
        "users": int(metrics["users"]),
    }


def _data(data_dir: Path, cache_dir: Path) -> tuple[pd.DataFrame, list[str], ItemTitles]:
    events, catalogue, titles_by_id = load_data(data_dir)
    return events, catalogue, ItemTitles(titles_by_id, cache_dir)


def workers() -> int:
    """Models train on one torch thread each, so the bench runs them side by side, one per core."""
    default = min(2, os.cpu_count() or 1)
    return max(1, int(os.environ.get(WORKERS_ENV, default)))


def run(cfg: Config, data: str | None, models: list[str] | None = None) -> dict[str, Any]:
    data_dir = Path(data).expanduser().resolve() if data else DEFAULT_DATA
    if not detect_movielens(data_dir):
        raise SystemExit(f"recsys benchmark: {data_dir} is not a MovieLens folder (ratings.csv or u.data)")
    started = time.perf_counter()
    cache_dir = cfg.recommender.text_cache_dir
    events, catalogue, titles = _data(data_dir, cache_dir)
    models = models or list(MODELS)
    if any(name in TEXT_MODELS for name in models):
        titles.vectors(catalogue)  # embedded once here; the workers read the cache
    results: dict[str, Any] = {"dataset": data_dir.name, "data": str(data_dir)}
    results |= _run_jobs(models, data_dir, cache_dir, workers())
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


def _run_jobs(models: list[str], data_dir: Path, cache_dir: Path, n_workers: int) -> dict[str, Any]:
    """Every (protocol, model) run and, once a cold-start model's P1 run has chosen its epoch count, its
    cold-start run, in `n_workers` processes, longest first. Each run is independent of the others and of
    the order they run in."""
    jobs = sorted(
        ((protocol, name) for protocol in PROTOCOLS for name in models),
        key=lambda job: -EXPECTED_S.get(job, 0),
    )
    results: dict[str, Any] = {protocol: {} for protocol in PROTOCOLS}
    cold: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")  # torch's OpenMP does not survive a fork
    with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
        pending = {pool.submit(run_protocol, p, n, data_dir, cache_dir): (p, n) for p, n in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                protocol, name = pending.pop(future)
                if protocol == "cold":
                    cold[name] = future.result()
                    continue
                results[protocol][name] = future.result()
                if protocol == "P1" and name in COLD_MODELS:
                    epochs = results["P1"][name]["best_epoch"]
                    pending[pool.submit(run_cold_start, name, epochs, data_dir, cache_dir)] = ("cold", name)
    for protocol in PROTOCOLS:  # the table's order, whatever order the runs finished in
        results[protocol] = {name: results[protocol][name] for name in models}
    results["cold_start"] = cold_start_summary(data_dir, cache_dir) | {
        "models": {name: cold[name] for name in models if name in cold}
    }
    return results


def cold_start_summary(data_dir: Path, cache_dir: Path) -> dict[str, Any]:
    events, catalogue, _ = _data(data_dir, cache_dir)
    split = hold_out_items(events, catalogue, COLD_SHARE, COLD_SEED)
    return {
        "held_out_items": len(split.held_out),
        "users": len(split.test.users),
        "truth_pairs": len(split.test.truth),
        "train_events": len(split.train),
        f"chance_new_Recall@{COLD_K}": round(COLD_K / len(split.held_out), 4),
    }


def run_cold_start(name: str, best_epoch: int | None, data_dir: Path, cache_dir: Path) -> dict[str, Any]:
    """The protocol of `training.cold_start` for one model fitted for `best_epoch` epochs, both candidate
    sets (``all``, ``new``)."""
    events, catalogue, titles = _data(data_dir, cache_dir)
    split = hold_out_items(events, catalogue, COLD_SHARE, COLD_SEED)
    reported = (f"Recall@{COLD_K}", f"NDCG@{COLD_K}", f"HR@{COLD_K}")
    started = time.perf_counter()
    chosen = MODELS[name](titles, "P1")
    chosen.best_epoch = best_epoch
    model = chosen.refit_copy().fit(Interactions(split.train, catalogue))
    train_s = time.perf_counter() - started
    scores = {
        "all": evaluate(model, split.test, COLD_K).metrics,
        "new": evaluate(OnlyItems(model, split.held_out), split.test, COLD_K).metrics,
    }
    return {
        candidates: {m: round(metrics[m], 4) for m in reported} for candidates, metrics in scores.items()
    } | {"train_s": round(train_s, 1), "epochs": best_epoch}


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
    console.print(_cold_table(results["cold_start"]))


def _cold_table(cold: dict[str, Any]) -> Table:
    table = Table(
        title=f"cold start: {cold['held_out_items']} items held out of training, {cold['users']} users"
    )
    table.add_column("model")
    metrics = (f"Recall@{COLD_K}", f"NDCG@{COLD_K}", f"HR@{COLD_K}")
    for candidates in ("all", "new"):
        for metric in metrics:
            table.add_column(f"{candidates} {metric}", justify="right")
    table.add_column("train_s", justify="right")
    for name, row in cold["models"].items():
        values = [f"{row[c][m]:.4f}" for c in ("all", "new") for m in metrics]
        table.add_row(name, *values, str(row["train_s"]))
    chance = cold[f"chance_new_Recall@{COLD_K}"]
    table.caption = (
        f"all: every unseen catalogue item is a candidate; new: held-out items only (chance {chance})"
    )
    return table
