"""Churn benchmark: every churn model (`training.churn_model.CHURN_MODELS`) trained and tested on the same
point-in-time snapshots, on simulated or real data.

Data (``--data``):
- ``sim`` (default): a simulated history of SIM_USERS users x SIM_DAYS days (cached under
  var/bench-data). Population: the platform's active users (an event in the 30 days before the cutoff);
  training cutoffs weekly, like dbt's `training_snapshots`. The ceiling is the ROC-AUC, on the same test
  users, of their true churn probability at the test cutoff from the simulator's state (1 for users who
  already churned, else 1 - (1 - h)^H with h the true daily hazard; `benchmarks.churn_truth`).
- ``cdnow``: the full CDNOW transaction log as the `lifetimes` package ships it (see `shipped_cdnow`).
- a MovieLens or contract folder, or a transaction log file (`retention.adapters.transactions`): the
  real-data protocol: population at c = users with >= 1 event before c; test cutoff = the latest week
  boundary with c + H <= the last event date; training cutoffs every 4 weeks before it whose windows end
  by the test cutoff (at most 12).

All: features only from events before each cutoff (`benchmarks.churn_data`); the models are fitted on
the training cutoffs minus a 20 % share of users held out for calibration, then scored on the test
cutoff (`training.churn_data.temporal_split`). ``--horizon-days`` sets H (``features.horizon_days``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from benchmarks.churn_data import Protocol, build_snapshots
from benchmarks.data import simulated_history
from retention.config import Config, Simulation
from training.churn_data import temporal_split
from training.churn_evaluation import churn_metrics
from training.churn_model import CHURN_MODELS, LABEL, churn_model_for

SIM_USERS, SIM_DAYS, SIM_SEED = 20_000, 150, 42
SHOWN = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift", "ece")


def run(cfg: Config, data: str | None) -> dict[str, Any]:
    horizon = cfg.features.horizon_days
    simulated = data in (None, "sim")
    with tempfile.TemporaryDirectory(dir=cfg.paths.bench_dir.parent, prefix="bench-churn-") as tmp:
        warehouse, dataset, spec = _load(cfg, data, Path(tmp))
        protocol = Protocol(horizon_days=horizon, every_days=7 if simulated else 28)
        if simulated:
            protocol = dataclasses.replace(protocol, population="active")
        started = time.perf_counter()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            frame, described = build_snapshots(con, protocol)
        snapshot_seconds = time.perf_counter() - started
    split = temporal_split(frame, horizon)
    models = {name: _evaluate(name, split, horizon) for name in CHURN_MODELS}
    results: dict[str, Any] = {
        "dataset": dataset,
        "horizon_days": horizon,
        "protocol": described,
        "rows": {**split.describe(), "test_churn_rate": round(float(split.validation[LABEL].mean()), 4)},
        "snapshot_seconds": round(snapshot_seconds, 1),
        "models": models,
    }
    if spec is not None:
        results.update(_ceilings(spec, split.validation, horizon, Path(dataset["folder"])))
        best = max(m["roc_auc"] for m in models.values())
        results["best_vs_ceiling"] = round(best / results["ceiling_auc"], 4)
        results["best_vs_oracle"] = round(best / results["oracle_auc"], 4)
    _print(results)
    return results


def _load(cfg: Config, data: str | None, tmp: Path) -> tuple[Path, dict[str, Any], Simulation | None]:
    """Ingest the data into a fresh warehouse under `tmp`: (warehouse, description, simulation spec)."""
    from retention.adapters.transactions import detect_transactions, load_transactions, write_contract_folder
    from retention.ingest import ingest

    spec = None
    if data == "cdnow":
        data = str(shipped_cdnow())
    if data in (None, "sim"):
        spec = Simulation(users=SIM_USERS, items=SIM_USERS // 10, days=SIM_DAYS, seed=SIM_SEED)
        folder, described = simulated_history(cfg, spec)
        dataset = {"name": "sim", "folder": str(folder), **described}
    elif detect_transactions(Path(data)):
        folder = write_contract_folder(load_transactions(Path(data)), tmp / "contract")
        dataset = {"name": Path(data).name, "file": str(Path(data).resolve()), "format": "transactions"}
    else:
        folder = Path(data)
        dataset = {"name": folder.resolve().name, "folder": str(folder.resolve())}
    warehouse = tmp / "warehouse.duckdb"
    report = ingest(warehouse, folder)
    return warehouse, {**dataset, "events": report.events_loaded, "source": report.source}, spec


def shipped_cdnow() -> Path:
    """The full CDNOW transaction log (Fader & Hardie; 23,570 customers, 69,659 purchases, 1997-01 to
    1998-06) as the `lifetimes` package ships it: no download. The package is only located, not imported
    (it does not import with the pinned pandas)."""
    found = importlib.util.find_spec("lifetimes")
    if found is None or not found.submodule_search_locations:
        raise SystemExit("--data cdnow needs the `lifetimes` package (in the dev extra: make install)")
    return Path(list(found.submodule_search_locations)[0]) / "datasets" / "CDNOW_master.txt"


def _evaluate(name: str, split, horizon: int) -> dict[str, float]:
    started = time.perf_counter()
    model = churn_model_for(name, horizon).fit(split.train, split.calibration)
    fit_seconds = time.perf_counter() - started
    probability = model.predict_proba(split.validation)
    metrics = churn_metrics(split.validation[LABEL].to_numpy(), probability)
    return {**{k: round(v, 4) for k, v in metrics.items()}, "fit_seconds": round(fit_seconds, 1)}


def _ceilings(spec: Simulation, test: pd.DataFrame, horizon: int, folder: Path) -> dict[str, float]:
    """ROC-AUC on the test users of the true churn probability from the hazard (`ceiling_auc`, the
    issue's ceiling) and of the Monte Carlo probability of no event in the window (`oracle_auc`)."""
    from benchmarks.churn_truth import true_churn_probability, true_churn_state

    cutoff = pd.to_datetime(test["cutoff_date"]).dt.date.iloc[0]
    truth = pd.read_parquet(folder / "ground_truth" / "users.parquet")
    state = true_churn_state(spec, [cutoff], truth, horizon)
    state = state.assign(true_probability=true_churn_probability(state, horizon))
    scored = test[["user_id", LABEL]].merge(state, on="user_id", how="left")
    return {
        "ceiling_auc": round(float(roc_auc_score(scored[LABEL], scored["true_probability"])), 4),
        "oracle_auc": round(float(roc_auc_score(scored[LABEL], scored["p_silent"])), 4),
    }


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"churn models on {results['dataset']['name']}, H = {results['horizon_days']} days")
    table.add_column("model")
    for metric in (*SHOWN, "fit_seconds"):
        table.add_column(metric, justify="right")
    for name, metrics in results["models"].items():
        table.add_row(name, *(f"{metrics[m]:.3f}" for m in SHOWN), f"{metrics['fit_seconds']:.1f}")
    if "ceiling_auc" in results:
        table.add_row("ceiling: true hazard", f"{results['ceiling_auc']:.3f}", *[""] * len(SHOWN))
        table.add_row("oracle: latent state", f"{results['oracle_auc']:.3f}", *[""] * len(SHOWN))
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(table)
    rows = results["rows"]
    console.print(
        f"train {rows['train_rows']} rows at {rows['train_cutoffs']}; calibration {rows['calibration_rows']};"
        f" test {rows['validation_rows']} rows at {rows['validation_cutoff']}"
        f" (churn rate {rows['test_churn_rate']})"
    )
