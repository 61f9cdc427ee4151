"""The one interface every churn model implements, and the registry of models by name.

A churn model is fitted on training rows (one per user x cutoff, with the label column `churned`), then
calibrated on held-out rows, and predicts a calibrated churn probability per row. Models are saved and
loaded through MLflow (`training.tracking.log_model` / `load_version`: pyfunc + cloudpickle).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Protocol

import numpy as np
import pandas as pd

from training.calibration import Calibrator, Method

LABEL = "churned"
# name -> "module:class" (imported on use: the sequence model pulls in torch and Lightning).
CHURN_MODELS = {
    "logistic": "training.churn_logistic:LogisticChurnModel",
    "gbdt": "training.churn_gbdt:GbdtChurnModel",
    "bgnbd": "training.churn_bgnbd:BgnbdChurnModel",
    "sequence": "training.churn_sequence:SequenceChurnModel",
}


class ChurnModel(Protocol):
    name: str

    def fit(self, train: pd.DataFrame, calibration: pd.DataFrame | None = None) -> ChurnModel: ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


class CalibratedChurnModel:
    """Base class: subclasses implement `_fit_raw` and `_raw_proba`; calibration is shared."""

    name = "base"
    calibration_method: Method = "platt"

    def fit(self, train: pd.DataFrame, calibration: pd.DataFrame | None = None) -> CalibratedChurnModel:
        """Fit on `train`; calibrate on `calibration` (rows the model never saw) when given."""
        self._fit_raw(train)
        return self._calibrate(calibration)

    def _calibrate(self, calibration: pd.DataFrame | None) -> CalibratedChurnModel:
        if calibration is None or calibration.empty:
            self.calibrator = Calibrator("none").fit(np.zeros(1), np.zeros(1))
        else:
            raw = self._raw_proba(calibration)
            self.calibrator = Calibrator(self.calibration_method).fit(raw, calibration[LABEL].to_numpy())
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row of `frame`."""
        raw = self._raw_proba(frame)
        calibrator = getattr(self, "calibrator", None)  # absent in models pickled before calibration
        return raw if calibrator is None else calibrator.transform(raw)

    def _fit_raw(self, train: pd.DataFrame) -> None:
        raise NotImplementedError

    def _raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError


def build_churn_model(name: str, **config: Any) -> ChurnModel:
    """A new, unfitted model by name; `config` overrides fields of its config dataclass."""
    if name not in CHURN_MODELS:
        raise ValueError(f"unknown churn model '{name}' (available: {', '.join(CHURN_MODELS)})")
    module, cls_name = CHURN_MODELS[name].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(cls.config_class(**config)) if config else cls()


def churn_model_for(name: str, horizon_days: int) -> ChurnModel:
    """A new model by name, predicting churn over `horizon_days` where its config has that setting."""
    module, cls_name = CHURN_MODELS[name].split(":") if name in CHURN_MODELS else ("", "")
    if not module:
        return build_churn_model(name)
    cls = getattr(importlib.import_module(module), cls_name)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    return build_churn_model(name, **({"horizon_days": horizon_days} if "horizon_days" in fields else {}))


def numeric_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The columns as a float matrix (missing values stay NaN)."""
    return frame[columns].astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
