-- The last `sequence_length` (50) events before the cutoff of every user active at the cutoff (the
-- user_features population), oldest -> newest, as list columns: item ids, event types, and the gaps in whole
-- seconds between consecutive events (one fewer than the events). Incremental: a night recomputes only the
-- users with events in the reprocessed days (macros/sequences.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ sequences_reset() }}"],
    post_hook=["{{ sequences_record() }}"],
) }}
{%- set mode = sequences_mode() %}
{%- set n = var("sequence_length", 50) | int %}
-- Per active user, the earliest day the last N events can reach back to (counting the per-day events from
-- the newest day back), so that only those days' events are ranked.
with user_days as (
    select
        user_id,
        activity_date,
        events,
        max(activity_date) over (partition by user_id) as last_date,
        sum(events) over (
            partition by user_id order by activity_date desc rows between unbounded preceding and current row
        ) as events_from_here
    from {{ ref('int_user_daily_activity') }}
    where activity_date < cast({{ feature_cutoff() }} as date)
    {%- if mode != "rebuild" %}
      and user_id in ({{ sequences_recent_users() }})
    {%- endif %}
),

active as (
    select user_id, min(activity_date) as from_date
    from user_days
    where last_date >= {{ days_before(feature_cutoff(), var("active_days") | int) }}
      and events_from_here - events < {{ n }}
    group by user_id
),

last_events as (
    select user_id, event_id, item_id, event_type, ts, recency
    from (
        select
            e.user_id, e.event_id, e.item_id, e.event_type, e.ts,
            row_number() over (partition by e.user_id order by e.ts desc, e.event_id desc) as recency
        from {{ ref('stg_events') }} as e
        inner join active as a on a.user_id = e.user_id
        where e.ts < {{ feature_cutoff() }}
          and e.ts >= cast(a.from_date as timestamp)
    ) as ranked
    where recency <= {{ n }}
),

-- Ordered by the rank (one integer), not by (ts, event_id) again; the gaps from the sorted times (equal
-- times give equal gaps whatever their order), not from a second window: 1.3x faster at 10 M events.
sequences as (
    select
        user_id,
        count(*) as sequence_length,
        min(ts) as first_ts,
        max(ts) as last_ts,
        {{ ordered_list("item_id", "recency desc") }} as item_ids,
        {{ ordered_list("event_type", "recency desc") }} as event_types,
        {{ sorted_seconds("ts") }} as seconds
    from last_events
    group by user_id
)

select
    user_id,
    cast({{ feature_cutoff() }} as date) as cutoff_date,
    sequence_length,
    first_ts,
    last_ts,
    item_ids,
    event_types,
    {{ list_gaps("seconds") }} as gap_seconds
from sequences
