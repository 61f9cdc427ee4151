"""Matrix factorisation in Lightning on implicit feedback, trained with a sampled softmax.

Why sampled softmax rather than BPR: top-K metrics reward putting the held-out item above *all* others;
a softmax over the positive and many negatives optimises exactly that ordering (BPR optimises one
random pair at a time, i.e. AUC, and needs far more steps to order the head of the list), while
sampling keeps a step's cost independent of the catalogue size. Uniform negatives need no logQ
correction. `objective="rating"` is the explicit-rating variant (squared error on the ratings) for
data that has them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.lightning_loop import EpochLosses, fit_recommender
from training.recommender import UserIndex
from training.recsys_data import Interactions
from training.recsys_datamodule import PairsDataModule
from training.recsys_evaluator import EvalSet


@dataclass(frozen=True)
class MFConfig:
    dim: int = 64
    negatives: int = 512
    learning_rate: float = 0.005
    l2: float = 1e-4  # on the batch's embeddings
    batch_size: int = 1024
    max_epochs: int = 30
    patience: int = 3
    min_epochs: int = 1
    seed: int = 42
    objective: str = "sampled_softmax"  # or "rating"
    threads: int = 1  # torch threads while training (see training.lightning_loop.fit_module)


class MFNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        nn.init.normal_(self.users.weight, std=0.05)
        nn.init.normal_(self.items.weight, std=0.05)


class MFModule(EpochLosses):
    def __init__(self, net: MFNet, config: MFConfig) -> None:
        super().__init__()
        self.net, self.config = net, config

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        users, items, values = batch
        u, v = self.net.users(users), self.net.items(items)
        reg = self.config.l2 * (u.pow(2).sum() + v.pow(2).sum()) / len(users)
        if self.config.objective == "rating":
            loss = F.mse_loss((u * v).sum(1) + self.net.item_bias[items], values)
        else:
            loss = self._sampled_softmax(u, v, items)
        return self.record_loss(loss + reg)

    def _sampled_softmax(self, u: torch.Tensor, v: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        negatives = torch.randint(self.net.items.num_embeddings, (self.config.negatives,))
        bias = self.net.item_bias
        positive = (u * v).sum(1, keepdim=True) + bias[items, None]
        negative = u @ self.net.items(negatives).T + bias[negatives]
        negative = negative.masked_fill(negatives[None, :] == items[:, None], -torch.inf)  # accidental hits
        logits = torch.cat([positive, negative], dim=1)
        return F.cross_entropy(logits, torch.zeros(len(u), dtype=torch.long))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.learning_rate)


class MFRecommender:
    name = "mf"
    tunable = True

    def __init__(self, config: MFConfig | None = None) -> None:
        self.config = config or MFConfig()
        self.item_ids: list[str] = []
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None

    def fit(self, train: Interactions, valid: EvalSet | None = None, k: int = 10) -> MFRecommender:
        torch.manual_seed(self.config.seed)
        self.item_ids, self.users = list(train.item_ids), UserIndex(train)
        self.net = MFNet(len(train.user_ids), train.n_items, self.config.dim)
        data = PairsDataModule(train, self.config.batch_size, self.config.seed)
        fit_recommender(self, MFModule(self.net, self.config), data, valid, k)
        return self

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.user_factors(user_ids) @ self.item_factors().T

    def user_factors(self, user_ids: list[str]) -> torch.Tensor:
        """Scores are dot products (retention.scoring's fast path); unknown users get popularity."""
        rows, known = self.users.lookup(user_ids)
        with torch.no_grad():
            return self.users.user_factors(self.net.users(rows), known)

    def item_factors(self) -> torch.Tensor:
        with torch.no_grad():
            return self.users.item_factors(self.net.items.weight, self.net.item_bias)

    def refit_copy(self) -> MFRecommender:
        epochs = self.best_epoch or self.config.max_epochs
        return MFRecommender(dataclasses.replace(self.config, max_epochs=epochs, min_epochs=1, patience=0))

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
