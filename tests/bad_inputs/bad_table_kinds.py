"""Bad features and bad outputs: what the later gates (validate_features, validate_outputs) must stop or
warn about. Each kind is SQL run on a copy of the published warehouse (features.user_features, or the
run's staging schema rebuilt from the published marts) plus, where a rule is the point, a changed config.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableKind:
    gate: str  # validate_features | validate_outputs
    sql: str  # {stage} is the staging schema of the run
    outcome: str  # stop | warn
    words: tuple[str, ...]
    config: dict[str, dict] = field(default_factory=dict)  # section -> values to change
    next_day: bool = False  # validate as the next night (yesterday's list is then in marts: fatigue)


FIRST_USER = "(select min(user_id) from {table})"

TABLE_KINDS: dict[str, TableKind] = {
    "feature drift far beyond the error threshold": TableKind(
        "validate_features",
        "update features.user_features set events_30d = events_30d * 5 + 20",
        "stop",
        ("feature_drift", "'psi'", "'feature': 'events_30d'"),
    ),
    "moderate feature drift": TableKind(
        "validate_features",
        "update features.user_features set days_since_last_event = days_since_last_event + 1 "
        "where hash(user_id) % 10 < 3",
        "warn",
        ("feature_drift", "days_since_last_event"),
        config={"quality": {"drift_psi_warn": 0.01}},
    ),
    "negative recency": TableKind(
        "validate_features",
        "update features.user_features set days_since_last_event = -3 where user_id in "
        + FIRST_USER.format(table="features.user_features"),
        "stop",
        ("user_features", "'days_since_last_event'", "'user_id': 'u"),
    ),
    "share outside [0, 1]": TableKind(
        "validate_features",
        "update features.user_features set cart_abandonment_30d = 1.5 where user_id in "
        + FIRST_USER.format(table="features.user_features"),
        "stop",
        ("user_features", "'cart_abandonment_30d'"),
    ),
    "features for far fewer users than last night": TableKind(
        "validate_features",
        "delete from features.user_features where hash(user_id) % 10 < 7",
        "stop",
        ("user_features", "expect_table_row_count_to_be_between", "observed"),
    ),
    "probability above 1": TableKind(
        "validate_outputs",
        "update {stage}.churn_scores set churn_probability = 1.5 where user_id in "
        + FIRST_USER.format(table="{stage}.churn_scores"),
        "stop",
        ("churn_scores", "'churn_probability'", "1.5"),
    ),
    "two segments for one user": TableKind(
        "validate_outputs",
        "insert into {stage}.risk_segments select * from {stage}.risk_segments limit 1",
        "stop",
        ("risk_segments", "expect_column_values_to_be_unique", "'user_id'"),
    ),
    "an already-seen item recommended": TableKind(
        "validate_outputs",
        """update {stage}.user_recommendations r set item_id = s.item_id
        from (select user_id, min(item_id) as item_id from staging.stg_events group by 1) s
        where r.user_id = s.user_id and r.rank = 1""",
        "stop",
        ("user_recommendations", "'already_seen'"),
    ),
    "a holdout user treated": TableKind(
        "validate_outputs",
        "update {stage}.intervention_list set arm = 'coupon' where user_id in "
        "(select min(user_id) from {stage}.intervention_list where is_holdout)",
        "stop",
        ("intervention_list", "'breaks_holdout'"),
    ),
    "more coupons than the budget": TableKind(
        "validate_outputs",
        "update {stage}.intervention_list set arm = 'coupon' where user_id in "
        "(select user_id from {stage}.intervention_list where not is_holdout order by user_id limit 3)",
        "stop",
        ("intervention_list", "'over_budget'"),
        config={"interventions": {"coupon_budget": 2}},
    ),
    "users contacted again within the fatigue window": TableKind(
        "validate_outputs", "select 1", "stop", ("intervention_list", "'breaks_fatigue'"), next_day=True
    ),
}
