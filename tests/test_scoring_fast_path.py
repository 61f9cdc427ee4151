"""`top_k`'s dot-product fast path ranks exactly as the generic `score()` path and as a brute-force sort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from retention import scoring
from retention.scoring import has_factors, top_k


class DotModel:
    """Exposes its factors: `top_k` takes the fast path and must never need `score`."""

    def __init__(self, user_ids: list[str], item_ids: list[str], users: torch.Tensor, items: torch.Tensor):
        self.item_ids = item_ids
        self.rows = {u: i for i, u in enumerate(user_ids)}
        self.users, self.items = users, items

    def user_factors(self, user_ids: list[str]) -> torch.Tensor:
        return self.users[[self.rows[u] for u in user_ids]]

    def item_factors(self) -> torch.Tensor:
        return self.items

    def score(self, user_ids: list[str]) -> torch.Tensor:
        raise AssertionError("the fast path must not call score()")


class ScoreOnly:
    """The same scores through `score()` only: the generic path."""

    def __init__(self, model: DotModel) -> None:
        self.item_ids = model.item_ids
        self.model = model

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.model.user_factors(user_ids) @ self.model.items.T


def brute_force(scores: np.ndarray, user_ids: list[str], item_ids: list[str], seen: pd.DataFrame, k: int):
    """Every item sorted by score (descending), ties by catalogue position; seen, -inf, NaN dropped."""
    seen_set = set(zip(seen["user_id"], seen["item_id"], strict=True))
    rows = []
    for u, user in enumerate(user_ids):
        row = np.where(np.isnan(scores[u]), -np.inf, scores[u]).astype(np.float32)
        row[[j for j, item in enumerate(item_ids) if (user, item) in seen_set]] = -np.inf
        order = np.lexsort((np.arange(len(item_ids)), -row))[:k]
        rows += [(user, rank + 1, item_ids[j], row[j]) for rank, j in enumerate(order) if np.isfinite(row[j])]
    frame = pd.DataFrame(rows, columns=["user_id", "rank", "item_id", "score"])
    return frame.astype({"rank": np.int64, "score": np.float32})


def make(users: int, items: int, dim: int, levels: int, seed: int = 0) -> tuple[DotModel, pd.DataFrame]:
    """Small-integer factors: every dot product is exact in float32, and ties are frequent."""
    rng = np.random.default_rng(seed)
    user_ids = [f"u{i}" for i in range(users)]
    item_ids = [f"i{i}" for i in range(items)]
    model = DotModel(
        user_ids,
        item_ids,
        torch.from_numpy(rng.integers(-levels, levels + 1, (users, dim)).astype(np.float32)),
        torch.from_numpy(rng.integers(-levels, levels + 1, (items, dim)).astype(np.float32)),
    )
    n_seen = rng.integers(0, 30, users)
    seen = pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, n_seen),
            "item_id": np.asarray(item_ids)[rng.integers(0, items, int(n_seen.sum()))],
        }
    )
    return model, seen


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True).astype({"user_id": object, "item_id": object}),
        b.reset_index(drop=True).astype({"user_id": object, "item_id": object}),
    )


@pytest.mark.parametrize(("items", "k", "levels"), [(1000, 10, 2), (777, 25, 1), (300, 5, 3), (3, 10, 1)])
def test_fast_path_equals_generic_path_and_brute_force_with_many_ties(
    monkeypatch: pytest.MonkeyPatch, items: int, k: int, levels: int
) -> None:
    monkeypatch.setattr(scoring, "ITEM_CHUNK", 256)  # several item chunks, the last one partial
    monkeypatch.setattr(scoring, "FAST_BATCH_USERS", 64)  # several user blocks, the last one partial
    model, seen = make(users=150, items=items, dim=4, levels=levels)
    user_ids = list(model.rows)
    assert has_factors(model) and not has_factors(ScoreOnly(model))
    fast = top_k(model, user_ids, seen, k, batch_users=100)
    generic = top_k(ScoreOnly(model), user_ids, seen, k, batch_users=100)
    expected = brute_force((model.users @ model.items.T).numpy(), user_ids, model.item_ids, seen, k)
    same(fast, expected)
    same(generic, expected)
    assert fast.merge(seen, on=["user_id", "item_id"]).empty
    ties = fast.duplicated(["user_id", "score"], keep=False)
    assert items < 10 or ties.any()  # the case really has ties inside the top k


def test_fast_path_on_random_factors_matches_a_full_sort() -> None:
    rng = np.random.default_rng(1)
    users, items = 300, 5000
    model = DotModel(
        [f"u{i}" for i in range(users)],
        [f"i{i}" for i in range(items)],
        torch.from_numpy(rng.standard_normal((users, 16), dtype=np.float32)),
        torch.from_numpy(rng.standard_normal((items, 16), dtype=np.float32)),
    )
    seen = pd.DataFrame(
        {"user_id": np.repeat(list(model.rows), 20), "item_id": rng.choice(model.item_ids, 6000)}
    )
    ranked = top_k(model, list(model.rows), seen, 10)
    scores = np.stack([model.user_factors([u])[0].numpy() @ model.items.numpy().T for u in model.rows])
    expected = brute_force(scores, list(model.rows), model.item_ids, seen, 10)
    assert list(ranked["user_id"]) == list(expected["user_id"])
    assert list(ranked["rank"]) == list(expected["rank"])
    # float sums may differ in the last bit between two products of different shapes
    np.testing.assert_allclose(ranked["score"], expected["score"], rtol=1e-5)
    assert (ranked["item_id"].to_numpy() == expected["item_id"].to_numpy()).mean() > 0.99


def test_users_who_have_seen_everything_get_nothing_and_the_rest_the_unseen_items() -> None:
    model, _ = make(users=3, items=40, dim=3, levels=2)
    everything = pd.DataFrame({"user_id": "u0", "item_id": model.item_ids})
    all_but_two = pd.DataFrame({"user_id": "u1", "item_id": model.item_ids[2:]})
    seen = pd.concat([everything, all_but_two, all_but_two])  # duplicated pairs are fine
    for candidate in (model, ScoreOnly(model)):
        ranked = top_k(candidate, list(model.rows), seen, k=5)
        assert "u0" not in set(ranked["user_id"])
        assert sorted(ranked.loc[ranked["user_id"] == "u1", "item_id"]) == ["i0", "i1"]
        assert len(ranked[ranked["user_id"] == "u2"]) == 5


def test_nan_and_infinite_scores_are_never_returned_on_both_paths() -> None:
    items = torch.tensor([[1.0], [2.0], [3.0], [float("nan")], [float("inf")], [-float("inf")], [0.5]])
    model = DotModel(["u", "v"], [f"i{i}" for i in range(7)], torch.tensor([[1.0], [-1.0]]), items)
    seen = pd.DataFrame(columns=["user_id", "item_id"])
    fast = top_k(model, ["u", "v"], seen, k=4)
    generic = top_k(ScoreOnly(model), ["u", "v"], seen, k=4)
    same(fast, generic)
    # u: +inf takes rank 1 but is not returned (as before); v: -inf*-1 = +inf likewise
    assert list(zip(fast["user_id"], fast["rank"], fast["item_id"], strict=True)) == [
        ("u", 2, "i2"),
        ("u", 3, "i1"),
        ("u", 4, "i0"),
        ("v", 2, "i6"),
        ("v", 3, "i0"),
        ("v", 4, "i1"),
    ]


def test_wrongly_shaped_factors_are_refused() -> None:
    model, seen = make(users=4, items=10, dim=3, levels=1)
    model.items = model.items[:9]
    with pytest.raises(ValueError, match="item_factors"):
        top_k(model, list(model.rows), seen, k=3)


def test_no_users_gives_an_empty_frame() -> None:
    model, seen = make(users=2, items=10, dim=3, levels=1)
    assert list(top_k(model, [], seen, k=3).columns) == ["user_id", "rank", "item_id", "score"]


@pytest.mark.parametrize(("chunk", "group", "k"), [(64, 16, 10), (32, 32, 3), (16, 1, 40), (128, 64, 5)])
def test_tiles_of_fewer_groups_than_k_or_of_one_group_rank_exactly(
    monkeypatch: pytest.MonkeyPatch, chunk: int, group: int, k: int
) -> None:
    monkeypatch.setattr(scoring, "ITEM_CHUNK", chunk)
    monkeypatch.setattr(scoring, "GROUP", group)
    monkeypatch.setattr(scoring, "FAST_BATCH_USERS", 32)
    model, seen = make(users=70, items=500, dim=4, levels=2, seed=3)
    user_ids = list(model.rows)
    expected = brute_force((model.users @ model.items.T).numpy(), user_ids, model.item_ids, seen, k)
    same(top_k(model, user_ids, seen, k), expected)


def test_k_beyond_the_catalogue_and_a_one_item_catalogue() -> None:
    for items in (1, 2, 5):
        model, seen = make(users=9, items=items, dim=2, levels=1, seed=items)
        user_ids = list(model.rows)
        expected = brute_force((model.users @ model.items.T).numpy(), user_ids, model.item_ids, seen, 50)
        same(top_k(model, user_ids, seen, 50), expected)


def test_rows_whose_best_unseen_scores_are_negative_or_zero_rank_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both ways of taking group maxima (float, and int32 bits once every row's threshold is > 0): users
    with positive and with negative best scores, groups of negative scores only, +0 and -0 ties."""
    monkeypatch.setattr(scoring, "ITEM_CHUNK", 128)
    monkeypatch.setattr(scoring, "FAST_BATCH_USERS", 16)
    rng = np.random.default_rng(7)
    magnitude = rng.integers(1, 4, (900, 3)).astype(np.float32)
    items = np.concatenate([magnitude[:400], -magnitude[400:800], np.zeros((100, 3), np.float32)])
    items[800:850, 0] = -0.0  # scores of -0 beside the +0 ones
    users = rng.integers(1, 4, (64, 3)).astype(np.float32)
    model = DotModel(
        [f"u{i}" for i in range(64)],
        [f"i{j}" for j in range(900)],
        torch.from_numpy(users),
        torch.from_numpy(items),
    )
    # users 40-63 have seen every item they score > 0 (or some of them): their best left are <= 0
    takers = [f"u{i}" for i in range(40, 64)]
    seen = pd.DataFrame(
        {
            "user_id": np.repeat(takers, 400),
            "item_id": np.tile(model.item_ids[:400], len(takers)),
        }
    )
    seen = seen[~((seen["user_id"] == "u63") & seen["item_id"].isin(model.item_ids[:3]))]
    user_ids = list(model.rows)
    scores = (model.users @ model.items.T).numpy()
    for k in (5, 150):
        expected = brute_force(scores, user_ids, model.item_ids, seen, k)
        same(top_k(model, user_ids, seen, k), expected)
        same(top_k(ScoreOnly(model), user_ids, seen, k), expected)
    assert (expected.groupby("user_id")["score"].max().loc[takers[:-1]] <= 0).all()


