-- One row per item and day with events: what the item features read. Incremental by day.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

with events as (
    select
        item_id,
        item_key,
        cast(ts as date) as activity_date,
        count(*) as events,
        count(case when event_type = 'view' then 1 end) as views,
        count(case when event_type = 'click' then 1 end) as clicks,
        count(case when event_type = 'add_to_cart' then 1 end) as carts,
        count(case when event_type = 'purchase' then 1 end) as purchases,
        max(ts) as last_ts
    from {{ ref('stg_events') }}
    where {{ incremental_ts_filter('ts', 'activity_date') }}
    group by item_id, item_key, cast(ts as date)
),

-- Distinct users per item and day: the rows of the per-day user x item table.
users as (
    select item_key, activity_date, count(*) as users
    from {{ ref('int_user_item_daily') }}
    where {{ incremental_date_filter('activity_date') }}
    group by item_key, activity_date
)

select
    e.item_id,
    e.activity_date,
    e.events,
    e.views,
    e.clicks,
    e.carts,
    e.purchases,
    u.users,
    e.last_ts
from events as e
inner join users as u on u.item_key = e.item_key and u.activity_date = e.activity_date
