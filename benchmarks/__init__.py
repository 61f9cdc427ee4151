"""Benchmarks: `retention bench NAME` runs one, prints ratios against a baseline measured in the same run
and writes its figures as JSON (default var/bench/NAME.json). Each module exposes `run(cfg, data)`."""

from __future__ import annotations

import importlib
from typing import Any

from retention.config import Config

BENCHMARKS = {
    "ingest": "contract validation + load of a simulated history vs a bare DuckDB load of the same files",
    "features": "dbt build of +user_features (full, then one more day) at 1M/10M events vs one DuckDB query",
    "scoring": "top_k of 100k users x 50k items x 64 dims (dot-product fast path) vs the matmul peak",
    "churn": "every churn model on point-in-time snapshots (sim: vs the true-hazard ceiling) or real data",
    "recsys": "popularity, mf, sasrec on protocols P1/P2 of ../shared/ANCHORS.md on MovieLens data",
}


def run_benchmark(name: str, cfg: Config, data: str | None) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark '{name}'; available: {', '.join(BENCHMARKS)}")
    return importlib.import_module(f"benchmarks.{name}").run(cfg, data)
