"""The floor every recommender must beat: items ranked by recent, intent-weighted popularity."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import torch

# A purchase says more than a view.
EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "purchase": 4.0}


class PopularityRecommender:
    """Scores every item by its weighted event count in the last `window_days` before the cutoff."""

    name = "popularity"

    def __init__(self, window_days: int = 14) -> None:
        self.window_days = window_days
        self.item_ids: list[str] = []
        self.scores = torch.zeros(0)

    def fit(self, events: pd.DataFrame, item_ids: list[str], cutoff: dt.datetime) -> PopularityRecommender:
        """`events` has item_id, event_type, ts (all before `cutoff`); `item_ids` is the catalogue."""
        recent = events[events["ts"] >= cutoff - dt.timedelta(days=self.window_days)]
        weights = recent["event_type"].map(EVENT_WEIGHTS).fillna(1.0)
        counts = weights.groupby(recent["item_id"]).sum()
        self.item_ids = list(item_ids)
        popularity = counts.reindex(self.item_ids, fill_value=0.0).to_numpy(dtype=np.float32)
        # A tiny deterministic tie-break keeps rankings stable across runs.
        tie_break = np.linspace(1e-6, 0, num=len(self.item_ids), dtype=np.float32)
        self.scores = torch.from_numpy(popularity + tie_break)
        return self

    def score(self, user_ids: list[str]) -> torch.Tensor:
        """A [len(user_ids), n_items] score matrix (the same row for everyone)."""
        return self.scores.expand(len(user_ids), -1)
