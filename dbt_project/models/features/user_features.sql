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
{%- set window_start = dbt.dateadd("day", -30, feature_cutoff()) -%}

with recent_days as (
    select
        *,
        {{ age_at_cutoff("activity_date") }} as age,
        {{ age_at_cutoff("prev_activity_date") }} as prev_age
    from {{ ref('int_user_daily_activity') }}
    where {{ in_recent_days('activity_date') }}
),

recent as (
    select
        user_id,
        user_key,
        min(first_ts) as first_ts,
        max(last_ts) as last_ts,
        max(last_purchase_ts) as last_purchase_ts,
        {%- for s in sums if s.lo <= settled %}
        {{ window_sum(s, hi=[s.hi, settled] | min) }} as {{ s.name }},
        {%- endfor %}
        {{ between_gap_sums("prev_age <= " ~ gap_days) }}
    from recent_days
    group by user_id, user_key
),

per_user as (
    select
        coalesce(s.user_id, r.user_id) as user_id,
        coalesce(s.user_key, r.user_key) as user_key,
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
        coalesce(s.user_key, r.user_key) as user_key,
        coalesce(s.novel_items_30d, 0) + coalesce(r.novel_items_30d, 0) as novel_items_30d
    from {{ ref('int_user_window_sums') }} as s
    full outer join (
        select user_key, count(*) as novel_items_30d
        from {{ ref('int_user_item_first_seen') }}
        where {{ in_recent_days('first_date') }}
        group by user_key
    ) as r on r.user_key = s.user_key
),

-- Item and category statistics: the settled ones (int_user_window_sums), changed by the recent days'
-- (user, item) and (user, category) rows, each looked up in the settled state.
recent_items as (
    select user_key, item_key, max(last_cart_ts) as last_cart_ts, max(last_purchase_ts) as last_purchase_ts
    from {{ ref('int_user_item_daily') }}
    where {{ in_recent_days('activity_date') }}
    group by user_key, item_key
),

item_changes as (
    select
        r.user_key,
        s.item_key is null as new_pair,
        s.last_cart_ts_30d as settled_cart,
        s.last_purchase_ts_30d as settled_purchase,
        greatest(s.last_cart_ts_30d, r.last_cart_ts) as cart,
        greatest(s.last_purchase_ts_30d, r.last_purchase_ts) as purchase
    from recent_items as r
    left join (
        select
            user_key,
            item_key,
            {{ in_window("last_cart_ts", window_start) }} as last_cart_ts_30d,
            {{ in_window("last_purchase_ts", window_start) }} as last_purchase_ts_30d
        from {{ ref('int_user_item_window') }}
        where last_date >= cast({{ window_start }} as date)
          -- only the recent pairs' rows (a semi-join from the small side: the state is the big one)
          and (user_key, item_key) in (select user_key, item_key from recent_items)
    ) as s on s.user_key = r.user_key and s.item_key = r.item_key
),

item_deltas as (
    select
        user_key,
        count(case when new_pair then 1 end) as distinct_items_30d,
        count(cart) - count(settled_cart) as carted_items_30d,
        count(case when {{ abandoned("cart", "purchase") }} then 1 end)
            - count(case when {{ abandoned("settled_cart", "settled_purchase") }} then 1 end) as abandoned_items_30d
    from item_changes
    group by user_key
),

item_stats as (
    select
        coalesce(s.user_key, d.user_key) as user_key,
        {%- for column in ["distinct_items_30d", "carted_items_30d", "abandoned_items_30d"] %}
        coalesce(s.{{ column }}, 0) + coalesce(d.{{ column }}, 0) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_user_window_sums') }} as s
    full outer join item_deltas as d on d.user_key = s.user_key
),

recent_categories as (
    select user_key, category, sum(events) as events
    from {{ ref('int_user_category_daily') }}
    where {{ in_recent_days('activity_date') }}
    group by user_key, category
),

category_changes as (
    select
        r.user_key,
        r.category,
        coalesce(s.events, 0) as settled_events,
        coalesce(s.events, 0) + r.events as events
    from recent_categories as r
    left join (
        select * from {{ ref('int_user_category_window') }}
        where (user_key, category) in (select user_key, category from recent_categories)
    ) as s on s.user_key = r.user_key and s.category = r.category
),

category_deltas as (
    select
        user_key,
        sum(events - settled_events) as events,
        sum({{ count_log_count("events") }})
            - sum(case when settled_events > 0 then {{ count_log_count("settled_events") }} else 0 end) as sum_c_ln_c
    from category_changes
    group by user_key
),

-- Counts only grow here, so the new top category is the settled one or a changed one.
top_candidates as (
    select user_key, category, events from category_changes
    union all
    select user_key, top_category_90d, top_category_events_90d
    from {{ ref('int_user_window_sums') }}
    where top_category_90d is not null and user_key in (select user_key from category_deltas)
),

new_tops as (
    {{ top_category_of("top_candidates") }}
),

category_stats as (
    select
        coalesce(s.user_key, d.user_key) as user_key,
        coalesce(s.category_events_90d, 0) + coalesce(d.events, 0) as events,
        coalesce(s.category_sum_c_ln_c_90d, 0) + coalesce(d.sum_c_ln_c, 0) as sum_c_ln_c,
        coalesce(t.top_category, s.top_category_90d) as top_category
    from {{ ref('int_user_window_sums') }} as s
    full outer join category_deltas as d on d.user_key = s.user_key
    left join new_tops as t on t.user_key = coalesce(s.user_key, d.user_key)
    where coalesce(s.category_events_90d, 0) + coalesce(d.events, 0) > 0
),

{{ user_features_select(feature_cutoff()) }}
