"""Benchmarks: `retention bench NAME` runs one, prints ratios against a baseline measured in the same run
and writes its figures as JSON (default var/bench/NAME.json). Each module exposes `run(cfg, data)`."""

from __future__ import annotations

import importlib
from typing import Any

from retention.config import Config

BENCHMARKS = {
    "ingest": "contract validation + load of a simulated history vs a bare DuckDB load of the same files",
    "features": "dbt build of +user_features (full, then one more day) at 1M/10M events vs one DuckDB query",
}


def run_benchmark(name: str, cfg: Config, data: str | None) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark '{name}'; available: {', '.join(BENCHMARKS)}")
    return importlib.import_module(f"benchmarks.{name}").run(cfg, data)
