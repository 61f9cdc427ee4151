"""Fitting a recommender's LightningModule: deterministic, CPU, early stopping on validation NDCG."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

VAL_METRIC = "val_ndcg"
log = logging.getLogger(__name__)


class EpochLosses(pl.LightningModule):
    """A LightningModule that averages its training losses per epoch (`epoch_loss()`)."""

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_steps = 0.0, 0

    def record_loss(self, loss: torch.Tensor) -> torch.Tensor:
        self._loss_sum += float(loss.detach())
        self._loss_steps += 1
        return loss

    def epoch_loss(self) -> float:
        return self._loss_sum / self._loss_steps if self._loss_steps else math.nan


class RankingValidation(Callback):
    """After every training epoch: the validation NDCG (by the shared evaluator), logged for early
    stopping and kept, with the training loss, in `history`."""

    def __init__(self, validate: Callable[[], float] | None, min_epochs: int = 1) -> None:
        self.validate, self.min_epochs = validate, min_epochs
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: EpochLosses) -> None:
        row = {"epoch": float(trainer.current_epoch + 1), "train_loss": pl_module.epoch_loss()}
        if self.validate is not None:
            pl_module.eval()
            row[VAL_METRIC] = float(self.validate())
            pl_module.train()
            if row["epoch"] >= self.min_epochs:  # EarlyStopping (strict=False) waits for the first one
                pl_module.log(VAL_METRIC, row[VAL_METRIC])
        self.history.append(row)
        log.info("%s epoch %d: %s", type(pl_module).__name__, row["epoch"], row)

    def best_epoch(self) -> int | None:
        scored = [r for r in self.history if VAL_METRIC in r and r["epoch"] >= self.min_epochs]
        return int(max(scored, key=lambda r: (r[VAL_METRIC], -r["epoch"]))["epoch"]) if scored else None


def fit_module(
    module: EpochLosses,
    datamodule: pl.LightningDataModule,
    max_epochs: int,
    patience: int,
    seed: int,
    validate: Callable[[], float] | None = None,
    threads: int = 1,
    min_epochs: int = 1,
) -> RankingValidation:
    """Train for up to `max_epochs`, stopping after `patience` epochs without a better validation NDCG.

    `min_epochs`: neither stop nor choose an epoch before it (early validation scores are noise on small
    validation sets: P2's tuning split picked epoch 1 of a randomly initialised SASRec).
    `threads`: torch's intra-op threads while training. One is the default because on a shared machine
    (other jobs on the same cores) two OpenMP threads spin at their barriers and ran 2-10x slower here.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _fit(module, datamodule, max_epochs, patience, seed, validate, min_epochs)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(
    module: EpochLosses,
    datamodule: pl.LightningDataModule,
    max_epochs: int,
    patience: int,
    seed: int,
    validate: Callable[[], float] | None,
    min_epochs: int,
) -> RankingValidation:
    pl.seed_everything(seed, workers=True, verbose=False)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no accelerator banner per fit
    validation = RankingValidation(validate, min_epochs)
    callbacks: list[Callback] = [validation]
    if validate is not None and patience > 0:
        callbacks.append(
            EarlyStopping(
                VAL_METRIC, mode="max", patience=patience, strict=False, check_on_train_epoch_end=True
            )
        )
    trainer = quiet_trainer(
        max_epochs=max_epochs, min_epochs=min(min_epochs, max_epochs), callbacks=callbacks, deterministic=True
    )
    trainer.fit(module, datamodule=datamodule)
    return validation


def quiet_trainer(**settings: Any) -> pl.Trainer:
    """A Lightning Trainer on one CPU device that writes nothing: no logger, checkpoints, progress bar,
    model summary or sanity validation (metrics go to MLflow through our own code)."""
    defaults = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    return pl.Trainer(**{**defaults, **settings})


def fit_recommender(
    model: Any, module: EpochLosses, datamodule: pl.LightningDataModule, valid: Any, k: int
) -> None:
    """Fit `module` (the network `model.net` of a recommender whose `config` has max_epochs, patience,
    seed, threads and min_epochs), stopping early on `model`'s NDCG@k on `valid` (an EvalSet, or None:
    no validation); keeps the per-epoch history and the best epoch on `model`."""
    from training.recsys_evaluator import evaluate  # it scores through the model, which imports this module

    cfg = model.config
    validate = (lambda: evaluate(model, valid, k).metrics[f"NDCG@{k}"]) if valid else None
    result = fit_module(
        module, datamodule, cfg.max_epochs, cfg.patience, cfg.seed, validate, cfg.threads, cfg.min_epochs
    )
    model.history, model.best_epoch = result.history, result.best_epoch()
    model.net.eval()
