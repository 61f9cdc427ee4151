"""Scoring every active user: churn probability, risk segment and top-K unseen items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from retention.config import Churn


class Recommender(Protocol):
    """What scoring needs of a recommender: the catalogue order and a score per (user, item)."""

    item_ids: list[str]

    def score(self, user_ids: list[str]) -> torch.Tensor: ...


def seen_matrix(pairs: pd.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str]) -> sp.csr_matrix:
    """A users x items 0/1 matrix of the (user_id, item_id) pairs, in the given orders."""
    user_index = pd.Index(user_ids)
    item_index = pd.Index(item_ids)
    rows = user_index.get_indexer(pairs["user_id"])
    cols = item_index.get_indexer(pairs["item_id"])
    keep = (rows >= 0) & (cols >= 0)
    data = np.ones(int(keep.sum()), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(user_index), len(item_index)))
    matrix.sum_duplicates()
    return matrix


def top_k(
    model: Recommender, user_ids: Sequence[str], seen_pairs: pd.DataFrame, k: int, batch_users: int = 4096
) -> pd.DataFrame:
    """Top-k items per user, excluding the (user_id, item_id) pairs in `seen_pairs`.

    Returns columns user_id, rank (1 = best), item_id, score; scoring runs in batches of users
    (a matrix of scores, seen items masked, then torch.topk).
    """
    seen = seen_matrix(seen_pairs, user_ids, model.item_ids)
    frames = []
    item_ids = np.asarray(model.item_ids, dtype=object)
    k = min(k, len(item_ids))
    for start in range(0, len(user_ids), batch_users):
        batch = list(user_ids[start : start + batch_users])
        with torch.no_grad():
            scores = model.score(batch).to(torch.float32).clone()
        block = seen[start : start + len(batch)].tocoo()
        scores[torch.from_numpy(block.row).long(), torch.from_numpy(block.col).long()] = -torch.inf
        values, indices = torch.topk(scores, k, dim=1)
        frame = pd.DataFrame(
            {
                "user_id": np.repeat(np.asarray(batch, dtype=object), k),
                "rank": np.tile(np.arange(1, k + 1), len(batch)),
                "item_id": item_ids[indices.numpy().ravel()],
                "score": values.numpy().ravel(),
            }
        )
        frames.append(frame[np.isfinite(frame["score"])])
    columns = ["user_id", "rank", "item_id", "score"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def risk_segment(probability: np.ndarray, churn: Churn) -> np.ndarray:
    """high / medium / low by the configured probability thresholds."""
    return np.where(
        probability >= churn.segment_high,
        "high",
        np.where(probability >= churn.segment_medium, "medium", "low"),
    )
