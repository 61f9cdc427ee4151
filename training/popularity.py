"""The floor every recommender must beat: items ranked by recent, intent-weighted popularity."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from training.recsys_data import Interactions
from training.recsys_evaluator import EvalSet


@dataclass(frozen=True)
class PopularityConfig:
    window_days: int = 14  # 0: all of the training history


class PopularityRecommender:
    """Scores every item by its weighted event count in the last `window_days` of the training data
    (the window ends at midnight after the last event, i.e. at the nightly cutoff)."""

    name = "popularity"
    tunable = False

    def __init__(self, config: PopularityConfig | None = None) -> None:
        self.config = config or PopularityConfig()
        self.item_ids: list[str] = []
        self.scores = torch.zeros(0)
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None

    def fit(self, train: Interactions, valid: EvalSet | None = None, k: int = 10) -> PopularityRecommender:
        events, weights, codes = train.ordered, train.weights(), train.item_codes
        if self.config.window_days and len(events):
            cutoff = pd.Timestamp(events["ts"].max()).normalize() + pd.Timedelta(days=1)
            recent = (events["ts"] >= cutoff - pd.Timedelta(days=self.config.window_days)).to_numpy()
            weights, codes = weights[recent], codes[recent]
        popularity = np.bincount(codes, weights=weights, minlength=train.n_items).astype(np.float32)
        self.item_ids = list(train.item_ids)
        # A tiny deterministic tie-break keeps rankings stable across runs.
        tie_break = np.linspace(1e-6, 0, num=len(self.item_ids), dtype=np.float32)
        self.scores = torch.from_numpy(popularity + tie_break)
        return self

    def score(self, user_ids: list[str]) -> torch.Tensor:
        """A [len(user_ids), n_items] score matrix (the same row for everyone)."""
        return self.scores.expand(len(user_ids), -1)

    def refit_copy(self) -> PopularityRecommender:
        return PopularityRecommender(self.config)

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
