"""The one interface every recommender implements, and the tune-then-refit procedure they share.

A recommender is fitted on `Interactions` (optionally with a validation `EvalSet` for early stopping),
scores a batch of users against the whole catalogue (`item_ids` order), and is saved and loaded as a
pickled object inside the MLflow pyfunc wrapper of `training.tracking`. The DAG, the evaluator and the
scorer only ever use this interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from training.recsys_data import Interactions
from training.recsys_evaluator import EvalSet, Split


class Recommender(Protocol):
    name: str
    item_ids: list[str]
    tunable: bool  # False: nothing to choose on validation (fit once on all the data)
    # Per-epoch rows (epoch, train_loss, val_ndcg) and the epoch count chosen on validation, if any.
    history: list[dict[str, float]]
    best_epoch: int | None

    def fit(self, train: Interactions, valid: EvalSet | None = None, k: int = 10) -> Recommender: ...

    def score(self, user_ids: list[str]) -> torch.Tensor: ...

    def refit_copy(self) -> Recommender:
        """An unfitted model with the setting chosen on validation (e.g. the best epoch count)."""
        ...

    def params(self) -> dict[str, Any]: ...


def tune_and_refit(
    make: Callable[[], Recommender],
    events: pd.DataFrame,
    item_ids: list[str],
    validation_split: Callable[[pd.DataFrame], Split],
    k: int,
) -> Recommender:
    """Choose the setting on a validation split inside `events`, then refit it on all of `events`.

    The returned model's `history` is the tuning run's (the curve the setting was chosen on).
    """
    first = make()
    if not first.tunable:
        return first.fit(Interactions(events, item_ids))
    inner = validation_split(events)
    tuned = first.fit(Interactions(inner.train, item_ids), inner.test, k)
    final = tuned.refit_copy().fit(Interactions(events, item_ids))
    final.history, final.best_epoch = tuned.history, tuned.best_epoch
    return final


class UserIndex:
    """Maps raw user ids to training rows; users unknown at training time get the popularity row."""

    def __init__(self, train: Interactions) -> None:
        self.rows = pd.Index(train.user_ids)
        counts = train.item_user_counts()
        self.fallback = torch.from_numpy(np.log1p(counts)).float()

    def lookup(self, user_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(row per user, 0 where unknown) and a mask of the known users."""
        rows = torch.from_numpy(self.rows.get_indexer(pd.Index(user_ids, dtype=object))).long()
        known = rows >= 0
        return rows.clamp(min=0), known

    def user_factors(self, vectors: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """[users, d + 2]: the vector and a 1 for known users, a 1 in the popularity column otherwise."""
        flag = known.to(vectors.dtype)[:, None]
        return torch.cat([vectors * flag, flag, 1 - flag], dim=1)

    def item_factors(self, vectors: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """[items, d + 2]: the vector, the bias, the popularity fallback (see `user_factors`)."""
        bias = torch.zeros(len(vectors)) if bias is None else bias
        return torch.cat([vectors, bias[:, None], self.fallback[:, None]], dim=1)
