"""A sequence churn model (Lightning): a GRU over each user's last events (item, event type, gap to the
previous event, age at the cutoff) joined with the behavioural features the GBDT reads.

Input columns (as in `features.user_sequences`, oldest -> newest): `item_ids`, `event_types`,
`gap_seconds` (one fewer than the events), plus `cutoff_date` and `last_ts` when present (else the age of
the last event is `days_since_last_event`). Items are hashed into a fixed number of buckets, so items
first seen after training still map to an embedding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from training.calibration import Method
from training.churn_gbdt import CANDIDATE_FEATURES
from training.churn_model import LABEL, CalibratedChurnModel, numeric_matrix
from training.lightning_loop import quiet_trainer

EVENT_TYPE_IDS = {"view": 1, "click": 2, "add_to_cart": 3, "purchase": 4}
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class SequenceConfig:
    sequence_length: int = 50
    item_buckets: int = 4096
    item_dim: int = 8
    type_dim: int = 4
    hidden: int = 32
    epochs: int = 8  # at most: training stops when the held-out loss has not improved for `patience`
    patience: int = 1
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Left out of the static input: columns whose range grows with the length of the history. The net
    # would extrapolate them into ranges never seen in training (trees do not); measured: +0.005 AUC.
    skip: tuple[str, ...] = (
        "tenure_days",
        "days_since_first_event",
        "events_total",
        "active_days_total",
        "purchases_total",
        "purchase_value_total",
        "active_days_per_week",
    )
    # One thread: small recurrent steps gain nothing from more, and lose a lot on a busy machine.
    threads: int = 1
    calibration: Method = "platt"


@dataclass
class SequenceBatch:
    items: torch.Tensor  # [n, L] bucket ids, 0 = padding (sequences are left-padded)
    types: torch.Tensor  # [n, L] event type ids, 0 = padding
    times: torch.Tensor  # [n, L, 2] log1p(hours since the previous event), log1p(hours before the cutoff)
    static: torch.Tensor  # [n, features] standardised signed log1p of the GBDT's features


class SequenceNet(nn.Module):
    def __init__(self, c: SequenceConfig, n_static: int) -> None:
        super().__init__()
        self.items = nn.Embedding(c.item_buckets + 1, c.item_dim, padding_idx=0)
        self.types = nn.Embedding(len(EVENT_TYPE_IDS) + 1, c.type_dim, padding_idx=0)
        self.gru = nn.GRU(c.item_dim + c.type_dim + 2, c.hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(c.hidden + n_static, 32), nn.ReLU(), nn.Linear(32, 1))
        # A linear path on the features: the net starts from (at least) a logistic regression.
        self.linear = nn.Linear(n_static, 1)

    def forward(self, items, types, times, static) -> torch.Tensor:
        steps = torch.cat([self.items(items), self.types(types), times], dim=-1)
        _, hidden = self.gru(steps)
        joint = self.head(torch.cat([hidden[-1], static], dim=-1))
        return (joint + self.linear(static)).squeeze(-1)


class _Trainer(pl.LightningModule):
    def __init__(self, net: SequenceNet, c: SequenceConfig) -> None:
        super().__init__()
        self.net, self.c = net, c
        self.loss = nn.BCEWithLogitsLoss()

    def training_step(self, batch, _index):
        *inputs, label = batch
        return self.loss(self.net(*inputs), label)

    def validation_step(self, batch, _index):
        *inputs, label = batch
        self.log("val_loss", self.loss(self.net(*inputs), label), batch_size=len(label))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.c.learning_rate, weight_decay=self.c.weight_decay)


class _KeepBest(pl.Callback):
    """Keeps the weights of the epoch with the lowest held-out loss."""

    def __init__(self) -> None:
        self.loss, self.state = float("inf"), {}

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        loss = float(trainer.callback_metrics["val_loss"])
        if loss < self.loss:
            self.loss = loss
            self.state = {k: v.detach().clone() for k, v in module.net.state_dict().items()}


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SequenceChurnModel(CalibratedChurnModel):
    name = "sequence"
    config_class = SequenceConfig

    def __init__(self, config: SequenceConfig | None = None) -> None:
        self.config = config or SequenceConfig()
        self.calibration_method = self.config.calibration
        self.net: SequenceNet | None = None
        self.static_features: list[str] = []
        self.static_mean = np.zeros(0)
        self.static_std = np.ones(0)

    def fit(self, train: pd.DataFrame, calibration: pd.DataFrame | None = None) -> SequenceChurnModel:
        """Fit on `train`, stopping early on `calibration` (when given), then calibrate on it."""
        with torch_threads(self.config.threads):
            self._train(train, calibration)
        self._calibrate(calibration)
        return self

    def _train(self, train: pd.DataFrame, held_out: pd.DataFrame | None) -> None:
        torch.manual_seed(self.config.seed)
        self.static_features = [
            f for f in CANDIDATE_FEATURES if f in train.columns and f not in self.config.skip
        ]
        static = self._log_static(train)
        std = static.std(axis=0)
        # A column constant in training (e.g. a window longer than the history) must not blow up later.
        self.static_mean, self.static_std = static.mean(axis=0), np.where(std > 1e-6, std, 1.0)
        generator = torch.Generator().manual_seed(self.config.seed)
        loader = DataLoader(self._dataset(train), self.config.batch_size, shuffle=True, generator=generator)
        self.net = SequenceNet(self.config, len(self.static_features))
        has_held_out = held_out is not None and not held_out.empty
        best = _KeepBest()
        stop = EarlyStopping("val_loss", patience=self.config.patience)
        trainer = quiet_trainer(max_epochs=self.config.epochs, callbacks=[best, stop] if has_held_out else [])
        if has_held_out:
            held_out_loader = DataLoader(self._dataset(held_out), batch_size=4096)
            trainer.fit(_Trainer(self.net, self.config), loader, held_out_loader)
            self.net.load_state_dict(best.state)
        else:
            trainer.fit(_Trainer(self.net, self.config), loader)

    def _dataset(self, frame: pd.DataFrame) -> TensorDataset:
        batch = self._tensors(frame)
        label = torch.tensor(frame[LABEL].to_numpy(), dtype=torch.float32)
        return TensorDataset(batch.items, batch.types, batch.times, batch.static, label)

    def _raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("SequenceChurnModel.predict_proba called before fit")
        batch = self._tensors(frame)
        self.net.eval()
        out = []
        with torch.no_grad(), torch_threads(self.config.threads):
            for start in range(0, len(frame), 4096):
                part = slice(start, start + 4096)
                logits = self.net(batch.items[part], batch.types[part], batch.times[part], batch.static[part])
                out.append(torch.sigmoid(logits))
        return torch.cat(out).numpy().astype(float) if out else np.zeros(0)

    def _log_static(self, frame: pd.DataFrame) -> np.ndarray:
        values = np.nan_to_num(numeric_matrix(frame, self.static_features))
        return np.sign(values) * np.log1p(np.abs(values))

    def _tensors(self, frame: pd.DataFrame) -> SequenceBatch:
        static = (self._log_static(frame) - self.static_mean) / self.static_std
        items, types, times = sequence_arrays(frame, self.config)
        return SequenceBatch(
            torch.from_numpy(items),
            torch.from_numpy(types),
            torch.from_numpy(times),
            torch.tensor(static, dtype=torch.float32),
        )


def _last_event_age_seconds(frame: pd.DataFrame) -> np.ndarray:
    if {"cutoff_date", "last_ts"} <= set(frame.columns):
        cutoff = pd.to_datetime(frame["cutoff_date"]).astype("datetime64[us]")
        last = pd.to_datetime(frame["last_ts"]).astype("datetime64[us]")
        return ((cutoff - last).dt.total_seconds()).fillna(0).to_numpy(dtype=float)
    return frame["days_since_last_event"].to_numpy(dtype=float) * 86_400


def _flat(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """All rows' list values concatenated, and each row's length (missing lists count as empty)."""
    lists = [v if isinstance(v, (list, np.ndarray)) else [] for v in column]
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    flat = np.concatenate([np.asarray(v, dtype=object) for v in lists]) if lengths.sum() else np.array([])
    return flat, lengths


def sequence_arrays(frame: pd.DataFrame, c: SequenceConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left-padded [n, L] item buckets and event types, and [n, L, 2] log-hours (gap, age at cutoff)."""
    n, L = len(frame), c.sequence_length
    items = np.zeros((n, L), dtype=np.int64)
    types = np.zeros((n, L), dtype=np.int64)
    times = np.zeros((n, L, 2), dtype=np.float32)
    flat_items, lengths = _flat(frame["item_ids"])
    if lengths.sum() == 0:
        return items, types, times
    flat_types, _ = _flat(frame["event_types"])
    flat_gaps, gap_lengths = _flat(frame["gap_seconds"])
    row = np.repeat(np.arange(n), lengths)
    ends = np.cumsum(lengths)
    position = np.arange(len(row)) - np.repeat(ends - lengths, lengths)  # index within the row's list
    # Gaps: one fewer than events; the first event of each row gets gap 0.
    gaps = np.zeros(len(row))
    has_gap = position > 0
    if gap_lengths.sum() != has_gap.sum():
        raise ValueError("gap_seconds must hold one gap fewer than item_ids in every row")
    gaps[has_gap] = flat_gaps.astype(float)
    # Age of event j at the cutoff: the last event's age + the gaps after j (a suffix sum per row).
    total = np.cumsum(gaps)
    after = total[np.repeat(ends - 1, lengths)] - total
    ages = np.repeat(_last_event_age_seconds(frame), lengths) + after
    keep = position >= np.repeat(lengths - np.minimum(lengths, L), lengths)
    column = L - np.repeat(lengths, lengths) + position
    r, col = row[keep], column[keep]
    hashed = pd.util.hash_array(flat_items[keep].astype(str).astype(object)) % np.uint64(c.item_buckets)
    items[r, col] = hashed.astype(np.int64) + 1
    types[r, col] = pd.Series(flat_types[keep]).map(EVENT_TYPE_IDS).fillna(0).to_numpy(dtype=np.int64)
    times[r, col, 0] = np.log1p(gaps[keep] / SECONDS_PER_HOUR)
    times[r, col, 1] = np.log1p(np.maximum(ages[keep], 0) / SECONDS_PER_HOUR)
    return items, types, times
