import datetime as dt

import numpy as np
import pandas as pd

from retention.config import Interventions
from retention.interventions import assign_arms

RUN = dt.date(2026, 8, 1)


def scored_users(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "segment": np.where(prob >= 0.5, "high", np.where(prob >= 0.2, "medium", "low")),
            "churn_probability": prob,
            "carts_30d": rng.integers(0, 4, n),
            "purchases_30d": rng.integers(0, 3, n),
            "tenure_days": rng.integers(0, 400, n),
        }
    )


def recs_for(users: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.repeat(users.to_numpy(), 3),
            "rank": np.tile([1, 2, 3], len(users)),
            "item_id": np.tile(["i1", "i2", "i3"], len(users)),
        }
    )


def test_every_user_gets_exactly_one_row_and_a_known_arm():
    users = scored_users(2000)
    out = assign_arms(users, recs_for(users["user_id"]), set(), Interventions(), RUN)
    assert len(out) == 2000 and out["user_id"].is_unique
    assert set(out["arm"]) <= {"recommendations", "coupon", "care_message", "none"}
    assert (out["run_date"] == RUN).all()


def test_holdout_is_stable_untreated_and_near_the_configured_share():
    users = scored_users(5000)
    rules = Interventions(holdout_share=0.1)
    first = assign_arms(users, recs_for(users["user_id"]), set(), rules, RUN)
    again = assign_arms(users.sample(frac=1, random_state=1), recs_for(users["user_id"]), set(), rules, RUN)
    assert abs(first["is_holdout"].mean() - 0.1) < 0.02
    assert (first.loc[first["is_holdout"], "arm"] == "none").all()
    assert first.set_index("user_id")["is_holdout"].equals(again.set_index("user_id")["is_holdout"])


def test_budgets_go_to_the_highest_risk_first_and_low_risk_is_left_alone():
    users = scored_users(5000)
    rules = Interventions(coupon_budget=50, care_budget=30)
    out = assign_arms(users, recs_for(users["user_id"]), set(), rules, RUN)
    coupons = out[out["arm"] == "coupon"]
    assert len(coupons) == 50 and len(out[out["arm"] == "care_message"]) == 30
    eligible = out[(out["segment"] == "high") & ~out["is_holdout"]].merge(users, on="user_id")
    eligible = eligible[eligible["carts_30d"] > eligible["purchases_30d"]]
    assert coupons["churn_probability"].min() >= eligible["churn_probability_x"].nlargest(50).min()
    assert (out.loc[out["segment"] == "low", "arm"] == "none").all()


def test_recently_contacted_users_are_not_contacted_again():
    users = scored_users(300)
    contacted = set(users["user_id"][:100])
    out = assign_arms(users, recs_for(users["user_id"]), contacted, Interventions(), RUN)
    assert (out[out["user_id"].isin(contacted)]["arm"] == "none").all()


def test_recommendation_arm_carries_the_users_items_in_rank_order():
    users = scored_users(200)
    out = assign_arms(users, recs_for(users["user_id"]), set(), Interventions(), RUN)
    pushed = out[out["arm"] == "recommendations"]
    assert len(pushed) > 0
    assert all(list(items) == ["i1", "i2", "i3"] for items in pushed["recommended_item_ids"])
    assert all(len(items) == 0 for items in out[out["arm"] != "recommendations"]["recommended_item_ids"])
