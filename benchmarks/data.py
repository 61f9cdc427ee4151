"""Data sets for benchmarks: simulated histories, generated once under var/bench-data/ and reused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from retention.config import Config, Simulation


def simulated_history(cfg: Config, spec: Simulation) -> tuple[Path, dict[str, Any]]:
    """The folder of a simulated history for `spec` (generated unless already there) and its description."""
    from retention.simulator import simulate, write_dataset

    folder = cfg.paths.bench_dir.parent / "bench-data" / f"sim-{spec.users}-{spec.days}-{spec.seed}"
    described = {k: str(v) if isinstance(v, dt.date) else v for k, v in dataclasses.asdict(spec).items()}
    # The folder name leaves out items and start date: a sidecar file records the whole spec.
    sidecar = folder.with_name(folder.name + ".spec.json")
    reuse = (folder / "events").is_dir() and sidecar.exists() and json.loads(sidecar.read_text()) == described
    if not reuse:
        started = time.perf_counter()
        write_dataset(simulate(spec), folder)
        sidecar.write_text(json.dumps(described))
        described["generated_seconds"] = round(time.perf_counter() - started, 2)
    return folder, {**described, "reused": reuse}
