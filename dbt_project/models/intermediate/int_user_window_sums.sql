{#
  Per user, the settled part of every window sum of the user features (macros/feature_windows.sql) and of
  the between-day gaps, the user's first, last and last purchase timestamps over the settled days, and
  their item and category statistics over the settled parts of the 30- and 90-day windows (kept in the
  int_user_item_window and int_user_category_window states): sliding-window state
  (macros/window_state.sql). One row per user with a settled active day; a night rewrites only the users
  active on a day that enters or leaves a window, and changes their item and category statistics by the
  pairs those states rewrote (or that left the window) tonight.
#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key="user_id",
    pre_hook=["{{ window_state_reset(user_state_mode()) }}"],
) }}
{%- set mode = user_state_mode() -%}
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
        user_key,
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
    group by user_key
),

{%- if mode == "rebuild" %}

settled_sums as (
    select
        user_id,
        user_key,
        min(first_ts) as first_ts,
        max(last_ts) as last_ts,
        max(last_purchase_ts) as last_purchase_ts,
        {%- for s in sums %}
        {{ window_sum(s, lo=[s.lo, settled + 1] | max) }} as {{ s.name }},
        {%- endfor %}
        {{ between_gap_sums("prev_age <= " ~ gap_days) }}
    from days
    group by user_id, user_key
),

state as (
    select s.*, coalesce(n.novel_items_30d, 0) as novel_items_30d
    from settled_sums as s
    left join novel as n on n.user_key = s.user_key
)

{%- else %}

delta as (
    select
        user_id,
        user_key,
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
    group by user_id, user_key
),

state as (
    select
        d.user_id,
        d.user_key,
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
    left join novel as n on n.user_key = d.user_key
)

{%- endif %},

{%- set ws = dbt.dateadd("day", -30, feature_cutoff()) -%}
{%- set ws_before = dbt.dateadd("day", -31, feature_cutoff()) -%}

{%- if mode == "rebuild" %}

-- The item and category statistics of every user from the (rebuilt) states.
user_items as (
    select
        user_key,
        item_key,
        case when last_cart_ts >= {{ ws }} then last_cart_ts end as last_cart_ts_30d,
        case when last_purchase_ts >= {{ ws }} then last_purchase_ts end as last_purchase_ts_30d
    from {{ ref('int_user_item_window') }}
    where last_date >= cast({{ ws }} as date)
),

item_stats as (
    {{ item_stats_of("user_items") }}
),

categories as (
    select user_key, category, events from {{ ref('int_user_category_window') }} where events > 0
),

category_stats as (
    {{ category_stats_of("categories") }}
)

{%- else %}

-- The pairs whose window status can change tonight: those the item state rewrote (entering the settled
-- part; prev_* hold their values before) and those with a day leaving the window (unchanged values).
item_changes as (
    select
        user_key,
        prev_last_date as old_last,
        prev_last_cart_ts as old_cart,
        prev_last_purchase_ts as old_purchase,
        last_date as new_last,
        last_cart_ts as new_cart,
        last_purchase_ts as new_purchase
    from {{ ref('int_user_item_window') }}
    where cutoff_date = cast({{ feature_cutoff() }} as date)
    union all
    select user_key, last_date, last_cart_ts, last_purchase_ts, last_date, last_cart_ts, last_purchase_ts
    from {{ ref('int_user_item_window') }}
    where cutoff_date < cast({{ feature_cutoff() }} as date)
      and (last_date = cast({{ ws_before }} as date)
           or (last_cart_ts >= {{ ws_before }} and last_cart_ts < {{ ws }})
           or (last_purchase_ts >= {{ ws_before }} and last_purchase_ts < {{ ws }}))
),

item_deltas as (
    select
        user_key,
        count(case when new_last >= cast({{ ws }} as date) then 1 end)
            - count(case when old_last >= cast({{ ws_before }} as date) then 1 end) as distinct_items_30d,
        count(case when new_cart >= {{ ws }} then 1 end)
            - count(case when old_cart >= {{ ws_before }} then 1 end) as carted_items_30d,
        count(case when {{ abandoned(in_window("new_cart", ws), in_window("new_purchase", ws)) }} then 1 end)
            - count(case when {{ abandoned(in_window("old_cart", ws_before), in_window("old_purchase", ws_before)) }}
                    then 1 end) as abandoned_items_30d
    from item_changes
    group by user_key
),

