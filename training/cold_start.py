"""Cold-start protocol: items held out of training entirely, then ranked for the users who had them.

On a catalogue (raw-id order, every item with its title) and its events:

1. Held-out items H: ``numpy.random.default_rng(seed).choice(n, round(share * n), replace=False)`` over
   the catalogue in raw-id order (share 10 %, seed 0).
2. Train: every event whose item is not in H (all of H's interactions are removed). H stays in the
   catalogue, so a model sees its items' ids and titles but no interaction with them.
3. Test users: users with at least one train event and one event with an item of H; truth: the user's
   items of H (P2-style, several per user).
4. Candidates, never the user's train items, score ties to the smaller raw id:
   - ``all``: every catalogue item. A new item has to beat the whole warm catalogue, which is what the
     nightly top-K asks of it.
   - ``new``: the items of H only (a new-arrivals shelf). Chance is k / |H| per truth item, so this
     measures the title signal itself where ``all`` is dominated by warm items.
5. Metrics at K = 20: Recall@20 (hits / |truth|), NDCG@20 (ideal DCG over min(|truth|, 20) hits), HR@20.

Every choice (epochs) is made on a leave-last-out split inside Train, whose targets are warm items: no
held-out interaction is used before the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from training.recsys_evaluator import EvalSet, Scorer, pairs


@dataclass(frozen=True)
class ColdSplit:
    train: pd.DataFrame
    held_out: list[str]  # in catalogue order
    test: EvalSet


def hold_out_items(
    events: pd.DataFrame, catalogue: list[str], share: float = 0.1, seed: int = 0
) -> ColdSplit:
    """The split of steps 1-3 above."""
    rng = np.random.default_rng(seed)
    drawn = set(rng.choice(len(catalogue), size=round(share * len(catalogue)), replace=False).tolist())
    held_out = [item for position, item in enumerate(catalogue) if position in drawn]
    cold = events["item_id"].isin(held_out)
    train = events[~cold].reset_index(drop=True)
    truth = pairs(events[cold])
    truth = truth[truth["user_id"].isin(train["user_id"])].reset_index(drop=True)
    return ColdSplit(train, held_out, EvalSet(sorted(truth["user_id"].unique()), pairs(train), truth))


class OnlyItems:
    """`model` ranking only some of its catalogue's items (the ``new`` candidate set)."""

    def __init__(self, model: Scorer, item_ids: list[str]) -> None:
        self.model, self.item_ids = model, list(item_ids)
        positions = pd.Index(model.item_ids).get_indexer(self.item_ids)
        if (positions < 0).any():
            raise ValueError("OnlyItems: some items are not in the model's catalogue")
        self.columns = torch.from_numpy(positions).long()

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.model.score(user_ids)[:, self.columns]
