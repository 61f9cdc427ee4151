-- One row per user per active day (activity_date = UTC date of ts), from events strictly before the cutoff.
--
-- Sessions: events of a user on a day, in time order, split wherever two consecutive events are more than
-- 30 minutes apart. Sessions are computed within a day, so a session crossing midnight counts as two (one
-- per day). session_seconds = sum of the sessions' durations (last - first event) = the sum of the
-- within-day gaps of at most 30 minutes. Gaps are whole seconds (datediff 'second').
-- gap_seconds_sum / gap_seconds_sq_sum: the within-day gaps between consecutive events (events - 1 of them);
-- prev_activity_date / gap_from_prev_seconds: the user's previous active day and the gap from its last
-- event to this day's first, so inter-event statistics over any window of days are exact.
-- distinct_categories / distinct_items are the row count and item count of the per-day category table
-- (far cheaper than count(distinct ...) over the events). Every column is a per-day quantity that window
-- sums add up (macros/feature_windows.sql). Incremental by day (see macros/incremental.sql).
--
-- The within-day gaps come from each day's sorted event times (macros/lists.sql), the previous day from a
-- window over the days: one window over every event of a user made this model 1.35x slower at 10 M events.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

with days as (
    select
        user_id,
        user_key,
        cast(ts as date) as activity_date,
        count(*) as events,
        count(case when event_type = 'view' then 1 end) as views,
        count(case when event_type = 'click' then 1 end) as clicks,
        count(case when event_type = 'add_to_cart' then 1 end) as carts,
        count(case when event_type = 'purchase' then 1 end) as purchases,
        -- The value of the day's events (purchase amounts; other event types carry 0), summed as decimals.
        {{ money_sum("value") }} as purchase_value,
        min(ts) as first_ts,
        max(ts) as last_ts,
        max(case when event_type = 'purchase' then ts end) as last_purchase_ts,
        {{ sorted_seconds("ts") }} as seconds
    from {{ ref('stg_events') }}
    where {{ incremental_ts_filter('ts', 'activity_date') }}
    group by user_id, user_key, cast(ts as date)
),

day_gaps as (
    select *, {{ list_gaps("seconds") }} as gaps
    from days
),

day_stats as (
    select
        *,
        1 + {{ list_count_where("gaps", "g", "g > 1800") }} as sessions,
        {{ dbt.cast("coalesce(" ~ list_sum_where("gaps", "g", "g", "g <= 1800") ~ ", 0)",
                    api.Column.translate_type("bigint")) }} as session_seconds,
        -- The gaps' sum telescopes: last - first, in whole seconds.
        {{ dbt.datediff("first_ts", "last_ts", "second") }} as gap_seconds_sum,
        {{ dbt.cast("coalesce(" ~ list_sum_where("gaps", "g", "g * g") ~ ", 0)",
                    api.Column.translate_type("bigint")) }} as gap_seconds_sq_sum
    from day_gaps
),

{%- if is_incremental() %}

-- Each user's last day already in the table (all before the rebuilt days): the previous day of their first
-- rebuilt one.
built as (
    select t.user_id, t.activity_date, t.last_ts
    from {{ this }} as t
    inner join (
        select user_id, max(activity_date) as activity_date
        from {{ this }}
        where user_id in (select user_id from days)
        group by user_id
    ) as latest on latest.user_id = t.user_id and latest.activity_date = t.activity_date
),
{%- endif %}

categories as (
    select
        user_key,
        activity_date,
        count(*) as distinct_categories,
        {{ dbt.cast("sum(items)", api.Column.translate_type("bigint")) }} as distinct_items
    from {{ ref('int_user_category_daily') }}
    where {{ incremental_date_filter('activity_date') }}
    group by user_key, activity_date
)

{#- The previous active day and its last event: the window over the rebuilt days, else (a user's first
    rebuilt day) their last day already in the table. -#}
{%- set previous = "over (partition by a.user_id order by a.activity_date)" -%}
{%- set prev_date = "lag(a.activity_date) " ~ previous -%}
{%- set prev_ts = "lag(a.last_ts) " ~ previous -%}
{%- if is_incremental() -%}
    {%- set prev_date = "coalesce(" ~ prev_date ~ ", b.activity_date)" -%}
    {%- set prev_ts = "coalesce(" ~ prev_ts ~ ", b.last_ts)" -%}
{%- endif %}

select
    a.user_id,
    a.user_key,
    a.activity_date,
    a.events,
    a.views,
    a.clicks,
    a.carts,
    a.purchases,
    c.distinct_items,
    c.distinct_categories,
    a.purchase_value,
    a.first_ts,
    a.last_ts,
    a.last_purchase_ts,
    a.sessions,
    a.session_seconds,
    a.gap_seconds_sum,
    a.gap_seconds_sq_sum,
    {{ prev_date }} as prev_activity_date,
    {{ dbt.datediff(prev_ts, "a.first_ts", "second") }} as gap_from_prev_seconds
from day_stats as a
inner join categories as c on c.user_key = a.user_key and c.activity_date = a.activity_date
{%- if is_incremental() %}
left join built as b on b.user_id = a.user_id
{%- endif %}
