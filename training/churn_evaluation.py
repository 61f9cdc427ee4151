"""Churn classification metrics: ranking (ROC-AUC, PR-AUC, top-decile lift) and probability quality
(Brier score, log loss, expected calibration error)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

ECE_BINS = 10


def churn_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-6, 1 - 1e-6)
    return {
        "roc_auc": float(roc_auc_score(y_true, probability)),
        "pr_auc": float(average_precision_score(y_true, probability)),
        "brier": float(brier_score_loss(y_true, probability)),
        "log_loss": float(log_loss(y_true, probability, labels=[0, 1])),
        "top_decile_lift": top_decile_lift(y_true, probability),
        "ece": expected_calibration_error(y_true, probability),
    }


def decile_churn_rates(y_true: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Observed churn rate in each tenth of users ranked by probability, the riskiest tenth first.

    Ranks are by a stable sort, so tied probabilities are split in their given order."""
    order = np.argsort(-np.asarray(probability), kind="stable")
    parts = np.array_split(np.asarray(y_true, dtype=float)[order], 10)
    return np.array([part.mean() if len(part) else np.nan for part in parts])


def top_decile_lift(y_true: np.ndarray, probability: np.ndarray) -> float:
    """Churn rate among the 10 % riskiest users divided by the overall churn rate."""
    base = float(np.mean(y_true))
    return float(decile_churn_rates(y_true, probability)[0] / base) if base > 0 else 0.0


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS) -> float:
    """Σ_bins (n_bin / n) · |mean predicted − observed rate|, over equal-width probability bins."""
    y_true, probability = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    index = np.minimum((probability * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    gaps = np.abs(np.bincount(index, probability, bins) - np.bincount(index, y_true, bins))
    return float(gaps.sum() / max(counts.sum(), 1))
