"""Scoring benchmark: `retention.scoring.top_k` (the production path of nightly scoring) on a dot-product
model of 100 k users x 50 k items x 64 dimensions, against this machine's matmul peak measured in the same
run.

Data (synthetic, seeded, nothing read from disk; ``data`` must be ``None`` or ``"sim"``): user and item
embeddings drawn from a standard normal (float32); each user has seen a Poisson(20) number of distinct
items (at least one), drawn with Zipf-like popularity (weight of the item at rank r ∝ 1 / (r + 10)^0.8),
given to `top_k` as a (user_id, item_id) frame of strings like the warehouse's ``stg_events`` pairs.
``RETENTION_BENCH_SCORING_SIZE`` (``USERSxITEMSxDIM``, default ``100000x50000x64``) picks other sizes,
``RETENTION_BENCH_SCORING_REPEATS`` (default 3) the number of timed runs and
``RETENTION_BENCH_SCORING_GENERIC_USERS`` (default 10000, 0: off) how many users the generic path scores.

Method, in this process, with the threads torch uses here (``torch.get_num_threads()``):

1. peak: ``torch.mm`` in float32, inner dimension DIM, into a preallocated output: one tile of the
   fast path (FAST_BATCH_USERS x DIM @ DIM x ITEM_CHUNK) and one whole-catalogue product (4096 x DIM @
   DIM x ITEMS), each on torch's threads and the fastest of ``PEAK_REPEATS`` calls, and the same tile in
   as many Python threads as torch has, each single-threaded (how the fast path runs); measured before
   and after the scoring runs; the same tile sustained for 1 s before and after every scoring run
   (``sustained_peak_gflops``); ``peak_gflops`` is the highest rate of all of them (a square product,
   up to 2048³, is reported for context);
2. scoring (timed): ``top_k(model, all users, seen pairs, k = recommender.top_k, batch_users =
   recommender.batch_users)`` with a model that exposes ``user_factors``/``item_factors`` (the fast
   path), ``REPEATS`` times; everything `top_k` does is timed (seen-pair lookup, products, masking,
   selection, the result frame);
3. generic path (informational): the same model seen only through ``score()`` on the first
   GENERIC_USERS users, once, and whether its ranking equals the fast path's for those users.

``achieved_gflops`` = 2 · users · items · dim / seconds; ``fraction_of_peak`` = achieved / peak (target
≥ 0.5). Best (fastest run) and median figures are both reported: the machine is shared, so single runs
are noisy. Peak memory: VmHWM of this process, reset (``/proc/self/clear_refs``) before the scoring runs,
so it includes the data the process already held (``rss_before_mb``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from benchmarks.memory import peak_rss_mb, proc_status_mb, reset_peak_rss
from retention.config import Config
from retention.scoring import FAST_BATCH_USERS, ITEM_CHUNK, top_k

SIZE_ENV = "RETENTION_BENCH_SCORING_SIZE"
REPEATS_ENV = "RETENTION_BENCH_SCORING_REPEATS"
GENERIC_ENV = "RETENTION_BENCH_SCORING_GENERIC_USERS"
DEFAULT_SIZE = "100000x50000x64"
SEEN_PER_USER = 20
PEAK_REPEATS = 7
TARGET_FRACTION = 0.5
SEED = 42

DEFINITIONS = {
    "seconds": "wall time of one top_k call over all users (perf_counter), fastest of the runs",
    "users_per_s": "users / seconds",
    "achieved_gflops": "2 * users * items * dim / seconds / 1e9 (the dot products a full scoring needs)",
    "peak_gflops": "highest GFLOP/s of a float32 torch.mm with inner dimension dim into a preallocated "
    "output (a fast-path tile and a 4096-user whole-catalogue product on torch's threads; the tile in one "
    "single-threaded Python thread per torch thread), measured before and after the scoring runs, and the "
    "sustained rates (sustained_peak_gflops)",
    "fraction_of_peak": "achieved_gflops / peak_gflops (target >= 0.5)",
    "fraction_of_sustained_peak": "per run: its GFLOP/s / the higher of the sustained tile rates measured "
    "just before and just after it (sustained_peak_gflops: the fast path's tile multiplied for 1 s on "
    "torch's threads count of single-threaded Python threads); best and median over the runs. On a shared "
    "machine the burst peak catches quiet moments that a run of tens of seconds cannot",
    "peak_rss_mb": "VmHWM of the benchmark process, reset just before the scoring runs (includes the "
    "embeddings and seen pairs already held: rss_before_mb)",
}


class DotProductModel:
    """Scores are user · item embeddings; exposes the factors, so `top_k` takes its fast path."""

    def __init__(self, user_ids: list[str], item_ids: list[str], users: torch.Tensor, items: torch.Tensor):
        self.item_ids = item_ids
        self.rows = pd.Index(user_ids)
        self.users, self.items = users, items

    def user_factors(self, user_ids: list[str]) -> torch.Tensor:
        return self.users[torch.from_numpy(self.rows.get_indexer(user_ids))]

    def item_factors(self) -> torch.Tensor:
        return self.items

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.user_factors(user_ids) @ self.items.T


class ScoreOnly:
    """The same model seen only through `score` (the generic path of `top_k`)."""

    def __init__(self, model: DotProductModel) -> None:
        self.item_ids = model.item_ids
        self.model = model

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.model.score(user_ids)


def sizes() -> tuple[int, int, int]:
    text = os.environ.get(SIZE_ENV, DEFAULT_SIZE)
    try:
        users, items, dim = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"scoring benchmark: {SIZE_ENV}={text!r} is not USERSxITEMSxDIM") from None
    if min(users, items, dim) < 1:
        raise SystemExit(f"scoring benchmark: {SIZE_ENV}={text!r} needs positive sizes")
    return users, items, dim


def make_data(users: int, items: int, dim: int) -> tuple[DotProductModel, list[str], pd.DataFrame]:
    """Seeded embeddings and a seen-pairs frame of about SEEN_PER_USER distinct items per user."""
    generator = torch.Generator().manual_seed(SEED)
    user_ids = [f"u{i:07d}" for i in range(users)]
    item_ids = [f"i{i:06d}" for i in range(items)]
    model = DotProductModel(
        user_ids,
        item_ids,
        torch.randn(users, dim, generator=generator),
        torch.randn(items, dim, generator=generator),
    )
    rng = np.random.default_rng(SEED)
    counts = np.clip(rng.poisson(SEEN_PER_USER, users), 1, items)
    weights = 1.0 / (np.arange(items) + 10.0) ** 0.8
    popularity_order = rng.permutation(items)  # popular items anywhere in the catalogue
    drawn = popularity_order[rng.choice(items, size=int(counts.sum()), p=weights / weights.sum())]
    pairs = np.unique(np.repeat(np.arange(users, dtype=np.int64), counts) * items + drawn)
    seen = pd.DataFrame(
        {
            "user_id": np.asarray(user_ids, dtype=object)[pairs // items],
            "item_id": np.asarray(item_ids, dtype=object)[pairs % items],
        }
    )
    return model, user_ids, seen


def _mm_gflops(rows: int, cols: int, dim: int) -> float:
    generator = torch.Generator().manual_seed(SEED)
    left, right = torch.randn(rows, dim, generator=generator), torch.randn(cols, dim, generator=generator)
    out = torch.empty(rows, cols)
    torch.mm(left, right.T, out=out)  # warm-up
    best = min(_timed(lambda: torch.mm(left, right.T, out=out)) for _ in range(PEAK_REPEATS))
    return 2 * rows * cols * dim / best / 1e9


def _threaded_tiles_gflops(rows: int, cols: int, dim: int, threads: int, tiles: int = 16) -> float:
    """`threads` Python threads, each multiplying its own tiles single-threaded (as the fast path runs)."""
    generator = torch.Generator().manual_seed(SEED)
    left, right = torch.randn(rows, dim, generator=generator), torch.randn(cols, dim, generator=generator)

    def work(_: int) -> None:
        out = torch.empty(rows, cols)
        for _ in range(tiles):
            torch.mm(left, right.T, out=out)

    try:
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            list(pool.map(work, range(threads)))  # warm-up
            best = min(_timed(lambda: list(pool.map(work, range(threads)))) for _ in range(3))
    finally:
        torch.set_num_threads(threads)
    return 2 * rows * cols * dim * tiles * threads / best / 1e9


def sustained_gflops(users: int, items: int, dim: int, seconds: float) -> float:
    """The fast path's tile multiplied for `seconds` in one single-threaded Python thread per torch
    thread: the machine's matmul rate at that moment, sustained as long as a stretch of scoring."""
    rows, cols, threads = min(users, FAST_BATCH_USERS), min(items, ITEM_CHUNK), torch.get_num_threads()
    generator = torch.Generator().manual_seed(SEED)
    left, right = torch.randn(rows, dim, generator=generator), torch.randn(cols, dim, generator=generator)

    def work(deadline: float) -> int:
        out, tiles = torch.empty(rows, cols), 0
        while time.perf_counter() < deadline:
            torch.mm(left, right.T, out=out)
            tiles += 1
        return tiles

    try:
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            started = time.perf_counter()
            tiles = sum(pool.map(work, [started + seconds] * threads))
            elapsed = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return 2 * rows * cols * dim * tiles / elapsed / 1e9


