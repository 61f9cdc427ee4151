-- One row per user, item and day with events (day = UTC date of ts): the event-level detail the user
-- features need (distinct and first-seen items, cart abandonment, recommendation engagement), already
-- compressed to days. The narrowest table that serves them: it is the biggest table of the project (about
-- 0.6 rows per event), and writing it costs more than computing it: keyed by the ids' integer keys
-- (macros/keys.sql), not the id strings. Incremental by day (see macros/incremental.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

select
    user_key,
    item_key,
    cast(ts as date) as activity_date,
    count(*) as events,
    max(case when event_type = 'add_to_cart' then ts end) as last_cart_ts,
    max(case when event_type = 'purchase' then ts end) as last_purchase_ts
from {{ ref('stg_events') }}
where {{ incremental_ts_filter('ts', 'activity_date') }}
group by user_key, item_key, cast(ts as date)
