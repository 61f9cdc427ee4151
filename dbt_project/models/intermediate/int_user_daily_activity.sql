-- One row per user per active day (activity_date = UTC date of ts), from events strictly before the cutoff.
--
-- Sessions: events of a user on a day, in time order, split wherever two consecutive events are more than
-- 30 minutes apart. Sessions are computed within a day, so a session crossing midnight counts as two (one
-- per day). session_seconds = sum of the sessions' durations (last - first event) = the sum of the
-- within-day gaps of at most 30 minutes. Gaps are whole seconds (datediff 'second').
-- gap_seconds_sum / gap_seconds_sq_sum: the within-day gaps between consecutive events (events - 1 of them),
-- so inter-event statistics over any window of days are exact once the gaps between active days are added.
-- Incremental by day (see macros/incremental.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key=["user_id", "activity_date"],
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

with events as (
    select
        e.user_id,
        e.item_id,
        i.category,
        e.event_type,
        e.ts,
        e.value,
        cast(e.ts as date) as activity_date
    from {{ ref('stg_events') }} as e
    left join {{ ref('stg_items') }} as i on i.item_id = e.item_id
    where {{ incremental_ts_filter('e.ts', 'activity_date') }}
),

gaps as (
    select
        *,
        {{ dbt.datediff(
            "lag(ts) over (partition by user_id, activity_date order by ts)", "ts", "second"
        ) }} as gap_seconds
    from events
)

select
    user_id,
    activity_date,
    count(*) as events,
    count(case when event_type = 'view' then 1 end) as views,
    count(case when event_type = 'click' then 1 end) as clicks,
    count(case when event_type = 'add_to_cart' then 1 end) as carts,
    count(case when event_type = 'purchase' then 1 end) as purchases,
    count(distinct item_id) as distinct_items,
    count(distinct category) as distinct_categories,
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
