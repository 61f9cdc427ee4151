"""The recommender evaluator and protocols P1/P2 (../shared/ANCHORS.md) on hand-made cases with known
answers, and on the real MovieLens data against the anchors' most-popular row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import MOVIELENS_SMALL

from training.evaluate import ranking_metrics
from training.recsys_data import chronological, raw_id_order
from training.recsys_evaluator import EvalSet, evaluate, leave_last_out, temporal


class FixedScores:
    """Every user gets the same given score per item (catalogue order as given)."""

    def __init__(self, item_ids: list[str], scores: list[float]) -> None:
        self.item_ids = item_ids
        self.scores = torch.tensor(scores)

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.scores.expand(len(user_ids), -1)


def events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    return frame.assign(ts=pd.to_datetime(frame["ts"], unit="s"))


def test_raw_ids_sort_as_numbers_when_all_are_numeric_else_as_text():
    assert raw_id_order(["10", "9", "100", "9"]) == ["9", "10", "100"]
    assert raw_id_order(["b10", "b9", "a"]) == ["a", "b10", "b9"]


def test_leave_last_out_breaks_timestamp_ties_by_raw_item_id():
    data = events([("u1", "10", 5), ("u1", "9", 5), ("u1", "3", 1), ("u2", "7", 2)])
    split = leave_last_out(data)
    assert split.test.truth.values.tolist() == [["u1", "10"], ["u2", "7"]]
    assert split.test.users == ["u1", "u2"]  # a user with one interaction is evaluated, untrained
    assert chronological(split.train)["item_id"].tolist() == ["3", "9"]
    validation = leave_last_out(split.train)  # the protocol's validation target: the one before
    assert validation.test.truth.values.tolist() == [["u1", "9"]]


def test_temporal_cutoff_is_the_timestamp_at_floor_of_90_percent_and_truth_is_new_items():
    rows = [("u1", f"{i}", i) for i in range(1, 10)] + [("u1", "1", 10), ("u2", "50", 11), ("u3", "60", 0)]
    split = temporal(events(rows))  # 12 timestamps: index floor(10.8) = 10 -> T = 10
    assert split.train["ts"].max() == pd.Timestamp(9, unit="s")
    # u1 re-consumes item 1 after T: not new, so u1 has no truth; u2 has nothing before T.
    assert split.test.users == [] and split.test.truth.empty
    rows.append(("u1", "77", 12))
    split = temporal(events(rows))  # 13 timestamps: index 11 -> T = 11
    assert split.test.users == ["u1"]
    assert split.test.truth.values.tolist() == [["u1", "77"]]


def test_ranking_excludes_seen_items_and_breaks_score_ties_by_raw_item_id():
    # Catalogue order is deliberately not raw-id order; "3" and "20" tie with "100".
    model = FixedScores(["100", "20", "3", "4"], [1.0, 1.0, 1.0, 5.0])
    seen = pd.DataFrame({"user_id": ["a"], "item_id": ["4"]})
    truth = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["20", "100"]})
    result = evaluate(model, EvalSet(["a", "b"], seen, truth), k=2)
    # a: 4 is seen -> ranking 3, 20, 100 -> hit at rank 2; b: 4, 3, 20, 100 -> 100 is 4th: a miss.
    per_user = result.per_user.set_index("user_id")
    assert per_user.loc["a", "hits"] == 1 and per_user.loc["b", "hits"] == 0
    assert result.metrics["HR@2"] == 0.5
    assert result.metrics["NDCG@2"] == pytest.approx(0.5 / math.log2(3))
    assert result.metrics["coverage@2"] == 0.75  # 3, 20, 4 of four items


def test_recall_divides_by_all_truth_and_ndcg_by_the_ideal_over_min_truth_k():
    model = FixedScores(["1", "2", "3", "4", "5"], [5, 4, 3, 2, 1])
    truth = pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["2", "5", "9"]})  # "9" is not in the catalogue
    seen = pd.DataFrame({"user_id": ["x"], "item_id": ["1"]})
    result = evaluate(model, EvalSet(["u"], seen, truth), k=2)
    assert result.metrics["Recall@2"] == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3)
    assert result.metrics["NDCG@2"] == pytest.approx((1 / math.log2(3)) / ideal)
    # Novelty: items 1 and 2, seen by 1 and 0 of 1 training user -> p = 1 (at least one) -> 0 bits.
    assert result.metrics["novelty@2"] == 0.0


def test_a_user_who_has_seen_everything_gets_no_recommendations():
    model = FixedScores(["1", "2"], [1, 2])
    seen = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["1", "2"]})
    truth = pd.DataFrame({"user_id": ["u"], "item_id": ["1"]})
    result = evaluate(model, EvalSet(["u"], seen, truth), k=2)
    assert result.metrics["HR@2"] == 0.0 and result.metrics["coverage@2"] == 0.0


def test_the_nightly_ranking_metrics_use_the_same_evaluator():
    model = FixedScores(["a", "b", "c"], [3, 2, 1])
    seen = pd.DataFrame({"user_id": ["u"], "item_id": ["a"]})
    truth = pd.DataFrame({"user_id": ["u"], "item_id": ["c"]})
    got = ranking_metrics(model, ["u"], seen, truth, k=2)
    assert got == {"recall_at_2": 1.0, "ndcg_at_2": pytest.approx(1 / math.log2(3))}


@pytest.mark.skipif(not MOVIELENS_SMALL.exists(), reason="needs ../shared/data/movielens-small")
def test_most_popular_reproduces_the_anchor_row_on_movielens():
    from benchmarks.recsys import load_events
    from training.popularity import PopularityConfig, PopularityRecommender
    from training.recsys_data import Interactions

    data, catalogue = load_events(MOVIELENS_SMALL)
    assert len(catalogue) == 9724
    got = {}
    for name, rule, k in (("P1", leave_last_out, 10), ("P2", temporal, 20)):
        split = rule(data)
        model = PopularityRecommender(PopularityConfig(window_days=0)).fit(
            Interactions(split.train, catalogue)
        )
        got[name] = evaluate(model, split.test, k).metrics
    assert got["P1"]["users"] == 610 and got["P2"]["users"] == 27
    assert np.round([got["P1"]["HR@10"], got["P1"]["NDCG@10"]], 4).tolist() == [0.0426, 0.0194]
    assert np.round([got["P2"]["Recall@20"], got["P2"]["NDCG@20"]], 4).tolist() == [0.0384, 0.1101]
