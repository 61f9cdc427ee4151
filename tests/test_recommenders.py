"""The recommenders behind one interface: they learn structure popularity cannot see, train
deterministically, fall back to popularity for unknown users, and survive an MLflow roundtrip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from training import tracking
from training.mf import MFConfig, MFRecommender
from training.popularity import PopularityConfig, PopularityRecommender
from training.recommender import tune_and_refit
from training.recsys_data import Interactions
from training.recsys_evaluator import evaluate, leave_last_out

ITEMS = [f"i{n:02d}" for n in range(40)]
FAST_MF = MFConfig(dim=16, negatives=16, learning_rate=0.05, batch_size=128, max_epochs=15, patience=0)


def history(rows: list[tuple[int, int]], start: int = 0) -> pd.DataFrame:
    """(user, item) rows in order -> events with increasing timestamps."""
    frame = pd.DataFrame(rows, columns=["user", "item"])
    return pd.DataFrame(
        {
            "user_id": [f"u{u:03d}" for u in frame["user"]],
            "item_id": [ITEMS[i] for i in frame["item"]],
            "ts": pd.to_datetime(np.arange(start, start + len(frame)), unit="h"),
        }
    )


def clustered(users: int = 120, per_user: int = 6, seed: int = 0) -> pd.DataFrame:
    """Four taste groups of ten items; each user picks items of their group only (equal popularity)."""
    rng = np.random.default_rng(seed)
    rows = [(u, (u % 4) * 10 + int(i)) for u in range(users) for i in rng.permutation(10)[:per_user]]
    return history(rows)


def walks(users: int = 120, length: int = 8, seed: int = 0) -> pd.DataFrame:
    """Each user walks the catalogue forward (i -> i + 1) from a random start: a pure sequence signal."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ITEMS), users)
    return history([(u, (s + step) % len(ITEMS)) for u, s in enumerate(starts) for step in range(length)])


