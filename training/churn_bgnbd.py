"""The BG/NBD model of customer-base analysis (Fader, Hardie & Lee 2005), fitted by maximum likelihood
with scipy: while alive a user transacts as a Poisson process (rate λ ~ Gamma(r, α)); after each
transaction they drop out with probability p ~ Beta(a, b).

A "transaction" is an active day (a day with any event): the churn label is "no event in the horizon",
so P(churn) = P(no transaction in (T, T + H]) = 1 - P(alive) + P(alive) · ((α+T)/(α+T+H))^(r+x).

Inputs per user at the cutoff, in weeks: x = repeat active days, t_x = time of the last one and T = age,
both since the first event. With lifetime columns (`active_days_total`, `days_since_first_event`) they are
exact; from `features.user_features` alone they are approximated over the last 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from training.calibration import Method
from training.churn_model import CalibratedChurnModel

WINDOW_DAYS = 90  # the longest window of features.user_features


@dataclass(frozen=True)
class BgnbdConfig:
    horizon_days: int = 30
    penalizer: float = 0.0  # L2 on the log-parameters, for tiny data sets
    calibration: Method = "platt"


@dataclass(frozen=True)
class BgnbdParams:
    r: float
    alpha: float
    a: float
    b: float


def rfm_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks from a feature frame."""
    recency = frame["days_since_last_event"].to_numpy(dtype=float)
    if {"active_days_total", "days_since_first_event"} <= set(frame.columns):
        age = frame["days_since_first_event"].to_numpy(dtype=float)
        active = frame["active_days_total"].to_numpy(dtype=float)
    else:
        age = np.minimum(frame["tenure_days"].to_numpy(dtype=float), WINDOW_DAYS)
        active = frame["active_days_90d"].to_numpy(dtype=float)
    age = np.maximum(age, recency)
    x = np.maximum(active - 1, 0)
    return x, np.where(x > 0, age - recency, 0.0) / 7, age / 7


def log_likelihood(params: BgnbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each user's log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        dropped = betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    dropped = np.where(x > 0, dropped, -np.inf)
    return head + np.logaddexp(alive, dropped)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, penalizer: float = 0.0) -> BgnbdParams:
    """Maximum-likelihood (r, α, a, b); identical (x, t_x, T) rows are counted once, with weights."""
    unique, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, ut, uT = unique.T

    def loss(log_params: np.ndarray) -> float:
        ll = log_likelihood(BgnbdParams(*np.exp(log_params)), ux, ut, uT)
        return -float(weights @ ll) / weights.sum() + penalizer * float(log_params @ log_params)

    result = minimize(loss, np.zeros(4), method="L-BFGS-B", bounds=[(-10, 10)] * 4)
    return BgnbdParams(*np.exp(result.x))


def probability_alive(params: BgnbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(invalid="ignore", divide="ignore"):
        odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return 1 / (1 + np.where(x > 0, odds, 0.0))


def probability_no_transaction(
    params: BgnbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weeks: float
) -> np.ndarray:
    """P(no transaction in (T, T + weeks]): dead, or alive with no purchase (a Gamma-Poisson zero)."""
    alive = probability_alive(params, x, t_x, T)
    silent = ((params.alpha + T) / (params.alpha + T + weeks)) ** (params.r + x)
    return 1 - alive + alive * silent


def expected_transactions(
    params: BgnbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weeks: float
) -> np.ndarray:
    """E[transactions in (T, T + weeks]] (Fader, Hardie & Lee 2005, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = weeks / (alpha + T + weeks)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + weeks)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        tail = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * body / tail


class BgnbdChurnModel(CalibratedChurnModel):
    name = "bgnbd"
    config_class = BgnbdConfig

    def __init__(self, config: BgnbdConfig | None = None) -> None:
        self.config = config or BgnbdConfig()
        self.calibration_method = self.config.calibration
        self.params: BgnbdParams | None = None

    def _fit_raw(self, train: pd.DataFrame) -> None:
        # No label needed: BG/NBD is fitted on the behaviour before each cutoff alone.
        self.params = fit_bgnbd(*rfm_inputs(train), penalizer=self.config.penalizer)

    def _raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.params is None:
            raise RuntimeError("BgnbdChurnModel.predict_proba called before fit")
        weeks = self.config.horizon_days / 7
        return probability_no_transaction(self.params, *rfm_inputs(frame), weeks)
