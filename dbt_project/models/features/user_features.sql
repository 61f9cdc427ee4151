{#
  Behavioural features of the active users at the run's cutoff: what the churn model scores.

  The same columns as user_features_as_of(cutoff) (macros/user_features_as_of.sql), computed from the
  sliding-window state (macros/window_state.sql): the settled part of each window from the state tables,
  the recent days (the last reprocess_days before the cutoff) from the per-day tables. So the night reads
  the state and a few days, not 90 days of per-day rows. Equal to the as-of computation (tested).
#}
{%- set settled = settled_days() -%}
{%- set gap_days = between_gap_days() -%}
{%- set sums = user_window_sums() -%}

with recent_days as (
    select
        *,
        {{ age_at_cutoff("activity_date") }} as age,
        {{ age_at_cutoff("prev_activity_date") }} as prev_age
    from {{ ref('int_user_daily_activity') }}
    where activity_date < cast({{ feature_cutoff() }} as date)
      and activity_date >= {{ days_before(feature_cutoff(), settled) }}
),

recent as (
    select
        user_id,
        min(first_ts) as first_ts,
        max(last_ts) as last_ts,
        max(last_purchase_ts) as last_purchase_ts,
        {%- for s in sums if s.lo <= settled %}
        {{ window_sum(s, hi=[s.hi, settled] | min) }} as {{ s.name }},
        {%- endfor %}
        {{ between_gap_sums("prev_age <= " ~ gap_days) }}
    from recent_days
    group by user_id
),

per_user as (
    select
        coalesce(s.user_id, r.user_id) as user_id,
        greatest(s.last_ts, r.last_ts) as last_event_ts,
        greatest(s.last_purchase_ts, r.last_purchase_ts) as last_purchase_ts,
        least(s.first_ts, r.first_ts) as first_event_ts,
        {%- for s in sums %}
        {%- set parts = (["s." ~ s.name] if s.hi > settled else []) + (["r." ~ s.name] if s.lo <= settled else []) %}
        {% for part in parts %}coalesce({{ part }}, 0){% if not loop.last %} + {% endif %}{% endfor %} as {{ s.name }},
        {%- endfor %}
        coalesce(s.between_gap_sum_90d, 0) + coalesce(r.between_gap_sum_90d, 0) as between_gap_sum_90d,
        coalesce(s.between_gap_sq_sum_90d, 0) + coalesce(r.between_gap_sq_sum_90d, 0) as between_gap_sq_sum_90d
    from {{ ref('int_user_window_sums') }} as s
    full outer join recent as r on r.user_id = s.user_id
),

novel_items as (
    select
        coalesce(s.user_id, r.user_id) as user_id,
        coalesce(s.novel_items_30d, 0) + coalesce(r.novel_items_30d, 0) as novel_items_30d
    from {{ ref('int_user_window_sums') }} as s
    full outer join (
        select user_id, count(*) as novel_items_30d
        from {{ ref('int_user_item_first_seen') }}
        where first_date < cast({{ feature_cutoff() }} as date)
          and first_date >= {{ days_before(feature_cutoff(), settled) }}
        group by user_id
    ) as r on r.user_id = s.user_id
),

-- Item and category statistics: the settled ones from the state for the users with no recent events; for
-- the others, recomputed from their settled pairs (int_user_item_window, int_user_category_window) and the
-- recent days.
recent_items as (
    select user_id, item_id, max(last_cart_ts) as last_cart_ts, max(last_purchase_ts) as last_purchase_ts
    from {{ ref('int_user_item_daily') }}
    where activity_date < cast({{ feature_cutoff() }} as date)
      and activity_date >= {{ days_before(feature_cutoff(), settled) }}
    group by user_id, item_id
),

user_items as (
    select
        coalesce(s.user_id, r.user_id) as user_id,
        coalesce(s.item_id, r.item_id) as item_id,
        greatest(
            case when s.last_cart_ts >= {{ dbt.dateadd("day", -30, feature_cutoff()) }} then s.last_cart_ts end,
            r.last_cart_ts
        ) as last_cart_ts_30d,
        greatest(
            case when s.last_purchase_ts >= {{ dbt.dateadd("day", -30, feature_cutoff()) }} then s.last_purchase_ts end,
            r.last_purchase_ts
        ) as last_purchase_ts_30d
    from (
        select * from {{ ref('int_user_item_window') }} where user_id in (select user_id from recent)
    ) as s
    full outer join recent_items as r on r.user_id = s.user_id and r.item_id = s.item_id
),

categories as (
    select user_id, category, sum(events) as events
    from (
        select user_id, category, events
        from {{ ref('int_user_category_window') }}
        where user_id in (select user_id from recent)
        union all
        select user_id, category, events
        from {{ ref('int_user_category_daily') }}
        where activity_date < cast({{ feature_cutoff() }} as date)
          and activity_date >= {{ days_before(feature_cutoff(), settled) }}
    ) as parts
    group by user_id, category
),

item_stats as (
    {{ item_stats_of("user_items") }}
    union all
    select user_id, distinct_items_30d, carted_items_30d, abandoned_items_30d
    from {{ ref('int_user_window_sums') }}
    where distinct_items_30d is not null and user_id not in (select user_id from recent)
),

category_stats as (
    {{ category_stats_of("categories") }}
    union all
    select user_id, category_events_90d, category_sum_c_ln_c_90d, top_category_90d
    from {{ ref('int_user_window_sums') }}
    where category_events_90d is not null and user_id not in (select user_id from recent)
),

{{ user_features_select(feature_cutoff()) }}