def test_nan_from_inf_times_zero_in_a_late_tile_counts_as_minus_infinity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scoring, "ITEM_CHUNK", 64)
    model, seen = make(users=20, items=640, dim=2, levels=3, seed=11)
    model.users = model.users.abs() + 1  # every row's best scores > 0: int32 maxima after the first tile
    model.items[300] = torch.tensor([0.0, 2.0])  # a small norm: a late tile
    model.users[4] = torch.tensor([torch.inf, 0.0])  # inf * 0 = NaN (the other scores +-inf)
    user_ids = list(model.rows)
    scores = (model.users @ model.items.T).numpy()
    assert np.isnan(scores[4, 300])
    expected = brute_force(scores, user_ids, model.item_ids, seen, 7)
    same(top_k(model, user_ids, seen, 7), expected)
    same(top_k(ScoreOnly(model), user_ids, seen, 7), expected)


def test_the_ordering_key_sorts_like_lexsort_with_ties_and_signed_zeros() -> None:
    rng = np.random.default_rng(2)
    values = rng.choice(
        np.array([0.0, -0.0, 1.5, -1.5, np.inf, -np.inf, 3e38, -3e38, 1e-45], np.float32), 4000
    )
    row, items = rng.integers(0, 300, 4000), rng.permutation(50_000)[:4000]
    expected = np.lexsort((items, -values, row))
    assert np.array_equal(scoring._order(row, items, values, users=300), expected)
    huge = items + 2**40  # no room for a single 64-bit key: the lexsort itself
    assert np.array_equal(scoring._order(row, huge, values, users=300), np.lexsort((huge, -values, row)))


