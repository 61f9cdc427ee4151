import numpy as np
import pandas as pd
import torch

from retention.config import Churn
from retention.scoring import risk_segment, top_k


class FixedScores:
    """A recommender whose scores are given: user u prefers items in the order of its row."""

    def __init__(self, item_ids: list[str], scores: dict[str, list[float]]) -> None:
        self.item_ids = item_ids
        self.scores = scores

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return torch.tensor([self.scores[u] for u in user_ids])


def test_top_k_ranks_by_score_and_never_returns_seen_items():
    items = ["a", "b", "c", "d"]
    model = FixedScores(items, {"u1": [4, 3, 2, 1], "u2": [1, 2, 3, 4], "u3": [3, 2, 1, 5]})
    seen = pd.DataFrame({"user_id": ["u1", "u2", "u2", "u3", "zz"], "item_id": ["a", "d", "c", "d", "a"]})
    ranked = top_k(model, ["u1", "u2", "u3"], seen, k=2, batch_users=2)  # two batches
    got = {u: list(g.sort_values("rank")["item_id"]) for u, g in ranked.groupby("user_id")}
    assert got == {"u1": ["b", "c"], "u2": ["b", "a"], "u3": ["a", "b"]}
    assert set(ranked["rank"]) == {1, 2}
    merged = ranked.merge(seen, on=["user_id", "item_id"])
    assert merged.empty


def test_top_k_returns_fewer_items_when_the_user_has_seen_almost_everything():
    model = FixedScores(["a", "b"], {"u": [1, 2]})
    seen = pd.DataFrame({"user_id": ["u"], "item_id": ["b"]})
    ranked = top_k(model, ["u"], seen, k=5)
    assert list(ranked["item_id"]) == ["a"]


def test_risk_segments_follow_the_thresholds():
    churn = Churn(segment_high=0.5, segment_medium=0.2)
    got = risk_segment(np.array([0.0, 0.19, 0.2, 0.49, 0.5, 1.0]), churn)
    assert list(got) == ["low", "low", "medium", "medium", "high", "high"]
