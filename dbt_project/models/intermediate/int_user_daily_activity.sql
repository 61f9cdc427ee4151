-- One row per user per active day (activity_date = UTC date of ts), from events strictly before the cutoff.
--
-- Sessions: events of a user on a day, in time order, split wherever two consecutive events are more than
-- 30 minutes apart. Sessions are computed within a day, so a session crossing midnight counts as two (one
-- per day). session_seconds = sum of the sessions' durations (last - first event) = the sum of the
-- within-day gaps of at most 30 minutes. Gaps are whole seconds (datediff 'second').
-- gap_seconds_sum / gap_seconds_sq_sum: the within-day gaps between consecutive events (events - 1 of them);
-- prev_activity_date / gap_from_prev_seconds: the user's previous active day and the gap from its last
-- event to this day's first, so inter-event statistics over any window of days are exact.
-- distinct_items / distinct_categories are row counts of the per-day item and category tables (far cheaper
-- than count(distinct ...) over the events); new_items counts the items the user had never touched before.
-- Every column is a per-day quantity that window sums add up (macros/feature_windows.sql). Incremental by
-- day (see macros/incremental.sql).
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
),

new_items as (
    select user_id, first_date as activity_date, count(*) as new_items
    from {{ ref('int_user_item_first_seen') }}
    where {{ incremental_date_filter('first_date') }}
    group by user_id, first_date
),

days as (
    select
        a.*,
        i.distinct_items,
        c.distinct_categories,
        coalesce(n.new_items, 0) as new_items
    from activity as a
    inner join items as i on i.user_id = a.user_id and i.activity_date = a.activity_date
    inner join categories as c on c.user_id = a.user_id and c.activity_date = a.activity_date
    left join new_items as n on n.user_id = a.user_id and n.activity_date = a.activity_date
),

-- The days built now, after each of their users' last day already in the table (incremental runs).
chained as (
    select user_id, activity_date, first_ts, last_ts, true as built_now from days
    {%- if is_incremental() %}
    union all
    select t.user_id, t.activity_date, t.first_ts, t.last_ts, false as built_now
    from {{ this }} as t
    inner join (
        select user_id, max(activity_date) as activity_date
        from {{ this }}
        where user_id in (select user_id from days)
        group by user_id
    ) as latest on latest.user_id = t.user_id and latest.activity_date = t.activity_date
    {%- endif %}
),

previous as (
    select
        user_id,
        activity_date,
        built_now,
        lag(activity_date) over (partition by user_id order by activity_date) as prev_activity_date,
        {{ dbt.datediff(
            "lag(last_ts) over (partition by user_id order by activity_date)", "first_ts", "second"
        ) }} as gap_from_prev_seconds
    from chained
)

select
    d.user_id,
    d.activity_date,
    d.events,
    d.views,
    d.clicks,
    d.carts,
    d.purchases,
    d.distinct_items,
    d.distinct_categories,
    d.new_items,
    d.purchase_value,
    d.first_ts,
    d.last_ts,
    d.last_purchase_ts,
    d.sessions,
    d.session_seconds,
    d.gap_seconds_sum,
    d.gap_seconds_sq_sum,
    p.prev_activity_date,
    p.gap_from_prev_seconds
from days as d
inner join previous as p on p.user_id = d.user_id and p.activity_date = d.activity_date and p.built_now
