"""Intervention lists: who gets personalised recommendations, a coupon, a care message, or nothing.

Rules, in order (the first that applies decides; `reason` says which):
1. a stable random share of users (`holdout_share`) is held out of every intervention, so that a later
   run can measure the real uplift against them;
2. low-risk users get nothing;
3. users contacted in the last `fatigue_days` get nothing (contact fatigue);
4. high-risk users who leave carts unpurchased get a coupon, highest risk first, within `coupon_budget`;
5. high-risk long-tenured users (>= 60 days) get a care message, highest risk first, within `care_budget`;
6. everyone else at risk gets a push of their personalised recommendations.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from retention.config import Interventions
from retention.sampling import stable_uniform

ARMS = ("recommendations", "coupon", "care_message", "none")
LONG_TENURE_DAYS = 60


def is_holdout(user_ids: pd.Series, rules: Interventions) -> np.ndarray:
    """Stable per user (same salt, same answer every night), so holdout users stay untreated."""
    return stable_uniform(user_ids, rules.salt) < rules.holdout_share


def _within_budget(candidates: pd.Series, probability: pd.Series, budget: int) -> pd.Series:
    """The `budget` highest-probability candidates (ties broken by user order)."""
    ranked = probability[candidates].sort_values(ascending=False, kind="stable")
    chosen = pd.Series(False, index=candidates.index)
    chosen[ranked.index[:budget]] = True
    return chosen


def assign_arms(
    scored: pd.DataFrame,
    recommendations: pd.DataFrame,
    recently_contacted: set[str],
    rules: Interventions,
    run_date: dt.date,
) -> pd.DataFrame:
    """`scored`: user_id, segment, churn_probability, carts_30d, purchases_30d, tenure_days.
    `recommendations`: user_id, rank, item_id. Returns the intervention list, one row per user."""
    frame = scored.sort_values("user_id", kind="stable").reset_index(drop=True)
    prob = frame["churn_probability"]
    holdout = pd.Series(is_holdout(frame["user_id"], rules), index=frame.index)
    low = frame["segment"] == "low"
    fatigued = frame["user_id"].isin(recently_contacted)
    open_ = ~holdout & ~low & ~fatigued
    high = open_ & (frame["segment"] == "high")
    coupon = _within_budget(high & (frame["carts_30d"] > frame["purchases_30d"]), prob, rules.coupon_budget)
    care = _within_budget(
        high & ~coupon & (frame["tenure_days"] >= LONG_TENURE_DAYS), prob, rules.care_budget
    )

    frame["arm"] = np.select([~open_, coupon, care], ["none", "coupon", "care_message"], "recommendations")
    frame["reason"] = np.select(
        [holdout, low, fatigued, coupon, care, high],
        [
            "holdout",
            "low risk",
            "contacted recently",
            "high risk, abandons carts",
            "high risk, long tenure",
            "high risk, budget or rule fell through to recommendations",
        ],
        "medium risk",
    )
    items = (
        recommendations.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].agg(list)
        if len(recommendations)
        else pd.Series(dtype=object)
    )
    wants_items = frame["arm"] == "recommendations"
    frame["recommended_item_ids"] = [
        items.get(user, []) if wanted else []
        for user, wanted in zip(frame["user_id"], wants_items, strict=True)
    ]
    frame["is_holdout"] = holdout
    frame["run_date"] = run_date
    columns = [
        "user_id",
        "run_date",
        "segment",
        "churn_probability",
        "arm",
        "reason",
        "recommended_item_ids",
        "is_holdout",
    ]
    return frame[columns]
