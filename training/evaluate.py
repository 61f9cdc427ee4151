"""One evaluator for all models: churn classification metrics and top-K ranking metrics."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from retention.scoring import Recommender
from training.churn_evaluation import churn_metrics  # noqa: F401  (moved; kept importable here)
from training.recsys_evaluator import EvalSet, evaluate


def ranking_metrics(
    model: Recommender, user_ids: Sequence[str], seen_pairs: pd.DataFrame, truth: pd.DataFrame, k: int
) -> dict[str, float]:
    """Recall@k and NDCG@k of each user's `truth` items (user_id, item_id), averaged over users.

    Candidates are all catalogue items not in the user's `seen_pairs`; the recommender evaluator
    (`training.recsys_evaluator.evaluate`, ties broken by raw item id) computes them.
    """
    if len(user_ids) == 0:
        return {f"recall_at_{k}": 0.0, f"ndcg_at_{k}": 0.0}
    metrics = evaluate(model, EvalSet(list(user_ids), seen_pairs, truth), k).metrics
    return {f"recall_at_{k}": metrics[f"Recall@{k}"], f"ndcg_at_{k}": metrics[f"NDCG@{k}"]}