def p1(model_factory, data: pd.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """P1 metrics at 10 of the model and of all-time popularity."""
    split = leave_last_out(data)
    model = model_factory().fit(Interactions(split.train, ITEMS))
    baseline = PopularityRecommender(PopularityConfig(window_days=0)).fit(Interactions(split.train, ITEMS))
    return evaluate(model, split.test, 10).metrics, evaluate(baseline, split.test, 10).metrics


def test_mf_learns_taste_groups_that_popularity_cannot_see():
    mf, popularity = p1(lambda: MFRecommender(FAST_MF), clustered())
    assert mf["HR@10"] > 0.9 and popularity["HR@10"] < 0.5


def test_sasrec_learns_the_next_item_and_beats_mf_on_sequences():
    from training.sasrec import SASRecConfig, SASRecRecommender

    config = SASRecConfig(
        hidden=32, max_len=10, dropout=0.1, learning_rate=0.01, batch_size=32, max_epochs=12
    )
    sasrec, popularity = p1(lambda: SASRecRecommender(config), walks())
    mf, _ = p1(lambda: MFRecommender(FAST_MF), walks())
    # MF finds the user's stretch of the catalogue; only the sequence model knows which item is next.
    assert sasrec["HR@10"] > 0.9 and popularity["HR@10"] < 0.5
    assert sasrec["NDCG@10"] > 0.8 and sasrec["NDCG@10"] > mf["NDCG@10"] + 0.1


def test_training_is_deterministic_and_unknown_users_get_popularity():
    data = Interactions(clustered(), ITEMS)
    first = MFRecommender(FAST_MF).fit(data).score(["u001", "nobody"])
    second = MFRecommender(FAST_MF).fit(data).score(["u001", "nobody"])
    assert torch.equal(first, second)
    counts = data.ordered.groupby("item_id")["user_id"].nunique().reindex(ITEMS, fill_value=0)
    assert torch.allclose(first[1], torch.log1p(torch.tensor(counts.to_numpy(), dtype=torch.float32)))


def test_tune_and_refit_chooses_epochs_on_validation_and_refits_on_everything():
    config = MFConfig(dim=16, negatives=16, learning_rate=0.05, batch_size=128, max_epochs=6, patience=2)
    model = tune_and_refit(lambda: MFRecommender(config), clustered(), ITEMS, leave_last_out, 10)
    assert [row["epoch"] for row in model.history][:2] == [1.0, 2.0]
    best = max(model.history, key=lambda r: (r["val_ndcg"], -r["epoch"]))
    assert model.best_epoch == best["epoch"] and model.config.max_epochs == model.best_epoch
    assert set(model.users.rows) == set(clustered()["user_id"])  # the refit saw every user's history


@pytest.mark.parametrize("item_text", [False, True])
def test_a_fitted_model_roundtrips_through_the_mlflow_registry(platform, item_text):
    import mlflow

    from training.item_text import ItemTitles
    from training.sasrec import SASRecConfig, SASRecRecommender

    titles = ItemTitles({item: f"Walk step {n}" for n, item in enumerate(ITEMS)})
    config = SASRecConfig(hidden=16, max_len=8, max_epochs=1, item_text=item_text)
    model = SASRecRecommender(config, titles).fit(Interactions(walks(), ITEMS))
    if item_text:  # a brand-new item added after the fit is kept and scored by its title after loading
        model.add_items({"brand-new": "Walk step 40"})
    tracking.configure(platform)
    tracking.use_experiment(platform, "recommenders-test")
    with mlflow.start_run():
        version = tracking.log_model(model, "recommender-test")
    loaded = tracking.load_version("recommender-test", version)
    users = ["u000", "u005", "stranger"]
    assert loaded.item_ids == model.item_ids and torch.equal(loaded.score(users), model.score(users))
    by_name = mlflow.pyfunc.load_model(f"models:/recommender-test/{version}")
    predicted = by_name.predict(pd.DataFrame({"user_id": users}))
    assert np.allclose(np.asarray(predicted), model.score(users).numpy())


@pytest.mark.parametrize("window_days, expected", [(0, ["i01", "i00"]), (1, ["i00", "i01"])])
def test_popularity_counts_the_recent_window_weighted_by_intent(window_days, expected):
    # Five views of i01, then three days later one purchase (weight 4) of i00.
    data = history([(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (5, 0)], start=0)
    data.loc[5, "ts"] += pd.Timedelta(days=3)
    data["event_type"] = ["view"] * 5 + ["purchase"]
    model = PopularityRecommender(PopularityConfig(window_days=window_days)).fit(Interactions(data, ITEMS))
    top = torch.topk(model.score(["anyone"])[0], 2).indices.tolist()
    assert [ITEMS[i] for i in top] == expected


def test_nightly_scoring_fast_path_ranks_like_the_score_matrix():
    from retention.scoring import top_k
    from training.recsys_evaluator import pair_matrix, rank_unseen

    data = Interactions(clustered(), ITEMS)
    model = MFRecommender(FAST_MF).fit(data)
    users, seen = ["u000", "u001", "stranger"], data.ordered[["user_id", "item_id"]]
    fast = top_k(model, users, seen, 5)  # MF exposes user_factors/item_factors
    expected = rank_unseen(model.score(users), pair_matrix(seen, users, pd.Index(ITEMS)), 5)
    got = [list(fast[fast["user_id"] == u].sort_values("rank")["item_id"]) for u in users]
    assert got == [[ITEMS[i] for i in row] for row in expected]


def test_sasrec_windows_cover_a_long_history_once_with_left_padding():
    from training.recsys_datamodule import next_item_windows

    windows = next_item_windows([np.arange(7), np.arange(2)], max_len=3, all_windows=True)
    inputs, targets = (t.tolist() for t in windows.tensors)  # item code + 1, 0 pads
    assert inputs == [[4, 5, 6], [1, 2, 3], [0, 0, 1]]
    assert targets == [[5, 6, 7], [2, 3, 4], [0, 0, 2]]  # every item but each user's first, once