item_stats as (
    select
        d.user_key,
        {%- for column in ["distinct_items_30d", "carted_items_30d", "abandoned_items_30d"] %}
        coalesce(old.{{ column }}, 0) + d.{{ column }} as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from item_deltas as d
    left join {{ this }} as old on old.user_key = d.user_key
),

-- The (user, category) counts the category state rewrote tonight (prev_events: the count before).
category_changes as (
    select user_key, category, coalesce(prev_events, 0) as old_events, events as new_events
    from {{ ref('int_user_category_window') }}
    where cutoff_date = cast({{ feature_cutoff() }} as date)
),

category_deltas as (
    select
        user_key,
        sum(new_events - old_events) as events,
        sum(case when new_events > 0 then {{ count_log_count("new_events") }} else 0 end)
            - sum(case when old_events > 0 then {{ count_log_count("old_events") }} else 0 end) as sum_c_ln_c
    from category_changes
    group by user_key
),

-- The top category: among the changed categories and the previous top, unless the previous top lost
-- events (then any category may have overtaken it: all of the user's categories compete).
top_lost as (
    select distinct c.user_key
    from category_changes as c
    inner join {{ this }} as old on old.user_key = c.user_key and old.top_category_90d = c.category
    where c.new_events < c.old_events
),

top_candidates as (
    select user_key, category, new_events as events
    from category_changes
    where new_events > 0 and user_key not in (select user_key from top_lost)
    union all
    select user_key, top_category_90d, top_category_events_90d
    from {{ this }}
    where top_category_90d is not null
      and user_key in (select user_key from category_changes)
      and user_key not in (select user_key from top_lost)
    union all
    select user_key, category, events
    from {{ ref('int_user_category_window') }}
    where events > 0 and user_key in (select user_key from top_lost)
),

tops as (
    {{ top_category_of("top_candidates") }}
),

category_stats as (
    select
        d.user_key,
        coalesce(old.category_events_90d, 0) + d.events as events,
        coalesce(old.category_sum_c_ln_c_90d, 0) + d.sum_c_ln_c as sum_c_ln_c,
        t.top_category,
        t.top_events
    from category_deltas as d
    left join {{ this }} as old on old.user_key = d.user_key
    left join tops as t on t.user_key = d.user_key
)

{%- endif %}

select
    cast({{ feature_cutoff() }} as date) as cutoff_date,
    {{ settled }} as settled_days,
    s.*,
    {%- set carried = {"distinct_items_30d": "i.distinct_items_30d", "carted_items_30d": "i.carted_items_30d",
                       "abandoned_items_30d": "i.abandoned_items_30d"} %}
    {%- for column, value in carried.items() %}
    {{ value if mode == "rebuild" else "coalesce(" ~ value ~ ", old." ~ column ~ ")" }} as {{ column }},
    {%- endfor %}
    -- no events in any category: no category statistics (as for a user without categories)
    {%- set categories_known = "c.user_key is not null" %}
    {%- if mode == "rebuild" %}
    c.events as category_events_90d,
    c.sum_c_ln_c as category_sum_c_ln_c_90d,
    c.top_category as top_category_90d,
    c.top_events as top_category_events_90d
    {%- else %}
    case when {{ categories_known }} then nullif(c.events, 0) else old.category_events_90d end
        as category_events_90d,
    case when {{ categories_known }} then case when c.events > 0 then c.sum_c_ln_c end
         else old.category_sum_c_ln_c_90d end as category_sum_c_ln_c_90d,
    case when {{ categories_known }} then c.top_category else old.top_category_90d end as top_category_90d,
    case when {{ categories_known }} then c.top_events else old.top_category_events_90d end
        as top_category_events_90d
    {%- endif %}
from state as s
left join item_stats as i on i.user_key = s.user_key
left join category_stats as c on c.user_key = s.user_key
{%- if mode != "rebuild" %}
left join {{ this }} as old on old.user_id = s.user_id
{%- endif %}
