"""LightningDataModules over `Interactions`: (user, item) pairs for MF, item sequences for SASRec."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from training.recsys_data import Interactions

PAD = 0  # sequence tensors hold item code + 1; 0 pads


class PairsDataModule(pl.LightningDataModule):
    """Every training interaction as (user row, item code, rating or event weight), shuffled per epoch."""

    def __init__(self, train: Interactions, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train, self.batch_size, self.seed = train, batch_size, seed

    def train_dataloader(self) -> DataLoader:
        values = (
            self.train.ordered["rating"].fillna(0).to_numpy(dtype=np.float32)
            if "rating" in self.train.ordered
            else self.train.weights()
        )
        dataset = TensorDataset(
            torch.from_numpy(self.train.user_codes).long(),
            torch.from_numpy(self.train.item_codes).long(),
            torch.from_numpy(values).float(),
        )
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, generator=generator)


def last_items(sequences: list[np.ndarray], max_len: int) -> torch.Tensor:
    """[users, max_len]: each user's last `max_len` items (code + 1), left-padded with PAD."""
    out = torch.full((len(sequences), max_len), PAD, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tail = seq[-max_len:] + 1
        if len(tail):
            out[row, max_len - len(tail) :] = torch.from_numpy(tail)
    return out


def next_item_windows(sequences: list[np.ndarray], max_len: int, all_windows: bool) -> TensorDataset:
    """(inputs, targets) windows: targets are the inputs shifted by one. A user's last window ends at
    their last item; with `all_windows`, earlier windows cover the rest of a long history (targets do
    not overlap)."""
    inputs, targets = [], []
    for seq in sequences:
        end = len(seq)
        while end >= 2:
            start = max(0, end - max_len - 1)
            inputs.append(seq[start : end - 1])
            targets.append(seq[start + 1 : end])
            end = start + 1 if all_windows else 0
    return TensorDataset(last_items(inputs, max_len), last_items(targets, max_len))


class SequenceDataModule(pl.LightningDataModule):
    def __init__(self, train: Interactions, max_len: int, batch_size: int, seed: int, all_windows: bool):
        super().__init__()
        self.dataset = next_item_windows(train.sequences(), max_len, all_windows)
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True, generator=generator)
