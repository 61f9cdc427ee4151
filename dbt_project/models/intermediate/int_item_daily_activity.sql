-- One row per item and day with events: what the item features read. Incremental by day.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

select
    item_id,
    activity_date,
    {{ dbt.cast("sum(events)", api.Column.translate_type("bigint")) }} as events,
    {{ dbt.cast("sum(views)", api.Column.translate_type("bigint")) }} as views,
    {{ dbt.cast("sum(clicks)", api.Column.translate_type("bigint")) }} as clicks,
    {{ dbt.cast("sum(carts)", api.Column.translate_type("bigint")) }} as carts,
    {{ dbt.cast("sum(purchases)", api.Column.translate_type("bigint")) }} as purchases,
    count(*) as users,
    max(last_ts) as last_ts
from {{ ref('int_user_item_daily') }}
where {{ incremental_date_filter('activity_date') }}
group by item_id, activity_date
