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
-- than count(distinct ...) over the events). Every column is a per-day quantity that window sums add up
-- (macros/feature_windows.sql). Incremental by day (see macros/incremental.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

with events as (
    select user_id, event_type, ts, value, cast(ts as date) as activity_date
    from {{ ref('stg_events') }}
    where {{ incremental_ts_filter('ts', 'activity_date') }}
),

counts as (
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
        max(case when event_type = 'purchase' then ts end) as last_purchase_ts
    from events
    group by user_id, activity_date
),

-- Every event's gap from the user's previous event and whether that one was on the same day: one window
-- over each user's timestamps only (a window per user and day, or one carrying every column, costs more).
event_gaps as (
    select
        user_id,
        activity_date,
        {{ dbt.datediff("prev_ts", "ts", "second") }} as gap_seconds,
        cast(prev_ts as date) = activity_date as same_day,
        cast(prev_ts as date) as prev_date
    from (
        select user_id, ts, activity_date, not_built, lag(ts) over (partition by user_id order by ts) as prev_ts
        from (
            select user_id, ts, activity_date, false as not_built from events
            {%- if is_incremental() %}
            -- Each user's last event already in the table, so that their first rebuilt day has its previous.
            union all
            select t.user_id, t.last_ts, t.activity_date, true
            from {{ this }} as t
            inner join (
                select user_id, max(activity_date) as activity_date
                from {{ this }}
                where user_id in (select user_id from events)
                group by user_id
            ) as latest on latest.user_id = t.user_id and latest.activity_date = t.activity_date
            {%- endif %}
        ) as timestamps
    ) as ordered
    where not not_built
),

gaps as (
    select
        user_id,
        activity_date,
        1 + count(case when same_day and gap_seconds > 1800 then 1 end) as sessions,
        {{ dbt.cast("coalesce(sum(case when same_day and gap_seconds <= 1800 then gap_seconds end), 0)",
                    api.Column.translate_type("bigint")) }} as session_seconds,
        {{ dbt.cast("coalesce(sum(case when same_day then gap_seconds end), 0)",
                    api.Column.translate_type("bigint")) }} as gap_seconds_sum,
        {{ dbt.cast("coalesce(sum(case when same_day then gap_seconds * gap_seconds end), 0)",
                    api.Column.translate_type("bigint")) }} as gap_seconds_sq_sum,
        -- The day's first event is the only one whose previous event is on another day.
        max(case when not same_day then prev_date end) as prev_activity_date,
        max(case when not same_day then gap_seconds end) as gap_from_prev_seconds
    from event_gaps
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
    g.sessions,
    g.session_seconds,
    g.gap_seconds_sum,
    g.gap_seconds_sq_sum,
    g.prev_activity_date,
    g.gap_from_prev_seconds
from counts as a
inner join gaps as g on g.user_id = a.user_id and g.activity_date = a.activity_date
inner join items as i on i.user_id = a.user_id and i.activity_date = a.activity_date
inner join categories as c on c.user_id = a.user_id and c.activity_date = a.activity_date
{{ in_date_order("a.activity_date") }}
