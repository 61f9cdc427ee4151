"""One evaluator for every recommender, and the two protocols of ../shared/ANCHORS.md.

P1 (leave-last-out): per user, in (ts, raw item id) order, the last interaction is the test target;
applied again to the training part it gives the validation split (the one before).
P2 (temporal): T = the timestamp at index floor(0.9 N) of all N sorted timestamps; train = ts < T,
test = ts >= T; users with interactions on both sides; truth = test items minus the user's train items;
applied again to the training part it gives the validation split (T_val at 90 % of train).

Ranking: every catalogue item the user has not interacted with in training is a candidate; score ties
are broken by raw item id (smaller first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from training.recsys_data import chronological, raw_id_keys


class Scorer(Protocol):
    item_ids: list[str]

    def score(self, user_ids: list[str]) -> torch.Tensor: ...


@dataclass(frozen=True)
class EvalSet:
    """Users to evaluate, the training pairs whose items are no candidates (all users' training
    interactions; their spread also gives the novelty of recommendations) and the truth pairs."""

    users: list[str]
    seen: pd.DataFrame
    truth: pd.DataFrame


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: EvalSet


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    per_user: pd.DataFrame  # user_id, n_truth, hits, ndcg


def pairs(events: pd.DataFrame) -> pd.DataFrame:
    return events[["user_id", "item_id"]].drop_duplicates().reset_index(drop=True)


def leave_last_out(events: pd.DataFrame) -> Split:
    """P1: each user's last interaction is the target; every user is evaluated."""
    ordered = chronological(events)
    last = ordered.groupby("user_id", sort=False).tail(1)
    train = ordered.drop(index=last.index).reset_index(drop=True)
    users = sorted(last["user_id"].unique())
    return Split(train, EvalSet(users, pairs(train), pairs(last)))


def temporal_cutoff(events: pd.DataFrame, quantile: float = 0.9) -> pd.Timestamp:
    ts = np.sort(events["ts"].to_numpy())
    return pd.Timestamp(ts[math.floor(quantile * len(ts))])


def temporal(events: pd.DataFrame, quantile: float = 0.9) -> Split:
    """P2: a global cutoff at the `quantile` of timestamps; each user's new items after it are the truth."""
    cutoff = temporal_cutoff(events, quantile)
    train = chronological(events[events["ts"] < cutoff])
    seen = pairs(train)
    after = pairs(events[events["ts"] >= cutoff])
    new = after.merge(seen, how="left", indicator=True).query("_merge == 'left_only'")
    truth = new[new["user_id"].isin(seen["user_id"])][["user_id", "item_id"]].reset_index(drop=True)
    return Split(train, EvalSet(sorted(truth["user_id"].unique()), seen, truth))


def evaluate(model: Scorer, data: EvalSet, k: int, batch_users: int = 1024) -> Evaluation:
    """HR@k, Recall@k, NDCG@k, coverage@k and novelty@k of `model` on `data`, averaged over users.

    Recall = hits / |truth|; NDCG's ideal DCG has min(|truth|, k) hits. Coverage = distinct recommended
    items / catalogue size. Novelty = mean -log2(p) over recommended items, p = share of training users
    who interacted with the item (at least one user, so unseen items stay finite).
    """
    catalogue = list(model.item_ids)
    by_raw_id = np.argsort(raw_id_keys(catalogue).to_numpy(), kind="stable")
    ranked_ids = pd.Index(np.asarray(catalogue, dtype=object)[by_raw_id])
    users = list(data.users)
    seen = pair_matrix(data.seen, users, ranked_ids)
    truth = pair_matrix(data.truth, users, ranked_ids)
    hits, dcg, recommended = [], [], []
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        with torch.no_grad():
            scores = model.score(batch).to(torch.float32)[:, torch.from_numpy(by_raw_id)].clone()
        top = rank_unseen(scores, seen[start : start + len(batch)], k)
        found = _found(truth[start : start + len(batch)], top)
        hits.append(found.sum(axis=1))
        dcg.append((found / np.log2(np.arange(2, k + 2))).sum(axis=1))
        recommended.append(top[top >= 0])
    # Truth items outside the catalogue count as misses, so |truth| comes from the pairs themselves.
    n_truth = pairs(data.truth).groupby("user_id").size().reindex(users, fill_value=0).to_numpy()
    return _summarise(users, n_truth, hits, dcg, recommended, _user_share(data.seen, ranked_ids), k)


def rank_unseen(scores: torch.Tensor, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """Column indices of the k best unseen items per row ([rows, k], -1 past the candidates).

    Columns must be in raw-id order: the stable sort then breaks score ties by raw id.
    """
    block = seen.tocoo()
    scores[torch.from_numpy(block.row).long(), torch.from_numpy(block.col).long()] = -torch.inf
    values, indices = torch.sort(scores, dim=1, descending=True, stable=True)
    top = indices[:, :k].numpy().copy()
    top[~torch.isfinite(values[:, :k]).numpy()] = -1
    return top


def pair_matrix(frame: pd.DataFrame, users: list[str], items: pd.Index) -> sp.csr_matrix:
    """A users x items 0/1 matrix of the (user_id, item_id) pairs of `frame`, in the given orders."""
    rows = pd.Index(users).get_indexer(frame["user_id"])
    cols = items.get_indexer(frame["item_id"])
    keep = (rows >= 0) & (cols >= 0)
    data = np.ones(int(keep.sum()), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(users), len(items)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _found(truth: sp.csr_matrix, top: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    cols = np.where(top >= 0, top, 0).ravel()
    found = np.asarray(truth[rows, cols]).reshape(top.shape) > 0
    return found & (top >= 0)


def _user_share(seen: pd.DataFrame, items: pd.Index) -> np.ndarray:
    n_users = max(seen["user_id"].nunique(), 1)
    counts = seen["item_id"].value_counts().reindex(items, fill_value=0).to_numpy()
    return np.maximum(counts, 1) / n_users


def _summarise(users, n_truth, hits, dcg, recommended, share, k) -> Evaluation:
    n_truth = n_truth.astype(float)
    hits_all = np.concatenate(hits).astype(float) if hits else np.zeros(0)
    dcg_all = np.concatenate(dcg) if dcg else np.zeros(0)
    ideal = np.array([np.sum(1 / np.log2(np.arange(2, min(n, k) + 2))) for n in n_truth])
    ndcg = np.divide(dcg_all, ideal, out=np.zeros_like(dcg_all), where=ideal > 0)
    recall = np.divide(hits_all, n_truth, out=np.zeros_like(hits_all), where=n_truth > 0)
    items = np.concatenate(recommended) if recommended else np.zeros(0, dtype=int)
    per_user = pd.DataFrame({"user_id": users, "n_truth": n_truth, "hits": hits_all, "ndcg": ndcg})

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if len(values) else 0.0

    metrics = {
        f"HR@{k}": mean((hits_all > 0).astype(float)),
        f"Recall@{k}": mean(recall),
        f"NDCG@{k}": mean(ndcg),
        f"coverage@{k}": len(np.unique(items)) / len(share) if len(share) else 0.0,
        f"novelty@{k}": mean(-np.log2(share[items])) if len(items) else 0.0,
        "users": float(len(users)),
    }
    return Evaluation(metrics, per_user)
