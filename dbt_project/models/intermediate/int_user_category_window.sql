{#
  Per user and item category, the events of the settled part of the last 90 days (what the top category
  and the category entropy add the recent days to): sliding-window state (macros/window_state.sql). A
  night rewrites the pairs with events on the day entering the settled part or the day leaving the window,
  keeping their previous count (prev_events) so that int_user_window_sums can count the change per user; a
  pair left with no events stays one more night for the same reason and goes at the next build.
#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key=["user_key", "category"],
    pre_hook=[
        "{{ window_state_reset() }}",
        "{% if is_incremental() %}delete from {{ this }} where events = 0{% endif %}",
    ],
) }}
{%- set mode = window_state_mode() -%}
{%- set settled = settled_days() -%}
{%- set window = 90 -%}

with days as (
    select *, {{ age_at_cutoff("activity_date") }} as age
    from {{ ref('int_user_category_daily') }}
    where activity_date < {{ days_before(feature_cutoff(), settled) }}
    {%- if mode == "rebuild" %}
      and activity_date >= {{ days_before(feature_cutoff(), window) }}
    {%- elif mode == "advance" %}
      and activity_date in ({{ dates_at_ages([settled + 1, window + 1]) }})
    {%- else %}
      and 1 = 0
    {%- endif %}
),

{%- if mode == "rebuild" %}

state as (
    select
        user_key,
        category,
        {{ dbt.cast("sum(events)", api.Column.translate_type("bigint")) }} as events,
        cast(null as {{ api.Column.translate_type("bigint") }}) as prev_events
    from days
    group by user_key, category
)

{%- else %}

delta as (
    select
        user_key,
        category,
        {{ signed_sum("events", "age = " ~ (settled + 1), "age = " ~ (window + 1)) }} as events
    from days
    group by user_key, category
),

state as (
    select d.user_key, d.category, coalesce(old.events, 0) + d.events as events, old.events as prev_events
    from delta as d
    left join {{ this }} as old on old.user_key = d.user_key and old.category = d.category
)

{%- endif %}

select
    cast({{ feature_cutoff() }} as date) as cutoff_date,
    {{ settled }} as settled_days,
    {{ "true" if mode == "rebuild" else "false" }} as rebuilt,
    *
from state
