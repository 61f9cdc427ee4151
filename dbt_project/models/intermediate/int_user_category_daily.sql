-- One row per user (user_key, macros/keys.sql), day and item category with events, and how many distinct
-- items of it. Incremental by day.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('activity_date') }}"],
) }}

select
    d.user_key,
    d.activity_date,
    coalesce(i.category, '(unknown)') as category,
    {{ dbt.cast("sum(d.events)", api.Column.translate_type("bigint")) }} as events,
    count(*) as items
from {{ ref('int_user_item_daily') }} as d
left join {{ ref('stg_items') }} as i on i.item_key = d.item_key
where {{ incremental_date_filter('d.activity_date') }}
group by d.user_key, d.activity_date, coalesce(i.category, '(unknown)')
