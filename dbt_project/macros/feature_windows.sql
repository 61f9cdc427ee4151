{#
  The user features' window sums, defined once for both ways of computing them: from the per-day table at
  any cutoff (`user_features_as_of`, for the training snapshots) and as the nightly sliding-window state
  (`int_user_window_sums` + the recent days, for `user_features`).

  Each sum adds a per-day metric of int_user_daily_activity (`expr`) over the days whose age (cutoff date -
  activity_date, 1 = the day before the cutoff) lies in [lo, hi]. `money` sums are exact decimals.
#}
{% macro user_window_sums() %}
    {%- set sums = [] -%}
    {%- for w in [1, 7, 30, 90] -%}
        {%- for t in ["events", "views", "clicks", "carts", "purchases"] -%}
            {%- do sums.append({"name": t ~ "_" ~ w ~ "d", "expr": t, "lo": 1, "hi": w}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do sums.append({"name": "events_prev_30d", "expr": "events", "lo": 31, "hi": 60}) -%}
    {%- for w in [30, 90] -%}
        {%- do sums.append({"name": "purchase_value_" ~ w ~ "d", "expr": "purchase_value", "lo": 1, "hi": w,
                            "money": true}) -%}
        {%- do sums.append({"name": "active_days_" ~ w ~ "d", "expr": "1", "lo": 1, "hi": w}) -%}
    {%- endfor -%}
    {%- do sums.append({"name": "sessions_30d", "expr": "sessions", "lo": 1, "hi": 30}) -%}
    {%- do sums.append({"name": "session_seconds_30d", "expr": "session_seconds", "lo": 1, "hi": 30}) -%}
    {#- Weekly event counts of the last 4 weeks, week 1 = the oldest (ages 22-28) ... week 4 (ages 1-7). -#}
    {%- for k in range(1, 5) -%}
        {%- do sums.append({"name": "week_" ~ k ~ "_events", "expr": "events", "lo": 29 - 7 * k,
                            "hi": 35 - 7 * k}) -%}
    {%- endfor -%}
    {%- do sums.append({"name": "within_gap_sum_90d", "expr": "gap_seconds_sum", "lo": 1, "hi": 90}) -%}
    {%- do sums.append({"name": "within_gap_sq_sum_90d", "expr": "gap_seconds_sq_sum", "lo": 1, "hi": 90}) -%}
    {{ return(sums) }}
{% endmacro %}

{# The gaps between consecutive active days count over the last 90 days when both days are in them. #}
{% macro between_gap_days() %}{{ return(90) }}{% endmacro %}

{# Items new to the user in the last 30 days: the int_user_item_first_seen pairs whose first_date is in them. #}
{% macro novelty_days() %}{{ return(30) }}{% endmacro %}

{# sum(+value where `plus` holds, -value where `minus` holds), cast to `type` (bigint by default). #}
{% macro signed_sum(value, plus, minus="false", type=none) -%}
    {%- set type = type or api.Column.translate_type("bigint") -%}
    {{ dbt.cast("sum(case when " ~ plus ~ " then " ~ value ~ " when " ~ minus ~ " then -(" ~ value
                ~ ") else 0 end)", type) }}
{%- endmacro %}

{# A window sum `s` over the rows whose `age` is in [lo, hi] (s.lo, s.hi by default), or, with `minus_age`,
   plus the rows at age `lo` and minus those at `minus_age` (the days entering and leaving it). #}
{% macro window_sum(s, age="age", lo=none, hi=none, minus_age=none) -%}
    {%- set lo = s.lo if lo is none else lo -%}
    {%- set hi = s.hi if hi is none else hi -%}
    {%- set value = "cast(" ~ s.expr ~ " as decimal(18, 2))" if s.money else s.expr -%}
    {%- set type = "decimal(18, 2)" if s.money else none -%}
    {%- if minus_age is none -%}
        {{ signed_sum(value, age ~ " between " ~ lo ~ " and " ~ hi, type=type) }}
    {%- else -%}
        {{ signed_sum(value, age ~ " = " ~ lo, age ~ " = " ~ minus_age, type=type) }}
    {%- endif -%}
{%- endmacro %}

{# The between-day gap sums (seconds, squared) over the rows where `plus` holds, minus those where `minus`
   holds (columns gap_from_prev_seconds of int_user_daily_activity). #}
{% macro between_gap_sums(plus, minus="false") -%}
    {{ signed_sum("gap_from_prev_seconds", plus, minus) }} as between_gap_sum_90d,
    {{ signed_sum("gap_from_prev_seconds * gap_from_prev_seconds", plus, minus) }} as between_gap_sq_sum_90d
{%- endmacro %}