def test_torch_threads_are_as_they_were_after_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scoring, "FAST_BATCH_USERS", 16)
    model, seen = make(users=80, items=300, dim=3, levels=2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # several blocks on two workers
        fast = top_k(model, list(model.rows), seen, 4)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    expected = brute_force((model.users @ model.items.T).numpy(), list(model.rows), model.item_ids, seen, 4)
    same(fast, expected)


def test_ids_keep_their_type_strings_as_pandas_infers_them_other_ids_as_objects() -> None:
    model, seen = make(users=5, items=30, dim=2, levels=2)
    strings = top_k(model, list(model.rows), seen, 3)
    inferred = pd.DataFrame({"id": np.asarray(["u0"], dtype=object)})["id"].dtype
    assert strings["user_id"].dtype == inferred and strings["item_id"].dtype == inferred
    numbered = DotModel(list(range(5)), list(range(100, 130)), model.users, model.items)
    pairs = pd.DataFrame({"user_id": [0, 0, 3], "item_id": [101, 129, 100]})
    ranked = top_k(numbered, list(range(5)), pairs, 3)
    assert ranked["user_id"].dtype == object and ranked["item_id"].dtype == object
    assert {type(v) for v in ranked["item_id"]} == {int}
    expected = brute_force(
        (model.users @ model.items.T).numpy(), list(range(5)), list(range(100, 130)), pairs, 3
    )
    same(ranked, expected)
