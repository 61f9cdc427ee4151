"""Implicit feedback for recommenders: events in a fixed chronological order, indexed against a catalogue.

Order everywhere (splits, sequences, tie-breaks): by timestamp, then by raw item id, where raw ids sort
numerically when every id is a number (MovieLens movieIds) and as text otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

# A purchase says more than a view; MovieLens ratings load as clicks.
EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "purchase": 4.0}


def raw_id_keys(ids: Iterable[str]) -> pd.Series:
    """Sort keys for raw ids: numbers when all ids are numeric, else the ids themselves."""
    ids = pd.Series(list(ids), dtype=object)
    numeric = pd.to_numeric(ids, errors="coerce")
    return numeric if numeric.notna().all() else ids.astype(str)


def raw_id_order(ids: Iterable[str]) -> list[str]:
    """Distinct ids sorted by raw id."""
    unique = pd.Series(pd.unique(pd.Series(list(ids), dtype=object)), dtype=object)
    return list(unique.iloc[np.argsort(raw_id_keys(unique).to_numpy(), kind="stable")])


def chronological(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted per user by (ts, raw item id), index reset."""
    keyed = events.assign(_item_key=raw_id_keys(events["item_id"]).to_numpy())
    ordered = keyed.sort_values(["user_id", "ts", "_item_key"], kind="stable")
    return ordered.drop(columns="_item_key").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Interactions:
    """A training set: `events` (user_id, item_id, ts; optional event_type, rating) and the catalogue
    `item_ids` the model scores (items outside it are dropped)."""

    events: pd.DataFrame
    item_ids: list[str]

    @cached_property
    def ordered(self) -> pd.DataFrame:
        known = self.events[self.events["item_id"].isin(self.item_index)]
        return chronological(known)

    @cached_property
    def item_index(self) -> pd.Index:
        return pd.Index(self.item_ids)

    @cached_property
    def user_ids(self) -> list[str]:
        return sorted(self.ordered["user_id"].unique())

    @cached_property
    def user_codes(self) -> np.ndarray:
        return pd.Index(self.user_ids).get_indexer(self.ordered["user_id"])

    @cached_property
    def item_codes(self) -> np.ndarray:
        return self.item_index.get_indexer(self.ordered["item_id"])

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def sequences(self) -> list[np.ndarray]:
        """Each user's item codes in chronological order, in the order of `user_ids`."""
        bounds = np.flatnonzero(np.diff(self.user_codes)) + 1
        return np.split(self.item_codes, bounds) if len(self.item_codes) else []

    def weights(self) -> np.ndarray:
        """Per-event weight by event type (1 when the type is unknown or absent)."""
        if "event_type" not in self.ordered:
            return np.ones(len(self.ordered), dtype=np.float32)
        return self.ordered["event_type"].map(EVENT_WEIGHTS).fillna(1.0).to_numpy(dtype=np.float32)

    def item_user_counts(self) -> np.ndarray:
        """Distinct users per catalogue item."""
        pairs = pd.DataFrame({"u": self.user_codes, "i": self.item_codes}).drop_duplicates()
        return np.bincount(pairs["i"].to_numpy(), minlength=self.n_items).astype(np.float32)
