-- One row per user per active day (activity_date = UTC date of ts), from events strictly before the cutoff.
--
-- Sessions: events of a user on a day, in time order, split wherever two consecutive events are more than
-- 30 minutes apart. Sessions are computed within a day, so a session crossing midnight counts as two (one
-- per day). session_seconds = sum of the sessions' durations (last - first event) = the sum of the
-- within-day gaps of at most 30 minutes. Gaps are whole seconds (datediff 'second').
-- gap_seconds_sum / gap_seconds_sq_sum: the within-day gaps between consecutive events (events - 1 of them),
-- so inter-event statistics over any window of days are exact once the gaps between active days are added.
-- distinct_items / distinct_categories are row counts of the per-day item and category tables: far cheaper
-- than count(distinct ...) over the events. Incremental by day (see macros/incremental.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

with events as (
    select
        user_id,
        event_type,
        ts,
        value,
        cast(ts as date) as activity_date
    from {{ ref('stg_events') }}
    where {{ incremental_ts_filter('ts', 'activity_date') }}
),

gaps as (
    select
        *,
        {{ dbt.datediff(
            "lag(ts) over (partition by user_id, activity_date order by ts)", "ts", "second"
        ) }} as gap_seconds
    from events
),

activity as (
    select
        user_id,
        activity_date,
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
        1 + count(case when gap_seconds > 1800 then 1 end) as sessions,
        {{ dbt.cast("coalesce(sum(case when gap_seconds <= 1800 then gap_seconds end), 0)",
                    api.Column.translate_type("bigint")) }} as session_seconds,
        {{ dbt.cast("coalesce(sum(gap_seconds), 0)", api.Column.translate_type("bigint")) }} as gap_seconds_sum,
        {{ dbt.cast("coalesce(sum(gap_seconds * gap_seconds), 0)", api.Column.translate_type("bigint")) }}
            as gap_seconds_sq_sum
    from gaps
    group by user_id, activity_date
),

items as (
    select user_id, activity_date, count(*) as distinct_items
    from {{ ref('int_user_item_daily') }}
    where {{ incremental_date_filter('activity_date') }}
    group by user_id, activity_date
),

categories as (
    select user_id, activity_date, count(*) as distinct_categories
    from {{ ref('int_user_category_daily') }}
    where {{ incremental_date_filter('activity_date') }}
    group by user_id, activity_date
)

select
    a.user_id,
    a.activity_date,
    a.events,
    a.views,
    a.clicks,
    a.carts,
    a.purchases,
    i.distinct_items,
    c.distinct_categories,
    a.purchase_value,
    a.first_ts,
    a.last_ts,
    a.last_purchase_ts,
    a.sessions,
    a.session_seconds,
    a.gap_seconds_sum,
    a.gap_seconds_sq_sum
from activity as a
inner join items as i on i.user_id = a.user_id and i.activity_date = a.activity_date
inner join categories as c on c.user_id = a.user_id and c.activity_date = a.activity_date
