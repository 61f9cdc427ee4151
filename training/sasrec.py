"""SASRec in Lightning: causal self-attention over each user's item sequence, next-item prediction with a
full softmax over the catalogue (tied input/output item embeddings), early stopping on validation NDCG.

Architecture as in Kang & McAuley (2018): item + learned positional embeddings, dropout, pre-LayerNorm
blocks of single-head causal attention and a point-wise feed-forward net, a final LayerNorm. The user's
representation is the output at their last position.

Item text tower (`item_text=True`, `training.item_text`): an item's vector is its id embedding plus a
learned linear projection of its frozen title embedding (all-MiniLM-L6-v2, 384 dims): the sentence
encoder is the pre-training, this model's training the fine-tuning of the projection. Items without
training interactions have no id embedding of their own (theirs stays zero and untrained) and are left
out of the training softmax; they are scored by their title plus the mean id embedding of the rarely
seen items (trained items with at most the median interaction count): an item nobody has interacted
with yet is taken for one that few have. A zero id part instead put untrained items in 44 % of the top-20
slots on P2's validation split (where 33 % of the truth is such items) and cost NDCG@20 (0.047 against
0.065 with the prior; 0.056 for SASRec without text). That covers items of the catalogue nobody
interacted with yet and brand-new items added after the fit (`add_items`). `id_dropout` drops the id
part of a random share of items at each step, so the title path learns to rank on its own (DropoutNet).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.item_text import ENCODER, ItemTitles
from training.lightning_loop import EpochLosses, fit_recommender
from training.recommender import UserIndex
from training.recsys_data import Interactions
from training.recsys_datamodule import PAD, SequenceDataModule, last_items
from training.recsys_evaluator import EvalSet


@dataclass(frozen=True)
class SASRecConfig:
    hidden: int = 128  # P1 validation NDCG@10: 0.0628 (epoch 11) against 0.0556 with 64
    blocks: int = 2
    heads: int = 1
    max_len: int = 50
    dropout: float = 0.2
    learning_rate: float = 0.002
    batch_size: int = 16  # small batches: more updates for the same (softmax-bound) compute
    max_epochs: int = 30
    patience: int = 5
    min_epochs: int = 5
    seed: int = 42
    # Also train on the earlier windows of histories longer than max_len (P1 validation NDCG@10 0.0556
    # at epoch 12 against 0.0432 with only each user's last window).
    all_windows: bool = True
    # The catalogue-wide logits matmul dominates training; bf16 (AMX on recent Xeons) halves its time.
    bf16_logits: bool = True
    threads: int = 1  # torch threads while training (see training.lightning_loop.fit_module)
    item_text: bool = False  # fuse frozen title embeddings into the item vectors (see the module doc)
    # With item_text: share of items whose id part is dropped at each step. On a cold validation split
    # (MovieLens, 10 % more items held out inside the cold training data, 10 epochs, before the rare-item
    # prior) NDCG@20 over all candidates fell from 0.019 (0) to 0.005 (0.25) and 0.0025 (0.5), while among
    # new items only it rose from 0.072 to 0.104 and 0.101: the nightly ranks all items, so 0.
    id_dropout: float = 0.0


class SASRecNet(nn.Module):
    """`text` [n_items, 384] and `counts` [n_items] (training interactions per item) turn on the text
    tower; without them the item vectors are the id embeddings alone."""

    def __init__(
        self,
        n_items: int,
        config: SASRecConfig,
        text: torch.Tensor | None = None,
        counts: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.hidden, self.id_dropout = config.hidden, config.id_dropout
        self.items = nn.Embedding(n_items + 1, config.hidden, padding_idx=PAD)
        self.positions = nn.Embedding(config.max_len, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.hidden,
            config.heads,
            dim_feedforward=config.hidden,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, config.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden)
        causal = torch.triu(torch.ones(config.max_len, config.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        nn.init.normal_(self.items.weight, std=0.05)
        self.register_buffer("text", None)
        self.register_buffer("has_id", None)
        self.register_buffer("rare", None)
        if text is not None and counts is not None:
            trained = counts > 0
            self.text = F.pad(text.float(), (0, 0, 1, 0))  # row PAD: zeros
            self.has_id = F.pad(trained.float(), (1, 0))
            median = counts[trained].median() if trained.any() else 0
            self.rare = F.pad((trained & (counts <= median)).float(), (1, 0))
            self.project = nn.Linear(text.shape[1], config.hidden, bias=False)
            with torch.no_grad():
                self.items.weight.mul_(self.has_id[:, None])

    def item_table(self) -> torch.Tensor:
        """[n_items + 1, hidden] item vectors (row PAD is zero)."""
        if self.text is None:
            return self.items.weight
        ids, keep = self.items.weight, self.has_id
        if self.training and self.id_dropout > 0:
            keep = keep * (torch.rand_like(keep) >= self.id_dropout)
        prior = (ids * self.rare[:, None]).sum(0).detach() / self.rare.sum().clamp(min=1)
        fill = 1 - keep
        fill[PAD] = 0
        return ids * keep[:, None] + fill[:, None] * prior + self.project(self.text)

    def add_items(self, text: torch.Tensor) -> None:
        """Append items without interactions (the rare-item prior as id part), known by their titles."""
        assert self.text is not None, "only a model with the text tower can add items"
        grown = torch.cat([self.items.weight.detach(), torch.zeros(len(text), self.hidden)])
        self.items = nn.Embedding.from_pretrained(grown, freeze=False, padding_idx=PAD)
        self.text = torch.cat([self.text, text.float()])
        self.has_id = torch.cat([self.has_id, torch.zeros(len(text))])
        self.rare = torch.cat([self.rare, torch.zeros(len(text))])

    def encode(self, sequences: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """[batch, max_len] item codes + 1 (left-padded) -> [batch, max_len, hidden]."""
        table = self.item_table() if table is None else table
        x = F.embedding(sequences, table, padding_idx=PAD) * math.sqrt(self.hidden) + self.positions.weight
        # Padding stays zero so it carries nothing into later positions (keys are not masked: with left
        # padding and a causal mask, a fully masked row would give NaN).
        x = self.dropout(x) * (sequences != PAD).unsqueeze(-1)
        return self.norm(self.blocks(x, mask=self.causal, is_causal=True))

    def logits(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        logits = states @ table[1:].T
        if self.text is not None:  # items nobody interacted with are no training targets (nor negatives)
            logits = logits.masked_fill(self.has_id[1:] == 0, -torch.inf)
        return logits


class SASRecModule(EpochLosses):
    def __init__(self, net: SASRecNet, config: SASRecConfig) -> None:
        super().__init__()
        self.net, self.config = net, config

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        table = self.net.item_table()  # one id-dropout draw for the inputs and the softmax
        states = self.net.encode(inputs, table)
        real = targets != PAD  # the softmax only runs where there is a next item
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16_logits):
            logits = self.net.logits(states[real], table)
        loss = F.cross_entropy(logits.float(), targets[real] - 1)
        return self.record_loss(loss)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.learning_rate, betas=(0.9, 0.98))


class SASRecRecommender:
    """`titles` (raw item id -> title, and the embedding cache) are required with `config.item_text`."""

    name = "sasrec"
    tunable = True

    def __init__(self, config: SASRecConfig | None = None, titles: ItemTitles | None = None) -> None:
        self.config = config or SASRecConfig()
        if self.config.item_text and titles is None:
            raise ValueError("SASRec with item_text needs the items' titles")
        self.titles = titles if self.config.item_text else None
        self.name = "sasrec_text" if self.config.item_text else "sasrec"
        self.item_ids: list[str] = []
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None

    def fit(self, train: Interactions, valid: EvalSet | None = None, k: int = 10) -> SASRecRecommender:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.item_ids, self.users = list(train.item_ids), UserIndex(train)
        self.recent = last_items(train.sequences(), cfg.max_len)
        if self.titles is None:
            self.net = SASRecNet(train.n_items, cfg)
        else:
            counts = torch.from_numpy(np.bincount(train.item_codes, minlength=train.n_items))
            self.net = SASRecNet(train.n_items, cfg, self.titles.vectors(self.item_ids), counts)
        data = SequenceDataModule(train, cfg.max_len, cfg.batch_size, cfg.seed, cfg.all_windows)
        fit_recommender(self, SASRecModule(self.net, cfg), data, valid, k)
        return self

    def score(self, user_ids: list[str]) -> torch.Tensor:
        return self.user_factors(user_ids) @ self.item_factors().T

    def user_factors(self, user_ids: list[str]) -> torch.Tensor:
        """The state at each user's last position (scores are dot products with the item embeddings,
        retention.scoring's fast path); unknown users get popularity."""
        rows, known = self.users.lookup(user_ids)
        with torch.no_grad():
            return self.users.user_factors(self.net.encode(self.recent[rows])[:, -1], known)

    def item_factors(self) -> torch.Tensor:
        with torch.no_grad():
            return self.users.item_factors(self.net.item_table()[1:])

    def add_items(self, titles: Mapping[str, str]) -> list[str]:
        """Grow the catalogue by brand-new items (ids not in `item_ids`, appended in the given order), scored
        by their titles alone until a retrained model has their interactions; returns the ids added."""
        if self.titles is None:
            raise ValueError("only SASRec with item_text can score items it was not trained with")
        known = set(self.item_ids)
        new = [item_id for item_id in titles if item_id not in known]
        if new:
            self.titles = self.titles.with_titles(titles)
            self.net.add_items(self.titles.vectors(new))
            self.users.fallback = torch.cat([self.users.fallback, torch.zeros(len(new))])
            self.item_ids = self.item_ids + new
        return new

    def refit_copy(self) -> SASRecRecommender:
        epochs = self.best_epoch or self.config.max_epochs
        config = dataclasses.replace(self.config, max_epochs=epochs, min_epochs=1, patience=0)
        return SASRecRecommender(config, self.titles)

    def params(self) -> dict[str, Any]:
        text = {"text_encoder": ENCODER} if self.config.item_text else {}
        return dataclasses.asdict(self.config) | text
