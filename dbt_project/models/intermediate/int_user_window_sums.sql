{#
  Per user, the settled part of every window sum of the user features (macros/feature_windows.sql) and of
  the between-day gaps, the user's first, last and last purchase timestamps over the settled days, and
  their item and category statistics over the settled parts of the 30- and 90-day windows (from the
  int_user_item_window and int_user_category_window states): sliding-window state
  (macros/window_state.sql). One row per user with a settled active day; a night rewrites only the users
  active on a day that enters or leaves a window (the only users whose item or category states change).
#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key="user_id",
    pre_hook=["{{ window_state_reset() }}"],
) }}
{%- set mode = window_state_mode() -%}
{%- set settled = settled_days() -%}
{%- set gap_days = between_gap_days() -%}
{%- set sums = user_window_sums() | selectattr("hi", "gt", settled) | list -%}
{#- Advancing reads the day entering the settled part and, per sum, the days entering and leaving it. -#}
{%- set moving_ages = [settled + 1] -%}
{%- for s in sums -%}
    {%- do moving_ages.extend([[s.lo, settled + 1] | max, s.hi + 1]) -%}
{%- endfor %}

with days as (
    select
        *,
        {{ age_at_cutoff("activity_date") }} as age,
        {{ age_at_cutoff("prev_activity_date") }} as prev_age
    from {{ ref('int_user_daily_activity') }}
    where activity_date < {{ days_before(feature_cutoff(), settled) }}
    {%- if mode == "advance" %}
      -- the days that move, and those whose previous active day leaves the between-gap window
      and (
          activity_date in ({{ dates_at_ages(moving_ages) }})
          or prev_activity_date = {{ days_before(feature_cutoff(), gap_days + 1) }}
      )
    {%- endif %}
),

-- Pairs first seen in the settled part of the novelty window (advance: on the days entering and leaving it).
novel as (
    select
        user_id,
        {%- if mode == "rebuild" %}
        count(*) as novel_items_30d
        {%- else %}
        {{ signed_sum("1", "first_date = " ~ days_before(feature_cutoff(), settled + 1),
                      "first_date = " ~ days_before(feature_cutoff(), novelty_days() + 1)) }} as novel_items_30d
        {%- endif %}
    from {{ ref('int_user_item_first_seen') }}
    where first_date < {{ days_before(feature_cutoff(), settled) }}
    {%- if mode == "rebuild" %}
      and first_date >= {{ days_before(feature_cutoff(), novelty_days()) }}
    {%- else %}
      and first_date in ({{ dates_at_ages([settled + 1, novelty_days() + 1]) }})
    {%- endif %}
    group by user_id
),

{%- if mode == "rebuild" %}

settled_sums as (
    select
        user_id,
        min(first_ts) as first_ts,
        max(last_ts) as last_ts,
        max(last_purchase_ts) as last_purchase_ts,
        {%- for s in sums %}
        {{ window_sum(s, lo=[s.lo, settled + 1] | max) }} as {{ s.name }},
        {%- endfor %}
        {{ between_gap_sums("prev_age <= " ~ gap_days) }}
    from days
    group by user_id
),

state as (
    select s.*, coalesce(n.novel_items_30d, 0) as novel_items_30d
    from settled_sums as s
    left join novel as n on n.user_id = s.user_id
)

{%- else %}

delta as (
    select
        user_id,
        min(case when age = {{ settled + 1 }} then first_ts end) as first_ts,
        max(case when age = {{ settled + 1 }} then last_ts end) as last_ts,
        max(case when age = {{ settled + 1 }} then last_purchase_ts end) as last_purchase_ts,
        {%- for s in sums %}
        {{ window_sum(s, lo=[s.lo, settled + 1] | max, minus_age=s.hi + 1) }} as {{ s.name }},
        {%- endfor %}
        {{ between_gap_sums(
            "age = " ~ (settled + 1) ~ " and prev_age <= " ~ gap_days,
            "prev_age = " ~ (gap_days + 1) ~ " and age > " ~ (settled + 1)
        ) }}
    from days
    {%- if mode == "same" %}
    where 1 = 0
    {%- endif %}
    group by user_id
),

state as (
    select
        d.user_id,
        least(old.first_ts, d.first_ts) as first_ts,
        greatest(old.last_ts, d.last_ts) as last_ts,
        greatest(old.last_purchase_ts, d.last_purchase_ts) as last_purchase_ts,
        {%- for s in sums + [{"name": "between_gap_sum_90d"}, {"name": "between_gap_sq_sum_90d"}] %}
        {%- set type = "decimal(18, 2)" if s.money else api.Column.translate_type("bigint") %}
        {{ dbt.cast("coalesce(old." ~ s.name ~ ", 0) + d." ~ s.name, type) }} as {{ s.name }},
        {%- endfor %}
        {{ dbt.cast("coalesce(old.novel_items_30d, 0) + coalesce(n.novel_items_30d, 0)",
                    api.Column.translate_type("bigint")) }} as novel_items_30d
    from delta as d
    left join {{ this }} as old on old.user_id = d.user_id
    left join novel as n on n.user_id = d.user_id
)

{%- endif %},

-- The users written now: their item and category statistics over the (already updated) settled windows.
user_items as (
    select
        user_id,
        item_id,
        case when last_cart_ts >= {{ dbt.dateadd("day", -30, feature_cutoff()) }} then last_cart_ts end
            as last_cart_ts_30d,
        case when last_purchase_ts >= {{ dbt.dateadd("day", -30, feature_cutoff()) }} then last_purchase_ts end
            as last_purchase_ts_30d
    from {{ ref('int_user_item_window') }}
    where user_id in (select user_id from state)
),

categories as (
    select user_id, category, events
    from {{ ref('int_user_category_window') }}
    where user_id in (select user_id from state)
),

item_stats as (
    {{ item_stats_of("user_items") }}
),

category_stats as (
    {{ category_stats_of("categories") }}
)

select
    cast({{ feature_cutoff() }} as date) as cutoff_date,
    {{ settled }} as settled_days,
    s.*,
    i.distinct_items_30d,
    i.carted_items_30d,
    i.abandoned_items_30d,
    c.events as category_events_90d,
    c.sum_c_ln_c as category_sum_c_ln_c_90d,
    c.top_category as top_category_90d,
    c.top_events as top_category_events_90d
from state as s
left join item_stats as i on i.user_id = s.user_id
left join category_stats as c on c.user_id = s.user_id
