"""`retention bench recsys`: runs end to end on a small MovieLens-format folder (a slice of the shared
MovieLens), its runs side by side in worker processes, and writes every protocol's figures. No quality
targets here: those are for the full run on ../shared/data/movielens-small."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import MOVIELENS_SMALL

from benchmarks import recsys
from retention.config import Config


@pytest.fixture(scope="module")
def small_movielens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 users of MovieLens small, in its own layout (ratings.csv + movies.csv)."""
    out = tmp_path_factory.mktemp("movielens")
    ratings = pd.read_csv(MOVIELENS_SMALL / "ratings.csv")
    ratings = ratings[ratings["userId"] <= 60]
    ratings.to_csv(out / "ratings.csv", index=False)
    movies = pd.read_csv(MOVIELENS_SMALL / "movies.csv")
    movies[movies["movieId"].isin(ratings["movieId"])].to_csv(out / "movies.csv", index=False)
    return out


def test_the_recsys_bench_runs_every_protocol_in_worker_processes(
    platform: Config, small_movielens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(recsys.WORKERS_ENV, "2")
    results = recsys.run(platform, str(small_movielens), models=["popularity", "mf"])

    assert results["dataset"] == small_movielens.name and results["users"] == 60
    for protocol, metric in (("P1", "NDCG@10"), ("P2", "NDCG@20")):
        assert list(results[protocol]) == ["popularity", "mf"]  # the table's order, not finishing order
        for row in results[protocol].values():
            assert 0 <= row[metric] <= 1 and row["train_s"] >= 0
    assert results["P1"]["popularity"]["users"] == 60
    assert results["P1"]["mf"]["best_epoch"] >= 1  # chosen on the validation split
    cold = results["cold_start"]
    assert list(cold["models"]) == ["popularity"]  # only the cold-start models that ran
    assert cold["held_out_items"] > 0 and cold["users"] > 0
    assert 0 <= cold["models"]["popularity"]["new"]["NDCG@20"] <= 1