def _square_gflops(n: int) -> float:
    generator = torch.Generator().manual_seed(SEED)
    a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best = min(_timed(lambda: torch.mm(a, b, out=out)) for _ in range(3))
    return 2 * n**3 / best / 1e9


def _timed(step: Any) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def peak_shapes(users: int, items: int, dim: int) -> dict[str, float]:
    """GFLOP/s of torch.mm at the shapes the peak is taken over."""
    tile = (min(users, FAST_BATCH_USERS), min(items, ITEM_CHUNK))
    whole = (min(users, 4096), items)
    threads = torch.get_num_threads()
    shapes = {
        f"{r}x{dim} @ {dim}x{c}": round(_mm_gflops(r, c, dim), 1) for r, c in dict.fromkeys([tile, whole])
    }
    name = f"{tile[0]}x{dim} @ {dim}x{tile[1]}, {threads} threads x 1 each"
    shapes[name] = round(_threaded_tiles_gflops(*tile, dim, threads), 1)
    return shapes


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise SystemExit(f"scoring benchmark: {name} must be an integer") from None


def run(cfg: Config, data: str | None) -> dict[str, Any]:
    """Measure the matmul peak and `top_k` on the synthetic model; print a table; return the figures."""
    if data not in (None, "sim"):
        raise SystemExit("scoring benchmark: the data are synthetic; --data takes no folder")
    console = Console(width=None if sys.stdout.isatty() else 120)
    users, items, dim = sizes()
    repeats = max(1, _env_int(REPEATS_ENV, 3))
    generic_users = min(users, max(0, _env_int(GENERIC_ENV, 10_000)))
    k, batch_users = cfg.recommender.top_k, cfg.recommender.batch_users
    with console.status("scoring benchmark: data ...") as status:
        model, user_ids, seen = make_data(users, items, dim)
        status.update("scoring benchmark: matmul peak ...")
        shapes_before = peak_shapes(users, items, dim)
        top_k(model, user_ids[: min(users, 2 * FAST_BATCH_USERS)], seen, k, batch_users)  # warm-up
        reset = reset_peak_rss()
        rss_before = proc_status_mb("VmRSS") or 0.0
        seconds: list[float] = []
        ranked = pd.DataFrame()
        sustain = 1.0 if users * items * dim >= 10**11 else 0.1
        sustained = [sustained_gflops(users, items, dim, sustain)]
        for repeat in range(repeats):
            status.update(
                f"scoring benchmark: top_k {repeat + 1}/{repeats} ({users:,} users x {items:,}) ..."
            )
            started = time.perf_counter()
            ranked = top_k(model, user_ids, seen, k, batch_users)
            seconds.append(time.perf_counter() - started)
            sustained.append(sustained_gflops(users, items, dim, sustain))
        peak_rss = peak_rss_mb(reset)
        status.update("scoring benchmark: matmul peak again ...")
        shapes_after = peak_shapes(users, items, dim)
        square_size = int(min(2048, (users * items * dim) ** (1 / 3)))
        square = _square_gflops(square_size)
        generic: dict[str, Any] = {"generic_users": generic_users}
        if generic_users:
            status.update(f"scoring benchmark: generic path on {generic_users:,} users ...")
            subset = user_ids[:generic_users]
            started = time.perf_counter()
            slow = top_k(ScoreOnly(model), subset, seen, k, batch_users)
            generic_seconds = time.perf_counter() - started
            fast = ranked[ranked["user_id"].isin(set(subset))].reset_index(drop=True)
            generic["generic_seconds"] = round(generic_seconds, 3)
            generic["generic_users_per_s"] = round(generic_users / generic_seconds)
            generic["same_as_generic"] = bool(fast.equals(slow))

    shapes = {shape: max(shapes_before[shape], shapes_after[shape]) for shape in shapes_before}
    peak = max(*shapes.values(), *sustained)  # the highest matmul rate seen in this run
    flops = 2 * users * items * dim
    best, median = min(seconds), statistics.median(seconds)
    # each run against the sustained rate measured right before and right after it (the higher one)
    beside = [
        flops / s / 1e9 / max(before, after)
        for s, before, after in zip(seconds, sustained[:-1], sustained[1:], strict=True)
    ]
    results: dict[str, Any] = {
        "benchmark": "scoring",
        "users": users,
        "items": items,
        "dim": dim,
        "k": k,
        "batch_users": batch_users,
        "seen_pairs": len(seen),
        "recommendations": len(ranked),
        "seconds": round(best, 6),
        "seconds_median": round(median, 6),
        "users_per_s": round(users / best),
        "users_per_s_median": round(users / median),
        "achieved_gflops": round(flops / best / 1e9, 1),
        "achieved_gflops_median": round(flops / median / 1e9, 1),
        "peak_gflops": round(peak, 1),
        "fraction_of_peak": round(flops / best / 1e9 / peak, 3),
        "fraction_of_peak_median": round(flops / median / 1e9 / peak, 3),
        "target_fraction": TARGET_FRACTION,
        "target_met": flops / best / 1e9 / peak >= TARGET_FRACTION,
        "fraction_of_sustained_peak": round(max(beside), 3),
        "fraction_of_sustained_peak_median": round(statistics.median(beside), 3),
        "sustained_peak_gflops": [round(g, 1) for g in sustained],
        "peak_shapes_gflops": shapes,
        "peak_shapes_before_after": {"before": shapes_before, "after": shapes_after},
        "square_size": square_size,
        "square_gflops": round(square, 1),
        "torch_threads": torch.get_num_threads(),
        "runs_seconds": [round(s, 6) for s in seconds],
        "peak_rss_mb": round(peak_rss, 1),
        "rss_before_mb": round(rss_before, 1),
        **generic,
        "timing": f"fastest and median of {repeats} top_k runs in one process after a warm-up",
        "definitions": DEFINITIONS,
        "machine": {
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if generic_users:
        results["speedup_vs_generic"] = round(results["users_per_s"] / results["generic_users_per_s"], 2)
    _print_table(console, results)
    return results


def _print_table(console: Console, r: dict[str, Any]) -> None:
    table = Table(
        title=f"scoring benchmark: top-{r['k']} of {r['users']:,} users x {r['items']:,} items x "
        f"{r['dim']} dims, {r['torch_threads']} torch threads",
        caption=f"{r['timing']}; peak = best float32 torch.mm of inner dimension {r['dim']} in this run "
        f"({r['peak_gflops']:.0f} GFLOP/s; square {r['square_size']}³: {r['square_gflops']:.0f}); target ≥ "
        f"{r['target_fraction']:.0%} of peak; against the sustained matmul rate measured beside each run: "
        f"{r['fraction_of_sustained_peak']:.0%} (median {r['fraction_of_sustained_peak_median']:.0%})",
    )
    for column in ("run", "seconds", "users/s", "GFLOP/s", "of peak", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row(
        "top_k, fastest",
        f"{r['seconds']:.2f}",
        f"{r['users_per_s']:,}",
        f"{r['achieved_gflops']:.1f}",
        f"{r['fraction_of_peak']:.1%}",
        f"{r['peak_rss_mb']:.0f}",
    )
    table.add_row(
        "top_k, median",
        f"{r['seconds_median']:.2f}",
        f"{r['users_per_s_median']:,}",
        f"{r['achieved_gflops_median']:.1f}",
        f"{r['fraction_of_peak_median']:.1%}",
        "",
    )
    if r.get("generic_users"):
        gflops = 2 * r["generic_users"] * r["items"] * r["dim"] / r["generic_seconds"] / 1e9
        table.add_row(
            f"generic path (score()), {r['generic_users']:,} users"
            + ("" if r["same_as_generic"] else " [ranking differs]"),
            f"{r['generic_seconds']:.2f}",
            f"{r['generic_users_per_s']:,}",
            f"{gflops:.1f}",
            f"{gflops / r['peak_gflops']:.1%}",
            "",
        )
    console.print(table)
