"""`retention bench scoring` runs end to end at a tiny size and writes sane figures.

No speed target here: the 50 %-of-peak target is for `make bench-scoring` at full size to show."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import BENCHMARKS

RETENTION = Path(sys.executable).with_name("retention")


def test_scoring_benchmark_at_a_tiny_size(tmp_path: Path) -> None:
    assert "scoring" in BENCHMARKS
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_PATHS__BENCH_DIR"] = str(tmp_path / "bench")
    env["RETENTION_BENCH_SCORING_SIZE"] = "2000x1000x16"
    env["RETENTION_BENCH_SCORING_REPEATS"] = "2"
    env["RETENTION_BENCH_SCORING_GENERIC_USERS"] = "400"
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [str(RETENTION), "bench", "scoring"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "top_k, fastest" in result.stdout  # the human table

    r = json.loads((tmp_path / "bench" / "scoring.json").read_text())
    assert (r["benchmark"], r["users"], r["items"], r["dim"], r["k"]) == ("scoring", 2000, 1000, 16, 10)
    assert r["recommendations"] == 2000 * 10  # nobody has seen 990 of the 1,000 items
    assert 2000 * 5 < r["seen_pairs"] < 2000 * 40  # about 20 per user
    assert len(r["runs_seconds"]) == 2 and r["seconds"] == min(r["runs_seconds"])
    for key in (
        "seconds",
        "users_per_s",
        "achieved_gflops",
        "peak_gflops",
        "fraction_of_peak",
        "peak_rss_mb",
    ):
        assert isinstance(r[key], int | float) and math.isfinite(r[key]) and r[key] > 0, key
    assert math.isclose(r["users_per_s"], 2000 / r["seconds"], rel_tol=0.01)
    assert math.isclose(
        r["achieved_gflops"], 2 * 2000 * 1000 * 16 / r["seconds"] / 1e9, rel_tol=0.01, abs_tol=0.1
    )
    assert r["peak_gflops"] == max(*r["peak_shapes_gflops"].values(), *r["sustained_peak_gflops"])
    assert math.isclose(
        r["fraction_of_peak"], r["achieved_gflops"] / r["peak_gflops"], rel_tol=0.05, abs_tol=0.002
    )
    assert r["fraction_of_peak"] < 1.5  # a peak is not something scoring can beat by much
    assert r["target_met"] == (r["fraction_of_peak"] >= 0.5)
    assert len(r["sustained_peak_gflops"]) == 3 and min(r["sustained_peak_gflops"]) > 0
    assert 0 < r["fraction_of_sustained_peak_median"] <= r["fraction_of_sustained_peak"]
    assert 10 < r["peak_rss_mb"] < 100_000
    assert r["generic_users"] == 400 and r["generic_users_per_s"] > 0
    assert r["same_as_generic"] is True  # both paths rank the same
    assert r["torch_threads"] >= 1
