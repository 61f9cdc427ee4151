{#
  Per user and item with events in the settled part of the last 30 days: the last such day, and the
  latest cart and purchase timestamps since (what distinct items and cart abandonment add the recent days
  to): sliding-window state (macros/window_state.sql). A night rewrites the pairs with events on the day
  entering the settled part, keeping their previous values (prev_*), so that int_user_window_sums can count
  the change per user; a pair whose last day left the window stays one more night for the same reason
  (last_date = the window's start - 1) and goes at the next build.

  last_cart_ts / last_purchase_ts are maxima over the pair's settled days since its row was written,
  possibly older than the window: a timestamp is in the window iff it is at or after the window's start
  (every event in the window is later than every event before it).
#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key=["user_key", "item_key"],
    pre_hook=[
        "{{ window_state_reset() }}",
        "{% if is_incremental() %}delete from {{ this }} where last_date < {{ days_before(feature_cutoff(), 31) }}{% endif %}",
    ],
) }}
{%- set mode = window_state_mode() -%}
{%- set settled = settled_days() -%}
{%- set window = 30 -%}

with days as (
    select *
    from {{ ref('int_user_item_daily') }}
    where activity_date < {{ days_before(feature_cutoff(), settled) }}
    {%- if mode == "rebuild" %}
      and activity_date >= {{ days_before(feature_cutoff(), window) }}
    {%- elif mode == "advance" %}
      and activity_date = {{ days_before(feature_cutoff(), settled + 1) }}
    {%- else %}
      and 1 = 0
    {%- endif %}
),

pairs as (
    select
        user_key,
        item_key,
        max(activity_date) as last_date,
        max(last_cart_ts) as last_cart_ts,
        max(last_purchase_ts) as last_purchase_ts
    from days
    group by user_key, item_key
),

state as (
    select
        p.user_key,
        p.item_key,
        p.last_date,
        {%- if mode == "rebuild" %}
        p.last_cart_ts,
        p.last_purchase_ts,
        cast(null as date) as prev_last_date,
        cast(null as timestamp) as prev_last_cart_ts,
        cast(null as timestamp) as prev_last_purchase_ts
    from pairs as p
        {%- else %}
        greatest(old.last_cart_ts, p.last_cart_ts) as last_cart_ts,
        greatest(old.last_purchase_ts, p.last_purchase_ts) as last_purchase_ts,
        old.last_date as prev_last_date,
        old.last_cart_ts as prev_last_cart_ts,
        old.last_purchase_ts as prev_last_purchase_ts
    from pairs as p
    left join {{ this }} as old on old.user_key = p.user_key and old.item_key = p.item_key
        {%- endif %}
)

select
    cast({{ feature_cutoff() }} as date) as cutoff_date,
    {{ settled }} as settled_days,
    {{ "true" if mode == "rebuild" else "false" }} as rebuilt,
    *
from state
{%- if mode == "rebuild" %}
-- In last_date order (nightly rows are appended in it too): the pairs that leave the window each night
-- are then the oldest row groups, which DuckDB drops cheaply instead of compacting every row group.
order by last_date
{%- endif %}
