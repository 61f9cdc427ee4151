"""One evaluator for all models: churn classification metrics and top-K ranking metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from retention.scoring import Recommender, top_k


def churn_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    probability = np.clip(probability, 1e-6, 1 - 1e-6)
    return {
        "roc_auc": float(roc_auc_score(y_true, probability)),
        "pr_auc": float(average_precision_score(y_true, probability)),
        "brier": float(brier_score_loss(y_true, probability)),
        "log_loss": float(log_loss(y_true, probability, labels=[0, 1])),
    }


def ranking_metrics(
    model: Recommender, user_ids: Sequence[str], seen_pairs: pd.DataFrame, truth: pd.DataFrame, k: int
) -> dict[str, float]:
    """Recall@k and NDCG@k of each user's `truth` items (user_id, item_id), averaged over users.

    Candidates are all catalogue items not in the user's `seen_pairs`.
    """
    if len(user_ids) == 0:
        return {f"recall_at_{k}": 0.0, f"ndcg_at_{k}": 0.0}
    ranked = top_k(model, user_ids, seen_pairs, k)
    hits = ranked.merge(truth.drop_duplicates(), on=["user_id", "item_id"])
    n_truth = truth.drop_duplicates().groupby("user_id").size().reindex(user_ids).fillna(0)
    dcg = (1.0 / np.log2(hits["rank"] + 1)).groupby(hits["user_id"]).sum().reindex(user_ids).fillna(0)
    ideal = n_truth.clip(upper=k).map(lambda n: float(np.sum(1.0 / np.log2(np.arange(2, n + 2)))))
    recall = hits.groupby("user_id").size().reindex(user_ids).fillna(0) / n_truth.clip(lower=1)
    ndcg = dcg / ideal.replace(0, np.nan)
    return {f"recall_at_{k}": float(recall.mean()), f"ndcg_at_{k}": float(ndcg.fillna(0).mean())}
