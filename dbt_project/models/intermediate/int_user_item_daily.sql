-- One row per user, item and day with events (day = UTC date of ts): the event-level detail the features
-- need (distinct items, first-seen items, cart abandonment, recommendation engagement, item activity),
-- already compressed to days. Incremental by day (see macros/incremental.sql).
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

select
    user_id,
    item_id,
    cast(ts as date) as activity_date,
    count(*) as events,
    count(case when event_type = 'view' then 1 end) as views,
    count(case when event_type = 'click' then 1 end) as clicks,
    count(case when event_type = 'add_to_cart' then 1 end) as carts,
    count(case when event_type = 'purchase' then 1 end) as purchases,
    max(case when event_type = 'add_to_cart' then ts end) as last_cart_ts,
    max(case when event_type = 'purchase' then ts end) as last_purchase_ts,
    max(ts) as last_ts
from {{ ref('stg_events') }}
where {{ incremental_ts_filter('ts', 'activity_date') }}
group by user_id, item_id, cast(ts as date)
